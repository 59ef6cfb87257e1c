"""One trial of a candidate tiny configuration (one seed): world → benchmark → stage-1 and stage-2
mixtures → stage 0 (cached) → stage 1 → stage 2 → synthetic MMMB with the shuffled-image control.
It prints one JSON line (mean, en, mean_non_en, shuffled mean, image-use gap, English per category,
stage wall times) and appends it to ``$TRIALS`` (default ``reports/ablations/tiny-config-trials.jsonl``).

    MMDATA_CACHE=/tmp/trials-cache .venv/bin/python benchmarks/science/tiny_trial.py NAME \
        [--set preset.key=value ...] [--rset recipe.key=value ...] [--s1 N] [--s2 N] [--limit N] \
        [--threads 1] [--scoring auto|text]

Runs go to ``$TRIAL_RUNS/NAME`` (default ``/tmp/mmdata-trials/NAME``); with ``EVAL_ONLY=1`` a run whose
stage-2 checkpoint exists is only evaluated again (e.g. under another scoring rule).
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ap = argparse.ArgumentParser()
ap.add_argument("name")
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--rset", action="append", default=[])
ap.add_argument("--recipe", default="honeybee")
ap.add_argument("--s1", type=int, default=100)
ap.add_argument("--s2", type=int, default=150)
ap.add_argument("--limit", type=int, default=100)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--world", default="small")
ap.add_argument("--per-language", type=int, default=200)
ap.add_argument("--preset", default="tiny-cpu")
ap.add_argument("--scoring", default="auto")
ap.add_argument("--eval-at", default="", help="also score stage 2 at these steps (comma-separated): a learning curve of one run")
args = ap.parse_args()

import torch  # noqa: E402  (after the thread count is set)

torch.set_num_threads(args.threads)
from mmdata import cache  # noqa: E402  (after the thread count is set)
from mmdata.bench.make import make_benchmark  # noqa: E402  (after the thread count is set)
from mmdata.bench.models import MmdataChoiceModel  # noqa: E402  (after the thread count is set)
from mmdata.bench.run import run_benchmark  # noqa: E402  (after the thread count is set)
from mmdata.model.config import load_preset  # noqa: E402  (after the thread count is set)
from mmdata.model.train import train  # noqa: E402  (after the thread count is set)
from mmdata.recipe.build import build  # noqa: E402  (after the thread count is set)
from mmdata.recipe.config import load_recipe  # noqa: E402  (after the thread count is set)
from mmdata.world.generate import cached_world  # noqa: E402  (after the thread count is set)

out = Path(os.environ.get("TRIAL_RUNS", "/tmp/mmdata-trials")) / args.name
out.mkdir(parents=True, exist_ok=True)
t0 = time.time()
world = cached_world(args.world, 0)
bench = cache.run("bench", {"exp": True, "world": str(world), "n": args.per_language, "v": 2},
                  lambda tmp: make_benchmark(world, tmp / "bench", args.per_language)).path / "bench"
p = load_preset(args.preset, sets=[f"stage0.world_size={args.world}", f"train.seed={args.seed}", f"train.stage1.steps={args.s1}",
                                   f"train.stage2.steps={args.s2}", *args.set])


def mix(recipe, sets, tag):
    r, base = load_recipe(recipe, sets, require_root=False)
    r = r.with_(root=world, seed=args.seed)
    d = out / f"mix-{tag}"
    if not (d / "manifest.json").exists():
        build(r, d, base=base)
    return d


m1 = mix("stage1-captions", [], "s1")
m2 = mix(args.recipe, [*args.rset], "s2")
t1 = time.time()
log = lambda *a, **k: None  # noqa: E731
ck0 = out / "ck0"
if not (ck0 / "config.yaml").exists():
    train(p, 0, ck0, log=log)
t2 = time.time()
done = (out / "ck2" / "config.yaml").exists() and os.environ.get("EVAL_ONLY")
if not done:
    train(p, 1, out / "ck1", mixture=m1, init=ck0, log=log, overwrite=True)
t3 = time.time()
points = sorted({int(x) for x in args.eval_at.split(",") if x} | {args.s2})
t_prev = t3  # stage 2's time is reported per segment: since the last scored point
for n, point in enumerate(points):
    if done:
        r2 = {"losses": []}
    else:  # the first call starts stage 2 afresh, the later ones resume it where the last one stopped
        r2 = train(p, 2, out / "ck2", mixture=m2, init=out / "ck1", log=log, overwrite=n == 0, stop_at=point)
    t4 = time.time()
    model = MmdataChoiceModel(f"mmdata-choice:{out / 'ck2'}", str(out / "ck2"), scoring=args.scoring)
    tag = f"eval-{args.scoring}" + (f"-{point}" if point != args.s2 else "")
    res = run_benchmark(bench / "mmmb", model, out / tag, limit=args.limit, batch_size=32, db=None, control="shuffled")
    t5 = time.time()
    s = res.scores
    cats = {c: round(100 * v, 1) for c, v in sorted(s["by_category"]["en"].items())} if "by_category" in s else {}
    shuf = {c: round(100 * v, 1) for c, v in sorted(s.get("shuffled_by_category", {}).get("en", {}).items())}
    summary = {"name": args.name + (f"@{point}" if point != args.s2 else ""), "mean": round(100 * s["mean"], 1),
               "en": round(100 * s["overall"]["en"], 1), "non_en": round(100 * s["mean_non_en"], 1),
               "shuffled": round(100 * s["shuffled_mean"], 1), "gap": round(100 * s["image_use_gap"], 1),
               "loss_last": round(r2["losses"][-1], 3) if r2["losses"] else None,
               "t_build": round(t1 - t0), "t_s0": round(t2 - t1), "t_s1": round(t3 - t2), "t_s2": round(t4 - t_prev), "t_eval": round(t5 - t4),
               "answer_method": model.answer_method, "en_by_cat": cats, "en_shuffled_by_cat": shuf, "args": vars(args)}  # fmt: skip
    print(json.dumps(summary), flush=True)
    with open(os.environ.get("TRIALS", Path(__file__).resolve().parents[2] / "reports/ablations/tiny-config-trials.jsonl"), "a") as f:
        f.write(json.dumps(summary) + "\n")
    t_prev = time.time()
