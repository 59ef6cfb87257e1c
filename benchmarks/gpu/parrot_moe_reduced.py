"""A reduced GPU check of the ``small-gpu`` stack through the shipped suite ``parrot-moe-gpu``.

This is NOT the suite: it runs ``mmdata ablate parrot-moe-gpu`` with every budget cut so that it fits
in a few minutes of one H200, to check that the GPU path works end to end (224 px world, bf16
autocast, packing with the block-diagonal mask, Parrot's MoE, generation-based scoring with the
shuffled-image control) and to measure seconds per step of each stage, from which the full suite's
GPU time is estimated.

What it runs (two ``mmdata ablate`` invocations on one cache, each bounded by the deadline):

  A. ``--only multilingual-moe`` into ``WORK/moe``: world (small, 224 px), benchmark, mixtures,
     stage 0 (CLIP + LM), stage 1, stage 2, evaluation.
  B. ``--only multilingual --only multilingual-moe`` into ``WORK/both`` (only if time is left):
     reuses A's steps and adds the MoE-less arm, so its report holds both arms (1 seed, no CI).

The reductions (``REDUCED``): 1 seed, 2 of 3 arms, stage 0 CLIP/LM 100/100 steps (3000/6000 in the
preset), stage 1/2 40/40 steps (2000/3000), logging every 10 steps, ``balance.size=20000``
(200000), ``bench.per_language=24`` (500). Model, batch sizes, packing, precision and image size
are the preset's.

Afterwards it writes ``$OUT/summary.json`` (seconds per step of every stage, scores, estimate of
the full suite's GPU time) and ``$OUT/results.tar.gz`` (the ablation folders, the cache entries'
``.entry.json``, ``stage0.json``, ``metrics.jsonl`` and ``scores.json``; no weights, no images).

    PYTHONPATH=. MMDATA_CACHE=/tmp/mmcache OUT=/tmp/out python3 benchmarks/gpu/parrot_moe_reduced.py
    python3 benchmarks/gpu/parrot_moe_reduced.py --summarize-only   # recompute summary.json from WORK
    python3 benchmarks/gpu/parrot_moe_reduced.py --dry-run          # print the plans (no training)

Environment: ``DEADLINE_S`` (default 500: both invocations stop by then), ``WORK`` (default
``/tmp/gpu-check``), ``OUT`` (default ``WORK/out``), ``MMDATA_CACHE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

T0 = time.time()
SUITE = "parrot-moe-gpu"
STAGE0 = {"clip": 100, "lm": 100}
BUDGET = {"stage1": 40, "stage2": 40}
PER_LANGUAGE = 24
BALANCE = 20000
REDUCED = [
    f"budget.stage1={BUDGET['stage1']}",
    f"budget.stage2={BUDGET['stage2']}",
    f"bench.per_language={PER_LANGUAGE}",
    f"recipe_set=[balance.size={BALANCE}]",
    f"model_set=[stage0.clip.steps={STAGE0['clip']}, stage0.lm.steps={STAGE0['lm']}, train.log_every=10]",
    *[x for x in os.environ.get("EXTRA_SETS", "").split(";") if x],  # e.g. "bench.sets=[mmmb]"
]
DEADLINE = float(os.environ.get("DEADLINE_S", "500"))
WORK = Path(os.environ.get("WORK", "/tmp/gpu-check"))
OUT = Path(os.environ.get("OUT") or WORK / "out")
LEADERBOARD = WORK / "leaderboard.duckdb"


def cache_root() -> Path:
    return Path(os.environ.get("MMDATA_CACHE") or Path.home() / ".cache" / "mmdata")


def say(msg: str) -> None:
    print(f"[gpu-check {time.time() - T0:6.1f}s] {msg}", flush=True)


def ablate(out: Path, arms: list[str], *, dry: bool = False) -> int:
    """One ``mmdata ablate`` invocation, stopped at the deadline (rc 124 then)."""
    cmd = [sys.executable, "-m", "mmdata", "ablate", SUITE, "--out", str(out), "--seeds", "1", "--leaderboard", str(LEADERBOARD)]
    for a in arms:
        cmd += ["--only", a]
    for s in REDUCED:
        cmd += ["--set", s]
    if dry:
        cmd.append("--dry-run")
    left = DEADLINE - (time.time() - T0)
    say(f"{'dry run' if dry else 'run'} ({left:.0f} s left): {' '.join(cmd[1:])}")
    try:
        rc = subprocess.run(cmd, timeout=None if dry else max(1.0, left)).returncode
    except subprocess.TimeoutExpired:
        rc = 124
    say(f"rc {rc}")
    return rc


# ----------------------------------------------------------------------------------------- summary


def _read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.is_file() else []


def _entries(kind: str) -> list[Path]:
    d = cache_root() / kind
    return sorted(p for p in d.iterdir() if (p / ".complete").exists()) if d.is_dir() else []


def _moe(entry: Path) -> bool | None:
    try:
        return bool(json.loads((entry / ".entry.json").read_text())["inputs"]["model"]["moe"]["enabled"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _journal_seconds() -> dict[str, float]:
    """Seconds of every step that ran, by cache key, from both invocations' journals."""
    secs = {}
    for name in ("moe", "both"):
        for e in _read_jsonl(WORK / name / "steps.jsonl"):
            if e.get("event") == "ran":
                secs[e["key"]] = e.get("seconds", 0.0)
    return secs


