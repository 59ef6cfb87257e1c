"""Recipe files: YAML validated with pydantic (DESIGN §4).

A recipe names its sources, template policy, multi-turn merge and dedup, balancing strategy and
outputs. Relative source paths resolve against ``root`` (default: the recipe file's directory).
``--set key.path=value`` overrides any key (values are parsed as YAML scalars; list items by index,
e.g. ``sources.0.path=...``). Every error names the file, the key path and the problem in one line.

Example::

    name: my-mix
    seed: 0
    root: ../world                      # optional
    sources:
      - {dataset: vqav2, path: sources/vqav2}
      - {dataset: gqa, path: sources/gqa, max_turns: 5}
      - {dataset: llava_instruct_zh, path: sources/llava_instruct_zh, languages: [zh]}
    templates: {granularity: fine, diversity: single, inverted_ratio: 0.0}
    multiturn: {max_turns: 10, dedup: semantic, threshold: 0.82}
    balance: {strategy: tuned, cap: 100000, weights: {vqav2: 4, gqa: 4, llava_instruct_zh: 1}, size: 20000}
    output: {formats: [parquet, llava], shard_rows: 50000}
    decontaminate: [../bench]           # optional: drop records sharing a benchmark image or question
    decontaminate_by: [image, question] # which of the two rules apply (default both)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from mmdata.config import Ratio, Seed, Strict, Weight, bounded_items, find_preset, load
from mmdata.errors import MmdataError
from mmdata.recipe.embed import EmbedderName
from mmdata.schema import LANGUAGES, TASKS

# the fixed choices, defined once (the CLI offers the same tuples)
Strategy = Literal["per-dataset", "per-task", "per-sample", "tuned"]
Granularity = Literal["fine", "coarse"]
Diversity = Literal["single", "multi"]
DedupRule = Literal["none", "exact", "semantic"]
# semantic dedup thresholds chosen on the tuning half of the world's planted duplicates (reports/perf.md)
THRESHOLDS = {"minilm": 0.82, "static": 0.84}  # the highest recall with <= 1 % false drops on that half
OutputFormat = Literal["parquet", "llava", "hf"]
MissingPolicy = Literal["fail", "drop"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)


class SourceSpec(Strict):
    dataset: str
    path: Path
    task: str | None = None  # override the adapter's task
    languages: list[str] | None = None  # keep only records in these languages
    split: str = "train"  # keep only this split ("*" keeps all)
    images: Path | None = None  # image root override
    max_turns: int | None = Field(None, ge=1, strict=True)  # per-source multi-turn override
    dedup: DedupRule | None = None  # per-source dedup override

    @field_validator("dataset")
    @classmethod
    def _known(cls, v: str) -> str:
        from mmdata import sources

        if v not in sources.names():
            raise ValueError(f"unknown dataset {v!r}; known: {', '.join(sources.names())}")
        return v

    @field_validator("task")
    @classmethod
    def _task(cls, v):
        if v is not None and v not in TASKS:
            raise ValueError(f"unknown task {v!r}; expected one of {', '.join(TASKS)}")
        return v

    @field_validator("languages")
    @classmethod
    def _langs(cls, v):
        for lang in v or []:
            if lang not in LANGUAGES:
                raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
        return v


class TemplatePolicy(Strict):
    granularity: Granularity = "fine"
    diversity: Diversity = "single"
    inverted_ratio: Ratio = 0.0
    inverted_ratio_by_task: dict[str, Ratio] = Field(default_factory=dict)  # e.g. {rec: 0.5} = Honeybee's REC/REG mix

    @field_validator("inverted_ratio_by_task")
    @classmethod
    def _ratios(cls, v):
        for t in v:
            if t not in TASKS:
                raise ValueError(f"unknown task {t!r}")
        return v

    def ratio(self, task: str) -> float:
        return self.inverted_ratio_by_task.get(task, self.inverted_ratio)


class Multiturn(Strict):
    max_turns: int = Field(10, ge=1, le=1000, strict=True)
    dedup: DedupRule = "exact"
    embedder: EmbedderName = "minilm"  # semantic dedup: minilm (transformer) | static (distilled from it; fast)
    threshold: Ratio | None = None  # None: the embedder's threshold measured on the world (THRESHOLDS; reports/perf.md)

    @property
    def cosine(self) -> float:
        """The threshold in force: the recipe's, else the embedder's measured one."""
        return self.threshold if self.threshold is not None else THRESHOLDS[self.embedder]


class Balance(Strict):
    strategy: Strategy = "per-dataset"
    cap: int = Field(100_000, ge=1, strict=True)
    weights: dict[str, Weight] = Field(default_factory=dict)
    size: bounded_items() = None


class Images(Strict):
    """What a build does about records whose image is missing or cannot be read."""

    missing: MissingPolicy = "fail"  # fail: a source losing more than max_missing of its records stops the build
    max_missing: Ratio = 0.01  # the share of a source's records that may be set aside (with a report) under 'fail'


class Output(Strict):
    formats: list[OutputFormat] = Field(default_factory=lambda: ["parquet"])
    shard_rows: int = Field(50_000, ge=1, strict=True)

    @field_validator("formats")
    @classmethod
    def _parquet(cls, v):
        if "parquet" not in v:
            raise ValueError("parquet is always written; list it among the formats")
        return v


class Recipe(Strict):
    name: str = Field(min_length=1)
    seed: Seed = 0
    root: Path | None = None
    sources: list[SourceSpec] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)  # datasets of `sources` left out (ablation arms)
    templates: TemplatePolicy = Field(default_factory=TemplatePolicy)
    multiturn: Multiturn = Field(default_factory=Multiturn)
    balance: Balance = Field(default_factory=Balance)
    images: Images = Field(default_factory=Images)
    output: Output = Field(default_factory=Output)
    decontaminate: list[Path] = Field(default_factory=list)
    decontaminate_by: list[Literal["image", "question"]] = Field(default_factory=lambda: ["image", "question"])

    @model_validator(mode="after")
    def _consistent(self):
        names = [s.dataset for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"dataset(s) listed twice in sources: {sorted(dup)}")
        bad = [x for x in self.exclude if x not in names]
        if bad:
            raise ValueError(f"exclude names datasets not in sources: {bad}")
        active = [n for n in names if n not in self.exclude]
        if not active:
            raise ValueError("exclude leaves no source to build from")
        unknown = set(self.balance.weights) - set(names)
        if unknown:
            raise ValueError(f"balance.weights names datasets not in sources: {sorted(unknown)}")
        if self.balance.strategy == "tuned":
            missing = [n for n in active if n not in self.balance.weights]
            if missing:
                raise ValueError(f"strategy 'tuned' needs a weight for every source; missing: {missing}")
        return self

    @property
    def active_sources(self) -> list[SourceSpec]:
        """The sources a build reads (``sources`` minus ``exclude``), in recipe order."""
        return [s for s in self.sources if s.dataset not in self.exclude]

    def resolved_path(self, p: Path, base: Path) -> Path:
        root = self.root if self.root is not None else Path(".")
        root = root if root.is_absolute() else base / root
        return (p if p.is_absolute() else root / p).resolve()


# --------------------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    from mmdata.config import preset_names as names

    return names("recipes")


def load_recipe(spec: str | Path, overrides: list[str] | None = None, *, base: Path | None = None,
                require_root: bool = True) -> tuple[Recipe, Path]:  # fmt: skip
    """Load a recipe file (or a shipped preset by name) with ``--set`` overrides. Returns the recipe
    and the directory its relative paths resolve against (the file's own directory). A shipped
    preset needs a data root unless the caller sets one itself (``require_root=False``)."""
    path, shipped = find_preset("recipes", spec, base=base)
    recipe, doc = load(Recipe, path, overrides=overrides or [], what="recipe")
    if shipped and recipe.root is None and require_root:
        raise MmdataError(f"preset {str(spec)!r} needs a data root: pass --set root=WORLD_DIR", file=path, field="root")
    return recipe, path.parent.resolve()
