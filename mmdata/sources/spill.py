"""Joins between the parts of native annotation files without holding either side in memory.

Adapters whose Records need two lists of one dataset joined (VQA questions ⋈ annotations, RefCOCO
refs ⋈ instances) stream each side, checked row by row, into a temporary Parquet file and let DuckDB
join them and return the rows in the order the Records must come in, batch by batch. DuckDB runs
with a bounded memory limit and spills to the same temporary folder, which is removed when the
adapter's generator ends (finished, failed or closed early).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MEMORY_LIMIT = "256MB"
BATCH = 8192


class Spill:
    """A temporary folder of Parquet tables and a DuckDB connection over it."""

    def __init__(self) -> None:
        import duckdb

        self.dir = Path(tempfile.mkdtemp(prefix="mmdata-spill-"))
        self.con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(self.dir / "duckdb"), "threads": 2})
        self._writers: dict[str, tuple[pq.ParquetWriter, pa.Schema, list[dict]]] = {}

    def writer(self, name: str, schema: pa.Schema) -> None:
        self._writers[name] = (pq.ParquetWriter(self.dir / f"{name}.parquet", schema, compression="lz4"), schema, [])

    def add(self, name: str, row: dict) -> None:
        w, schema, buf = self._writers[name]
        buf.append(row)
        if len(buf) >= BATCH:
            w.write_table(pa.Table.from_pylist(buf, schema=schema))
            buf.clear()

    def close_writers(self) -> None:
        for name, (w, schema, buf) in self._writers.items():
            if buf:
                w.write_table(pa.Table.from_pylist(buf, schema=schema))
            w.close()
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{self.dir / f'{name}.parquet'}')")
        self._writers.clear()

    def rows(self, sql: str) -> Iterator[dict]:
        """The query's rows as dicts, fetched a batch at a time."""
        reader = self.con.sql(sql).to_arrow_reader(BATCH)
        for batch in reader:
            yield from batch.to_pylist()

    def close(self) -> None:
        for w, _, _ in self._writers.values():
            w.close()
        self.con.close()
        shutil.rmtree(self.dir, ignore_errors=True)
