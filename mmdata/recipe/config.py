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

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mmdata.errors import MmdataError, yaml_error
from mmdata.schema import LANGUAGES, TASKS

STRATEGIES = ("per-dataset", "per-task", "per-sample", "tuned")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Model):
    dataset: str
    path: Path
    task: str | None = None  # override the adapter's task
    languages: list[str] | None = None  # keep only records in these languages
    split: str = "train"  # keep only this split ("*" keeps all)
    images: Path | None = None  # image root override
    max_turns: int | None = Field(None, ge=1)  # per-source multi-turn override
    dedup: Literal["none", "exact", "semantic"] | None = None  # per-source dedup override

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


class TemplatePolicy(_Model):
    granularity: Literal["fine", "coarse"] = "fine"
    diversity: Literal["single", "multi"] = "single"
    inverted_ratio: float = Field(0.0, ge=0.0, le=1.0)
    inverted_ratio_by_task: dict[str, float] = Field(default_factory=dict)  # e.g. {rec: 0.5} = Honeybee's REC/REG mix

    @field_validator("inverted_ratio_by_task")
    @classmethod
    def _ratios(cls, v):
        for t, r in v.items():
            if t not in TASKS:
                raise ValueError(f"unknown task {t!r}")
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"ratio for {t!r} must be within 0..1, got {r}")
        return v

    def ratio(self, task: str) -> float:
        return self.inverted_ratio_by_task.get(task, self.inverted_ratio)


class Multiturn(_Model):
    max_turns: int = Field(10, ge=1)
    dedup: Literal["none", "exact", "semantic"] = "exact"
    threshold: float = Field(0.82, ge=0.0, le=1.0)  # measured on the world: see reports/dedup.md


class Balance(_Model):
    strategy: Literal["per-dataset", "per-task", "per-sample", "tuned"] = "per-dataset"
    cap: int = Field(100_000, ge=1)
    weights: dict[str, float] = Field(default_factory=dict)
    size: int | None = Field(None, ge=1)

    @field_validator("weights")
    @classmethod
    def _positive(cls, v):
        for k, w in v.items():
            if w < 0:
                raise ValueError(f"weight of {k!r} must be ≥ 0, got {w}")
        return v


class Output(_Model):
    formats: list[Literal["parquet", "llava", "hf"]] = Field(default_factory=lambda: ["parquet"])
    shard_rows: int = Field(50_000, ge=1)

    @field_validator("formats")
    @classmethod
    def _parquet(cls, v):
        if "parquet" not in v:
            raise ValueError("parquet is always written; list it among the formats")
        return v


class Recipe(_Model):
    name: str
    seed: int = 0
    root: Path | None = None
    sources: list[SourceSpec] = Field(min_length=1)
    templates: TemplatePolicy = Field(default_factory=TemplatePolicy)
    multiturn: Multiturn = Field(default_factory=Multiturn)
    balance: Balance = Field(default_factory=Balance)
    output: Output = Field(default_factory=Output)
    decontaminate: list[Path] = Field(default_factory=list)
    decontaminate_by: list[Literal["image", "question"]] = Field(default_factory=lambda: ["image", "question"])

    @model_validator(mode="after")
    def _consistent(self):
        names = [s.dataset for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"dataset(s) listed twice in sources: {sorted(dup)}")
        unknown = set(self.balance.weights) - set(names)
        if unknown:
            raise ValueError(f"balance.weights names datasets not in sources: {sorted(unknown)}")
        if self.balance.strategy == "tuned":
            missing = [n for n in names if n not in self.balance.weights]
            if missing:
                raise ValueError(f"strategy 'tuned' needs a weight for every source; missing: {missing}")
            if sum(self.balance.weights.values()) <= 0:
                raise ValueError("strategy 'tuned' needs at least one positive weight")
        return self

    def resolved_path(self, p: Path, base: Path) -> Path:
        root = self.root if self.root is not None else Path(".")
        root = root if root.is_absolute() else base / root
        return (p if p.is_absolute() else root / p).resolve()


# --------------------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("mmdata.recipe").joinpath("presets").iterdir() if p.name.endswith(".yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MmdataError("recipe file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MmdataError(f"cannot read recipe ({e})", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise yaml_error(e, path) from None
    if not isinstance(data, dict):
        raise MmdataError(f"a recipe must be a YAML mapping, got {type(data).__name__}", file=path)
    return data


def apply_overrides(data: dict, overrides: list[str], *, file: Path) -> dict:
    """Apply ``key.path=value`` overrides (value parsed as YAML) to a nested dict/list structure."""
    for ov in overrides:
        if "=" not in ov:
            raise MmdataError(f"--set expects key.path=value, got {ov!r}", file=file)
        key, raw = ov.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise MmdataError(f"--set {key}: no list item {part!r} at {where}", file=file)
                idx = int(part)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise MmdataError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list", file=file)
    return data


def _format_error(e: ValidationError) -> tuple[str, str]:
    err = e.errors()[0]
    loc = ""
    for p in err["loc"]:
        loc += f"[{p}]" if isinstance(p, int) else (f".{p}" if loc else str(p))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return loc or "(top level)", msg


def load_recipe(spec: str | Path, overrides: list[str] | None = None) -> tuple[Recipe, Path]:
    """Load a recipe file (or a preset by name). Returns the recipe and the directory paths resolve against."""
    path = Path(spec)
    preset = not path.exists() and str(spec) in preset_names()
    if preset:
        path = Path(str(resources.files("mmdata.recipe").joinpath("presets", f"{spec}.yaml")))
    data = _read_yaml(path)
    data = apply_overrides(data, list(overrides or []), file=path)
    if preset and not data.get("root"):
        raise MmdataError(f"preset {spec!r} needs a data root: pass --set root=WORLD_DIR", file=path, field="root")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        loc, msg = _format_error(e)
        raise MmdataError(f"key '{loc}': {msg}", file=path) from None
    return recipe, path.parent.resolve()
