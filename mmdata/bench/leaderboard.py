"""The leaderboard: every ``mmdata bench run`` appends to an embedded DuckDB file; views render it.

Tables (``reports/leaderboard.duckdb`` by default)::

    runs(run_id, recorded_at, model, benchmark, prompt_version, extractor_version, circular, n_limit,
         n_items, failures, mean, mean_lo, mean_hi, mean_non_en, mean_non_en_lo, mean_non_en_hi,
         consistency, consistency_lo, consistency_hi, scores_json,
         model_fingerprint, partial, chance, shuffled_mean, shuffled_mean_lo, shuffled_mean_hi,
         gap, gap_lo, gap_hi)                              partial: why the run is not ranked, or NULL
    language_scores(run_id, language, metric, value, lo, hi, n_items, failures)
                                                           metric: overall | vanilla | shuffled
    category_scores(run_id, language, category, value, lo, hi)   language '*': the mean over languages
    outcomes(run_id, language, unit, correct)        per scoring unit, for paired comparisons

Databases written before a column existed gain it on open (``ADD COLUMN IF NOT EXISTS``).

Views (``mmdata leaderboard [--db PATH] [--format md|html]``) use the latest run of each (model,
benchmark, prompt version, extractor version, limit). Per benchmark: a ranking of the complete runs
(every cell with its 95 % CI; the image-use gap ``mean − shuffled_mean`` when the run had the control),
a chart of the means with their CIs, the shuffled-image means and a chance line, one heatmap of models ×
categories, the partial runs (``--limit``, or an unfinished checkpoint scored with ``--allow-partial``)
listed apart and never ranked, a language × category heatmap per model, and a two-model comparison
whose differences carry paired bootstrap CIs. Colours are colour-blind safe: viridis for heatmaps,
Okabe–Ito for categorical marks.
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
ALTER TABLE runs ADD COLUMN IF NOT EXISTS model_fingerprint VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS partial VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS chance DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS shuffled_mean DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS shuffled_mean_lo DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS shuffled_mean_hi DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS gap DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS gap_lo DOUBLE;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS gap_hi DOUBLE;
ALTER TABLE category_scores ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE category_scores ADD COLUMN IF NOT EXISTS hi DOUBLE;
"""
_RUN_COLUMNS = ("run_id", "recorded_at", "model", "benchmark", "prompt_version", "extractor_version", "circular",
                "n_limit", "n_items", "failures", "mean", "mean_lo", "mean_hi", "mean_non_en", "mean_non_en_lo",
                "mean_non_en_hi", "consistency", "consistency_lo", "consistency_hi", "scores_json",
                "model_fingerprint", "partial", "chance", "shuffled_mean", "shuffled_mean_lo", "shuffled_mean_hi",
                "gap", "gap_lo", "gap_hi")  # fmt: skip
ALL_LANGUAGES = "*"  # category_scores rows holding the mean over languages


def _connect(db: str | Path, *, create: bool):
    import duckdb

    db = Path(db)
    if not create and not db.is_file():
        raise MmdataError("no leaderboard here yet (run `mmdata bench run … --db` first)", file=db)
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db))
        con.execute(_SCHEMA)
    except duckdb.Error as e:
        raise MmdataError(f"cannot open the leaderboard database: {str(e).splitlines()[0]}", file=db) from None
    return con


def _pair(ci) -> tuple[float | None, float | None]:
    return (ci[0], ci[1]) if ci else (None, None)


def partial_reason(scores: dict, limit: int | None) -> str | None:
    """Why a run must not be ranked beside complete ones: a ``--limit``, or an unfinished checkpoint."""
    why = []
    if limit is not None:
        why.append(f"--limit {limit}")
    ck = scores.get("checkpoint")
    if ck and ck.get("total_steps") is not None and ck["step"] < ck["total_steps"]:
        why.append(f"checkpoint at step {ck['step']} of {ck['total_steps']}")
    return "; ".join(why) or None


