"""Ablation specs (YAML, validated): a base recipe, a model preset, a benchmark, arms, seeds, budget.

An arm is a named set of ``--set`` overrides on the recipe and/or the model preset. Every arm is
trained for every seed: build its mixture, train stage 1 (shared by arms whose inputs are identical)
and stage 2, and score it. ``findings`` state the paper's claims as directions to check (arm A beats
arm B on a metric), so the report can say whether each is reproduced.

Example (``mmdata/ablate/suites/honeybee-multiturn-tiny.yaml``)::

    name: honeybee-multiturn-tiny
    paper: Honeybee (CVPR 2024) Table 5d
    world: {size: small, seed: 0}
    recipe: honeybee
    recipe_set: [balance.size=3000]
    model: tiny-cpu
    bench: {per_language: 40}
    arms:
      single-turn: {recipe: [multiturn.max_turns=1]}
      mt-exact: {recipe: [multiturn.dedup=exact]}
    seeds: [0, 1, 2]
    budget: {stage1: 150, stage2: 300}
    findings:
      - {better: mt-exact, worse: single-turn, metric: mean, claim: "MT + dedup beats single-turn (AvgN 70.6 vs 69.5)"}
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mmdata.config import (
    Seed,
    Strict,
    apply_overrides,
    find_preset,
    preset_names,
    preset_path,
    read_mapping,
    validate,
)
from mmdata.errors import MmdataError
from mmdata.world.sizes import SizeName


class Scoring(StrEnum):
    """How the harness reads the model's answer: ``generate`` free text and extract the letter (the
    harness default); ``choice`` the option the model finds most likely (:meth:`Generator.choose`,
    its ``auto`` rule: the letter, since the benchmark prompt lists lettered options); ``text`` the
    option whose text is most likely after the open question (the short-answer form VQA training
    teaches; :func:`mmdata.bench.prompts.format_open`)."""

    generate = "generate"
    choice = "choice"
    text = "text"

    def model(self, ckpt: Path):
        """The harness model for a checkpoint under this scoring rule."""
        from mmdata.bench.models import MmdataChoiceModel, MmdataModel

        if self is Scoring.generate:
            return MmdataModel(f"mmdata:{ckpt}", str(ckpt))
        return MmdataChoiceModel(f"mmdata-choice:{ckpt}", str(ckpt), scoring="text" if self is Scoring.text else "auto")

METRICS = ("mean", "mean_non_en", "consistency", "circular", "spatial", "shuffled_mean", "image_use_gap",
           "en", "zh", "pt", "ar", "tr", "ru")  # fmt: skip


class WorldSpec(Strict):
    size: SizeName = "small"
    seed: Seed = 0
    image_size: int = Field(64, ge=16, le=1024)  # must match the model preset's vision image size


class BenchSpec(Strict):
    per_language: int = Field(60, ge=1)
    sets: list[Literal["mmmb", "mmbench"]] = Field(default_factory=lambda: ["mmmb"])
    batch_size: int = Field(32, ge=1)
    # generate: free text, letter extracted (the harness default); choice: the option letter whose
    # token scores highest (mmdata-choice:CKPT) — measures what a small model knows, not its format;
    # text: the option text most likely after the open question (what short-answer VQA training teaches)
    scoring: Scoring = Scoring.generate


class Arm(Strict):
    recipe: list[str] = Field(default_factory=list)  # --set overrides on the base recipe
    model: list[str] = Field(default_factory=list)  # --set overrides on the model preset


class Budget(Strict):
    stage1: int = Field(..., ge=1)
    stage2: int = Field(..., ge=1)


class Finding(Strict):
    better: str
    worse: str
    metric: str = "mean"
    claim: str = ""


class Stage1(Strict):
    recipe: str = "stage1-captions"
    set: list[str] = Field(default_factory=list)


class AblationSpec(Strict):
    name: str
    description: str = ""
    paper: str = ""
    base: str | None = None  # a shared configuration under presets/suites/bases (see load_spec)
    world: WorldSpec | None = WorldSpec()
    root: Path | None = None  # use existing data instead of generating a world
    recipe: str
    recipe_set: list[str] = Field(default_factory=list)
    stage1: Stage1 = Stage1()
    model: str
    model_set: list[str] = Field(default_factory=list)
    bench: BenchSpec = BenchSpec()
    arms: dict[str, Arm] = Field(min_length=1)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    budget: Budget
    metrics: list[str] = Field(default_factory=lambda: ["mean", "mean_non_en", "en"])
    findings: list[Finding] = Field(default_factory=list)
    mde_target: float = Field(3.0, gt=0)  # pp: the report's power plan says what a rerun needs to reach it
    notes: str = ""

    @model_validator(mode="after")
    def _check(self):
        for f in self.findings:
            for a in (f.better, f.worse):
                if a not in self.arms:
                    raise ValueError(f"finding names arm {a!r}, which is not among the arms {sorted(self.arms)}")
        for m in [*self.metrics, *(f.metric for f in self.findings)]:
            if m not in METRICS:
                raise ValueError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
        if self.world is None and self.root is None:
            raise ValueError("give either world (to generate) or root (existing data)")
        return self


def suite_names() -> list[str]:
    return preset_names("suites")


def base_path(name: str, spec_dir: Path) -> Path:
    """A suite base: ``bases/NAME.yaml`` beside the spec, else the shipped one."""
    for cand in (spec_dir / "bases" / f"{name}.yaml", preset_path("suites", "x").parent / "bases" / f"{name}.yaml"):
        if cand.is_file():
            return cand
    raise MmdataError(f"unknown suite base {name!r} (looked in bases/ beside the spec and in the shipped suites)", field="base")


def load_spec(spec: str | Path, overrides: list[str] | None = None) -> tuple[AblationSpec, Path]:
    """Load an ablation spec file, or a shipped suite by name (``mmdata ablate honeybee-multiturn-tiny``),
    with ``--set`` overrides.

    ``base: NAME`` puts the spec on a shared configuration (``bases/NAME.yaml``: world, recipe, model
    preset and its overrides, benchmark, seeds, budget …): the base's keys apply unless the spec gives
    them. The shipped tiny suites all stand on ``bases/tiny.yaml``, so one frozen configuration serves
    every suite."""
    path, _ = find_preset("suites", spec)
    doc = read_mapping(path, what="ablation spec")
    name = doc.data.get("base")
    if isinstance(name, str):
        base_doc = read_mapping(base_path(name, path.parent), what="suite base")
        doc.data = {**base_doc.data, **doc.data}
    apply_overrides(doc.data, overrides or [], file=path, doc=doc)
    parsed = validate(AblationSpec, doc.data, doc=doc)
    return parsed, path.parent.resolve()
