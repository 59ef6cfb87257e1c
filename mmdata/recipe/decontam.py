"""Decontamination: drop training Records that show a benchmark's image or ask its question.

Benchmarks are VLMEvalKit-style TSVs (a file, a folder of per-language files, or a
``mmdata bench make`` output folder holding several sets). A Record matches when its image's sha256
equals a benchmark image's, or its normalised question equals a benchmark question's (any language).
``decontaminate_by`` chooses the rules. Drops are counted per dataset and rule in the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
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


def _hits(df: pl.DataFrame, images: set[str], questions: set[str], by: list[str]) -> tuple[pl.Series, pl.Series]:
    img_hit = df["image"].struct.field("sha256").is_in(list(images)).fill_null(False) if "image" in by else pl.Series([False] * df.height)
    q_norm = df.select(norm_expr(pl.col("question")).alias("q"))["q"]
    q_hit = q_norm.is_in(list(questions)).fill_null(False) if "question" in by else pl.Series([False] * df.height)
    return img_hit, q_hit


def decontaminate_masks(tables: Iterable[pa.Table], paths: list[Path], by: list[str]) -> tuple[list[np.ndarray], dict]:
    """Which rows of each table (columns dataset, image with its sha256, question) to keep, and the
    drop counts; the tables are looked at one by one (the build reads them one source at a time)."""
    images, questions = benchmark_keys(paths)
    masks, per, total = [], {}, 0
    for t in tables:
        df = pl.from_arrow(t.select(["dataset", "image", "question"]))
        img_hit, q_hit = _hits(df, images, questions, by)
        hit = img_hit | q_hit
        stats = pl.DataFrame({"dataset": df["dataset"], "image": img_hit, "question": q_hit & ~img_hit})
        for r in stats.group_by("dataset").agg(pl.col("image").sum(), pl.col("question").sum()).iter_rows(named=True):
            c = per.setdefault(r["dataset"], {"image": 0, "question": 0})
            c["image"] += int(r["image"])
            c["question"] += int(r["question"])
        total += int(hit.sum())
        masks.append((~hit).to_numpy())
    dropped = {d: c for d, c in sorted(per.items()) if c["image"] or c["question"]}
    info = {"benchmarks": [str(p) for p in paths], "by": list(by), "benchmark_images": len(images),
            "benchmark_questions": len(questions), "dropped": dropped, "dropped_total": total}  # fmt: skip
    return masks, info


def decontaminate(records: pa.Table, paths: list[Path], by: list[str]) -> tuple[pa.Table, dict]:
    (keep,), info = decontaminate_masks([records], paths, by)
    return records.filter(pa.array(keep)), info
