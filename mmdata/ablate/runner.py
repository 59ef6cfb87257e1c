"""``mmdata ablate SPEC --out DIR``: every arm × seed through build → stage 1 → stage 2 → harness.

Each step is a content-addressed cache entry (:func:`mmdata.cache.run`) keyed by everything that
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

``--jobs N`` (N > 1) builds the world and benchmark here, then runs the arm × seed pipelines in N
``spawn``-ed worker processes with ``cpu_count // N`` torch threads each (``threads`` is in no step's
key, so the entries are those of ``--jobs 1``); this process alone writes the results, reports and
leaderboard, in (seed, arm) order, so the tables are byte-identical to a sequential run's.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl

from mmdata import __version__
from mmdata.ablate.results import metrics_from_scores, store
from mmdata.ablate.spec import AblationSpec, load_spec
from mmdata.errors import MmdataError
from mmdata.io import append_line, atomic_write_bytes, dumps_json

CONTROL = "shuffled"  # every evaluation also scores the image-shuffled control


def read_journal(path: Path) -> list[dict]:
    """The JSON lines of ``steps.jsonl`` / ``runs.jsonl`` (empty when absent)."""
    if not Path(path).exists():
        return []
    return [orjson.loads(x) for x in Path(path).read_bytes().splitlines() if x.strip()]


def _preset(spec: AblationSpec, base: Path, arm_set: list[str], seed: int):
    """The arm's model preset: the spec's preset with the spec's and the arm's ``--set`` overrides
    (written by the spec's author), then the run's seed and stage budgets set as typed values."""
    from mmdata.config import find_preset
    from mmdata.model.config import load_preset

    path, _ = find_preset("models", spec.model, base=base)
    p = load_preset(path, sets=[*spec.model_set, *arm_set])
    t = p.train
    train = t.model_copy(update={"seed": seed, "stage1": t.stage1.model_copy(update={"steps": spec.budget.stage1}),
                                 "stage2": t.stage2.model_copy(update={"steps": spec.budget.stage2})})  # fmt: skip
    return p.model_copy(update={"train": train})


def _recipe(spec_recipe: str, base: Path, overrides: list[str], *, root: Path, seed: int):
    """A recipe with the spec's (and arm's) overrides, pointed at the run's world and seed."""
    from mmdata.recipe.config import load_recipe

    recipe, rbase = load_recipe(spec_recipe, overrides, base=base, require_root=False)
    return recipe.with_(root=root, seed=seed), rbase


def _recipe_key(recipe, rbase: Path) -> dict:
    """What determines a mixture: the resolved recipe and the content of its sources."""
    from mmdata.recipe.ingest import source_inputs

    fps = {s.dataset: source_inputs(s, recipe.resolved_path(s.path, rbase)) for s in recipe.active_sources}
    return {"recipe": recipe.model_dump(mode="json", exclude={"root"}), "sources": fps, "mmdata": __version__}


def stage0_inputs(preset) -> dict:
    """What a stage-0 checkpoint depends on: the backbones' pretraining *and* the whole architecture
    (projector / discrete tokenizer included), since later stages only start from a checkpoint of the
    same architecture. The pretrained backbones themselves are shared through the model stack's own
    content cache, so arms that differ only in the projector pay for a fresh head, not a new stage 0."""
    return {"stage0": preset.stage0.model_dump(mode="json") if preset.stage0 else None, "model": preset.model_section(),
            "mmdata": __version__}  # fmt: skip


def train_inputs(preset, stage: int) -> dict:
    """The training settings a stage-1 / stage-2 checkpoint depends on: the ``train`` section without the
    other stage and without ``threads``, which sets how fast it runs, not what it computes (so ``--jobs``
    and a preset's ``threads`` share entries; the key is as before the option for presets without it)."""
    return preset.train.model_dump(mode="json", exclude={"stage2" if stage == 1 else "stage1", "threads"})


def claim_out(out: Path, suite: str) -> None:
    """An ablation directory accumulates runs (re-running resumes), so an existing one is accepted
    only if it holds this suite's results; anything else is refused."""
    from mmdata.io import OWNER, owner_kind

    if out.exists() and not out.is_dir():
        raise MmdataError("--out exists and is a file, not a directory", file=out)
    if out.is_dir() and any(out.iterdir()):
        if owner_kind(out) != "ablation":
            raise MmdataError(f"--out holds files mmdata did not write (no {OWNER}); choose an empty or new directory", file=out)
        theirs = orjson.loads((out / OWNER).read_bytes()).get("suite")
        if theirs != suite:
            raise MmdataError(f"--out holds the results of ablation {theirs!r}, not {suite!r}; choose another directory", file=out)
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / OWNER, dumps_json({"kind": "mmdata-ablation", "suite": suite}))


