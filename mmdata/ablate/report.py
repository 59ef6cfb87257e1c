"""Ablation reports: ``report.md`` and ``report.html`` with the table in the paper's layout (arms ×
metric columns, mean ± 95 % CI over seeds, and the image-use gap), a bar chart per metric, and the
paper's findings checked as paired differences (same seeds, same questions) with a bootstrap CI and
the minimum detectable effect, and what a rerun needs to reach the spec's MDE target
(:mod:`mmdata.ablate.power`)."""

from __future__ import annotations

import html as _html
import math
from pathlib import Path

from mmdata.ablate.results import aggregate
from mmdata.io import atomic_write_bytes
from mmdata.report.html import figure_png, img, page, table

LABEL = {"mean": "MMMB mean", "mean_non_en": "non-en mean", "consistency": "consistency", "spatial": "spatial",
         "circular": "MMBench circular", "shuffled_mean": "shuffled images", "image_use_gap": "image-use gap",
         "en": "en", "zh": "zh", "pt": "pt", "ar": "ar", "tr": "tr", "ru": "ru"}  # fmt: skip
FINDING_HEAD = ["claim", "difference", "Δ (pp) [95 % CI]", "MDE (pp)", "verdict"]
PLAN_HEAD = ["claim", "σ seeds (pp)", "σ questions (pp)", "σ rest (pp)", "MDE reported / expected (pp)", "seeds for the target",
             "questions per language for the target"]  # fmt: skip
PLAN_TEXT = ("Each finding's paired differences split into a part that moves with the training seed, a part that "
             "depends on the question asked, and the rest (seed × question interaction and outcome noise), as a two-way "
             "random-effects model. From the split: the MDE this report's bootstrap is expected to print (beside the one it "
             "printed), the seeds a rerun needs for an MDE of {target} pp at this benchmark size, and the questions per "
             "language it needs with these seeds. With few seeds the seed part is itself uncertain: a guide, not a promise.")


def _metrics(spec, per) -> list[str]:
    wanted = [*spec.metrics, *(m for m in ("image_use_gap",) if m not in spec.metrics)]  # the gap is always shown
    return [m for m in wanted if any(k[1] == m for k in per)]


def _per(rows: list[dict]) -> dict[tuple[str, str], dict[int, float]]:
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in rows:
        out.setdefault((r["arm"], r["metric"]), {})[r["seed"]] = r["value"]
    return out


def build_tables(spec, rows: list[dict], outcomes=None) -> tuple[list[str], list[list[str]], list[list[str]]]:
    from mmdata.ablate.power import paired

    per = _per(rows)
    metrics = _metrics(spec, per)
    head = ["arm", *[LABEL.get(m, m) for m in metrics]]
    ran = [a for a in spec.arms if any(k[0] == a for k in per)]
    body = []
    for arm in ran:
        body.append([arm, *[aggregate(list(per.get((arm, m), {}).values())).fmt() for m in metrics]])
    finds = []
    for f in spec.findings:
        p = paired(outcomes, f.better, f.worse, f.metric) if outcomes is not None and outcomes.height else None
        if p is None:
            diff, mde, v = "n/a", "n/a", "not run (an arm is missing)"
        else:
            diff = f"{p.delta * 100:+.1f} [{p.lo * 100:+.1f}, {p.hi * 100:+.1f}]"
            mde, v = f"{p.mde * 100:.1f} ({p.seeds} seed{'s' if p.seeds != 1 else ''} × {p.questions} q)", p.verdict
        finds.append([f.claim or f"{f.better} > {f.worse}", f"{f.better} − {f.worse} ({LABEL.get(f.metric, f.metric)})", diff, mde, v])
    return head, body, finds


def build_plan(spec, outcomes) -> list[list[str]]:
    """Per finding: its variance split into seeds, questions and the rest, the MDE the report
    printed next to the one the split expects, and what a rerun needs to reach ``spec.mde_target``:
    the seeds at this benchmark size, and the benchmark size at these seeds (:class:`power.Variance`)."""
    from mmdata.ablate.power import SEED_LIMIT, components, paired

    if outcomes is None or not outcomes.height:
        return []
    target, rows = spec.mde_target / 100, []
    for f in spec.findings:
        v, p = components(outcomes, f.better, f.worse, f.metric), paired(outcomes, f.better, f.worse, f.metric)
        if v is None or p is None:
            continue
        per_q = spec.bench.per_language / v.questions  # the finding's questions per benchmark question per language
        n_s, n_q = v.seeds_for(target), v.questions_for(target)
        seeds = f"{n_s} (at {spec.bench.per_language} per language)" if n_s else f"more than {SEED_LIMIT} (at {spec.bench.per_language} per language)"
        questions = f"{math.ceil(n_q * per_q):,} (with {v.seeds} seeds)" if n_q else f"none suffices with {v.seeds} seeds"
        rows.append([f.claim or f"{f.better} > {f.worse}", *(f"{math.sqrt(x) * 100:.1f}" for x in (v.seed, v.question, v.residual)),
                     f"{p.mde * 100:.1f} / {v.mde(v.seeds, v.questions) * 100:.1f}", seeds, questions])  # fmt: skip
    return rows


