"""Benchmark-harness overhead, and the end-to-end speed against lmms-eval on the same task and model.

    .venv/bin/python benchmarks/perf/harness.py [--per-language 1000] [--model random:0] [--batch-size 32]

1. Builds a tiny world and the synthetic MMMB (``--per-language`` aligned questions × 6 languages).
2. Harness overhead per 1,000 items — everything ``mmdata bench run`` does besides the model — split into
   I/O (TSV load with base64 decoding, prompts and item hashes, image opening, the predictions journal,
   parquet compaction, scores.json, the DuckDB leaderboard row), extraction and scoring (including
   1,000 bootstrap resamples), measured inside one end-to-end run with a zero-cost scripted model and
   on its own. Compared with a model that takes 10 ms per item (target: ≤ 5 %).
3. A check with a model that really sleeps 10 ms per item (``--sleep-items`` items): wall / model time.
4. End to end against lmms-eval 0.7.3 (``simple_evaluate`` with the ``benchmarks/lmms_eval`` tasks and the
   same scripted model through the ``mmdata`` lmms model), each in a fresh process, timed with and
   without interpreter start-up and imports (target: mmdata ≥ 2× faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


def _timed_subprocess(code: str, *args: str) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"subprocess failed:\n{r.stderr[-3000:]}")
    last = [ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1]
    return wall, json.loads(last)


MMDATA_RUN = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    from mmdata.bench.run import run_benchmark
    t1 = time.perf_counter()
    res = run_benchmark(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=int(sys.argv[4]), db=sys.argv[5])
    t2 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "run_s": t2 - t1, "mean": res.scores["mean"],
                      "overall": res.scores["overall"]}))
""")

LMMS_RUN = textwrap.dedent("""
    import json, sys, time, logging
    t0 = time.perf_counter()
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager
    from mmdata.bench.lmms_bridge import register_runtime
    register_runtime()
    t1 = time.perf_counter()
    out = simple_evaluate(model="mmdata", model_args=f"spec={sys.argv[2]},batch_size={sys.argv[3]}", tasks=["mmdata_mmmb"],
                          task_manager=TaskManager(include_path=sys.argv[1], include_defaults=False),
                          log_samples=True, bootstrap_iters=0, verbosity="WARNING")
    t2 = time.perf_counter()
    res = out["results"]
    langs = ["en", "zh", "pt", "ar", "tr", "ru"]
    print(json.dumps({"import_s": t1 - t0, "run_s": t2 - t1, "mean": res["mmdata_mmmb"]["accuracy,none"],
                      "overall": {l: res[f"mmdata_mmmb_{l}"]["accuracy,none"] for l in langs}}))
""")