def _stage(kind: str, secs: dict) -> list[dict]:
    """Per run of stage 1 or 2: the per-step times (steps 11+; the first window holds the loader's
    start-up) and the step's total seconds (model build, loader, training, saving)."""
    runs = []
    for e in _entries(kind):
        m = [r for r in _read_jsonl(e / "ckpt" / "metrics.jsonl") if r.get("stage") in (1, 2)]
        if not m:
            continue
        steady = m[1:] or m
        n = m[-1]["step"] - (m[0]["step"] if len(m) > 1 else 0)
        runs.append({
            "key": e.name, "moe": _moe(e), "steps": m[-1]["step"],
            "s_per_step_first10": round(m[0]["step_time"], 4),
            "s_per_step": round(sum(r["step_time"] for r in steady) / len(steady), 4),
            "steady_steps": n,
            "data_wait": round(sum(r["data_wait"] for r in steady) / len(steady), 4),
            "tokens_per_s": round(sum(r["tokens_per_s"] for r in steady) / len(steady)),
            "samples_per_s": round(sum(r["samples_per_s"] for r in steady) / len(steady), 1),
            "mfu": round(sum(r["mfu"] or 0 for r in steady) / len(steady), 4),
            "loss_first": round(m[0]["loss"], 4), "loss_last": round(m[-1]["loss"], 4),
            "step_total_s": secs.get(e.name),
        })  # fmt: skip
    return runs


def _full_suite_counts() -> dict:
    """How many stage-1/2 runs and evaluations the shipped suite makes (stage 1 is shared by arms
    whose stage-1 inputs are identical), and its budgets, from the spec and preset as shipped."""
    from mmdata.ablate.runner import _preset, train_inputs
    from mmdata.ablate.spec import load_spec

    spec, base = load_spec(SUITE)
    s1 = set()
    for seed in spec.seeds:
        for arm in spec.arms.values():
            p = _preset(spec, base, arm.model, seed)
            s1.add(json.dumps([p.model_section(), train_inputs(p, 1), seed], sort_keys=True, default=str))
    p = _preset(spec, base, [], spec.seeds[0])
    return {"arms": len(spec.arms), "seeds": len(spec.seeds), "stage1_runs": len(s1), "stage2_runs": len(spec.arms) * len(spec.seeds),
            "evals": len(spec.arms) * len(spec.seeds), "stage1_steps": spec.budget.stage1, "stage2_steps": spec.budget.stage2,
            "clip_steps": p.stage0.clip.steps, "lm_steps": p.stage0.lm.steps, "per_language": spec.bench.per_language,
            "moe_arms": sum(1 for a in spec.arms.values() if "moe.enabled=false" not in a.model)}  # fmt: skip


