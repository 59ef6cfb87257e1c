"""``report.html`` for a mixture: composition by task and dataset, turns per item, text lengths,
dedup drop rate per dataset."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from mmdata.recipe.output import MixtureStats
from mmdata.report.html import figure_png, img, page, table


def _load_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_PREFETCH: list[threading.Thread] = []


def _quiet_load() -> None:
    # a failure here is left to write_report, which imports again and raises in the build's thread
    with contextlib.suppress(BaseException):
        _load_pyplot()


def prefetch() -> None:
    """Import matplotlib (about half a second) in a background thread, so that it overlaps the
    build's render stage; :func:`write_report` waits for it. Importing changes no output."""
    if not _PREFETCH:
        th = threading.Thread(target=_quiet_load, name="mmdata-pyplot", daemon=True)
        th.start()
        _PREFETCH.append(th)


def write_report(out: Path, stats: MixtureStats, manifest: dict) -> None:
    for th in _PREFETCH:
        th.join()
    plt = _load_pyplot()

    counts = manifest["counts"]
    names = sorted(counts)
    sections = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].barh(names, [counts[n]["sampled"] for n in names], color="#4c78a8")
    axes[0].set_title("items by dataset")
    tasks = manifest["tasks"]
    axes[1].bar(sorted(tasks), [tasks[t]["sampled"] for t in sorted(tasks)], color="#f58518")
    axes[1].set_title("items by task")
    axes[1].tick_params(axis="x", rotation=30)
    sections.append(("Composition", img(figure_png(fig), "composition")))

    n_turns, lengths = stats.n_turns(), stats.text_lengths()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].hist(n_turns, bins=np.arange(0.5, max(2, n_turns.max() + 1.5) if len(n_turns) else 2.5), color="#54a24b")
    axes[0].set_title("turns per item")
    axes[1].hist(lengths, bins=40, color="#b279a2")
    axes[1].set_title("text length per turn (chars)")
    rate = [counts[n]["dedup_dropped"] / max(1, counts[n]["records_in"]) for n in names]
    axes[2].barh(names, rate, color="#e45756")
    axes[2].set_title("dedup drop rate")
    sections.append(("Shape of the data", img(figure_png(fig), "turns, lengths, dedup")))

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
