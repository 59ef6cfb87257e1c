"""Hub table datasets: parquet shards and ``datasets.save_to_disk`` arrow files, one conversation per row.

Shared by the ``cauldron``, ``llava_onevision`` and ``hf`` adapters. A *layout*
(:class:`TableLayout`) knows one family of columns — The Cauldron's ``images``/``texts`` or the LLaVA
``conversations`` + ``image`` — checks a file's Arrow schema against it once (a mismatch is one line
naming the file and the column) and turns rows into Record dicts. Files are read in bounded batches
(:func:`iter_batches`: ``ParquetFile.iter_batches`` for parquet, the IPC stream's own batches for
arrow), never whole. Embedded images become ordinary files through
:func:`~mmdata.sources.embedded.extracted_root`; Records point at them with relative paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.errors import MmdataError
from mmdata.sources.base import Adapter, ImageResolver, _tname
from mmdata.sources.embedded import blob_name, extracted_root
from mmdata.sources.reader import absent_image, image_request

BATCH_ROWS = 256
_SHARD = re.compile(r"^(?P<split>[A-Za-z]+)-\d+-of-\d+$")
_SPLITS = {"validation": "val", "dev": "val"}


# ---- files and batches ----------------------------------------------------------------------------


def parquet_files(adapter: str, path: Path) -> list[Path]:
    """``path`` itself (a parquet file) or every ``*.parquet`` below it, sorted by relative path."""
    if path.is_file():
        if path.suffix != ".parquet":
            raise MmdataError(f"{adapter}: expected a .parquet file or a directory of them", file=path)
        return [path]
    if not path.is_dir():
        raise MmdataError(f"{adapter}: source path does not exist", file=path)
    found = [
        p for p in path.rglob("*.parquet")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]  # fmt: skip
    if not found:
        raise MmdataError(f"{adapter}: no *.parquet files in this directory", file=path)
    return sorted(found, key=lambda p: p.relative_to(path).as_posix())


def _open_arrow(f: Path):
    """An IPC reader over a memory-mapped arrow file (``save_to_disk`` writes streams; files work too)."""
    source = pa.memory_map(str(f))
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        return pa.ipc.open_file(source)


def read_schema(f: Path) -> pa.Schema:
    try:
        if f.suffix == ".parquet":
            return pq.read_schema(f)
        return _open_arrow(f).schema
    except (pa.ArrowException, OSError) as e:
        raise MmdataError(f"cannot read the {f.suffix.lstrip('.')} file ({str(e)[:160]})", file=f) from None


def iter_batches(f: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` of ``f`` (parquet or arrow), at most :data:`BATCH_ROWS` rows each."""
    try:
        if f.suffix == ".parquet":
            # pre_buffer=False: pyarrow's default pre-buffering would hold the file's column chunks in memory
            it = pq.ParquetFile(f, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False)
        else:
            reader = _open_arrow(f)
            whole = reader if isinstance(reader, pa.ipc.RecordBatchStreamReader) else _file_batches(reader)
            it = (b.select(columns).slice(k, BATCH_ROWS) for b in whole for k in range(0, b.num_rows, BATCH_ROWS))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            yield batch
    except (pa.ArrowException, OSError) as e:
        raise MmdataError(f"cannot read the {f.suffix.lstrip('.')} file ({str(e)[:160]})", file=f) from None


def _file_batches(reader) -> Iterator[pa.RecordBatch]:
    for i in range(reader.num_record_batches):
        yield reader.get_batch(i)


def split_name(s: str) -> str:
    """A split as the Records name it (``validation``/``dev`` → ``val``)."""
    return _SPLITS.get(s, s)


def split_of(f: Path) -> str:
    """``train-00000-of-00002.parquet`` → train; a parent folder named for a split; else train."""
    m = _SHARD.match(f.stem)
    if m:
        s = m["split"]
    elif f.parent.name in ("train", "test", "val", "validation", "dev"):
        s = f.parent.name
    else:
        s = "train"
    return split_name(s)


# ---- arrow types ------------------------------------------------------------------------------------