def record(db: str | Path, scores: dict, units: dict[str, Units], *, circular: bool, limit: int | None = None) -> str:
    """Append one run; returns its ``run_id``."""
    import pyarrow as pa

    run_id = uuid.uuid4().hex[:16]
    ci = scores["ci"]
    row = [run_id, _dt.datetime.now(_dt.UTC).replace(tzinfo=None), scores["model"], scores["benchmark"],
           scores["prompt_version"], scores["extractor_version"], circular, limit, sum(scores["n_items"].values()),
           sum(scores["extraction_failures"].values()), scores["mean"], *_pair(ci["mean"]), scores["mean_non_en"],
           *_pair(ci["mean_non_en"]), scores["consistency"], *_pair(ci["consistency"]),
           dumps_json(scores, indent=False).decode(), scores.get("model_fingerprint"), partial_reason(scores, limit),
           scores.get("chance_mean"), scores.get("shuffled_mean"), *_pair(ci.get("shuffled_mean")),
           scores.get("image_use_gap"), *_pair(ci.get("image_use_gap"))]  # fmt: skip
    lang_rows = []
    metrics = ["overall", "vanilla"] if circular else ["overall"]
    metrics += ["shuffled"] if "shuffled" in scores else []
    for metric in metrics:
        for lang, v in scores[metric].items():
            lo, hi = _pair(ci[metric][lang])
            lang_rows.append([run_id, lang, metric, v, lo, hi, scores["n_items"][lang], scores["extraction_failures"][lang]])
    cat_ci = ci.get("by_category", {})
    cat_rows = [[run_id, lang, c, v, *_pair(cat_ci.get(lang, {}).get(c))]
                for lang, cats in scores["by_category"].items() for c, v in cats.items()]  # fmt: skip
    mean_ci = ci.get("by_category_mean", {})
    cat_rows += [[run_id, ALL_LANGUAGES, c, v, *_pair(mean_ci.get(c))] for c, v in scores.get("by_category_mean", {}).items()]
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
        con.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row)
        if lang_rows:
            con.executemany("INSERT INTO language_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?)", lang_rows)
        if cat_rows:
            con.executemany("INSERT INTO category_scores (run_id, language, category, value, lo, hi) VALUES (?, ?, ?, ?, ?, ?)", cat_rows)
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
    fingerprint: str | None = None
    partial: str | None = None  # why the run is not ranked (a --limit, an unfinished checkpoint)
    chance: float | None = None
    shuffled_mean: float | None = None
    shuffled_ci: tuple = (None, None)
    gap: float | None = None  # image-use gap: mean − shuffled_mean
    gap_ci: tuple = (None, None)
    languages: dict[str, tuple] = field(default_factory=dict)  # lang → (value, lo, hi)
    vanilla: dict[str, tuple] = field(default_factory=dict)
    shuffled: dict[str, tuple] = field(default_factory=dict)
    categories: dict[str, dict[str, tuple]] = field(default_factory=dict)  # lang → cat → (value, lo, hi)
    category_mean: dict[str, tuple] = field(default_factory=dict)  # cat → (mean over languages, lo, hi)


@dataclass
class Comparison:
    benchmark: str
    a: Entry
    b: Entry
    rows: list[tuple]  # (label, a, b, diff, diff_lo, diff_hi)
    paired: bool


@dataclass
class Board:
    entries: dict[str, list[Entry]]  # benchmark → complete runs, ranked by mean
    comparisons: list[Comparison]
    partial: dict[str, list[Entry]] = field(default_factory=dict)  # benchmark → partial runs (never ranked)


def board_json(board: Board) -> dict:
    """The board for scripts (``mmdata leaderboard --json``): ranked and partial runs per benchmark."""
    from dataclasses import asdict

    def rows(es: list[Entry]) -> list[dict]:
        return [{k: v for k, v in asdict(e).items() if k not in ("categories", "vanilla")} for e in es]

    return {"ranked": {b: rows(es) for b, es in board.entries.items()},
            "partial": {b: rows(es) for b, es in board.partial.items()}}  # fmt: skip


