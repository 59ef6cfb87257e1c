"""The DuckDB leaderboard: every run appends; md and html views; a two-model comparison with CIs."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
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
    assert r.returncode == 2 and "--format must be md or html" in r.stderr


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