class Runner:
    def __init__(self, spec: AblationSpec, base: Path, out: Path, *, seeds: list[int], arms: list[str],
                 leaderboard: Path | None, log=print, jobs: int = 1) -> None:  # fmt: skip
        self.spec, self.base, self.out = spec, base, out
        self.seeds, self.arms = seeds, arms
        self.leaderboard = leaderboard
        self.log = log
        self.jobs = jobs
        self.journal = out / "steps.jsonl"

    def step(self, kind: str, inputs: dict, fn, label: str) -> tuple[Path, str]:
        """One cached step (:func:`mmdata.cache.run`), journaled in ``steps.jsonl``."""
        entry = self._entry(kind, inputs, fn, label)
        return entry.path, entry.key

    def _entry(self, kind: str, inputs: dict, fn, label: str):
        from mmdata import cache

        return cache.run(kind, inputs, fn, label=label, on_event=self._log)

    def _log(self, event: dict) -> None:
        append_line(self.journal, orjson.dumps(event) + b"\n")

    # --------------------------------------------------------------------------------- shared steps

    def world(self) -> tuple[Path, str]:
        if self.spec.root is not None:
            root = (self.base / self.spec.root).resolve()
            if not root.is_dir():
                raise MmdataError("spec root does not exist", file=root, field="root")
            return root, str(root)
        w = self.spec.world
        from mmdata.world.generate import generate, world_inputs

        d, key = self.step("world", world_inputs(w.size, w.seed, w.image_size),
                           lambda tmp: generate(tmp / "world", w.size, w.seed, w.image_size), label=f"{w.size} world")  # fmt: skip
        return d / "world", key

    def bench(self, world: Path, world_key: str) -> tuple[Path, str]:
        from mmdata.bench.make import make_benchmark
        from mmdata.bench.prompts import PROMPT_VERSION

        n = self.spec.bench.per_language
        d, key = self.step("bench", {"world": world_key, "per_language": n, "prompt": PROMPT_VERSION, "mmdata": __version__},
                                lambda tmp: make_benchmark(world, tmp / "bench", per_language=n), label=f"benchmark ({n}/language)")  # fmt: skip
        return d / "bench", key

    def mixture(self, recipe: str, overrides: list[str], label: str, *, world: Path, seed: int) -> tuple[Path, str]:
        from mmdata.recipe.build import build

        r, rbase = _recipe(recipe, self.base, overrides, root=world, seed=seed)
        d, _ = self.step("mixture", _recipe_key(r, rbase), lambda tmp: build(r, tmp / "mix", base=rbase), label=label)
        content = orjson.loads((d / "mix" / "manifest.json").read_bytes())["content_hash"]
        return d / "mix", content

    # ---------------------------------------------------------------------------------- the loop

    def run(self) -> dict:
        t0 = time.perf_counter()
        self._journal_start = len(read_journal(self.out / "steps.jsonl"))
        self._commit = _commit()  # the code that runs is the code at the start
        from mmdata.model.metrics import machine

        self._machine = machine()  # results agree across machines only statistically (CPU kernels differ)
        spec = self.spec
        world, world_key = self.world()
        bench, bench_key = self.bench(world, world_key)
        pairs = [(seed, arm_name) for seed in self.seeds for arm_name in self.arms]  # the (seed, arm) order of the tables
        if self.jobs > 1 and len(pairs) > 1:
            evals = self._run_parallel(pairs, world=world, bench=bench, bench_key=bench_key)
        else:
            evals, s1 = [], {}
            for k, (seed, arm_name) in enumerate(pairs, 1):
                if seed not in s1:
                    s1[seed] = self.stage1_mixture(world, seed)
                ev, key3, _ = self.pipeline(seed, arm_name, _tag(k, len(pairs), arm_name, seed), world=world, bench=bench,
                                            bench_key=bench_key, s1=s1[seed])  # fmt: skip
                evals.append((ev, key3))
        rows, outcomes = [], []
        for (seed, arm_name), (ev, key3) in zip(pairs, evals, strict=True):
            for set_name in spec.bench.sets:
                scores = orjson.loads((ev / set_name / "scores.json").read_bytes())
                for metric, value in metrics_from_scores(scores, set_name).items():
                    rows.append({"suite": spec.name, "arm": arm_name, "seed": seed, "bench_set": set_name,
                                 "metric": metric, "value": value, "run_key": key3})  # fmt: skip
                o = pl.read_parquet(ev / set_name / "outcomes.parquet")
                outcomes.append(o.select(pl.lit(spec.name).alias("suite"), pl.lit(arm_name).alias("arm"), pl.lit(seed).alias("seed"),
                                         pl.lit(set_name).alias("bench_set"), pl.all()))  # fmt: skip
        store(self.out / "results.duckdb", rows, pl.concat(outcomes) if outcomes else None)
        journal = read_journal(self.out / "steps.jsonl")
        mine = journal[self._journal_start :]  # this invocation's entries
        meta = {"seeds": self.seeds, "command": " ".join(shlex.quote(a) for a in ["mmdata", *sys.argv[1:]]) if sys.argv[0].endswith("mmdata") else f"mmdata ablate {spec.name}",
                "commit": self._commit, "machine": self._machine, "wall_s": time.perf_counter() - t0,
                "ran": sum(e["event"] == "ran" for e in mine), "cached": sum(e["event"] == "cached" for e in mine)}  # fmt: skip
        # every invocation on this directory is kept, so a report re-rendered from the cache (e.g. after
        # editing the spec's discussion) still shows the run that computed the steps and its wall time
        with open(self.out / "runs.jsonl", "ab") as f:
            f.write(orjson.dumps({k: meta[k] for k in ("command", "commit", "machine", "wall_s", "ran", "cached")}) + b"\n")
        atomic_write_bytes(self.out / "rows.json", dumps_json(rows))
        _render(self.out, spec, rows, meta)
        return {"rows": rows, "meta": meta}

    def stage1_mixture(self, world: Path, seed: int) -> tuple[Path, str]:
        """The stage-1 (caption) mixture of a seed, shared by its arms."""
        return self.mixture(self.spec.stage1.recipe, self.spec.stage1.set, f"stage-1 data (seed {seed})", world=world, seed=seed)

    def pipeline(self, seed: int, arm_name: str, tag: str, *, world: Path, bench: Path, bench_key: str, s1: tuple[Path, str],
                 threads: int = 0) -> tuple[Path, str, bool]:  # fmt: skip
        """One arm × seed: mixture → stage 0 → stage 1 → stage 2 → eval. Returns the eval entry's folder,
        its key and whether the evaluation ran (False: it was cached). ``threads`` (a worker of
        ``--jobs``) overrides the preset's torch threads; it is not part of any step's key."""
        from mmdata.model.train import train

        spec = self.spec
        s1_mix, s1_hash = s1
        arm = spec.arms[arm_name]
        self.log(f"{tag}: building mixture")
        mix, mix_hash = self.mixture(spec.recipe, [*spec.recipe_set, *arm.recipe], f"{arm_name} data (seed {seed})", world=world, seed=seed)
        preset = _preset(spec, self.base, arm.model, seed)
        if threads:
            preset = preset.model_copy(update={"train": preset.train.model_copy(update={"threads": threads})})
        model = preset.model_section()
        self.log(f"{tag}: stage 0")
        ck0, key0 = self.step("stage0-checkpoint", stage0_inputs(preset), lambda tmp, p=preset: train(p, 0, tmp / "ckpt", log=_quiet),
                              label="stage 0 backbones")  # fmt: skip
        self.log(f"{tag}: stage 1")
        s1_inputs = {"stage0": key0, "model": model, "train": train_inputs(preset, 1), "data": s1_hash}
        ck1, key1 = self.step("stage1", s1_inputs, lambda tmp, p=preset, i=ck0, m=s1_mix: train(p, 1, tmp / "ckpt", mixture=m, init=i / "ckpt", log=_quiet),
                              label=f"stage 1 (seed {seed})")  # fmt: skip
        self.log(f"{tag}: stage 2")
        s2_inputs = {"stage1": key1, "model": model, "train": train_inputs(preset, 2), "data": mix_hash}
        ck2, key2 = self.step("stage2", s2_inputs, lambda tmp, p=preset, i=ck1, m=mix: train(p, 2, tmp / "ckpt", mixture=m, init=i / "ckpt", log=_quiet),
                              label=f"{arm_name} stage 2 (seed {seed})")  # fmt: skip
        self.log(f"{tag}: evaluating")
        ev = self._entry("eval", {"stage2": key2, "bench": bench_key, "sets": spec.bench.sets, "scoring": spec.bench.scoring.value, "control": CONTROL},
                         lambda tmp, c=ck2, p=preset: self._evaluate(bench, c / "ckpt", tmp, p.train.threads),
                         label=f"{arm_name} eval (seed {seed})")  # fmt: skip
        return ev.path, ev.key, not ev.hit

    def _run_parallel(self, pairs: list[tuple[int, str]], *, world: Path, bench: Path, bench_key: str) -> list[tuple[Path, str]]:
        """Every (seed, arm) pipeline in a worker process (``spawn``: no fork after torch is imported),
        ``self.jobs`` at a time, each with ``cpu_count // jobs`` torch threads. Workers get no leaderboard
        (DuckDB has one writer process); evaluations that ran are recorded here afterwards, in order."""
        import multiprocessing as mp
        import queue as queue_mod
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        from mmdata import cache

        total = len(pairs)
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        ctx = mp.get_context("spawn")
        messages = ctx.Queue()
        tags = {k: _tag(k, total, arm_name, seed) for k, (seed, arm_name) in enumerate(pairs, 1)}
        results: dict[int, tuple[Path, str, bool]] = {}
        failures: dict[int, BaseException] = {}

        def relay() -> None:
            while True:
                try:
                    msg = messages.get_nowait()
                except queue_mod.Empty:
                    return
                self.log(msg)

        pool = ProcessPoolExecutor(max_workers=min(self.jobs, total), mp_context=ctx, initializer=_worker_init,
                                   initargs=(messages, str(cache.root()), threads))  # fmt: skip
        try:
            futures = {}
            for k, (seed, arm_name) in enumerate(pairs, 1):
                job = {"spec": self.spec, "base": str(self.base), "out": str(self.out), "seed": seed, "arm": arm_name, "tag": tags[k],
                       "world": str(world), "bench": str(bench), "bench_key": bench_key, "threads": threads}  # fmt: skip
                futures[pool.submit(_worker, job)] = k
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                relay()
                for fut in sorted(done, key=futures.get):
                    k = futures[fut]
                    if fut.cancelled():
                        continue
                    exc = fut.exception()
                    if exc is not None:
                        failures[k] = exc
                        self.log(f"{tags[k]}: failed")
                        continue
                    ev, key3, ran_eval, seconds = fut.result()
                    results[k] = (Path(ev), key3, ran_eval)
                    self.log(f"{tags[k]}: done in {seconds:.0f} s")
                if failures:  # stop queueing; the pipelines already running finish (their steps are cached)
                    for fut in pending:
                        fut.cancel()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            relay()
            # the evaluations that ran, even when another pipeline failed: a rerun finds them cached and,
            # as in a sequential run, does not record them again
            self._record([results[k] for k in sorted(results) if results[k][2]], bench)
        if failures:  # the first failing pipeline in (seed, arm) order, as the sequential run would report
            k = min(failures)
            exc = failures[k]
            if isinstance(exc, BrokenProcessPool):
                raise MmdataError(f"{tags[k]}: a worker process died ({exc}); rerun to resume, finished steps are cached") from None
            raise exc
        return [results[k][:2] for k in sorted(results)]

    def _record(self, evals: list[tuple[Path, str, bool]], bench: Path) -> None:
        """Append evaluations scored in workers (with ``db=None``) to the leaderboard, in order: the rows
        :func:`mmdata.bench.run.run_benchmark` writes when it is given the database."""
        if self.leaderboard is None or not evals:
            return
        from mmdata.bench.run import record_dir
        from mmdata.bench.tsv import load_benchmark

        circular = {s: load_benchmark(bench / s).circular for s in self.spec.bench.sets}
        for ev, _, _ in evals:
            for s in self.spec.bench.sets:
                record_dir(self.leaderboard, ev / s, circular=circular[s])

    def _evaluate(self, bench: Path, ckpt: Path, tmp: Path, threads: int = 0) -> None:
        from mmdata.bench.run import run_benchmark
        from mmdata.model.train import cpu_threads

        with cpu_threads(threads):
            model = self.spec.bench.scoring.model(ckpt)
            for set_name in self.spec.bench.sets:  # always with the image-use control
                run_benchmark(bench / set_name, model, tmp / set_name, batch_size=self.spec.bench.batch_size, db=self.leaderboard,
                              control=CONTROL)  # fmt: skip