def load_board(db: str | Path, *, compare: tuple[str, str] | None = None, benchmark: str | None = None,
               resamples: int = RESAMPLES, seed: int = 0) -> Board:  # fmt: skip
    """The latest run of each configuration: complete runs ranked per benchmark, partial runs apart, plus
    two-model comparisons."""
    con = _connect(db, create=False)
    try:
        runs = con.execute("""
            SELECT run_id, model, benchmark, prompt_version, extractor_version, circular, n_items, failures,
                   mean, mean_lo, mean_hi, mean_non_en, mean_non_en_lo, mean_non_en_hi,
                   consistency, consistency_lo, consistency_hi, CAST(recorded_at AS VARCHAR),
                   model_fingerprint, COALESCE(partial, CASE WHEN n_limit IS NOT NULL THEN '--limit ' || n_limit END),
                   chance, shuffled_mean, shuffled_mean_lo, shuffled_mean_hi, gap, gap_lo, gap_hi
            FROM (SELECT *, row_number() OVER (PARTITION BY model, benchmark, prompt_version, extractor_version, n_limit
                                               ORDER BY recorded_at DESC, run_id) AS k FROM runs)
            WHERE k = 1 ORDER BY benchmark, mean DESC NULLS LAST, model""").fetchall()
        if benchmark is not None:
            runs = [r for r in runs if r[2] == benchmark]
        langs = con.execute("SELECT run_id, language, metric, value, lo, hi FROM language_scores").fetchall()
        cats = con.execute("SELECT run_id, language, category, value, lo, hi FROM category_scores").fetchall()
        entries: dict[str, list[Entry]] = {}
        partial: dict[str, list[Entry]] = {}
        by_id: dict[str, Entry] = {}
        for r in runs:
            e = Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], (r[9], r[10]), r[11], (r[12], r[13]),
                      r[14], (r[15], r[16]), r[17], r[18], r[19], r[20], r[21], (r[22], r[23]), r[24], (r[25], r[26]))  # fmt: skip
            (partial if e.partial else entries).setdefault(e.benchmark, []).append(e)
            by_id[e.run_id] = e
        for rid, lang, metric, v, lo, hi in langs:
            if rid in by_id:
                {"overall": by_id[rid].languages, "vanilla": by_id[rid].vanilla,
                 "shuffled": by_id[rid].shuffled}.get(metric, {})[lang] = (v, lo, hi)  # fmt: skip
        for rid, lang, cat, v, lo, hi in cats:
            if rid in by_id:
                if lang == ALL_LANGUAGES:
                    by_id[rid].category_mean[cat] = (v, lo, hi)
                else:
                    by_id[rid].categories.setdefault(lang, {})[cat] = (v, lo, hi)
        for e in by_id.values():  # runs recorded before the mean over languages was stored
            for c in _categories(e):
                if c not in e.category_mean:
                    vals = [cs[c][0] for cs in e.categories.values() if c in cs and cs[c][0] is not None]
                    e.category_mean[c] = (sum(vals) / len(vals) if vals else None, None, None)
        comparisons = []
        for bench, es in entries.items():
            pair = _pick_pair(es + partial.get(bench, []), compare, ranked=len(es))
            if pair is not None:
                comparisons.append(_compare(con, bench, *pair, resamples=resamples, seed=seed))
        for bench, es in partial.items():
            if bench not in entries and compare is not None:
                pair = _pick_pair(es, compare, ranked=0)
                if pair is not None:
                    comparisons.append(_compare(con, bench, *pair, resamples=resamples, seed=seed))
    finally:
        con.close()
    if compare is not None and not comparisons:
        raise MmdataError(f"no benchmark has runs of both {compare[0]!r} and {compare[1]!r}")
    return Board(entries, comparisons, partial)


def _pick_pair(entries: list[Entry], compare: tuple[str, str] | None, *, ranked: int) -> tuple[Entry, Entry] | None:
    if compare is None:  # the top two complete runs
        return (entries[0], entries[1]) if ranked >= 2 else None
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


def _cell(t: tuple | None) -> str:
    """A (value, lo, hi) triple as ``v [lo, hi]``."""
    return "–" if not t else _pct_ci(t[0], t[1:])


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


def _all_categories(es: list[Entry]) -> list[str]:
    return sorted({c for e in es for c in _categories(e)})


def _chance(es: list[Entry]) -> float | None:
    return next((e.chance for e in es if e.chance is not None), None)


def _ranking_head(langs: list[str], circular: bool) -> list[str]:
    vanilla = ["vanilla mean"] if circular else []
    return ["#", "model", "mean", "non-en mean", *langs, *vanilla, "shuffled", "image-use gap", "consistency",
            "failures", "rows", "prompt", "extractor"]  # fmt: skip


