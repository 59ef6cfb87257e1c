"""The leaderboard: every ``mmdata bench run`` appends to an embedded DuckDB file; views render it.

Tables (``reports/leaderboard.duckdb`` by default)::

    runs(run_id, recorded_at, model, benchmark, prompt_version, extractor_version, circular, n_limit,
         n_items, failures, mean, mean_lo, mean_hi, mean_non_en, mean_non_en_lo, mean_non_en_hi,
         consistency, consistency_lo, consistency_hi, scores_json)
    language_scores(run_id, language, metric, value, lo, hi, n_items, failures)   metric: overall | vanilla
    category_scores(run_id, language, category, value)
    outcomes(run_id, language, unit, correct)        per scoring unit, for paired comparisons

Views (``mmdata leaderboard [--db PATH] [--format md|html]``) use the latest run of each (model,
benchmark, prompt version, extractor version, limit): a ranking table per benchmark, a language ×
category heatmap per model, and a two-model comparison whose differences carry paired bootstrap CIs.
"""

from __future__ import annotations

import datetime as _dt
import html
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmdata.bench.score import RESAMPLES, Units, pattern_draws, percentile_ci
from mmdata.errors import MmdataError
from mmdata.io import dumps_json
from mmdata.schema import LANGUAGES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id VARCHAR PRIMARY KEY, recorded_at TIMESTAMP, model VARCHAR, benchmark VARCHAR, prompt_version VARCHAR,
  extractor_version VARCHAR, circular BOOLEAN, n_limit INTEGER, n_items INTEGER, failures INTEGER,
  mean DOUBLE, mean_lo DOUBLE, mean_hi DOUBLE, mean_non_en DOUBLE, mean_non_en_lo DOUBLE, mean_non_en_hi DOUBLE,
  consistency DOUBLE, consistency_lo DOUBLE, consistency_hi DOUBLE, scores_json VARCHAR);
CREATE TABLE IF NOT EXISTS language_scores (
  run_id VARCHAR, language VARCHAR, metric VARCHAR, value DOUBLE, lo DOUBLE, hi DOUBLE, n_items INTEGER, failures INTEGER);
