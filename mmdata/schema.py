"""Arrow schemas: the contract between stages (DESIGN §2).

Record — one normalised source example (one QA pair, one caption, one referring expression, one
conversation). Produced by the adapters in :mod:`mmdata.sources`, consumed by :mod:`mmdata.recipe`.

==============  ==========================================  ============================================
column          type                                        meaning
==============  ==========================================  ============================================
dataset         string, not null                            source name, exactly as in the registry
task            string, not null                            one of :data:`TASKS`
split           string, not null                            train / val / test (source's own split)
record_id       string, not null                            stable id derived from the source (e.g. the
                                                            VQAv2 question_id, RefCOCO ``ref_id:sent_id``)
image_id        string, null for text-only                  the source's image id
image           struct, null for text-only                  reference, never decoded by adapters:
  .path         string                                      relative to the adapter's declared image root
  .sha256       string                                      hex digest of the image file bytes
  .width        int32                                       pixels (read from the header / annotation)
  .height       int32
images          list<struct> (as ``image``), null unless    every image of a multi-image record, in order
                the record has more than one image          (The Cauldron's multi-image rows); when set it
                                                            holds at least two references and ``image``
                                                            equals its first element
language        string, not null                            BCP-47 (en, zh, pt, ar, tr, ru, …)
question        string                                      question / instruction text
answer          string                                      canonical short answer (VQA: the consensus
                                                            answer; MC: the correct choice's text)
answers         list<struct<text, weight: float64>>         all annotator answers with weights (VQAv2's
                                                            10 answers, A-OKVQA direct answers)
choices         list<string>                                multiple-choice options, in source order
answer_idx      int32                                       index of the correct choice in ``choices``
bbox            fixed_size_list<float64, 4>                 normalised ``[x1, y1, x2, y2]`` in [0, 1]
phrase          string                                      referring expression / region description
caption         string                                      image caption (or VSR's declarative claim)
context         string                                      hint / context paragraph (ScienceQA hint)
turns           list<struct<role, content>>                 conversations; roles user|assistant|system;
                                                            the image position is the literal ``<image>``
extra           string (JSON object)                        format-specific leftovers kept for provenance
                                                            (GQA fullAnswer, ScienceQA lecture/solution,
                                                            A-OKVQA rationales, VSR relation/label …)
==============  ==========================================  ============================================

Conversation — one training item in a mixture (written by the recipe builder, read by the trainer).

==================  =====================================  =========================================
column              type                                   meaning
==================  =====================================  =========================================
id                  string, not null                       ``dataset:first source record:position``
images              list<struct<path, sha256, width,       image references; the path is relative
                    height>>                               to ``manifest.json["image_roots"][dataset]``
turns               list<struct<role, content>>            the rendered dialogue; user turns that show
                                                           the image contain the literal ``<image>``
                                                           once (first user turn), so a model splices
                                                           visual tokens there
dataset             string                                 provenance: source dataset
task                string                                 provenance: task
template_id         string                                 template used (``native`` for conversations)
inverted            bool                                   whether the template inverts input/target
source_record_ids   list<string>                           the Records merged into this item
dedup_dropped       int32                                  turns removed by dedup from this item's group
language            string                                 BCP-47
==================  =====================================  =========================================
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from mmdata.errors import MmdataError

TASKS: tuple[str, ...] = (
    "vqa_open",  # open-ended short-answer VQA (VQAv2, GQA, VSR, OCR-VQA)
    "vqa_mc",  # multiple-choice VQA (ScienceQA, A-OKVQA)
    "rec",  # referring expressions with boxes (RefCOCO family, VG regions); REG is its inversion
    "reg",  # region → expression, when a source provides it as its primary direction
    "caption",  # image captioning
    "ocr_vqa",  # text-reading VQA, when kept apart from vqa_open
    "v_inst",  # visual instruction conversations (LLaVA-Instruct)
    "t_inst",  # text-only instruction conversations (ShareGPT)
    "decompress",  # UniCode in-context image decompression (code sequences)
)
ROLES: tuple[str, ...] = ("user", "assistant", "system")
# the fields a record of each templated task must carry, non-empty (conversation tasks need turns
# with an assistant answer instead); adapters' rows that lack them are set aside with a reason
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "vqa_open": ("question", "answer"),
    "ocr_vqa": ("question", "answer"),
    "vqa_mc": ("question", "choices", "answer_idx"),
    "rec": ("phrase", "bbox"),
    "reg": ("phrase", "bbox"),
    "caption": ("caption",),
}
CONVERSATION_TASKS: tuple[str, ...] = ("v_inst", "t_inst", "decompress")
LANGUAGES: tuple[str, ...] = ("en", "zh", "pt", "ar", "tr", "ru")

IMAGE_REF = pa.struct(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
    ]
)
TURN = pa.struct([pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string(), nullable=False)])
WEIGHTED_ANSWER = pa.struct([pa.field("text", pa.string(), nullable=False), pa.field("weight", pa.float64())])

RECORD_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("image_id", pa.string()),
        pa.field("image", IMAGE_REF),
        pa.field("images", pa.list_(IMAGE_REF)),
        pa.field("language", pa.string(), nullable=False),
        pa.field("question", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("answers", pa.list_(WEIGHTED_ANSWER)),
        pa.field("choices", pa.list_(pa.string())),
        pa.field("answer_idx", pa.int32()),
        pa.field("bbox", pa.list_(pa.float64(), 4)),
        pa.field("phrase", pa.string()),
        pa.field("caption", pa.string()),
        pa.field("context", pa.string()),
        pa.field("turns", pa.list_(TURN)),
        pa.field("extra", pa.string()),
    ]
)

CONVERSATION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("images", pa.list_(IMAGE_REF), nullable=False),
        pa.field("turns", pa.list_(TURN), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("template_id", pa.string(), nullable=False),
        pa.field("inverted", pa.bool_(), nullable=False),
        pa.field("source_record_ids", pa.list_(pa.string()), nullable=False),
        pa.field("dedup_dropped", pa.int32(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
    ]
)

RECORD_COLUMNS = tuple(RECORD_SCHEMA.names)
_OPTIONAL_DEFAULTS = {f.name: None for f in RECORD_SCHEMA if f.nullable}


_COLUMN_SET = frozenset(RECORD_COLUMNS)


def empty_record(**values) -> dict:
    """A Record as a Python dict with every optional column set to None, overridden by ``values``."""
    if not _COLUMN_SET.issuperset(values):
        raise KeyError(f"not Record columns: {sorted(set(values) - _COLUMN_SET)}")
    rec = dict(_OPTIONAL_DEFAULTS)
    rec.update(values)
    return rec


def records_to_batch(rows: list[dict]) -> pa.RecordBatch:
    """Build a Record batch from dicts (missing optional keys become null)."""
    cols = {name: [r.get(name) for r in rows] for name in RECORD_COLUMNS}
    return pa.RecordBatch.from_pydict(cols, schema=RECORD_SCHEMA)


def _where(table: pa.Table, row: int) -> str:
    for key in ("record_id", "id"):
        if key in table.column_names:
            v = table.column(key)[row].as_py()
            if v is not None:
                return f"{row} ({key}={v})"
    return str(row)


def _check_schema(table: pa.Table, schema: pa.Schema, kind: str, source: str | None) -> pa.Table:
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise MmdataError(f"{kind} table lacks column(s) {missing}", file=source, field=missing[0])
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise MmdataError(f"{kind} table has unknown column(s) {extra}", file=source, field=extra[0])
    table = table.select(schema.names)
    for f in schema:
        col = table.column(f.name)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise MmdataError(
                    f"column has type {col.type}, expected {f.type}", file=source, field=f.name
                ) from None
            table = table.set_column(table.schema.get_field_index(f.name), f.name, col)
        if not f.nullable and col.null_count:
            row = next(i for i, v in enumerate(col.is_null().to_pylist()) if v)
            raise MmdataError(f"null in non-nullable column ({kind} row {_where(table, row)})", file=source, field=f.name)
    return table


def _first_bad(values: Iterable, pred) -> int | None:
    for i, v in enumerate(values):
        if v is not None and pred(v):
            return i
    return None


def _first_true(mask) -> int | None:
    import numpy as np

    idx = np.flatnonzero(np.asarray(mask))
    return int(idx[0]) if idx.size else None


def validate_records(data: pa.Table | pa.RecordBatch, source: str | None = None) -> pa.Table:
    """Check a Record table: columns, types and value rules. Returns the table cast to the schema.

    Raises :class:`MmdataError` naming the offending column and row. The checks are vectorised
    (pyarrow compute + numpy), so validating costs little next to reading.
    """
    import numpy as np
    import pyarrow.compute as pc

    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    table = _check_schema(table, RECORD_SCHEMA, "Record", source)
    n = table.num_rows

    def fail(row: int, field: str, msg: str):
        raise MmdataError(f"{msg} (Record row {_where(table, row)})", file=source, field=field)

    task = table.column("task")
    i = _first_true(pc.invert(pc.is_in(task, value_set=pa.array(TASKS))).to_numpy(zero_copy_only=False))
    if i is not None:
        fail(i, "task", f"unknown task {task[i].as_py()!r}; expected one of {list(TASKS)}")

    bbox = table.column("bbox").combine_chunks()
    if bbox.null_count < n:
        valid = bbox.is_valid().to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(valid)
        b = pc.list_flatten(bbox).to_numpy(zero_copy_only=False).reshape(-1, 4)
        with np.errstate(invalid="ignore"):
            bad = (
                np.isnan(b).any(axis=1)
                | ~((b[:, 0] >= 0) & (b[:, 0] < b[:, 2]) & (b[:, 2] <= 1) & (b[:, 1] >= 0) & (b[:, 1] < b[:, 3]) & (b[:, 3] <= 1))
            )
        j = _first_true(bad)
        if j is not None:
            row = int(rows[j])
            fail(row, "bbox", f"bbox {bbox[row].as_py()} is not a normalised [x1,y1,x2,y2] inside the image")

    idx = table.column("answer_idx")
    if idx.null_count < n:
        has = idx.is_valid().to_numpy(zero_copy_only=False)
        k = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)
        length = pc.fill_null(pc.list_value_length(table.column("choices")), -1).to_numpy(zero_copy_only=False)
        j = _first_true(has & ((k < 0) | (k >= length)))
        if j is not None:
            c = table.column("choices")[j].as_py()
            fail(j, "answer_idx", f"answer_idx {int(k[j])} out of range for {0 if c is None else len(c)} choices")

    turns = table.column("turns").combine_chunks()
    if turns.null_count < n:
        roles = pc.struct_field(pc.list_flatten(turns), "role")
        badrole = pc.invert(pc.is_in(roles, value_set=pa.array(ROLES))).to_numpy(zero_copy_only=False)
        j = _first_true(badrole)
        if j is not None:
            parents = pc.list_parent_indices(turns).to_numpy(zero_copy_only=False)
            fail(int(parents[j]), "turns", f"turn role must be one of {list(ROLES)}")

    image = table.column("image").combine_chunks()
    j = _first_bad_ref(image)
    if j is not None:
        fail(j, "image", "image reference needs positive width/height and a 64-hex sha256")

    images = table.column("images").combine_chunks()
    if images.null_count < n:
        has = images.is_valid().to_numpy(zero_copy_only=False)
        length = pc.fill_null(pc.list_value_length(images), 0).to_numpy(zero_copy_only=False)
        j = _first_true(has & (length < 2))
        if j is not None:
            fail(j, "images", f"images holds {int(length[j])} reference(s); it is set only for two or more (else null)")
        flat = pc.list_flatten(images)
        parents = pc.list_parent_indices(images).to_numpy(zero_copy_only=False)
        k = _first_true(flat.is_null().to_numpy(zero_copy_only=False))
        if k is not None:
            fail(int(parents[k]), "images", "images holds a null reference")
        k = _first_bad_ref(flat)
        if k is not None:
            fail(int(parents[k]), "images", "image reference needs positive width/height and a 64-hex sha256")
        rows = np.flatnonzero(has)
        heads = pc.list_element(images.filter(pa.array(has)), 0)
        mine = image.filter(pa.array(has))
        same = pc.and_(
            pc.fill_null(pc.equal(pc.struct_field(heads, "path"), pc.struct_field(mine, "path")), False),
            pc.fill_null(pc.equal(pc.struct_field(heads, "sha256"), pc.struct_field(mine, "sha256")), False),
        ).to_numpy(zero_copy_only=False)
        j = _first_true(~same)
        if j is not None:
            fail(int(rows[j]), "images", "image must equal the first element of images")
    return table


def _first_bad_ref(refs: pa.Array) -> int | None:
    """Index of the first non-null image reference with a non-positive size or a malformed sha256."""
    import pyarrow.compute as pc

    if refs.null_count == len(refs):
        return None
    valid = refs.is_valid().to_numpy(zero_copy_only=False)
    w = pc.fill_null(pc.struct_field(refs, "width"), 1).to_numpy(zero_copy_only=False)
    h = pc.fill_null(pc.struct_field(refs, "height"), 1).to_numpy(zero_copy_only=False)
    sl = pc.fill_null(pc.utf8_length(pc.struct_field(refs, "sha256")), 64).to_numpy(zero_copy_only=False)
    return _first_true(valid & ((w <= 0) | (h <= 0) | (sl != 64)))


def validate_conversations(data: pa.Table | pa.RecordBatch, source: str | None = None) -> pa.Table:
    """Check a Conversation table (the mixture format); names offending column and row."""
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    table = _check_schema(table, CONVERSATION_SCHEMA, "Conversation", source)
    turns = table.column("turns").to_pylist()
    for row, ts in enumerate(turns):
        if not ts:
            raise MmdataError(f"conversation has no turns (row {_where(table, row)})", file=source, field="turns")
        bad = [t["role"] for t in ts if t["role"] not in ROLES]
        if bad:
            raise MmdataError(
                f"turn role {bad[0]!r} not in {list(ROLES)} (row {_where(table, row)})", file=source, field="turns"
            )
    tasks = table.column("task").to_pylist()
    i = _first_bad(tasks, lambda t: t not in TASKS)
    if i is not None:
        raise MmdataError(f"unknown task {tasks[i]!r} (row {_where(table, i)})", file=source, field="task")
    return table


def reject_reason(row: dict) -> str | None:
    """Why a record cannot train anything (blank target text, no assistant turn), or None.

    These are content problems of single records, so the reader sets such rows aside with this
    reason (they are counted and shown) instead of failing the whole source. A field that is
    *absent* (``None``) is not a problem here: published test splits carry no answers, and the
    builder refuses unanswered records of the splits it trains on with a one-line error."""
    task = row.get("task")
    for f in TASK_FIELDS.get(task, ()):
        v = row.get(f)
        if (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not v):
            return f"empty '{f}'"
    if task == "vqa_mc" and row.get("choices") and any(not isinstance(c, str) or not c.strip() for c in row["choices"]):
        return "empty choice in 'choices'"
    if task in CONVERSATION_TASKS:
        turns = row.get("turns") or []
        if not turns:
            return "no turns"
        if not any(t.get("role") == "assistant" and str(t.get("content") or "").strip() for t in turns):
            return "no assistant turn with text"
        if not any(t.get("role") == "user" and str(t.get("content") or "").strip() for t in turns):
            return "no user turn with text"
        opening = next((t.get("role") for t in turns if t.get("role") != "system"), None)
        if opening != "user":
            return "conversation opens with the assistant"
    return None