def summarize() -> dict:
    secs = _journal_seconds()
    s0 = [json.loads((e / "stage0.json").read_text()) for e in _entries("stage0") if (e / "stage0.json").is_file()]
    stage0 = None
    if s0:
        x = s0[-1]
        stage0 = {"clip_steps": STAGE0["clip"], "lm_steps": STAGE0["lm"], "clip_s": round(x["clip"]["seconds"], 2), "lm_s": round(x["lm"]["seconds"], 2),
                  "clip_s_per_step": round(x["clip"]["seconds"] / STAGE0["clip"], 4), "lm_s_per_step": round(x["lm"]["seconds"] / STAGE0["lm"], 4),
                  "total_s": round(x["seconds"], 2), "other_s": round(x["seconds"] - x["clip"]["seconds"] - x["lm"]["seconds"], 2),
                  "device": x.get("device"), "clip": x["clip"], "lm": x["lm"]}  # fmt: skip
    s1, s2 = _stage("stage1", secs), _stage("stage2", secs)
    evals = []
    for e in _entries("eval"):
        sc = {}
        for set_name in ("mmmb", "mmbench"):
            f = e / set_name / "scores.json"
            if f.is_file():
                s = json.loads(f.read_text())
                sc[set_name] = {k: (round(100 * s[k], 2) if isinstance(s.get(k), float) else s.get(k))
                                for k in ("mean", "mean_non_en", "shuffled_mean", "image_use_gap", "chance_mean", "answer_method")}  # fmt: skip
                sc[set_name]["en"] = round(100 * s["overall"]["en"], 2) if "overall" in s else None
                sc[set_name]["overall"] = {k: round(100 * v, 2) for k, v in s.get("overall", {}).items()}
        info = json.loads((e / ".entry.json").read_text()) if (e / ".entry.json").is_file() else {}
        evals.append({"key": e.name, "label": info.get("label"), "seconds": secs.get(e.name), "scores": sc})
    steps = {}
    for name in ("moe", "both"):
        for e in _read_jsonl(WORK / name / "steps.jsonl"):
            if e.get("event") == "ran":
                steps.setdefault(e["step"], []).append({"label": e.get("label"), "seconds": e.get("seconds")})
    est = None
    try:
        full = _full_suite_counts()
    except Exception as exc:
        full = {"error": repr(exc)}
    if stage0 and s1 and s2 and "error" not in full:

        def per(runs, moe):
            r = [x for x in runs if x["moe"] is moe] or runs
            return sum(x["s_per_step"] for x in r) / len(r)

        def overhead(runs):  # the step's seconds beyond its steady training steps (build, loader, save)
            o = [x["step_total_s"] - x["steps"] * x["s_per_step"] for x in runs if x["step_total_s"]]
            return max(0.0, sum(o) / len(o)) if o else 0.0

        n_moe, n_all = full["moe_arms"], full["arms"]
        clip = stage0["clip_s_per_step"] * full["clip_steps"]
        lm = stage0["lm_s_per_step"] * full["lm_steps"]
        st0 = clip + lm + stage0["other_s"]
        # stage 1: one run per distinct model per seed (MoE on / off)
        s1_moe, s1_plain = per(s1, True), per(s1, False)
        n1_moe = full["seeds"] * (1 if n_moe else 0)
        n1_plain = full["stage1_runs"] - n1_moe
        st1 = (n1_moe * s1_moe + n1_plain * s1_plain) * full["stage1_steps"] + full["stage1_runs"] * overhead(s1)
        s2_moe, s2_plain = per(s2, True), per(s2, False)
        st2 = full["seeds"] * (n_moe * s2_moe + (n_all - n_moe) * s2_plain) * full["stage2_steps"] + full["stage2_runs"] * overhead(s2)
        ev = [x["seconds"] for x in evals if x["seconds"]]
        ev_one = (sum(ev) / len(ev)) * full["per_language"] / PER_LANGUAGE if ev else 0.0
        st_ev = ev_one * full["evals"]
        total = st0 + st1 + st2 + st_ev
        est = {"full_suite": full, "stage0_s": round(st0), "stage0_clip_s": round(clip), "stage0_lm_s": round(lm),
               "stage1_s": round(st1), "stage2_s": round(st2), "eval_s": round(st_ev), "eval_one_s": round(ev_one),
               "total_gpu_s": round(total), "total_gpu_h": round(total / 3600, 2),
               "plain_arm_measured": any(x["moe"] is False for x in s2),
               "s_per_step_used": {"stage1_moe": round(s1_moe, 4), "stage1_plain": round(s1_plain, 4),
                                   "stage2_moe": round(s2_moe, 4), "stage2_plain": round(s2_plain, 4)},
               "assumptions": "steady seconds/step (steps 11-40) × the suite's steps; per-run overhead (model build, loader start, save) "
                              "as measured; stage 0 seconds/step include its first (warm-up) step; evaluation scaled linearly in "
                              "questions from per_language 24 to 500; CPU-only steps (world, benchmark, mixtures) not included"}  # fmt: skip
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    res = {"REDUCED_CHECK": "not the suite: 1 seed, 2 arms, tiny budgets (see reduced)", "suite": SUITE, "reduced": REDUCED,
           "gpu": gpu, "torch": torch.__version__, "elapsed_s": round(time.time() - T0, 1), "stage0": stage0, "stage1": s1,
           "stage2": s2, "evals": evals, "steps_ran": steps, "estimate": est}  # fmt: skip
    return res


