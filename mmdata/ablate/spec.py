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

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mmdata.errors import MmdataError, yaml_error

METRICS = ("mean", "mean_non_en", "consistency", "circular", "spatial", "en", "zh", "pt", "ar", "tr", "ru")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldSpec(_M):
    size: Literal["tiny", "small", "full"] = "small"
    seed: int = 0
    image_size: int = Field(64, ge=16, le=1024)  # must match the model preset's vision image size


class BenchSpec(_M):
    per_language: int = Field(60, ge=1)
    sets: list[Literal["mmmb", "mmbench"]] = Field(default_factory=lambda: ["mmmb"])
    batch_size: int = Field(32, ge=1)
    # generate: free text, letter extracted (the harness default); choice: the option letter whose
    # token scores highest (mmdata-choice:CKPT) — measures what a small model knows, not its format
    scoring: Literal["generate", "choice"] = "generate"


class Arm(_M):
    recipe: list[str] = Field(default_factory=list)  # --set overrides on the base recipe
    model: list[str] = Field(default_factory=list)  # --set overrides on the model preset


class Budget(_M):
    stage1: int = Field(..., ge=1)
    stage2: int = Field(..., ge=1)


class Finding(_M):
    better: str
    worse: str
    metric: str = "mean"
    claim: str = ""


class Stage1(_M):
    recipe: str = "stage1-captions"
    set: list[str] = Field(default_factory=list)


class AblationSpec(_M):
    name: str
    description: str = ""
    paper: str = ""
    world: WorldSpec | None = WorldSpec()
    root: Path | None = None  # use existing data instead of generating a world
    recipe: str
    recipe_set: list[str] = Field(default_factory=list)
    stage1: Stage1 = Stage1()
    model: str
    model_set: list[str] = Field(default_factory=list)
    bench: BenchSpec = BenchSpec()
    arms: dict[str, Arm] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    budget: Budget
    metrics: list[str] = Field(default_factory=lambda: ["mean", "mean_non_en", "en"])
    findings: list[Finding] = Field(default_factory=list)
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
    d = resources.files("mmdata.ablate").joinpath("suites")
    return sorted(p.name.removesuffix(".yaml") for p in d.iterdir() if p.name.endswith(".yaml"))


def load_spec(spec: str | Path) -> tuple[AblationSpec, Path]:
    """Load an ablation spec file, or a shipped suite by name (``mmdata ablate honeybee-multiturn-tiny``)."""
    path = Path(spec)
    if not path.exists() and str(spec) in suite_names():
        path = Path(str(resources.files("mmdata.ablate").joinpath("suites", f"{spec}.yaml")))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MmdataError(f"ablation spec not found (shipped suites: {', '.join(suite_names())})", file=path) from None
    except yaml.YAMLError as e:
        raise yaml_error(e, path) from None
    if not isinstance(data, dict):
        raise MmdataError("an ablation spec must be a YAML mapping", file=path)
    try:
        return AblationSpec.model_validate(data), path.parent.resolve()
    except ValidationError as e:
        from mmdata.recipe.config import _format_error

        loc, msg = _format_error(e)
        raise MmdataError(f"key '{loc}': {msg}", file=path) from None
