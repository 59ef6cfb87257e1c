"""``mmdata ablate SPEC --out DIR``: every arm × seed through build → stage 1 → stage 2 → harness.

Each step is a content-addressed cache entry (:mod:`mmdata.ablate.cache`) keyed by everything that
determines its output, so reruns and interrupted runs redo nothing that finished, and arms share
what they have in common: one world, one benchmark, one set of stage-0 backbones, one stage-1
checkpoint per (model, stage-1 data, seed) — arms that only change the instruction data reuse it.

=========  ================================================================================
world      the synthetic world (size, seed) — or the spec's ``root`` (existing data)
bench      the synthetic MMMB (+ circular set) from the world's held-out scenes
mixture    ``mmdata build`` of a recipe with the arm's overrides (key: resolved recipe + source
           fingerprints)
stage0     world backbones (tokenizer, CLIP, LM); the model stack caches these by content too
stage1     projector alignment on the stage-1 (caption) mixture
stage2     instruction tuning on the arm's mixture
eval       the harness on the benchmark sets, with the stage-2 checkpoint as ``mmdata:CKPT``
=========  ================================================================================
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import orjson
import yaml

from mmdata import __version__
from mmdata.ablate.cache import StepCache, read_journal
from mmdata.ablate.results import metrics_from_scores, store
from mmdata.ablate.spec import AblationSpec, load_spec
from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, cache_dir, dumps_json


def _model_data(spec: AblationSpec, base: Path, arm_set: list[str], seed: int) -> tuple[dict, Path]:
    from mmdata.model.config import resolve_preset
    from mmdata.recipe.config import apply_overrides

    cand = base / spec.model
    path = cand if cand.suffix in (".yaml", ".yml") and cand.is_file() else resolve_preset(spec.model)
    data = yaml.safe_load(path.read_text())
    sets = [*spec.model_set, *arm_set, f"train.seed={seed}", f"train.stage1.steps={spec.budget.stage1}",
            f"train.stage2.steps={spec.budget.stage2}"]  # fmt: skip
    return apply_overrides(data, sets, file=path), path


def _recipe_key(recipe_spec: str, base: Path, overrides: list[str]) -> dict:
    """What determines a mixture: the resolved recipe and the content fingerprints of its sources."""
    from mmdata import sources as src
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.ingest import fingerprint

    spec = recipe_spec if not (base / recipe_spec).is_file() else str(base / recipe_spec)
    recipe, rbase = load_recipe(spec, overrides)
    fps = {}
    for s in recipe.sources:
        p = recipe.resolved_path(s.path, rbase)
        a = src.get(s.dataset)
        images = Path(s.images) if s.images else a.default_image_root(p)
        fps[s.dataset] = fingerprint(s.dataset, a.files(p), images)
    return {"recipe": recipe.model_dump(mode="json", exclude={"root"}), "sources": fps, "mmdata": __version__}


def stage0_inputs(preset) -> dict:
    """What a stage-0 checkpoint depends on: the backbones' pretraining *and* the whole architecture
    (projector / discrete tokenizer included), since later stages only start from a checkpoint of the
    same architecture. The pretrained backbones themselves are shared through the model stack's own
    content cache, so arms that differ only in the projector pay for a fresh head, not a new stage 0."""
    return {"stage0": preset.stage0.model_dump(mode="json") if preset.stage0 else None, "model": preset.model_section(),
            "mmdata": __version__}  # fmt: skip


class Runner:
    def __init__(self, spec: AblationSpec, base: Path, out: Path, *, seeds: list[int], arms: list[str],
                 leaderboard: Path | None, log=print) -> None:  # fmt: skip
        self.spec, self.base, self.out = spec, base, out
        self.seeds, self.arms = seeds, arms
        self.leaderboard = leaderboard
        self.log = log
        self.cache = StepCache(cache_dir("ablate"), out / "steps.jsonl")

    # --------------------------------------------------------------------------------- shared steps

    def world(self) -> tuple[Path, str]:
        if self.spec.root is not None:
            root = (self.base / self.spec.root).resolve()
            if not root.is_dir():
                raise MmdataError("spec root does not exist", file=root, field="root")
            return root, str(root)
        w = self.spec.world
        from mmdata.world.generate import generate

        d, key = self.cache.run("world", {"size": w.size, "seed": w.seed, "image_size": w.image_size, "mmdata": __version__},
                                lambda tmp: generate(tmp / "world", w.size, w.seed, w.image_size), label=f"{w.size} world")  # fmt: skip
        return d / "world", key

    def bench(self, world: Path, world_key: str) -> tuple[Path, str]:
        from mmdata.bench.make import make_benchmark
        from mmdata.bench.prompts import PROMPT_VERSION

        n = self.spec.bench.per_language
        d, key = self.cache.run("bench", {"world": world_key, "per_language": n, "prompt": PROMPT_VERSION, "mmdata": __version__},
                                lambda tmp: make_benchmark(world, tmp / "bench", per_language=n), label=f"benchmark ({n}/language)")  # fmt: skip
        return d / "bench", key

    def mixture(self, recipe: str, overrides: list[str], label: str) -> tuple[Path, str]:
        from mmdata.recipe import build

        key_inputs = _recipe_key(recipe, self.base, overrides)
        spec = recipe if not (self.base / recipe).is_file() else str(self.base / recipe)
        d, _ = self.cache.run("mixture", key_inputs, lambda tmp: build(spec, tmp / "mix", overrides=overrides), label=label)
        content = orjson.loads((d / "mix" / "manifest.json").read_bytes())["content_hash"]
        return d / "mix", content

    # ---------------------------------------------------------------------------------- the loop

    def run(self) -> dict:
        from mmdata.model.config import preset_from_dict
        from mmdata.model.train import train

        t0 = time.perf_counter()
        self._journal_start = len(read_journal(self.out / "steps.jsonl"))
        self._commit = _commit()  # the code that runs is the code at the start
        spec = self.spec
        world, world_key = self.world()
        bench, bench_key = self.bench(world, world_key)
        rows = []
        total = len(self.arms) * len(self.seeds)
        k = 0
        for seed in self.seeds:
            s1_set = [*spec.stage1.set, f"root={world}", f"seed={seed}"]
            s1_mix, s1_hash = self.mixture(spec.stage1.recipe, s1_set, f"stage-1 data (seed {seed})")
            for arm_name in self.arms:
                k += 1
                arm = spec.arms[arm_name]
                tag = f"[{k}/{total}] {arm_name} · seed {seed}"
                self.log(f"{tag}: building mixture")
                mix, mix_hash = self.mixture(spec.recipe, [*spec.recipe_set, *arm.recipe, f"root={world}", f"seed={seed}"], f"{arm_name} data (seed {seed})")
                data, ppath = _model_data(spec, self.base, arm.model, seed)
                preset = preset_from_dict(data, file=ppath)
                model = preset.model_section()
                self.log(f"{tag}: stage 0")
                ck0, key0 = self.cache.run("stage0", stage0_inputs(preset), lambda tmp, p=preset: train(p, 0, tmp / "ckpt", log=_quiet),
                                           label="stage 0 backbones")  # fmt: skip
                self.log(f"{tag}: stage 1")
                s1_inputs = {"stage0": key0, "model": model, "train": preset.train.model_dump(mode="json", exclude={"stage2"}), "data": s1_hash}
                ck1, key1 = self.cache.run("stage1", s1_inputs, lambda tmp, p=preset, i=ck0, m=s1_mix: train(p, 1, tmp / "ckpt", mixture=m, init=i / "ckpt", log=_quiet),
                                           label=f"stage 1 (seed {seed})")  # fmt: skip
                self.log(f"{tag}: stage 2")
                s2_inputs = {"stage1": key1, "model": model, "train": preset.train.model_dump(mode="json", exclude={"stage1"}), "data": mix_hash}
                ck2, key2 = self.cache.run("stage2", s2_inputs, lambda tmp, p=preset, i=ck1, m=mix: train(p, 2, tmp / "ckpt", mixture=m, init=i / "ckpt", log=_quiet),
                                           label=f"{arm_name} stage 2 (seed {seed})")  # fmt: skip
                self.log(f"{tag}: evaluating")
                ev, key3 = self.cache.run("eval", {"stage2": key2, "bench": bench_key, "sets": spec.bench.sets, "scoring": spec.bench.scoring},
                                          lambda tmp, c=ck2: self._evaluate(bench, c / "ckpt", tmp), label=f"{arm_name} eval (seed {seed})")  # fmt: skip
                for set_name in spec.bench.sets:
                    scores = orjson.loads((ev / set_name / "scores.json").read_bytes())
                    for metric, value in metrics_from_scores(scores, set_name).items():
                        rows.append({"suite": spec.name, "arm": arm_name, "seed": seed, "bench_set": set_name,
                                     "metric": metric, "value": value, "run_key": key3})  # fmt: skip
        store(self.out / "results.duckdb", rows)
        journal = read_journal(self.out / "steps.jsonl")
        mine = journal[self._journal_start :]  # this invocation's entries
        meta = {"seeds": self.seeds, "command": " ".join(shlex.quote(a) for a in ["mmdata", *sys.argv[1:]]) if sys.argv[0].endswith("mmdata") else f"mmdata ablate {spec.name}",
                "commit": self._commit, "wall_s": time.perf_counter() - t0,
                "ran": sum(e["event"] == "ran" for e in mine), "cached": sum(e["event"] == "cached" for e in mine)}  # fmt: skip
        # every invocation on this directory is kept, so a report re-rendered from the cache (e.g. after
        # editing the spec's discussion) still shows the run that computed the steps and its wall time
        with open(self.out / "runs.jsonl", "ab") as f:
            f.write(orjson.dumps({k: meta[k] for k in ("command", "commit", "wall_s", "ran", "cached")}) + b"\n")
        atomic_write_bytes(self.out / "rows.json", dumps_json(rows))
        _render(self.out, spec, rows, meta)
        return {"rows": rows, "meta": meta}

    def _evaluate(self, bench: Path, ckpt: Path, tmp: Path) -> None:
        from mmdata.bench.run import run_benchmark

        for set_name in self.spec.bench.sets:
            prefix = "mmdata-choice" if self.spec.bench.scoring == "choice" else "mmdata"
            run_benchmark(bench / set_name, f"{prefix}:{ckpt}", tmp / set_name, batch_size=self.spec.bench.batch_size,
                          db=self.leaderboard)  # fmt: skip


def _quiet(*_a, **_k) -> None:
    pass


def _commit() -> str:
    """The checkout's commit when the run starts, ``+dirty`` when mmdata's own files differ from it."""
    here = Path(__file__).resolve().parents[1]  # the mmdata package
    try:
        git = ["git", "-C", str(here)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=5).stdout.strip()
        return (head + ("+dirty" if dirty else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _render(out: Path, spec: AblationSpec, rows: list[dict], meta: dict) -> None:
    from mmdata.ablate.report import write_reports

    journal = read_journal(out / "steps.jsonl")
    meta["runs"] = read_journal(out / "runs.jsonl")
    meta["compute_s"] = {kind: round(sum(e.get("seconds", 0) for e in journal if e["event"] == "ran" and e["step"] == kind), 1)
                         for kind in dict.fromkeys(e["step"] for e in journal)}  # fmt: skip
    write_reports(out, spec, rows, meta)


def rerender(spec_path: str | Path, out: str | Path) -> dict:
    """Rewrite ``report.md`` / ``report.html`` of a finished ablation from its stored rows and run
    log, with the spec's current text (description, discussion) — no step is looked up or run."""
    spec, _ = load_spec(spec_path)
    out = Path(out)
    if not (out / "rows.json").is_file() or not (out / "runs.jsonl").is_file():
        raise MmdataError("no finished ablation here (rows.json and runs.jsonl are written when a run completes)", file=out)
    rows = orjson.loads((out / "rows.json").read_bytes())
    suites = {r["suite"] for r in rows}
    if suites != {spec.name}:
        raise MmdataError(f"the results are for {sorted(suites)}, not for spec {spec.name!r}", file=out / "rows.json")
    last = read_journal(out / "runs.jsonl")[-1]
    meta = {**last, "seeds": sorted({r["seed"] for r in rows})}
    _render(out, spec, rows, meta)
    return {"rows": rows, "meta": meta}


def run_ablation(spec_path: str | Path, out: str | Path, *, seeds: int | None = None, only: list[str] | None = None,
                 leaderboard: str | Path | None = None, log=print) -> dict:  # fmt: skip
    spec, base = load_spec(spec_path)
    arms = list(spec.arms)
    if only:
        unknown = [a for a in only if a not in spec.arms]
        if unknown:
            raise MmdataError(f"unknown arm(s) {unknown}; the spec has {arms}", field="--only")
        arms = [a for a in arms if a in only]
    chosen = spec.seeds if seeds is None else (spec.seeds[:seeds] if seeds <= len(spec.seeds) else list(range(seeds)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return Runner(spec, base, out, seeds=chosen, arms=arms, leaderboard=Path(leaderboard) if leaderboard else None, log=log).run()