def binary_type(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_null(t)


def text_type(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def list_of(pred: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    def check(t: pa.DataType) -> bool:
        return pa.types.is_null(t) or ((pa.types.is_list(t) or pa.types.is_large_list(t)) and pred(t.value_type))

    return check


def struct_with(required: dict, optional: dict | None = None) -> Callable[[pa.DataType], bool]:
    def check(t: pa.DataType) -> bool:
        if pa.types.is_null(t):
            return True
        if not pa.types.is_struct(t):
            return False
        names = {t.field(i).name: t.field(i).type for i in range(t.num_fields)}
        if any(k not in names or not pred(names[k]) for k, pred in required.items()):
            return False
        return all(pred(names[k]) for k, pred in (optional or {}).items() if k in names)

    return check


IMAGE = struct_with({"bytes": binary_type}, {"path": text_type})
IMAGE_DESC = "struct<bytes: binary, path: string> (a datasets Image)"


def check_column(schema: pa.Schema, name: str, pred, desc: str, *, file: Path, adapter: str, required: bool = True) -> bool:
    """Whether ``schema`` has column ``name`` of the wanted type; a one-line error when it has the wrong one."""
    if name not in schema.names:
        if required:
            raise MmdataError(f"{adapter}: column {name!r} is missing (columns: {schema.names[:12]})", file=file, field=name)
        return False
    t = schema.field(name).type
    if not pred(t):
        raise MmdataError(f"{adapter}: column has type {t}, expected {desc}", file=file, field=name)
    return True


# ---- values -----------------------------------------------------------------------------------------


def embedded_request(value: dict | None, *, field: str) -> dict | None:
    """An image request for one ``{bytes, path}`` struct: its place in the store, or a quarantine
    reason when the struct names a file but embeds no bytes; None when it holds nothing at all."""
    if value is None:
        return None
    data, name = value.get("bytes"), value.get("path")
    if data is None:
        if name is None:
            return None
        return absent_image(f"{field}: {name}", f"image {name!r} is not embedded (bytes are null); only embedded images are read")
    digest, rel = blob_name(data)
    return {**image_request(rel), "sha256": digest}


def image_blobs(column: pa.Array) -> Iterator[bytes]:
    """The embedded bytes of an Image column (a struct, or a list of structs), nulls skipped."""
    if pa.types.is_null(column.type):
        return
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        column = column.flatten()
        if pa.types.is_null(column.type):
            return
    data = column.field("bytes")
    for i in range(len(data)):
        if data[i].is_valid:
            yield data[i].as_py()


def need_text(item: dict, key: str, *, file: Path, record: str, optional: bool = False) -> str | None:
    v = item.get(key)
    if v is None:
        if optional:
            return None
        raise MmdataError("missing required value", file=file, record=record, field=key)
    if not isinstance(v, str):
        raise MmdataError(f"expected string, got {_tname(v)}", file=file, record=record, field=key)
    return v


# ---- layouts and the table adapter --------------------------------------------------------------------


class TableLayout:
    """One family of hub columns. Subclasses implement :meth:`matches`, :meth:`check` and :meth:`record`."""

    title = ""
    shape = ""  # the columns, for error messages and `sources list`

    def matches(self, schema: pa.Schema) -> bool:
        raise NotImplementedError

    def check(self, schema: pa.Schema, file: Path, adapter: str) -> list[str]:
        """Validate the column types; return the columns to read."""
        raise NotImplementedError

    def image_columns(self, schema: pa.Schema) -> list[str]:
        raise NotImplementedError

    def record(self, adapter: Adapter, item: dict, *, file: Path, where: str, subset: str | None, row: int, split: str,
               state: dict) -> dict:  # fmt: skip
        """One Record dict; ``where`` labels the file inside record ids, ``subset`` goes to ``extra``."""
        raise NotImplementedError


def image_fields(requests: list[dict]) -> dict:
    """``image`` / ``images`` / ``image_id`` / ``task`` values for a row with these image requests."""
    if not requests:
        return {"image": None, "images": None, "image_id": None, "task": "t_inst"}
    first = requests[0]
    return {"image": first, "images": requests if len(requests) > 1 else None, "image_id": first.get("sha256"), "task": "v_inst"}


class TableAdapter(Adapter):
    """An adapter over hub table files whose layout is one of :attr:`layouts` (checked per file)."""

    layouts: tuple[TableLayout, ...] = ()

    def files(self, path: Path) -> list[Path]:
        return parquet_files(self.name, path)

    def split_of(self, f: Path) -> str:
        return split_of(f)

    def where(self, path: Path, f: Path) -> str:
        """A file's label inside record ids: ``<subset folder>/<shard stem>``."""
        return f"{f.parent.name}/{f.stem}"

    def subset_of(self, path: Path, f: Path) -> str | None:
        return f.parent.name

    def layout_of(self, f: Path) -> tuple[TableLayout, pa.Schema, list[str]]:
        schema = read_schema(f)
        if len(self.layouts) == 1:  # a single-layout adapter names the exact column that is wrong
            return self.layouts[0], schema, self.layouts[0].check(schema, f, self.name)
        for lay in self.layouts:
            if lay.matches(schema):
                return lay, schema, lay.check(schema, f, self.name)
        wanted = " nor ".join(f"{lay.title} ({lay.shape})" for lay in self.layouts)
        raise MmdataError(f"{self.name}: columns {schema.names[:12]} match neither {wanted}", file=f)

    def default_image_root(self, path: Path) -> Path:
        files = self.files(path)

        def blobs() -> Iterator[bytes]:
            for f in files:
                lay, schema, _ = self.layout_of(f)
                cols = lay.image_columns(schema)
                if not cols:
                    continue
                for batch in iter_batches(f, cols):
                    for col in batch.columns:
                        yield from image_blobs(col)

        return extracted_root(files, blobs)

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        state: dict = {}
        for f in self.files(path):
            lay, _, cols = self.layout_of(f)
            split, where, subset = self.split_of(f), self.where(path, f), self.subset_of(path, f)
            row = 0
            for batch in iter_batches(f, cols):
                for item in batch.to_pylist():
                    yield lay.record(self, item, file=f, where=where, subset=subset, row=row, split=split, state=state)
                    row += 1
