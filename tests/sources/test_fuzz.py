"""Property test: corrupted native input either reads or raises ``MmdataError`` — nothing else.

Each example starts from an adapter's valid hand-written sample and applies a few random edits:
replace any JSON node with a random JSON value (or a nasty one: huge ints, bools, ``../`` paths,
absolute paths, over-long names), delete a key or list item, duplicate a list item, replace a whole
file with random bytes, or break an image file. ``MMDATA_FUZZ_EXAMPLES`` raises the example count for
a longer local run.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmdata.errors import MmdataError
from mmdata.schema import RECORD_SCHEMA
from mmdata.sources import ReadReport, names, read_table
from tests.sources.samples import SAMPLES, Blank, write_sample

EXAMPLES = int(os.environ.get("MMDATA_FUZZ_EXAMPLES", "40"))

NASTY = [
    None, True, False, 0, -1, 1, 2, 3, 2**31, 2**63, 2**64 + 1, -(2**70), 0.5, -0.0, 1e308, 1e-320,
    "", " ", ".", "..", "../../etc/passwd", "/etc/passwd", "\\\\server\\share", "C:\\x.jpg", "a/../../b.jpg",
    "x" * 300, "<image>", "test", "train", "dev", "human", "gpt", [], {}, [0, 0, 0, 0], [0, 0, 1e308, 1],
    [-5, -5, 1, 1], [1, 1, 1, 1], ["a"], [None], {"detailed": 1}, {"": None},
]  # fmt: skip

# JSON cannot carry lone surrogates (orjson rightly rejects them); keep text valid so examples reach
# the adapters instead of all failing at the JSON parser
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=8
)
VALUE = st.one_of(JSON, st.sampled_from(NASTY))


def node_paths(obj: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += node_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += node_paths(v, (*path, i))
    return out


def parent_of(root: Any, path: tuple) -> Any:
    node = root
    for k in path[:-1]:
        node = node[k]
    return node


def mutate(data, files: dict[str, Any], images: dict[str, bytes | None]) -> None:
    op = data.draw(st.sampled_from(["set"] * 6 + ["delete"] * 3 + ["duplicate", "rename", "bytes", "image"]))
    if op == "image":
        if images:
            rel = data.draw(st.sampled_from(sorted(images)))
            images[rel] = data.draw(st.one_of(st.none(), st.binary(max_size=40)))
        return
    fname = data.draw(st.sampled_from(sorted(files)))
    doc = files[fname]
    if op == "bytes" or isinstance(doc, bytes):
        files[fname] = data.draw(st.binary(max_size=64))
        return
    paths = node_paths(doc)
    path = data.draw(st.sampled_from(paths))
    if op == "set":
        value = copy.deepcopy(data.draw(VALUE))  # NASTY holds shared lists/dicts: never alias them
        if path == ():
            files[fname] = value
        else:
            parent_of(doc, path)[path[-1]] = value
        return
    if path == ():
        return
    parent = parent_of(doc, path)
    if op == "delete":
        del parent[path[-1]]
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
    elif op == "rename" and isinstance(parent, dict):
        new = data.draw(st.one_of(TEXT, st.sampled_from([k for k in NASTY if isinstance(k, str)])))
        parent[new] = parent.pop(path[-1])


def write_images(root: Path, images: dict[str, bytes | None]) -> None:
    for rel, content in images.items():
        p = root / "images" / rel
        if content is None:
            p.unlink(missing_ok=True)
        else:
            p.write_bytes(content)


@pytest.mark.parametrize("name", names())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_corrupted_input_reads_or_raises_mmdataerror(name, data):
    sample = SAMPLES[name]()
    files = copy.deepcopy(sample.files)
    images: dict[str, bytes | None] = {}
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        mutate(data, files, images)
    validate = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        root.mkdir()
        sample.files = files
        write_sample(root, sample)
        write_images(root, images)
        rep = ReadReport()
        try:
            table = read_table(name, root, validate=validate, report=rep)
        except MmdataError as e:
            msg = str(e)
            assert msg and "\n" not in msg
            return
        assert table.schema.equals(RECORD_SCHEMA)
        assert set(table.column("dataset").to_pylist()) <= {name}
        assert table.num_rows == rep.records
        for q in rep.quarantined:
            assert q["dataset"] == name and q["reason"]


def test_mutations_really_change_the_input():
    """Guard against a fuzzer that silently fuzzes nothing: sample trees have many nodes to hit."""
    for name in names():
        files = SAMPLES[name]().files
        n = sum(len(node_paths(v)) for v in files.values() if not isinstance(v, bytes | Blank))
        assert n >= 10, name
