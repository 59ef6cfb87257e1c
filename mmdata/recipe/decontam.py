"""Decontamination: drop training Records that show a benchmark's image or ask its question.

Benchmarks are VLMEvalKit-style TSVs (a file, a folder of per-language files, or a
``mmdata bench make`` output folder holding several sets). A Record matches when its image's sha256
equals a benchmark image's, or its normalised question equals a benchmark question's (any language).
``decontaminate_by`` chooses the rules. Drops are counted per dataset and rule in the manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow as pa

from mmdata.bench.tsv import load_benchmark
from mmdata.errors import MmdataError
from mmdata.recipe.normalize import norm_expr, norm_text


def _benchmark_sets(path: Path) -> list[Path]:
    if path.is_file() or any(path.glob("*.tsv")):
        return [path]
    subs = sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.tsv"))) if path.is_dir() else []
    if not subs:
        raise MmdataError("no benchmark TSV files here", file=path, field="decontaminate")
    return subs


def benchmark_keys(paths: list[Path]) -> tuple[set[str], set[str]]:
    images, questions = set(), set()
    for p in paths:
        for s in _benchmark_sets(p):
            for it in load_benchmark(s).items:
                data = it.image if it.image is not None else (it.image_path.read_bytes() if it.image_path else None)
                if data is not None:
                    images.add(hashlib.sha256(data).hexdigest())
                if it.question:
                    questions.add(norm_text(it.question))
    return images, questions


def decontaminate(records: pa.Table, paths: list[Path], by: list[str]) -> tuple[pa.Table, dict]:
    images, questions = benchmark_keys(paths)
    df = pl.from_arrow(records.select(["dataset", "image", "question"]))
    img_hit = df["image"].struct.field("sha256").is_in(list(images)).fill_null(False) if "image" in by else pl.Series([False] * df.height)
    q_norm = df.select(norm_expr(pl.col("question")).alias("q"))["q"]
    q_hit = q_norm.is_in(list(questions)).fill_null(False) if "question" in by else pl.Series([False] * df.height)
    hit = img_hit | q_hit
    stats = pl.DataFrame({"dataset": df["dataset"], "image": img_hit, "question": q_hit & ~img_hit})
    per = stats.group_by("dataset").agg(pl.col("image").sum(), pl.col("question").sum()).sort("dataset")
    dropped = {r["dataset"]: {"image": int(r["image"]), "question": int(r["question"])} for r in per.iter_rows(named=True)
               if r["image"] or r["question"]}  # fmt: skip
    info = {"benchmarks": [str(p) for p in paths], "by": list(by), "benchmark_images": len(images),
            "benchmark_questions": len(questions), "dropped": dropped, "dropped_total": int(hit.sum())}  # fmt: skip
    return records.filter(pa.array((~hit).to_numpy())), info
