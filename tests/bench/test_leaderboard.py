"""The DuckDB leaderboard: every run appends; md and html views; a two-model comparison with CIs."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mmdata.bench.leaderboard import load_board, render_html, render_markdown
from mmdata.bench.run import run_benchmark
from mmdata.errors import MmdataError
from tests.browser import assert_not_blank, screenshot

from .conftest import cli


@pytest.fixture(scope="module")
def board_db(bench, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lb")
    db = d / "leaderboard.duckdb"
    for model in ("oracle", "constant:B", "random:1"):
        run_benchmark(bench / "mmmb", model, d / "runs", db=db)
    run_benchmark(bench / "mmbench", "random:1", d / "runs", db=db)
    run_benchmark(bench / "mmbench", "oracle", d / "runs", db=db)
    return db


def test_every_run_appends(board_db, bench, tmp_path):
    db = tmp_path / "lb.duckdb"
    shutil.copy(board_db, db)
    run_benchmark(bench / "mmmb", "random:1", tmp_path / "r", db=db)
    con = duckdb.connect(str(db))
    try:
        runs = con.execute("SELECT model, benchmark, prompt_version, extractor_version FROM runs ORDER BY recorded_at").fetchall()
        n_units = con.execute("SELECT count(*) FROM outcomes WHERE run_id = (SELECT max_by(run_id, recorded_at) FROM runs)").fetchall()
    finally:
        con.close()
    assert len(runs) == 6 and runs[-1] == ("random:1", "mmmb-synthetic/mmmb", "mmmb-v1", "mmdata-extract-v1")
    assert n_units == [(6 * 30,)]
    board = load_board(db)
    models = [e.model for e in board.entries["mmmb-synthetic/mmmb"]]
    assert sorted(models) == ["constant:B", "oracle", "random:1"]  # the latest run per model, not every run


def test_ranking_heatmap_and_comparison(board_db):
    board = load_board(board_db)
    mmmb = board.entries["mmmb-synthetic/mmmb"]
    assert mmmb[0].model == "oracle" and mmmb[0].mean == 1.0
    assert [e.mean for e in mmmb] == sorted((e.mean for e in mmmb), reverse=True)
    assert set(mmmb[0].categories["ar"]) and len(mmmb[0].categories["ar"]) == 15
    cmp = next(c for c in board.comparisons if c.benchmark == "mmmb-synthetic/mmmb")
    assert cmp.a.model == "oracle" and cmp.paired
    mean_row = cmp.rows[-1]
    assert mean_row[0] == "mean" and mean_row[3] == pytest.approx(1.0 - cmp.b.mean, abs=1e-6)
    assert mean_row[4] <= mean_row[3] <= mean_row[5]  # the difference's CI covers the difference
    md = render_markdown(board)
    assert "## mmmb-synthetic/mmmb" in md and "## mmmb-synthetic/mmbench" in md
    assert "| 1 | oracle | 100.0 [100.0, 100.0]" in md and "language × category" in md
    circ = md[md.index("## mmmb-synthetic/mmbench") : md.index("## mmmb-synthetic/mmmb\n")]
    assert "vanilla mean" in circ and "CircularEval" in circ  # vanilla stands beside the circular score
    assert f"Comparison on mmmb-synthetic/mmmb: oracle vs {cmp.b.model}" in md


def test_explicit_comparison_and_cli(board_db, tmp_path):
    board = load_board(board_db, compare=("random:1", "constant:B"))
    (cmp,) = [c for c in board.comparisons if c.benchmark == "mmmb-synthetic/mmmb"]
    assert (cmp.a.model, cmp.b.model) == ("random:1", "constant:B")
    with pytest.raises(MmdataError, match="no benchmark has runs of both"):
        load_board(board_db, compare=("oracle", "gpt"))
    r = cli("leaderboard", "--db", board_db, "--format", "md", "--compare", "random:1", "--compare", "oracle")
    assert r.returncode == 0, r.stderr
    assert "random:1 vs oracle" in r.stdout
    r = cli("leaderboard", "--db", tmp_path / "none.duckdb")
    assert r.returncode == 2 and "no leaderboard here yet" in r.stderr and not (tmp_path / "none.duckdb").exists()
    r = cli("leaderboard", "--db", board_db, "--format", "pdf")
    assert r.returncode == 2 and "'pdf' is not one of 'md', 'html'" in r.stderr


def test_html_is_self_contained(board_db):
    html = render_html(load_board(board_db))
    assert html.count("<table") >= 3 and "<svg" in html and "<style>" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<script" not in html


def test_html_renders_in_headless_chromium(board_db, tmp_path):
    page = tmp_path / "leaderboard.html"
    r = cli("leaderboard", "--db", board_db, "--format", "html", "--out", page)
    assert r.returncode == 0, r.stderr
    assert "<table" in page.read_text()
    im = screenshot(page, tmp_path)
    assert im.size == (1200, 900)
    assert_not_blank(im)


# ------------------------------------------------- partial runs, image-use gap, palette, category view


@pytest.fixture(scope="module")
def rich_db(bench, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lb-rich")
    db = d / "leaderboard.duckdb"
    run_benchmark(bench / "mmmb", "oracle", d / "o", db=db, control="shuffled")
    run_benchmark(bench / "mmmb", "random:1", d / "r", db=db, control="shuffled")
    run_benchmark(bench / "mmmb", "constant:A", d / "c", db=db)
    run_benchmark(bench / "mmmb", "random:2", d / "p", db=db, limit=5)  # partial: never ranked
    return db


def test_partial_runs_are_listed_apart_and_never_ranked(rich_db):
    board = load_board(rich_db)
    ranked = [e.model for e in board.entries["mmmb-synthetic/mmmb"]]
    assert ranked == ["oracle", "random:1", "constant:A"] or set(ranked) == {"oracle", "random:1", "constant:A"}
    (p,) = board.partial["mmmb-synthetic/mmmb"]
    assert p.model == "random:2" and p.partial == "--limit 5"
    md = render_markdown(board)
    rank_table = md[: md.index("### Partial runs (not ranked)")]
    assert "random:2" not in rank_table and "| random:2 | --limit 5 |" in md
    cmp = next(c for c in board.comparisons if c.benchmark == "mmmb-synthetic/mmmb")
    assert "random:2" not in (cmp.a.model, cmp.b.model)  # the default comparison takes the top two ranked runs


def test_gap_chance_and_cis_in_every_cell(rich_db):
    board = load_board(rich_db)
    es = {e.model: e for e in board.entries["mmmb-synthetic/mmmb"]}
    o, r, c = es["oracle"], es["random:1"], es["constant:A"]
    assert o.gap == 0.0 and o.shuffled_mean == 1.0 and c.gap is None and r.gap_ci[0] <= r.gap <= r.gap_ci[1]
    assert 0.25 < o.chance < 0.26 and len(o.category_mean) == 15 and o.category_mean["ocr"] == (1.0, 1.0, 1.0)
    assert all(t[1] is not None for cats in r.categories.values() for t in cats.values())  # CIs per language × category
    md = render_markdown(board)
    head = next(line for line in md.splitlines() if line.startswith("| # |"))
    assert "image-use gap" in head and "shuffled" in head
    row = next(line for line in md.splitlines() if line.startswith("| 3 |") or line.startswith("| 2 | random:1"))
    assert row.count("[") >= 2 + 6  # mean, non-en mean and every language carry their CI
    assert "chance (a uniform guesser) 25.6" in md and "### Models × categories" in md
    lang_row = next(line for line in md.splitlines() if line.startswith("| colour | "))
    assert lang_row.count("[") == 6


def test_html_palette_chance_line_and_category_view(rich_db):
    from mmdata.bench.leaderboard import VIRIDIS, viridis

    html = render_html(load_board(rich_db))
    assert viridis(0) == VIRIDIS[0] and viridis(1) == VIRIDIS[-1] and viridis(0.5) == VIRIDIS[4]
    assert 'class="chance"' in html and "chance 25.6%" in html and 'class="shuffled"' in html
    assert 'class="models-by-category"' in html and "<h3>Partial runs (not ranked)</h3>" in html
    assert "rgb(" not in html  # the old red–green ramp is gone
    assert f'fill="{VIRIDIS[-1]}"' in html and f'fill="{VIRIDIS[0]}"' in html  # 100 % and 0 % cells


def test_database_from_before_the_new_columns_still_loads(bench, tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("""CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, recorded_at TIMESTAMP, model VARCHAR, benchmark VARCHAR,
        prompt_version VARCHAR, extractor_version VARCHAR, circular BOOLEAN, n_limit INTEGER, n_items INTEGER,
        failures INTEGER, mean DOUBLE, mean_lo DOUBLE, mean_hi DOUBLE, mean_non_en DOUBLE, mean_non_en_lo DOUBLE,
        mean_non_en_hi DOUBLE, consistency DOUBLE, consistency_lo DOUBLE, consistency_hi DOUBLE, scores_json VARCHAR);
        CREATE TABLE language_scores (run_id VARCHAR, language VARCHAR, metric VARCHAR, value DOUBLE, lo DOUBLE, hi DOUBLE,
        n_items INTEGER, failures INTEGER);
        CREATE TABLE category_scores (run_id VARCHAR, language VARCHAR, category VARCHAR, value DOUBLE);
        CREATE TABLE outcomes (run_id VARCHAR, language VARCHAR, unit BIGINT, correct BOOLEAN);""")
    con.execute("INSERT INTO runs VALUES ('old1', TIMESTAMP '2026-01-01', 'legacy', 'mmmb-synthetic/mmmb', 'mmmb-v1', "
                "'mmdata-extract-v1', false, NULL, 180, 0, 0.5, 0.4, 0.6, 0.5, 0.4, 0.6, 0.1, 0.0, 0.2, '{}')")
    con.execute("INSERT INTO language_scores VALUES ('old1', 'en', 'overall', 0.5, 0.4, 0.6, 30, 0)")
    con.execute("INSERT INTO category_scores VALUES ('old1', 'en', 'ocr', 0.5), ('old1', 'zh', 'ocr', 0.7)")
    con.close()
    run_benchmark(bench / "mmmb", "oracle", tmp_path / "o", db=db)
    es = {e.model: e for e in load_board(db).entries["mmmb-synthetic/mmmb"]}
    assert es["legacy"].gap is None and es["legacy"].partial is None
    assert es["legacy"].category_mean["ocr"][0] == pytest.approx(0.6)  # derived from the languages
    assert es["oracle"].mean == 1.0
    assert "legacy" in render_html(load_board(db))


def test_leaderboard_screenshot_shows_the_colour_blind_safe_palette(rich_db, tmp_path):
    page = tmp_path / "leaderboard.html"
    r = cli("leaderboard", "--db", rich_db, "--format", "html", "--out", page)
    assert r.returncode == 0, r.stderr
    im = screenshot(page, tmp_path, size=(1400, 2600), mode="RGB")
    assert_not_blank(im.convert("L"))
    px = np.asarray(im).reshape(-1, 3).astype(int)

    def near(hex_colour: str, tol: int = 12) -> int:
        target = np.array([int(hex_colour[k : k + 2], 16) for k in (1, 3, 5)])
        return int((np.abs(px - target) <= tol).all(axis=1).sum())

    assert near("#fde725") > 500  # viridis yellow: the 100 % cells of the oracle
    assert near("#440154") > 500  # viridis purple: the 0 % cells
    assert near("#0072B2") > 500  # Okabe–Ito blue: the bars of the means chart
    assert near("#E69F00") > 20  # Okabe–Ito orange: the shuffled-image markers
    reds = int(((px[:, 0] > 180) & (px[:, 1] < 90) & (px[:, 2] < 110)).sum())
    assert reds < 50  # no red cells of a red–green ramp
