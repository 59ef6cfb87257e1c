"""Discrete visual tokenizers at the tiny preset: training time, reconstruction and codebook health.

    PYTHONPATH=. .venv/bin/python benchmarks/perf/visual_tokenizers.py [--preset tiny-cpu-discrete] [--threads 1]

Trains, on the preset's stage-0 backbones and the stage-0 world's training images (run stage 0 first
or let the script do it, cached), one tokenizer per row and prints a Markdown table:

* ``vqvae`` without an LLM link at D = 1, 2, 4 (cumulative sum) and D = 2 (concatenation) — the
  stacked-quantization sweep on a fixed budget (same K, steps, batch, seed);
* ``vqvae`` with UniCode's codebook modes ``frozen-llm``, ``dual`` and ``language-driven`` (the
  preset's D and aggregation), plus a language-driven control with no language-side update;
* ``seed`` (causal Q-Former codes), without and with the image-text contrastive term;
* ``kmeans`` (TEAL) at three vocabulary sizes.

Columns: train wall time (s, the whole call: images, features, training, evaluation), reconstruction
MSE and PSNR (pixels in [0, 1] for vqvae; feature space for seed and kmeans), codebook usage %,
perplexity, dead codes; for UniCode modes the codebook's distance to its LLM rows (relative to the
rows' norm) and whether the LLM's embeddings are bit-identical afterwards.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def rows(preset) -> list[tuple[str, dict]]:
    d = preset.discrete
    plain = {"codebook_mode": "none"}
    out = [(f"vqvae D={k} cumsum", {**plain, "stacked": k, "aggregate": "cumsum"}) for k in (1, 2, 4)]
    out.append(("vqvae D=2 concat", {**plain, "stacked": 2, "aggregate": "concat"}))
    for mode in ("frozen-llm", "dual", "language-driven"):
        out.append((f"vqvae {mode}", {"codebook_mode": mode, "stacked": d.stacked, "aggregate": d.aggregate}))
    out.append(("vqvae language-driven, no language updates", {"codebook_mode": "language-driven", "train": {"language_every": 10**9}}))
    seed = {"kind": "seed", "codebook_mode": "none", "stacked": 1}
    out += [("seed", seed), ("seed + contrastive 0.5", {**seed, "train": {"contrastive": 0.5}})]
    out += [(f"kmeans K={k}", {"kind": "kmeans", "codebook_mode": "none", "stacked": 1, "codebook_size": k}) for k in (256, 1024, 4096)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny-cpu-discrete")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steady on a shared 2-core machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from mmdata.model.config import load_preset, merge, preset_from_dict
    from mmdata.model.tokenizers.train import preset_context, train_tokenizer

    base = load_preset(args.preset)
    t0 = time.perf_counter()
    ctx = preset_context(base, log=lambda *_: None)
    setup = time.perf_counter() - t0
    data = base.to_dict()
    results = []
    for label, over in rows(base):
        cfg = preset_from_dict(merge(data, {"discrete": over})).discrete
        c = ctx
        if cfg.codebook_mode == "dual":  # dual trains the LLM's rows: give it its own copy
            c = copy.copy(ctx)
            c.llm = copy.deepcopy(ctx.llm)
        _, m = train_tokenizer(cfg, c, log=lambda *_: None)
        results.append((label, cfg, m))
        print(f"  done: {label} ({m['train_seconds']:.1f} s)", file=sys.stderr, flush=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t = base.discrete.train
    print(f"tokenizer perf: commit={commit} preset={args.preset} device=cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"{args.threads} thread) load={load:.2f} images={len(ctx.images)} steps={t.steps} batch={t.batch_size} K={base.discrete.codebook_size} "
          f"(stage-0 backbones ready in {setup:.1f} s)\n")  # fmt: skip
    head = "| tokenizer | K | D | positions | train s | recon MSE | PSNR dB | usage % | perplexity | dead codes | LLM distance | LLM identical |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for label, cfg, m in results:
        dist = f"{m['llm_distance']:.2f}" if "llm_distance" in m else ""
        same = ("yes" if m["llm_rows_identical"] else "no") if "llm_rows_identical" in m else ""
        print(f"| {label} | {cfg.codebook_size} | {cfg.stacked} | {m['positions']} | {m['train_seconds']:.1f} | {m['recon_mse']:.5f} | "
              f"{m['psnr']:.2f} | {m['usage_pct']:.1f} | {m['perplexity']:.1f} | {m['dead_codes']} | {dist} | {same} |")  # fmt: skip


if __name__ == "__main__":
    main()
