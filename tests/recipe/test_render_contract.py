"""The renderer contract: the vectorised fast path gives the sandbox's bytes or the sandbox's error.

Hypothesis writes templates (literal text, documented and undocumented variables, conditionals,
filters and loops that only the sandbox runs) and records (with unusual whitespace and braces), and
renders the same items both ways. Rendering is also bounded in size and time.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmdata.errors import MmdataError
from mmdata.recipe.config import TemplatePolicy
from mmdata.recipe.render import render_items
from mmdata.recipe.templates import VARIABLES, _cached_bank
from mmdata.schema import RECORD_SCHEMA, empty_record, records_to_batch

UNDOCUMENTED = ("record_id", "nope", "image", "j", "dataset", "language")
# text that is not Jinja syntax, with the whitespace Python strips but Rust's trim does not (\x1c…\x1f)
TEXT = st.text(alphabet=st.sampled_from(list("abc XYZ,.?\n\t\x1c\x1f\u2003é中") + ["{", "}"]), max_size=12).map(
    lambda s: s.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %").replace("{#", "{ #")
)
VAR = st.sampled_from(VARIABLES + UNDOCUMENTED)


@st.composite
def bodies(draw, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "var", "var", "if", "filter", "loop"] if depth < 2 else ["text", "var"]))
        if kind == "text":
            parts.append(draw(TEXT))
        elif kind == "var":
            parts.append("{{ " + draw(VAR) + " }}")
        elif kind == "if":
            then, other = draw(bodies(depth + 1)), draw(bodies(depth + 1))
            parts.append("{% if " + draw(VAR) + " %}" + then + "{% else %}" + other + "{% endif %}")
        elif kind == "filter":
            parts.append("{{ " + draw(VAR) + "|" + draw(st.sampled_from(["upper", "trim", "length", "string"])) + " }}")
        else:
            parts.append("{% for c in " + draw(st.sampled_from(["choices", "distractors", "nope"])) + " %}{{ c }};{% endfor %}")
    return "".join(parts)


def _records(draw_text, n: int) -> pa.Table:
    rows = []
    for i in range(n):
        task = ("vqa_open", "vqa_mc", "caption")[i % 3]
        r = empty_record(dataset="d", task=task, split="train", record_id=f"r{i}", language="en")
        if task == "vqa_open":
            r.update(question=draw_text() or "q", answer=draw_text() or "a", context=draw_text())
        elif task == "vqa_mc":
            r.update(question=draw_text() or "q", choices=[draw_text() or "x", "y z", " w "], answer_idx=1, answer="y z")
        else:
            r.update(caption=draw_text() or "c")
        rows.append(r)
    return pa.Table.from_batches([records_to_batch(rows)], schema=RECORD_SCHEMA)


def _template_dir(tmp, user: str, assistant: str):
    for task in ("vqa_open", "vqa_mc", "caption"):
        d = tmp / "coarse"
        d.mkdir(parents=True, exist_ok=True)
        doc = {"task": task, "language": "en", "templates": [
            {"id": f"coarse/{task}", "inverted": False, "user": user, "assistant": assistant},
            {"id": f"coarse/{task}/inv", "inverted": True, "user": "x", "assistant": "y"}]}  # fmt: skip
        (d / f"{task}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return tmp


def _render(records: pa.Table, tdir, compiled: bool):
    items = pa.table({"j": pa.array(range(records.num_rows), pa.int64()), "dataset": ["d"] * records.num_rows,
                      "task": records.column("task"), "positions": [[i] for i in range(records.num_rows)],
                      "record_ids": [[f"r{i}"] for i in range(records.num_rows)], "dedup_dropped": pa.array([0] * records.num_rows, pa.int32())})  # fmt: skip
    policy = TemplatePolicy(granularity="coarse", diversity="single")
    try:
        return ("ok", render_items(items, records, policy, str(tdir), seed=3, compiled=compiled).to_pylist())
    except MmdataError as e:
        return ("error", str(e))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=bodies(), assistant=bodies(), texts=st.lists(TEXT, min_size=12, max_size=12))
def test_fast_path_equals_sandbox(tmp_path_factory, user, assistant, texts):
    tdir = _template_dir(tmp_path_factory.mktemp("tpl"), user, assistant)
    it = iter(texts)
    records = _records(lambda: next(it, ""), 4)
    _cached_bank.cache_clear()
    fast = _render(records, tdir, compiled=True)
    slow = _render(records, tdir, compiled=False)
    assert fast == slow


@pytest.mark.parametrize("name", ["record_id", "nope", "image", "dataset"])
def test_internal_columns_are_never_template_variables(tmp_path, name):
    """``{{ record_id }}`` used to put record ids into training text through the fast path."""
    tdir = _template_dir(tmp_path, "Q: {{ question }} " + "{{ " + name + " }}", "{{ answer }}")
    _cached_bank.cache_clear()
    kind, msg = _render(_records(lambda: "t", 3), tdir, compiled=True)
    assert kind == "error" and f"'{name}' is undefined" in msg and "\n" not in msg and "coarse/vqa_open" in msg


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{{ 'a' * 10**9 }}", "more than 100,000 characters"),
        ("{{ question|center(10**9) }}", "numeric argument"),
        ("{{ 'x'.ljust(10**9) }}", "numeric argument"),
        ("{% for i in range(99999) %}{% for k in range(99999) %}{% endfor %}{% endfor %}", "longer than"),
        ("{% for i in range(99999) %}{{ 'abcdefghij' }}{% endfor %}", "longer than 100,000 characters"),
    ],
)
def test_rendering_is_bounded(tmp_path, body, why):
    tdir = _template_dir(tmp_path, body, "{{ answer }}")
    _cached_bank.cache_clear()
    kind, msg = _render(_records(lambda: "t", 1), tdir, compiled=True)
    assert kind == "error" and why in msg and "\n" not in msg


@pytest.mark.parametrize("compiled", [True, False])
def test_a_missing_required_field_names_the_record(tmp_path, compiled):
    tdir = _template_dir(tmp_path, "Q: {{ question }}", "{{ answer }}")
    _cached_bank.cache_clear()
    records = _records(lambda: "t", 6)
    answers = records.column("answer").to_pylist()
    answers[3] = None  # r3: a vqa_open record without its answer
    records = records.set_column(records.schema.get_field_index("answer"), "answer", pa.array(answers, pa.string()))
    kind, msg = _render(records, tdir, compiled=compiled)
    assert kind == "error" and "a vqa_open record needs 'answer'" in msg and "r3" in msg and "d" in msg and "\n" not in msg
