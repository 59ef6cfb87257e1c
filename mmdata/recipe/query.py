"""``mmdata query DIR "SQL"``: read-only DuckDB SQL over one mixture.

The connection is confined before the user's SQL runs:

* only ``SELECT`` (``WITH … SELECT``, ``DESCRIBE``, ``SUMMARIZE``) and ``EXPLAIN`` statements run;
  ``COPY``, ``ATTACH``, ``CREATE``, ``INSTALL``, ``LOAD``, ``SET``, ``PRAGMA`` … are refused;
* file access is limited to the mixture's own directory (``allowed_directories``), with external
  access (other files, the network) switched off;
* extensions are never installed or loaded, automatically or by hand;
* the configuration is locked, so the SQL cannot switch any of this back on.

Tables: ``items`` (the Parquet shards), and ``dedup``, ``dedup_pairs``, ``sampling``, ``quarantine``
when the mixture has them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError

TABLES = ("dedup", "sampling", "dedup_pairs", "quarantine")
ALLOWED = ("SELECT", "EXPLAIN")


def _quote(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def connect(mixture: str | Path):
    """A DuckDB connection that can read only ``mixture``, with its views defined."""
    import duckdb

    d = Path(os.path.realpath(mixture))
    shards = sorted((d / "data").glob("*.parquet"))
    if not shards:
        raise MmdataError("not a mixture directory (no data/*.parquet)", file=mixture)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "allow_community_extensions": False})  # fmt: skip
    con.execute(f"SET allowed_directories=[{_quote(Path(str(d) + os.sep))}]")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")
    con.execute(f"CREATE VIEW items AS SELECT * FROM read_parquet([{', '.join(_quote(s) for s in shards)}])")
    for name in TABLES:
        if (d / f"{name}.parquet").exists():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_quote(d / (name + '.parquet'))})")
    return con


def query(mixture: str | Path, sql: str) -> pa.Table:
    import duckdb

    con = connect(mixture)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise MmdataError(f"query failed: {str(e).splitlines()[0]}", file=mixture) from None
        if not statements:
            raise MmdataError("query is empty", file=mixture)
        for st in statements:
            kind = str(st.type).rsplit(".", 1)[-1]
            if kind not in ALLOWED:
                raise MmdataError(f"query refused: {kind} statements are not allowed (read-only SELECT queries only)", file=mixture)
        if len(statements) > 1:
            raise MmdataError("query refused: give one statement", file=mixture)
        try:
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as e:
            raise MmdataError(f"query failed: {str(e).splitlines()[0]}", file=mixture) from None
    finally:
        con.close()