def bundle() -> None:
    """The ablation folders and the small files of every cache entry (no weights, no images)."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tarfile.open(OUT / "results.tar.gz", "w:gz") as tar:
        for name in ("moe", "both", "moe.log", "both.log"):
            p = WORK / name
            if p.exists():
                tar.add(p, arcname=f"ablate/{name}")
        root = cache_root()
        keep = {".entry.json", "stage0.json", "metrics.jsonl", "scores.json", "config.yaml", "manifest.json", "world.json"}
        for kind in ("world", "bench", "mixture", "stage0", "stage0-checkpoint", "stage1", "stage2", "eval"):
            d = root / kind
            if not d.is_dir():
                continue
            for f in d.rglob("*"):
                if f.is_file() and f.name in keep and f.stat().st_size < 4_000_000 and "/images/" not in str(f):
                    tar.add(f, arcname=f"cache/{f.relative_to(root)}")


def main() -> int:
    dry = "--dry-run" in sys.argv
    if "--summarize-only" in sys.argv:
        print(json.dumps(summarize(), indent=1))
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    rc_a = rc_b = None
    try:
        rc_a = ablate(WORK / "moe", ["multilingual-moe"], dry=dry)
        left = DEADLINE - (time.time() - T0)
        if dry or (rc_a == 0 and left > 90):
            rc_b = ablate(WORK / "both", ["multilingual", "multilingual-moe"], dry=dry)
        else:
            say(f"skipping the second arm (rc {rc_a}, {left:.0f} s left)")
    finally:
        if not dry:
            try:
                res = summarize()
                res["rc"] = {"moe": rc_a, "both": rc_b}
                OUT.mkdir(parents=True, exist_ok=True)
                (OUT / "summary.json").write_text(json.dumps(res, indent=1))
                say("summary: " + json.dumps({k: res[k] for k in ("stage0", "estimate", "rc")}, default=str)[:3000])
            except Exception as exc:
                say(f"summary failed: {exc!r}")
            try:
                bundle()
                say(f"bundle written: {OUT / 'results.tar.gz'}")
            except Exception as exc:
                say(f"bundle failed: {exc!r}")
    return 0 if rc_a == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
