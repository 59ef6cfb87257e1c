"""``mmdata query`` is read-only and confined to the mixture's own files."""

from __future__ import annotations

import json

import pytest

from mmdata.cli import main
from mmdata.errors import MmdataError
from mmdata.recipe.build import build
from mmdata.recipe.query import query

from .helpers import write_recipe


@pytest.fixture(scope="module")
def mix(tiny_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("query")
    r = write_recipe(tmp / "r.yaml", tiny_world, ["vqav2", "coco_captions"], balance={"size": 60})
    return build(r, tmp / "mix").out


def test_select_over_the_mixture_tables(mix):
    t = query(mix, "select dataset, count(*) n from items group by 1 order by 1")
    assert t.column("dataset").to_pylist() == ["coco_captions", "vqav2"] and sum(t.column("n").to_pylist()) == 60
    assert query(mix, "select count(*) c from quarantine").column("c")[0].as_py() == 0
    assert query(mix, "with x as (select 1 a) select a from x").num_rows == 1
    assert query(mix, "explain select * from items").num_rows >= 1
    # files inside the mixture may be read with table functions
    assert query(mix, f"select count(*) c from read_parquet('{mix}/sampling.parquet')").column("c")[0].as_py() == 60


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("COPY (select * from items) TO '{out}/stolen.csv'", "COPY statements are not allowed"),
        ("COPY (select 1) TO '{mix}/inside.csv'", "COPY statements are not allowed"),
        ("select * from read_csv('/etc/passwd')", "Permission"),
        ("select * from read_text('/etc/hostname')", "Permission"),
        ("select * from glob('/tmp/*')", "Permission"),
        ("INSTALL httpfs", "not allowed"),
        ("LOAD httpfs", "not allowed"),
        ("ATTACH '{mix}/x.db' AS x", "ATTACH statements are not allowed"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
        ("SET enable_external_access = true", "not allowed"),
        ("PRAGMA enable_profiling", "not allowed"),
        ("select 1; select 2", "give one statement"),
        ("select * from nowhere", "query failed"),
        ("", "query is empty"),
    ],
)
def test_everything_else_is_refused(mix, tmp_path, sql, why):
    sql = sql.format(out=tmp_path, mix=mix)
    with pytest.raises(MmdataError, match=why) as e:
        query(mix, sql)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "stolen.csv").exists() and not (mix / "inside.csv").exists() and not (mix / "x.db").exists()


def test_query_cli_json(mix, capsys):
    main(["query", str(mix), "select count(*) as n from items", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == ["n"] and out["rows"] == [{"n": 60}]