def _tag(k: int, total: int, arm_name: str, seed: int) -> str:
    return f"[{k}/{total}] {arm_name} · seed {seed}"


_MESSAGES = None  # a worker's queue of progress lines for the parent


def _worker_init(messages, cache_root: str, threads: int) -> None:
    """A ``--jobs`` worker process: the parent's cache, ``threads`` CPU threads (set before torch loads)."""
    global _MESSAGES
    _MESSAGES = messages
    os.environ["MMDATA_CACHE"] = cache_root
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def _worker(job: dict) -> tuple[str, str, bool, float]:
    """One (seed, arm) pipeline in a worker: plain data back (the eval folder, its key, whether it ran, seconds).
    The steps journal is appended here; results, reports and the leaderboard are the parent's."""
    import torch

    t0 = time.perf_counter()
    torch.set_num_threads(job["threads"])
    log = _MESSAGES.put if _MESSAGES is not None else _quiet
    log(f"{job['tag']}: started (worker {os.getpid()}, {job['threads']} thread{'s' if job['threads'] > 1 else ''})")
    r = Runner(job["spec"], Path(job["base"]), Path(job["out"]), seeds=[job["seed"]], arms=[job["arm"]], leaderboard=None, log=log)
    world, seed = Path(job["world"]), job["seed"]
    ev, key, ran = r.pipeline(seed, job["arm"], job["tag"], world=world, bench=Path(job["bench"]), bench_key=job["bench_key"],
                              s1=r.stage1_mixture(world, seed), threads=job["threads"])  # fmt: skip
    return str(ev), key, ran, time.perf_counter() - t0


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
    from mmdata.ablate.results import load_outcomes

    write_reports(out, spec, rows, meta, load_outcomes(out / "results.duckdb", spec.name))