def write_reports(out: Path, spec, rows: list[dict], meta: dict, outcomes=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head, body, finds = build_tables(spec, rows, outcomes)
    per = _per(rows)
    notes = spec.notes.strip()
    if notes and ({r["arm"] for r in rows} != set(spec.arms) or {r["seed"] for r in rows} != set(spec.seeds)):
        # a partial run (--only, --seeds, the demo): the spec's discussion quotes the full run's figures
        notes = ("(Written for the full run of this spec — every arm, seeds " + ", ".join(map(str, spec.seeds))
                 + " — whose figures it quotes; this report covers part of it.)\n\n" + notes)  # fmt: skip
    md = [f"# {spec.name}", "", spec.description.strip(), ""]
    if spec.paper:
        md += [f"Paper: {spec.paper}", ""]
    md += ["Accuracy in %, mean ± 95 % CI (t-interval) over seeds " + ", ".join(map(str, meta["seeds"])) + ". The image-use gap is "
           "the accuracy minus the accuracy with every image swapped for another of the same category.", ""]  # fmt: skip
    md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in body]
    if finds:
        md += ["", "## Paper findings, checked", "", "Paired differences: same seeds, same questions; 95 % CI from a bootstrap over "
               "questions and seeds; MDE: the smallest true difference this run detects with 80 % power.", "",
               "| " + " | ".join(FINDING_HEAD) + " |", "|---|---|---|---|---|"]  # fmt: skip
        md += ["| " + " | ".join(r) + " |" for r in finds]
    plan = build_plan(spec, outcomes)
    if plan:
        md += ["", "## Power: what a rerun needs", "", PLAN_TEXT.format(target=f"{spec.mde_target:g}"), "",
               "| " + " | ".join(PLAN_HEAD) + " |", "|" + "---|" * len(PLAN_HEAD)]  # fmt: skip
        md += ["| " + " | ".join(r) + " |" for r in plan]
    if notes:
        md += ["", "## Discussion", "", notes]
    md += ["", "## Run", "", f"- model preset: {spec.model}; budget: stage 1 {spec.budget.stage1} steps, stage 2 "
           f"{spec.budget.stage2} steps; benchmark: {spec.bench.per_language} questions per language, scoring: {spec.bench.scoring}"]  # fmt: skip
    md += ["", "| invocation | command | commit | machine | wall time | steps run | reused |", "|---|---|---|---|---|---|---|"]
    md += [f"| {i} | `{r['command']}` | `{r['commit']}` | {r.get('machine', 'not recorded')} | {_dur(r['wall_s'])} | {r['ran']} | {r['cached']} |"
           for i, r in enumerate(_runs(meta), 1)]  # fmt: skip
    if meta.get("compute_s"):
        md += ["", "Compute time of the steps this directory ran, by kind (all invocations): "
               + ", ".join(f"{k} {_dur(v)}" for k, v in meta["compute_s"].items() if v) + "."]  # fmt: skip
    atomic_write_bytes(out / "report.md", ("\n".join(md) + "\n").encode())

    metrics = _metrics(spec, per)
    sections = []
    if spec.description or spec.paper:
        sections.append(("About", f"<p>{_html.escape(spec.description)}</p><p>{_html.escape(spec.paper)}</p>"))
    sections.append(("Results (accuracy %, mean ± 95 % CI over seeds)", table(head, body)))
    charts = []
    ran = [a for a in spec.arms if any(k[0] == a for k in per)]
    for m in metrics:
        fig, ax = plt.subplots(figsize=(1.4 + 0.9 * len(ran), 3.0))
        aggs = [aggregate(list(per.get((a, m), {}).values())) for a in ran]
        means = [x.mean * 100 for x in aggs]
        errs = [0 if x.n < 2 else (x.hi - x.mean) * 100 for x in aggs]
        ax.bar(ran, means, yerr=errs, capsize=4, color="#4c78a8")
        ax.set_title(LABEL.get(m, m))
        ax.set_ylabel("accuracy %")
        ax.tick_params(axis="x", rotation=20)
        charts.append(img(figure_png(fig), m))
    sections.append(("Charts", "".join(charts)))
    if finds:
        sections.append(("Paper findings, checked", table(FINDING_HEAD, finds)))
    if plan:
        sections.append(("Power: what a rerun needs", f"<p>{_html.escape(PLAN_TEXT.format(target=f'{spec.mde_target:g}'))}</p>" + table(PLAN_HEAD, plan)))
    if notes:
        sections.append(("Discussion", "".join(f"<p>{_html.escape(p)}</p>" for p in notes.split("\n\n"))))
    sections.append(("Runs", table(["invocation", "command", "commit", "machine", "wall time", "steps run", "reused"],
                                   [[str(i), r["command"], r["commit"], r.get("machine", "not recorded"), _dur(r["wall_s"]), str(r["ran"]), str(r["cached"])]
                                    for i, r in enumerate(_runs(meta), 1)])))  # fmt: skip
    atomic_write_bytes(out / "report.html", page(spec.name, sections).encode())


def _runs(meta: dict) -> list[dict]:
    return meta.get("runs") or [meta]


def _dur(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"