def _ranking_cells(rank: str, e: Entry, langs: list[str], circular: bool) -> list[str]:
    cells = [rank, e.model, _pct_ci(e.mean, e.mean_ci), _pct_ci(e.mean_non_en, e.mean_non_en_ci)]
    cells += [_cell(e.languages.get(lang)) for lang in langs]
    if circular:  # CircularEval is the headline; vanilla accuracy over every rotation stands beside it
        cells.append(_pct(sum(v[0] for v in e.vanilla.values()) / len(e.vanilla) if e.vanilla else None))
    cells += [_pct_ci(e.shuffled_mean, e.shuffled_ci), _signed(e.gap, *e.gap_ci)]
    return [*cells, _pct_ci(e.consistency, e.consistency_ci), str(e.failures), str(e.n_items), e.prompt_version,
            e.extractor_version]  # fmt: skip


def _note(es: list[Entry]) -> str:
    kind = "CircularEval" if es[0].circular else "vanilla accuracy"
    chance = _chance(es)
    ch = "" if chance is None else f"; chance (a uniform guesser) {_pct(chance)}"
    return (f"Scores in % ({kind}), 95 % bootstrap CI in brackets{ch}. Shuffled: the same questions with every "
            "image swapped for another of its category (bench run --control shuffled); image-use gap = mean − "
            "shuffled, paired CI.")  # fmt: skip


