"""``mmdata query DIR "SQL"``: DuckDB over a mixture; the table ``items`` is its Parquet shards."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError


def query(mixture: str | Path, sql: str) -> pa.Table:
    import duckdb

    d = Path(mixture)
    shards = sorted((d / "data").glob("*.parquet"))
    if not shards:
        raise MmdataError("not a mixture directory (no data/*.parquet)", file=d)
    con = duckdb.connect()
    try:
        files = ", ".join("'" + str(s).replace("'", "''") + "'" for s in shards)
        con.execute(f"CREATE VIEW items AS SELECT * FROM read_parquet([{files}])")
        for name in ("dedup", "sampling", "dedup_pairs"):
            if (d / f"{name}.parquet").exists():
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{d / (name + '.parquet')}')")
        try:
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as e:
            raise MmdataError(f"query failed: {str(e).splitlines()[0]}", file=d) from None
    finally:
        con.close()