CREATE TABLE IF NOT EXISTS category_scores (run_id VARCHAR, language VARCHAR, category VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS outcomes (run_id VARCHAR, language VARCHAR, unit BIGINT, correct BOOLEAN);
"""


def _connect(db: str | Path, *, create: bool):
    import duckdb

    db = Path(db)
    if not create and not db.is_file():
        raise MmdataError("no leaderboard here yet (run `mmdata bench run … --db` first)", file=db)
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db))
    except duckdb.Error as e:
        raise MmdataError(f"cannot open the leaderboard database: {str(e).splitlines()[0]}", file=db) from None
    con.execute(_SCHEMA)
    return con


def _pair(ci) -> tuple[float | None, float | None]:
    return (ci[0], ci[1]) if ci else (None, None)


def record(db: str | Path, scores: dict, units: dict[str, Units], *, circular: bool, limit: int | None = None) -> str:
    """Append one run; returns its ``run_id``."""
    import pyarrow as pa

    run_id = uuid.uuid4().hex[:16]
    ci = scores["ci"]
    row = [run_id, _dt.datetime.now(_dt.UTC).replace(tzinfo=None), scores["model"], scores["benchmark"],
           scores["prompt_version"], scores["extractor_version"], circular, limit, sum(scores["n_items"].values()),
           sum(scores["extraction_failures"].values()), scores["mean"], *_pair(ci["mean"]), scores["mean_non_en"],
           *_pair(ci["mean_non_en"]), scores["consistency"], *_pair(ci["consistency"]),
           dumps_json(scores, indent=False).decode()]  # fmt: skip
    lang_rows = []
    for metric in ("overall", "vanilla") if circular else ("overall",):
        for lang, v in scores[metric].items():
            lo, hi = _pair(ci[metric][lang])
            lang_rows.append([run_id, lang, metric, v, lo, hi, scores["n_items"][lang], scores["extraction_failures"][lang]])
    cat_rows = [[run_id, lang, c, v] for lang, cats in scores["by_category"].items() for c, v in cats.items()]
    langs = [lang for lang, u in units.items() for _ in range(len(u.ids))]
    out_tbl = pa.table({
        "run_id": pa.array([run_id] * len(langs), pa.string()),
        "language": pa.array(langs, pa.string()),
        "unit": pa.array(np.concatenate([u.ids for u in units.values()]) if units else [], pa.int64()),
        "correct": pa.array(np.concatenate([u.correct for u in units.values()]) if units else [], pa.bool_()),
    })  # fmt: skip
    con = _connect(db, create=True)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(row))})", row)
        if lang_rows:
            con.executemany("INSERT INTO language_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?)", lang_rows)
        if cat_rows:
            con.executemany("INSERT INTO category_scores VALUES (?, ?, ?, ?)", cat_rows)
        con.register("_outcomes", out_tbl)
        con.execute("INSERT INTO outcomes SELECT * FROM _outcomes")
        con.unregister("_outcomes")
        con.execute("COMMIT")
    finally:
        con.close()
    return run_id


# ------------------------------------------------------------------------------------------ model


@dataclass
class Entry:
    run_id: str
    model: str
    benchmark: str
    prompt_version: str
    extractor_version: str
    circular: bool
    n_items: int
    failures: int
    mean: float | None
    mean_ci: tuple
    mean_non_en: float | None
    mean_non_en_ci: tuple
    consistency: float | None
    consistency_ci: tuple
    recorded_at: str
    languages: dict[str, tuple] = field(default_factory=dict)  # lang → (value, lo, hi)
    vanilla: dict[str, tuple] = field(default_factory=dict)
    categories: dict[str, dict[str, float]] = field(default_factory=dict)  # lang → cat → value


@dataclass
class Comparison:
    benchmark: str
    a: Entry
    b: Entry
    rows: list[tuple]  # (label, a, b, diff, diff_lo, diff_hi)
    paired: bool


@dataclass
class Board:
    entries: dict[str, list[Entry]]  # benchmark → entries ranked by mean
    comparisons: list[Comparison]


def load_board(db: str | Path, *, compare: tuple[str, str] | None = None, benchmark: str | None = None,
               resamples: int = RESAMPLES, seed: int = 0) -> Board:  # fmt: skip
    """The latest run of each configuration, ranked per benchmark, plus two-model comparisons."""
    con = _connect(db, create=False)
    try:
        runs = con.execute("""
            SELECT run_id, model, benchmark, prompt_version, extractor_version, circular, n_items, failures,
                   mean, mean_lo, mean_hi, mean_non_en, mean_non_en_lo, mean_non_en_hi,
                   consistency, consistency_lo, consistency_hi, CAST(recorded_at AS VARCHAR)
            FROM (SELECT *, row_number() OVER (PARTITION BY model, benchmark, prompt_version, extractor_version, n_limit
                                               ORDER BY recorded_at DESC, run_id) AS k FROM runs)
            WHERE k = 1 ORDER BY benchmark, mean DESC NULLS LAST, model""").fetchall()
        if benchmark is not None:
            runs = [r for r in runs if r[2] == benchmark]
        langs = con.execute("SELECT run_id, language, metric, value, lo, hi FROM language_scores").fetchall()
        cats = con.execute("SELECT run_id, language, category, value FROM category_scores").fetchall()
        entries: dict[str, list[Entry]] = {}
        by_id: dict[str, Entry] = {}
        for r in runs:
            e = Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], (r[9], r[10]), r[11], (r[12], r[13]),
                      r[14], (r[15], r[16]), r[17])  # fmt: skip
            entries.setdefault(e.benchmark, []).append(e)
            by_id[e.run_id] = e
        for rid, lang, metric, v, lo, hi in langs:
            if rid in by_id:
                (by_id[rid].languages if metric == "overall" else by_id[rid].vanilla)[lang] = (v, lo, hi)
        for rid, lang, cat, v in cats:
            if rid in by_id:
                by_id[rid].categories.setdefault(lang, {})[cat] = v
        comparisons = []
        for bench, es in entries.items():
            pair = _pick_pair(es, compare)
            if pair is not None:
                comparisons.append(_compare(con, bench, *pair, resamples=resamples, seed=seed))
    finally:
        con.close()
    if compare is not None and not comparisons:
        raise MmdataError(f"no benchmark has runs of both {compare[0]!r} and {compare[1]!r}")
    return Board(entries, comparisons)


def _pick_pair(entries: list[Entry], compare: tuple[str, str] | None) -> tuple[Entry, Entry] | None:
    if compare is None:
        return (entries[0], entries[1]) if len(entries) >= 2 else None
    a = next((e for e in entries if e.model == compare[0]), None)
    b = next((e for e in entries if e.model == compare[1]), None)
    return (a, b) if a and b else None


def _outcomes(con, run_id: str) -> dict[str, dict[int, bool]]:
    out: dict[str, dict[int, bool]] = {}
    for lang, unit, ok in con.execute("SELECT language, unit, correct FROM outcomes WHERE run_id = ?", [run_id]).fetchall():
        out.setdefault(lang, {})[unit] = ok
    return out


def _compare(con, bench: str, a: Entry, b: Entry, *, resamples: int, seed: int) -> Comparison:
    """Per-language and mean differences (a − b) with paired bootstrap CIs over shared units."""
    oa, ob = _outcomes(con, a.run_id), _outcomes(con, b.run_id)
    langs = [lang for lang in LANGUAGES if lang in oa and lang in ob]
    common = None
    for lang in langs:
        shared = set(oa[lang]) & set(ob[lang])
        common = shared if common is None else common & shared
    units = sorted(common or ())
    rows = []
    paired = bool(units)
    if paired:
        cols = [[oa[lang][u] for u in units] for lang in langs] + [[ob[lang][u] for u in units] for lang in langs]
        draws = pattern_draws(np.array(cols, dtype=bool).T, np.random.default_rng(seed), resamples)
        L = len(langs)
        diff = draws[:, :L] - draws[:, L:]
        for j, lang in enumerate(langs):
            rows.append((lang, a.languages[lang][0], b.languages[lang][0], _d(a.languages[lang][0], b.languages[lang][0]),
                         *percentile_ci(diff[:, j])))  # fmt: skip
        rows.append(("mean", a.mean, b.mean, _d(a.mean, b.mean), *percentile_ci(diff.mean(axis=1))))
    else:
        for lang in langs:
            rows.append((lang, a.languages[lang][0], b.languages[lang][0], _d(a.languages[lang][0], b.languages[lang][0]), None, None))
        rows.append(("mean", a.mean, b.mean, _d(a.mean, b.mean), None, None))
    return Comparison(bench, a, b, rows, paired)


def _d(x, y):
    return None if x is None or y is None else round(x - y, 6)


# ------------------------------------------------------------------------------------------ views


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _pct_ci(v, ci) -> str:
    if v is None:
        return "–"
    if not ci or ci[0] is None:
        return _pct(v)
    return f"{100 * v:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _signed(v, lo, hi) -> str:
    if v is None:
        return "–"
    s = f"{100 * v:+.1f}"
    return s if lo is None else f"{s} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _board_languages(es: list[Entry]) -> list[str]:
    present = {lang for e in es for lang in e.languages}
    return [lang for lang in LANGUAGES if lang in present]


def _categories(e: Entry) -> list[str]:
    return sorted({c for cats in e.categories.values() for c in cats})


def _ranking_head(langs: list[str], circular: bool) -> list[str]:
    vanilla = ["vanilla mean"] if circular else []
    return ["#", "model", "mean", "non-en mean", *langs, *vanilla, "consistency", "failures", "rows", "prompt", "extractor"]


def _ranking_cells(rank: int, e: Entry, langs: list[str], circular: bool) -> list[str]:
    cells = [str(rank), e.model, _pct_ci(e.mean, e.mean_ci), _pct_ci(e.mean_non_en, e.mean_non_en_ci)]
    cells += [_pct(e.languages.get(lang, (None,))[0]) for lang in langs]
    if circular:  # CircularEval is the headline; vanilla accuracy over every rotation stands beside it
        cells.append(_pct(sum(v[0] for v in e.vanilla.values()) / len(e.vanilla) if e.vanilla else None))
    return [*cells, _pct_ci(e.consistency, e.consistency_ci), str(e.failures), str(e.n_items), e.prompt_version,
            e.extractor_version]  # fmt: skip


def render_markdown(board: Board) -> str:
    out = ["# Leaderboard", ""]
    if not board.entries:
        return "# Leaderboard\n\nNo runs recorded yet.\n"
    for bench, es in board.entries.items():
        langs = _board_languages(es)
        kind = "CircularEval" if es[0].circular else "vanilla accuracy"
        out += [f"## {bench}", "", f"Scores in % ({kind}), 95 % bootstrap CI in brackets.", ""]
        head = _ranking_head(langs, es[0].circular)
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, e in enumerate(es, 1):
            out.append("| " + " | ".join(_ranking_cells(k, e, langs, es[0].circular)) + " |")
        out.append("")
        for e in es:
            cats = _categories(e)
            out += [f"### {e.model}: language × category ({bench})", ""]
            out += ["| category | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
            for c in cats:
                out.append(f"| {c} | " + " | ".join(_pct(e.categories.get(lang, {}).get(c)) for lang in langs) + " |")
            out.append("")
    for cmp in board.comparisons:
        out += _comparison_md(cmp)
    return "\n".join(out).rstrip() + "\n"


def _comparison_md(cmp: Comparison) -> list[str]:
    note = "paired bootstrap CI of the difference" if cmp.paired else "no shared units: difference without CI"
    out = [f"## Comparison on {cmp.benchmark}: {cmp.a.model} vs {cmp.b.model}", "", f"Δ = {cmp.a.model} − {cmp.b.model}, {note}.", ""]
    out += [f"| | {cmp.a.model} | {cmp.b.model} | Δ [95 % CI] |", "|---|---|---|---|"]
    for label, a, b, d, lo, hi in cmp.rows:
        out.append(f"| {label} | {_pct(a)} | {_pct(b)} | {_signed(d, lo, hi)} |")
    return [*out, ""]


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:24px}h2{font-size:19px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #c9d2dc;padding:4px 8px;text-align:right;white-space:nowrap}th{background:#eef2f6}
td.l,th.l{text-align:left}.note{color:#5b6b7c;font-size:12px}.pos{color:#17702f}.neg{color:#a32020}
"""


def _colour(v) -> str:
    if v is None:
        return "#eeeeee"
    r, g = int(220 - 170 * v), int(70 + 130 * v)
    return f"rgb({r},{g},90)"


def _heatmap_svg(e: Entry, langs: list[str]) -> str:
    cats = _categories(e)
    cw, ch, left, top = 56, 22, 130, 24
    w, h = left + cw * len(langs) + 4, top + ch * len(cats) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="{html.escape(e.model)} language by category accuracy">']  # fmt: skip
    for j, lang in enumerate(langs):
        parts.append(f'<text x="{left + j * cw + cw / 2}" y="16" font-size="12" text-anchor="middle">{lang}</text>')
    for i, c in enumerate(cats):
        y = top + i * ch
        parts.append(f'<text x="{left - 6}" y="{y + 15}" font-size="12" text-anchor="end">{html.escape(c)}</text>')
        for j, lang in enumerate(langs):
            v = e.categories.get(lang, {}).get(c)
            x = left + j * cw
            parts.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{_colour(v)}"/>')
            parts.append(f'<text x="{x + cw / 2 - 1}" y="{y + 15}" font-size="11" text-anchor="middle" fill="#fff">{_pct(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(board: Board) -> str:
    esc = html.escape
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>mmdata leaderboard</title>',
           f"<style>{_CSS}</style></head><body>", "<h1>mmdata leaderboard</h1>"]  # fmt: skip
    if not board.entries:
        out.append("<p>No runs recorded yet.</p>")
    for bench, es in board.entries.items():
        langs = _board_languages(es)
        kind = "CircularEval" if es[0].circular else "vanilla accuracy"
        out += [f"<h2>{esc(bench)}</h2>", f'<p class="note">Scores in % ({kind}); 95 % bootstrap CI in brackets.</p>']
        out.append('<table class="ranking"><tr>' + "".join(f"<th>{esc(h)}</th>" for h in _ranking_head(langs, es[0].circular)) + "</tr>")
        for k, e in enumerate(es, 1):
            cells = _ranking_cells(k, e, langs, es[0].circular)
            out.append("<tr>" + "".join(f'<td{" class=l" if j == 1 else ""}>{esc(c)}</td>' for j, c in enumerate(cells)) + "</tr>")
        out.append("</table>")
        for e in es:
            out += [f"<h3>{esc(e.model)}: language × category</h3>", _heatmap_svg(e, langs)]
    for cmp in board.comparisons:
        note = "paired bootstrap CI of the difference" if cmp.paired else "no shared units: difference without CI"
        out += [f"<h2>Comparison on {esc(cmp.benchmark)}: {esc(cmp.a.model)} vs {esc(cmp.b.model)}</h2>",
                f'<p class="note">Δ = {esc(cmp.a.model)} − {esc(cmp.b.model)}, {note}.</p>',
                f'<table class="comparison"><tr><th class=l></th><th>{esc(cmp.a.model)}</th><th>{esc(cmp.b.model)}</th>'
                "<th>Δ [95 % CI]</th></tr>"]  # fmt: skip
        for label, a, b, d, lo, hi in cmp.rows:
            cls = "" if d is None or d == 0 else (' class="pos"' if d > 0 else ' class="neg"')
            out.append(f"<tr><td class=l>{esc(label)}</td><td>{_pct(a)}</td><td>{_pct(b)}</td><td{cls}>{_signed(d, lo, hi)}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