def render_markdown(board: Board) -> str:
    out = ["# Leaderboard", ""]
    if not board.entries and not board.partial:
        return "# Leaderboard\n\nNo runs recorded yet.\n"
    for bench in sorted(set(board.entries) | set(board.partial)):
        es, ps = board.entries.get(bench, []), board.partial.get(bench, [])
        allr = es + ps
        langs = _board_languages(allr)
        circ = allr[0].circular
        out += [f"## {bench}", "", _note(allr), ""]
        head = _ranking_head(langs, circ)
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, e in enumerate(es, 1):
            out.append("| " + " | ".join(_ranking_cells(str(k), e, langs, circ)) + " |")
        out.append("")
        if ps:
            out += ["### Partial runs (not ranked)", "", "| model | why partial | mean | rows |", "|---|---|---|---|"]
            out += [f"| {e.model} | {e.partial} | {_pct_ci(e.mean, e.mean_ci)} | {e.n_items} |" for e in ps]
            out.append("")
        cats = _all_categories(es)
        if es and cats:
            out += [f"### Models × categories ({bench}, mean over languages)", ""]
            out += ["| model | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
            for e in es:
                out.append(f"| {e.model} | " + " | ".join(_cell(e.category_mean.get(c)) for c in cats) + " |")
            out.append("")
        for e in es:
            out += [f"### {e.model}: language × category ({bench})", ""]
            out += ["| category | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
            for c in _categories(e):
                out.append(f"| {c} | " + " | ".join(_cell(e.categories.get(lang, {}).get(c)) for lang in langs) + " |")
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


# Colour-blind-safe colours: viridis (sequential, heatmaps) and Okabe–Ito (categorical marks)
VIRIDIS = ("#440154", "#472c7a", "#3b518b", "#2c718e", "#21908d", "#27ad81", "#5cc863", "#aadc32", "#fde725")
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "vermillion": "#D55E00", "sky": "#56B4E9",
             "green": "#009E73", "yellow": "#F0E442", "purple": "#CC79A7", "black": "#000000"}  # fmt: skip
_MISSING = "#e6e6e6"

_CSS = f"""
body{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2733;background:#fff}}
h1{{font-size:24px}}h2{{font-size:19px;margin-top:28px}}h3{{font-size:15px}}
table{{border-collapse:collapse;margin:8px 0 16px;font-size:13px}}
th,td{{border:1px solid #c9d2dc;padding:4px 8px;text-align:right;white-space:nowrap}}th{{background:#eef2f6}}
td.l,th.l{{text-align:left}}.note{{color:#4a5868;font-size:12px;max-width:1100px}}
.pos{{color:{OKABE_ITO["blue"]};font-weight:600}}.neg{{color:{OKABE_ITO["vermillion"]};font-weight:600}}
figure{{margin:8px 0 20px}}figcaption{{color:#4a5868;font-size:12px}}
"""


def viridis(v: float) -> str:
    """The viridis colour of ``v`` in [0, 1] (linear between nine stops)."""
    x = min(max(float(v), 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(x), len(VIRIDIS) - 2)
    f = x - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    rgb = [round(int(a[k : k + 2], 16) * (1 - f) + int(b[k : k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _fill(v) -> str:
    return _MISSING if v is None else viridis(v)


def _ink(v) -> str:
    """Text colour readable on ``_fill(v)``: white on the dark half of viridis, black on the light half."""
    return "#000" if v is None or v >= 0.55 else "#fff"


def _legend_svg(chance: float | None) -> str:
    w, x0 = 240, 10
    stops = "".join(f'<stop offset="{k / (len(VIRIDIS) - 1):.3f}" stop-color="{c}"/>' for k, c in enumerate(VIRIDIS))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 2 * x0 + 80}" height="46" role="img" aria-label="colour scale">',
             f'<defs><linearGradient id="vir">{stops}</linearGradient></defs>',
             f'<rect x="{x0}" y="6" width="{w}" height="14" fill="url(#vir)"/>']  # fmt: skip
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + t * w
        parts.append(f'<text x="{x}" y="34" font-size="10" text-anchor="middle">{int(100 * t)}%</text>')
    if chance is not None:
        x = x0 + chance * w
        parts.append(f'<line x1="{x}" y1="2" x2="{x}" y2="24" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>')
        parts.append(f'<text x="{x}" y="45" font-size="10" text-anchor="middle">chance</text>')
    parts.append("</svg>")
    return "".join(parts)


def _grid_svg(label: str, rows: list[str], cols: list[str], cell, *, rotate: bool = False, cw: int = 86) -> str:
    """A heatmap: ``cell(row, col)`` → (value, lo, hi) or None; each cell shows the value and its CI."""
    ch = 32
    left = 10 + 7 * max((len(r) for r in rows), default=4)
    top = 96 if rotate else 24
    w, h = left + cw * len(cols) + (90 if rotate else 4), top + ch * len(rows) + 4  # room for the last slanted label
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{html.escape(label)}">']
    for j, c in enumerate(cols):
        x = left + j * cw + cw / 2
        if rotate:
            parts.append(f'<text x="{x}" y="{top - 6}" font-size="12" transform="rotate(-35 {x} {top - 6})">{html.escape(c)}</text>')
        else:
            parts.append(f'<text x="{x}" y="16" font-size="12" text-anchor="middle">{html.escape(c)}</text>')
    for i, r in enumerate(rows):
        y = top + i * ch
        parts.append(f'<text x="{left - 6}" y="{y + 19}" font-size="12" text-anchor="end">{html.escape(r)}</text>')
        for j, c in enumerate(cols):
            t = cell(r, c)
            v = None if not t else t[0]
            x = left + j * cw
            tip = f"{r} · {c}: {_cell(t)}"
            parts.append(f'<g><title>{html.escape(tip)}</title><rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{_fill(v)}"/>')
            parts.append(f'<text x="{x + cw / 2 - 1}" y="{y + 13}" font-size="11" text-anchor="middle" fill="{_ink(v)}">{_pct(v)}</text>')
            if t and t[1] is not None:
                ci = f"[{100 * t[1]:.0f}–{100 * t[2]:.0f}]"
                parts.append(f'<text x="{x + cw / 2 - 1}" y="{y + 25}" font-size="9" text-anchor="middle" fill="{_ink(v)}">{ci}</text>')
            parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _heatmap_svg(e: Entry, langs: list[str]) -> str:
    return _grid_svg(f"{e.model} language by category accuracy", _categories(e), langs,
                     lambda c, lang: e.categories.get(lang, {}).get(c))  # fmt: skip


def _models_by_category_svg(es: list[Entry]) -> str:
    by_model = {e.model: e for e in es}
    return _grid_svg("models by category accuracy (mean over languages)", [e.model for e in es], _all_categories(es),
                     lambda m, c: by_model[m].category_mean.get(c), rotate=True, cw=70)  # fmt: skip


def _means_svg(es: list[Entry], chance: float | None) -> str:
    """Horizontal bars: each model's mean with its CI, the shuffled-image mean, a dashed chance line."""
    left = 10 + 7 * max(len(e.model) for e in es)
    span, rh, top = 480, 26, 28
    w, h = left + span + 30, top + rh * len(es) + 28

    def x(v: float) -> float:
        return left + span * v

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="mean accuracy per model">']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{x(t)}" y1="{top - 4}" x2="{x(t)}" y2="{h - 22}" stroke="#d5dbe1" stroke-width="1"/>')
        parts.append(f'<text x="{x(t)}" y="{h - 8}" font-size="10" text-anchor="middle">{int(100 * t)}%</text>')
    for i, e in enumerate(es):
        y = top + i * rh
        parts.append(f'<text x="{left - 6}" y="{y + 16}" font-size="12" text-anchor="end">{html.escape(e.model)}</text>')
        if e.mean is not None:
            parts.append(f'<rect class="bar" x="{x(0)}" y="{y + 4}" width="{span * e.mean}" height="{rh - 10}" fill="{OKABE_ITO["blue"]}">'
                         f"<title>{html.escape(e.model)}: {_pct_ci(e.mean, e.mean_ci)}</title></rect>")  # fmt: skip
        if e.mean_ci[0] is not None:
            lo, hi, yc = x(e.mean_ci[0]), x(e.mean_ci[1]), y + rh / 2 - 1
            parts.append(f'<path d="M{lo} {yc}H{hi}M{lo} {yc - 5}V{yc + 5}M{hi} {yc - 5}V{yc + 5}" stroke="#000" stroke-width="1.5" fill="none"/>')
        if e.shuffled_mean is not None:
            sx, yc = x(e.shuffled_mean), y + rh / 2 - 1
            parts.append(f'<path class="shuffled" d="M{sx} {yc - 7}L{sx + 7} {yc}L{sx} {yc + 7}L{sx - 7} {yc}Z" fill="{OKABE_ITO["orange"]}" '
                         f'stroke="#000" stroke-width="1"><title>shuffled images: {_pct_ci(e.shuffled_mean, e.shuffled_ci)}</title></path>')  # fmt: skip
    if chance is not None:
        parts.append(f'<line class="chance" x1="{x(chance)}" y1="{top - 10}" x2="{x(chance)}" y2="{h - 22}" stroke="#000" '
                     'stroke-width="2" stroke-dasharray="5,3"/>')  # fmt: skip
        parts.append(f'<text x="{x(chance) + 4}" y="{top - 12}" font-size="11">chance {_pct(chance)}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(board: Board) -> str:
    esc = html.escape
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>mmdata leaderboard</title>',
           f"<style>{_CSS}</style></head><body>", "<h1>mmdata leaderboard</h1>"]  # fmt: skip
    if not board.entries and not board.partial:
        out.append("<p>No runs recorded yet.</p>")
    for bench in sorted(set(board.entries) | set(board.partial)):
        es, ps = board.entries.get(bench, []), board.partial.get(bench, [])
        allr = es + ps
        langs = _board_languages(allr)
        circ = allr[0].circular
        chance = _chance(allr)
        out += [f"<h2>{esc(bench)}</h2>", f'<p class="note">{esc(_note(allr))}</p>']
        out.append('<table class="ranking"><tr>' + "".join(f"<th>{esc(h)}</th>" for h in _ranking_head(langs, circ)) + "</tr>")
        for k, e in enumerate(es, 1):
            cells = _ranking_cells(str(k), e, langs, circ)
            out.append("<tr>" + "".join(f'<td{" class=l" if j == 1 else ""}>{esc(c)}</td>' for j, c in enumerate(cells)) + "</tr>")
        out.append("</table>")
        if es:
            out += ['<figure class="means">', _means_svg(es, chance),
                    "<figcaption>Mean accuracy with its 95 % CI (bars, whiskers); ◆ the same questions with shuffled "
                    "images; dashed line: chance.</figcaption></figure>"]  # fmt: skip
        if ps:
            out += ["<h3>Partial runs (not ranked)</h3>", '<table class="partial"><tr><th class=l>model</th><th class=l>why partial</th>'
                    "<th>mean</th><th>rows</th></tr>"]  # fmt: skip
            out += [f"<tr><td class=l>{esc(e.model)}</td><td class=l>{esc(e.partial or '')}</td><td>{_pct_ci(e.mean, e.mean_ci)}</td>"
                    f"<td>{e.n_items}</td></tr>" for e in ps]  # fmt: skip
            out.append("</table>")
        if es and _all_categories(es):
            out += ["<h3>Models × categories (mean over languages)</h3>", '<figure class="models-by-category">',
                    _models_by_category_svg(es), _legend_svg(chance), "</figure>"]  # fmt: skip
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