class Sleepy:
    """A model that takes 10 ms per item (batched), to check the overhead claim directly."""

    def __init__(self, per_item: float = 0.010) -> None:
        self.name = "sleep:10ms"
        self.per_item = per_item

    def generate(self, images, prompts):
        time.sleep(self.per_item * len(prompts))
        return ["A"] * len(prompts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-language", type=int, default=1000)
    ap.add_argument("--model", default="random:0")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sleep-items", type=int, default=100, help="questions per language for the 10 ms model check")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="mmdata-perf-harness-"))
    work.mkdir(parents=True, exist_ok=True)

    from mmdata.bench.extract import extract
    from mmdata.bench.leaderboard import record
    from mmdata.bench.lmms_bridge import export_parquet
    from mmdata.bench.make import make_benchmark
    from mmdata.bench.prompts import build_prompt
    from mmdata.bench.run import _ItemHasher, open_images, run_benchmark
    from mmdata.bench.score import summarise, units_by_language
    from mmdata.bench.tsv import load_benchmark
    from mmdata.world.generate import generate

    generate(work / "world", "tiny", 0)
    make_benchmark(work / "world", work / "bench", args.per_language)
    bench_dir = work / "bench" / "mmmb"

    # ---- one end-to-end run with the zero-cost scripted model (in process)
    res = run_benchmark(bench_dir, args.model, work / "run-e2e", batch_size=args.batch_size, db=work / "e2e.duckdb")
    n = sum(res.scores["n_items"].values())
    e2e_overhead = res.total_seconds - res.model_seconds

    # ---- the same work, component by component
    t = time.perf_counter()
    b = load_benchmark(bench_dir)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    hasher = _ItemHasher()
    prompts = [build_prompt(it) for it in b.items]
    _ = [hasher(it, p) for it, p in zip(b.items, prompts, strict=True)]
    t_prompt = time.perf_counter() - t
    t = time.perf_counter()
    _ = [open_images(it) for it in b.items]
    t_images = time.perf_counter() - t
    from mmdata.bench import models

    m = models.resolve(args.model)
    outputs = []
    for s in range(0, len(b.items), args.batch_size):
        rows = b.items[s : s + args.batch_size]
        outputs += models.generate(m, [[]] * len(rows), prompts[s : s + args.batch_size], rows)
    messy = ["{L}", "The answer is ({L}).", "答案是{L}", "{T}", "Ответ: {L}", "الإجابة هي {L}", "I cannot tell.",
             "Doğru cevap {L}'dir.", "Let me think. The options are A and B, but the correct answer is {L}."]  # fmt: skip
    texts = [messy[i % len(messy)].format(L=o, T=it.options[o]) for i, (it, o) in enumerate(zip(b.items, outputs, strict=True))]
    t = time.perf_counter()
    ex = [extract(o, it.options, language=it.language) for it, o in zip(b.items, texts, strict=True)]
    t_extract = time.perf_counter() - t
    t = time.perf_counter()
    units = units_by_language(b.items, ex, b.circular)
    scores = summarise(units, circular=b.circular)
    t_score = time.perf_counter() - t
    scores.update({"model": "perf", "benchmark": b.name, "prompt_version": "x", "extractor_version": "x"})
    from mmdata.bench.run import PredictionStore

    (work / "store").mkdir(exist_ok=True)
    store = PredictionStore(work / "store")
    keys = [("perf", b.name, it.language, it.index, "x") for it in b.items]
    t = time.perf_counter()
    for s in range(0, len(keys), args.batch_size):
        store.append(keys[s : s + args.batch_size], ["0" * 16] * len(keys[s : s + args.batch_size]), texts[s : s + args.batch_size])
    store.compact()
    from mmdata.io import atomic_write_json

    atomic_write_json(work / "store" / "scores.json", scores)
    t_preds = time.perf_counter() - t
    t = time.perf_counter()
    record(work / "comp.duckdb", scores, units, circular=False)
    t_db = time.perf_counter() - t

    per_k = 1000 / n
    io_s = t_load + t_prompt + t_images + t_preds + t_db
    comp_total = io_s + t_extract + t_score
    budget = 0.010 * 1000  # seconds per 1,000 items for a 10 ms/item model

    # ---- a model that really takes 10 ms per item
    sl = run_benchmark(load_benchmark(bench_dir).limit(args.sleep_items), Sleepy(), work / "run-sleep",
                       batch_size=args.batch_size, db=work / "sleep.duckdb")  # fmt: skip
    sleep_over = (sl.total_seconds - sl.model_seconds) / sl.model_seconds

    # ---- end to end against lmms-eval, fresh processes
    tasks = work / "lmms_tasks"
    shutil.copytree(ROOT / "benchmarks" / "lmms_eval", tasks, ignore=shutil.ignore_patterns("data", "__pycache__"))
    export_parquet(bench_dir, tasks / "mmdata_mmmb" / "data" / "test.parquet")
    w_ours, ours = _timed_subprocess(MMDATA_RUN, str(bench_dir), args.model, str(work / "run-sub"), str(args.batch_size),
                                     str(work / "sub.duckdb"))  # fmt: skip
    os.environ.setdefault("HF_HOME", str(work / "hf"))
    w_lmms, lmms = _timed_subprocess(LMMS_RUN, str(tasks), args.model, str(args.batch_size))
    same = all(abs(ours["overall"][k] - lmms["overall"][k]) < 1e-6 for k in ours["overall"])

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"harness perf: commit={commit} items={n:,} ({args.per_language} x 6 languages) model={args.model} "
          f"batch={args.batch_size} cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    print()
    print("Harness overhead per 1,000 items (seconds; share of a 10 ms/item model = 10 s per 1,000 items)")
    print()
    print("| part | s / 1,000 items | % of 10 ms/item model |")
    print("|---|---|---|")
    rows = [("I/O: TSV load + base64 decode", t_load), ("I/O: prompts + item hashes", t_prompt),
            ("I/O: image open (PIL, lazy)", t_images), ("I/O: predictions journal + parquet + scores.json", t_preds),
            ("I/O: leaderboard row (DuckDB)", t_db), ("extraction (mixed messy outputs)", t_extract),
            ("scoring (+1,000 bootstrap resamples)", t_score)]  # fmt: skip
    for name, sec in rows:
        print(f"| {name} | {sec * per_k:.4f} | {100 * sec * per_k / budget:.2f} % |")
    print(f"| **sum of parts** (I/O {io_s * per_k:.4f}) | **{comp_total * per_k:.4f}** | **{100 * comp_total * per_k / budget:.2f} %** |")
    print(f"| **end-to-end `run_benchmark` minus model time** | **{e2e_overhead * per_k:.4f}** | "
          f"**{100 * e2e_overhead * per_k / budget:.2f} %** |")
    print()
    print(f"10 ms/item model, {sl.computed} items: model {sl.model_seconds:.2f} s, wall {sl.total_seconds:.2f} s "
          f"-> overhead {100 * sleep_over:.2f} % of model time")
    print()
    print(f"End to end on the same {n:,} items and model ({args.model}), fresh processes:")
    print()
    print("| | wall incl. start-up + imports (s) | imports (s) | run (s) |")
    print("|---|---|---|---|")
    print(f"| mmdata bench run | {w_ours:.2f} | {ours['import_s']:.2f} | {ours['run_s']:.2f} |")
    print(f"| lmms-eval simple_evaluate | {w_lmms:.2f} | {lmms['import_s']:.2f} | {lmms['run_s']:.2f} |")
    print(f"| **lmms-eval / mmdata** | **{w_lmms / w_ours:.1f}×** | | **{lmms['run_s'] / ours['run_s']:.1f}×** |")
    print()
    print(f"per-language accuracies identical in both: {same} (mean {ours['mean']:.4f} vs {lmms['mean']:.4f})")
    print(f"random-model scores on this set: vanilla mean {res.scores['mean']:.4f} CI {res.scores['ci']['mean']}")


if __name__ == "__main__":
    main()
