"""``report.html`` for a mixture: composition by task and dataset, turns per item, text lengths,
dedup drop rate per dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmdata.recipe.output import MixtureStats
from mmdata.report import svg
from mmdata.report.html import page, table


def write_report(out: Path, stats: MixtureStats, manifest: dict) -> None:
    counts = manifest["counts"]
    names = sorted(counts)
    sections = []
    tasks = manifest["tasks"]
    sections.append(("Composition", svg.row(
        svg.bars(names, [counts[n]["sampled"] for n in names], "items by dataset", "#4c78a8"),
        svg.bars(sorted(tasks), [tasks[t]["sampled"] for t in sorted(tasks)], "items by task", "#f58518", horizontal=False),
    )))  # fmt: skip
    n_turns, lengths = stats.n_turns(), stats.text_lengths()
    rate = [counts[n]["dedup_dropped"] / max(1, counts[n]["records_in"]) for n in names]
    sections.append(("Shape of the data", svg.row(
        svg.histogram(n_turns, np.arange(0.5, max(2, n_turns.max() + 1.5) if len(n_turns) else 2.5), "turns per item", "#54a24b"),
        svg.histogram(lengths, 40, "text length per turn (chars)", "#b279a2"),
        svg.bars(names, rate, "dedup drop rate", "#e45756"),
    )))  # fmt: skip

    rows = [[n, counts[n]["records_in"], counts[n]["items_after_merge"], counts[n]["dedup_dropped"], counts[n]["sampled"],
             f"{counts[n]['epochs']:.2f}", f"{counts[n]['share']:.3f}"] for n in names]  # fmt: skip
    sections.append(("Counts", table(["dataset", "records in", "items after merge", "dedup dropped", "sampled", "epochs", "share"], rows)))
    src = manifest["sources"]
    aside = [[n, src[n]["records_read"], src[n]["set_aside"], ", ".join(f"{k}: {v}" for k, v in src[n]["set_aside_by_reason"].items()) or "–",
              src[n]["filtered"]] for n in sorted(src)]  # fmt: skip
    body = table(["dataset", "records read", "set aside", "why", "left out by split/languages"], aside)
    qfile = out / "quarantine.parquet"
    if qfile.exists():
        from mmdata.recipe.ingest import read_parquet

        q = read_parquet(qfile)
        if q.num_rows:
            first = q.slice(0, 50).to_pylist()
            body += table(["dataset", "record", "file", "image", "reason"],
                          [[r["dataset"], r["record_id"], r["file"], r["image"] or "", r["reason"]] for r in first])  # fmt: skip
            if q.num_rows > 50:
                body += f"<p>… and {q.num_rows - 50:,} more in quarantine.parquet</p>"
    sections.append(("Set aside (quarantine.parquet)", body))
    usage = sorted(manifest["template_usage"].items(), key=lambda kv: -kv[1])[:40]
    sections.append(("Template usage (top 40)", table(["template", "items"], [[k, v] for k, v in usage])))
    sections.append(("Identity", table(["key", "value"], [["recipe", manifest["recipe"]["name"]], ["seed", manifest["seed"]],
                                                          ["content_hash", manifest["content_hash"]]])))  # fmt: skip
    (out / "report.html").write_text(page(f"mixture {manifest['recipe']['name']}", sections), encoding="utf-8")