def rerender(spec_path: str | Path, out: str | Path, *, overrides: list[str] | None = None) -> dict:
    """Rewrite ``report.md`` / ``report.html`` of a finished ablation from its stored rows and run
    log, with the spec's current text (description, discussion) — no step is looked up or run."""
    spec, _ = load_spec(spec_path, overrides)
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


def _select(spec: AblationSpec, seeds: int | None, only: list[str] | None) -> tuple[list[int], list[str]]:
    arms = list(spec.arms)
    if only:
        unknown = [a for a in only if a not in spec.arms]
        if unknown:
            raise MmdataError(f"unknown arm(s) {unknown}; the spec has {arms}", field="--only")
        arms = [a for a in arms if a in only]
    chosen = spec.seeds if seeds is None else (spec.seeds[:seeds] if seeds <= len(spec.seeds) else list(range(seeds)))
    return chosen, arms


def plan(spec_path: str | Path, out: str | Path, *, overrides: list[str] | None = None, seeds: int | None = None,
         only: list[str] | None = None) -> dict:  # fmt: skip
    """What ``mmdata ablate`` would run (``--dry-run``): the resolved spec and each arm × seed's model
    steps with their cache state. Nothing is built, trained or written."""
    from mmdata import cache

    spec, base = load_spec(spec_path, overrides)
    chosen, arms = _select(spec, seeds, only)
    steps = []
    for seed in chosen:
        for arm_name in arms:
            preset = _preset(spec, base, spec.arms[arm_name].model, seed)
            hit = cache.lookup("stage0-checkpoint", stage0_inputs(preset)) is not None
            steps.append({"arm": arm_name, "seed": seed, "stage0": "cached" if hit else "will run",
                          "recipe_set": [*spec.recipe_set, *spec.arms[arm_name].recipe], "model_set": [*spec.model_set, *spec.arms[arm_name].model]})  # fmt: skip
    return {"spec": spec.model_dump(mode="json"), "out": str(out), "arms": arms, "seeds": chosen, "runs": steps,
            "writes": "nothing (dry run)"}  # fmt: skip


def run_ablation(spec_path: str | Path, out: str | Path, *, overrides: list[str] | None = None, seeds: int | None = None,
                 only: list[str] | None = None, leaderboard: str | Path | None = None, log=print, jobs: int = 1) -> dict:  # fmt: skip
    if jobs < 1:
        raise MmdataError(f"--jobs must be at least 1, got {jobs}", field="--jobs")
    spec, base = load_spec(spec_path, overrides)
    chosen, arms = _select(spec, seeds, only)
    out = Path(out)
    claim_out(out, spec.name)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return Runner(spec, base, out, seeds=chosen, arms=arms, leaderboard=Path(leaderboard) if leaderboard else None, log=log, jobs=jobs).run()
