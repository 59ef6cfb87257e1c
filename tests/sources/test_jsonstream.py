"""The bounded-memory JSON reader (:mod:`mmdata.sources.jsonstream`) against a whole-document parse.

Hypothesis writes documents of the shapes the adapters read (a top-level list; an object whose members
are lists or other values; an object keyed by id) holding strings full of the characters the scanner
must see through (quotes, backslashes, brackets, commas, colons, non-ASCII), and reads them back in
chunks as small as one byte. Corrupted documents must fail exactly when orjson fails.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream

TEXT = st.text(alphabet=st.sampled_from(list('ab \\"{}[],:\n\t\x00é中')), max_size=8)
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), TEXT)
VALUE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=10)
DOCS = st.one_of(
    st.lists(VALUE, max_size=6),
    st.dictionaries(TEXT, st.one_of(st.lists(VALUE, max_size=6), VALUE), max_size=5),
    st.dictionaries(st.integers(0, 10**6).map(str), VALUE, max_size=8),
)


def rebuild(path, chunk):
    out = None
    for kind, key, payload in jsonstream.events(path, chunk=chunk):
        if kind == "value":
            return payload
        if kind == "array" and key is None:
            out = (out or []) + payload
        else:
            out = {} if out is None else out
            if kind == "array":
                out.setdefault(key, []).extend(payload)
            else:
                out.update(payload)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS, indent=st.booleans(), chunk=st.sampled_from([1, 2, 3, 5, 17, 64, 1 << 20]))
def test_streamed_equals_whole(tmp_path, doc, indent, chunk):
    p = tmp_path / "doc.json"
    p.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0))
    got = rebuild(p, chunk)
    if got is None:  # an empty container produces no batches
        got = [] if isinstance(doc, list) else {}
    assert got == doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS, cuts=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["drop", "insert", "truncate"]),
                                         st.sampled_from(list(b'{}[],:" \\x1'))), min_size=1, max_size=2),  # fmt: skip
       chunk=st.sampled_from([1, 3, 64]))
@example(doc={"::": [], "": [None, []]}, cuts=[(5242, "insert", 44)], chunk=1)  # a comma after the last member's array
def test_corrupt_documents_fail_like_orjson(tmp_path, doc, cuts, chunk):
    b = bytearray(orjson.dumps(doc))
    for at, op, byte in cuts:
        i = at % (len(b) + 1)
        if op == "drop" and b:
            del b[i % len(b)]
        elif op == "insert":
            b.insert(i, byte)
        else:
            b = b[:i]
    p = tmp_path / "doc.json"
    p.write_bytes(bytes(b))
    try:
        orjson.loads(bytes(b))
        whole_ok = True
    except orjson.JSONDecodeError:
        whole_ok = False
    try:
        for _ in jsonstream.events(p, chunk=chunk):
            pass
        stream_ok, msg = True, ""
    except MmdataError as e:
        stream_ok, msg = False, str(e)
        assert "\n" not in msg and msg.count("invalid JSON") == 1
    if whole_ok and not stream_ok:
        assert "repeated member" in msg  # a key given twice in one batch of a top-level object
    else:
        assert stream_ok == whole_ok


@pytest.mark.parametrize("chunk", [1, 3, 64])
@pytest.mark.parametrize("text", [b'{"a": [1],}', b'{"a": [1], }', b'{"a": 1, "b": [2, 3],\n}', b'{"a": [], "b": [[]],}'])
def test_a_trailing_comma_after_a_members_array_fails(tmp_path, text, chunk):
    p = tmp_path / "doc.json"
    p.write_bytes(text)
    with pytest.raises(MmdataError, match="trailing comma in an object"):
        list(jsonstream.events(p, chunk=chunk))


def test_consumers_report_the_shape_errors_a_whole_parse_did(tmp_path):
    p = tmp_path / "q.json"
    p.write_bytes(b'{"info": {}, "questions": [{"a": 1}, "x"]}')
    with pytest.raises(MmdataError, match="item 1 should be object, got string"):
        list(jsonstream.items(p, "questions", what="questions", of=dict))
    with pytest.raises(MmdataError, match="missing required key"):
        list(jsonstream.items(p, "annotations", what="annotations", of=dict))
    with pytest.raises(MmdataError, match="expected list, got object"):
        list(jsonstream.items(p, "info", what="info"))
    with pytest.raises(MmdataError, match="expected a JSON list of conversations at the top level, got object"):
        list(jsonstream.items(p, None, what="conversations"))
    with pytest.raises(MmdataError, match="expected a JSON object of books keyed by id at the top level, got list"):
        p.write_bytes(b"[1, 2]")
        list(jsonstream.object_members(p, what="books keyed by id"))
    p.write_bytes(b'{"a": [], "b": 2}')
    assert list(jsonstream.items(p, "a", what="a")) == []


def test_memory_holds_one_chunk_not_the_file(tmp_path):
    """A 40 MB document read in 1 MB chunks never hands over more than a chunk's worth of elements."""
    p = tmp_path / "big.json"
    row = orjson.dumps({"question_id": 1, "question": "x" * 200})
    with open(p, "wb") as f:
        f.write(b'{"questions": [')
        f.write(b",".join([row] * 200_000))
        f.write(b"]}")
    sizes = [len(b) for k, _, b in jsonstream.events(p, chunk=1 << 20) if k == "array"]
    assert sum(sizes) == 200_000 and max(sizes) <= (1 << 20) // len(row) + 1
