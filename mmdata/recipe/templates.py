"""Instruction templates: loading, validation, selection and sandboxed rendering.

Templates live in YAML files (``templates/`` at the repository root, shipped inside the package as
``mmdata/recipe/templates``; see its README). Bodies are Jinja rendered by a
``SandboxedEnvironment`` with ``StrictUndefined``, so a template cannot reach Python internals and a
missing variable is an error instead of silent blank text.

Selection (Honeybee §4, Table 5c):

=================  ==========================================================================
fine + single      the dataset's own template (carries its answer-style hint)
coarse + single    the task's one shared template
fine + multi       one of the task's ≥10 templates, given the dataset's hint  (id ``…@dataset``)
coarse + multi     one of the task's ≥10 templates, with an empty hint
=================  ==========================================================================

With probability ``inverted_ratio`` (per task overridable) an item uses the inverted pool of the same
kind instead: input and target swap (VQA → question generation, REC → REG, caption → request, MC →
question or distractor writing). Conversation tasks (``v_inst``, ``t_inst``, ``decompress``) are never templated.

The rendering contract: a template sees exactly :data:`VARIABLES` (anything else is an undefined
variable, an error); the vectorised fast path (:mod:`mmdata.recipe.compiled`) gives the same bytes
or the same error as this sandbox. Rendering is bounded: a rendered part longer than
:data:`MAX_CHARS` characters, an expression building a string or list that large, or a render that
runs longer than :data:`TIME_LIMIT` seconds is an error naming the template and record.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from mmdata.config import read_yaml
from mmdata.errors import MmdataError
from mmdata.schema import CONVERSATION_TASKS, TASK_FIELDS, TASKS

NATIVE_TASKS = CONVERSATION_TASKS
# the variables a template may use (templates/README.md documents them); lists are choices/distractors
VARIABLES = ("hint", "question", "answer", "context", "phrase", "caption", "bbox", "choices", "options", "answer_letter",
             "distractors")  # fmt: skip
STRING_VARIABLES = tuple(v for v in VARIABLES if v not in ("choices", "distractors"))
MAX_CHARS = 100_000  # per rendered user or assistant part
TIME_LIMIT = 2.0  # seconds per template render
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
REQUIRED = TASK_FIELDS


class RenderLimit(jinja2.exceptions.SecurityError):
    """A render went past :data:`MAX_CHARS` or :data:`TIME_LIMIT`."""


_deadline = threading.local()


def _tick() -> None:
    end = getattr(_deadline, "t", None)
    if end is not None and time.monotonic() > end:
        raise RenderLimit(f"rendering took longer than {TIME_LIMIT:g}s")


def _too_big(value) -> bool:
    return isinstance(value, str | list | tuple) and len(value) > MAX_CHARS


def _check_args(args, kwargs) -> None:
    _tick()
    for a in (*args, *kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_CHARS:
            raise RenderLimit(f"a numeric argument above {MAX_CHARS:,} is refused")


def _bounded(f):
    """A Jinja filter with its arguments and result bounded like calls (filters bypass ``call``)."""
    import functools

    @functools.wraps(f)
    def run(*args, **kwargs):
        _check_args(args[1:], kwargs)
        out = f(*args, **kwargs)
        if _too_big(out):
            raise RenderLimit(f"a filter builds more than {MAX_CHARS:,} characters or items")
        return out

    return run


class _Env(SandboxedEnvironment):
    """The sandbox, with sizes and time bounded: ``*``, ``**`` and ``+`` are checked before they run
    (Jinja's sandbox does not fold intercepted operators at compile time), and every call and
    operator checks the render's deadline."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.filters = {name: _bounded(f) for name, f in self.filters.items()}

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_CHARS:
                    raise RenderLimit(f"an expression builds more than {MAX_CHARS:,} characters or items")
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float) and abs(right) > 64 and abs(left) > 1:
            raise RenderLimit("an exponent above 64 is refused")
        if operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple) and len(left) + len(right) > MAX_CHARS:
            raise RenderLimit(f"an expression builds more than {MAX_CHARS:,} characters or items")
        out = super().call_binop(context, operator, left, right)
        if _too_big(out):
            raise RenderLimit(f"an expression builds more than {MAX_CHARS:,} characters or items")
        return out

    def call(self, __context, __obj, *args, **kwargs):
        _check_args(args, kwargs)
        out = super().call(__context, __obj, *args, **kwargs)
        if _too_big(out):
            raise RenderLimit(f"a call builds more than {MAX_CHARS:,} characters or items")
        return out

    def getattr(self, obj, attribute):
        _tick()
        return super().getattr(obj, attribute)


@cache
def _env() -> SandboxedEnvironment:
    return _Env(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _render_bounded(template: jinja2.Template, variables: dict) -> str:
    """``template.render(variables)`` with the output size and time bounded."""
    _deadline.t = time.monotonic() + TIME_LIMIT
    try:
        parts, n = [], 0
        for chunk in template.generate(variables):
            n += len(chunk)
            if n > MAX_CHARS:
                raise RenderLimit(f"the rendered text is longer than {MAX_CHARS:,} characters")
            _tick()
            parts.append(chunk)
        return "".join(parts)
    finally:
        _deadline.t = None


_PY_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())  # what str.strip() removes


def strip_text(s: str) -> str:
    """Python's ``str.strip()`` (the fast path strips exactly these characters too)."""
    return s.strip(_PY_SPACE)


@dataclass(frozen=True)
class Template:
    id: str
    task: str
    kind: str  # fine | coarse | multi
    dataset: str | None
    language: str
    inverted: bool
    user_src: str
    assistant_src: str
    file: str
    user: jinja2.Template = field(compare=False, repr=False)
    assistant: jinja2.Template = field(compare=False, repr=False)

    def render(self, variables: dict, *, record=None) -> tuple[str, str]:
        extra = set(variables) - set(VARIABLES)
        if extra:  # a caller bug, never a user's: templates must see exactly the documented names
            raise ValueError(f"undocumented template variables {sorted(extra)}")
        try:
            return strip_text(_render_bounded(self.user, variables)), strip_text(_render_bounded(self.assistant, variables))
        except jinja2.UndefinedError as e:
            raise MmdataError(f"template {self.id}: {e.message}", file=self.file, record=record, field="variables") from None
        except RenderLimit as e:
            raise MmdataError(f"template {self.id}: {e}", file=self.file, record=record) from None
        except jinja2.exceptions.SecurityError as e:
            raise MmdataError(f"template {self.id}: blocked by the sandbox ({e})", file=self.file, record=record) from None
        except (TypeError, ValueError, IndexError, KeyError, ArithmeticError, RecursionError) as e:
            raise MmdataError(f"template {self.id}: {type(e).__name__}: {e}", file=self.file, record=record) from None


def default_dir() -> Path:
    return Path(str(resources.files("mmdata.recipe").joinpath("templates")))


def _load_file(path: Path, kind: str) -> tuple[dict, list[Template]]:
    doc = read_yaml(path, what="template file").data
    if not isinstance(doc, dict):
        raise MmdataError("a template file must be a YAML mapping", file=path)
    for key in ("task", "templates"):
        if key not in doc:
            raise MmdataError("missing required key", file=path, field=key)
    task = doc["task"]
    if task not in TASKS:
        raise MmdataError(f"unknown task {task!r}", file=path, field="task")
    dataset = doc.get("dataset")
    if kind == "fine" and not dataset:
        raise MmdataError("fine template files must name their dataset", file=path, field="dataset")
    hints = doc.get("hints") or {}
    if not isinstance(hints, dict) or set(hints) - {"forward", "inverted"}:
        raise MmdataError("hints must be a mapping with keys forward/inverted", file=path, field="hints")
    if not isinstance(doc["templates"], list) or not doc["templates"]:
        raise MmdataError("expected a non-empty list", file=path, field="templates")
    out = []
    for i, t in enumerate(doc["templates"]):
        rid = t.get("id", f"#{i}") if isinstance(t, dict) else f"#{i}"
        if not isinstance(t, dict):
            raise MmdataError("each template must be a mapping", file=path, record=rid)
        unknown = set(t) - {"id", "inverted", "user", "assistant"}
        if unknown:
            raise MmdataError(f"unknown key(s) {sorted(unknown)}", file=path, record=rid, field=sorted(unknown)[0])
        for key, typ in (("id", str), ("inverted", bool), ("user", str), ("assistant", str)):
            if key not in t:
                raise MmdataError("missing required key", file=path, record=rid, field=key)
            if not isinstance(t[key], typ):
                raise MmdataError(f"expected {typ.__name__}", file=path, record=rid, field=key)
        compiled = {}
        for part in ("user", "assistant"):
            try:
                compiled[part] = _env().from_string(t[part])
            except jinja2.TemplateSyntaxError as e:
                raise MmdataError(f"Jinja syntax error (line {e.lineno}): {e.message}", file=path, record=rid, field=part) from None
        out.append(Template(t["id"], task, kind, dataset, doc.get("language", "en"), t["inverted"], t["user"],
                            t["assistant"], str(path), compiled["user"], compiled["assistant"]))  # fmt: skip
    return {"task": task, "dataset": dataset, "hints": hints}, out


@dataclass
class TemplateBank:
    """All templates of a directory, indexed for selection."""

    fine: dict[str, list[Template]] = field(default_factory=dict)
    hints: dict[tuple[str, str], dict] = field(default_factory=dict)  # (dataset, task) → {forward, inverted}
    coarse: dict[str, list[Template]] = field(default_factory=dict)
    multi: dict[str, list[Template]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> TemplateBank:
        d = Path(directory) if directory else default_dir()
        if not d.is_dir():
            raise MmdataError("template directory not found", file=d)
        bank, seen = cls(), {}
        for kind in ("fine", "coarse", "multi"):
            for f in sorted((d / kind).glob("*.yaml")):
                meta, temps = _load_file(f, kind)
                for t in temps:
                    if t.id in seen:
                        raise MmdataError(f"duplicate template id (also in {seen[t.id]})", file=f, record=t.id, field="id")
                    seen[t.id] = f.name
                key = meta["dataset"] if kind == "fine" else meta["task"]
                target = getattr(bank, kind)
                target.setdefault(key, []).extend(temps)
                if kind == "fine":
                    bank.hints[(key, meta["task"])] = meta["hints"]
        return bank

    @staticmethod
    def cached(directory: str | Path | None = None) -> TemplateBank:
        """Load once per process and directory (render workers call this)."""
        return _cached_bank(str(directory) if directory else "")

    def all(self) -> list[Template]:
        return [t for group in (self.fine, self.coarse, self.multi) for ts in group.values() for t in ts]

    def pool(self, granularity: str, diversity: str, dataset: str, task: str, inverted: bool) -> list[tuple[Template, str, str]]:
        """Candidates as (template, template_id, hint) for one item."""
        if diversity == "single":
            if granularity == "fine":
                cands = [t for t in self.fine.get(dataset, []) if t.task == task and t.inverted == inverted]
                hint = self.hints.get((dataset, task), {}).get("inverted" if inverted else "forward", "")
                if not cands:
                    raise MmdataError(f"no fine {'inverted ' if inverted else ''}template for dataset {dataset!r} with task {task!r}")
                return [(t, t.id, hint) for t in cands]
            cands = [t for t in self.coarse.get(task, []) if t.inverted == inverted]
            if not cands:
                raise MmdataError(f"no coarse {'inverted ' if inverted else ''}template for task {task!r}")
            return [(t, t.id, "") for t in cands]
        cands = [t for t in self.multi.get(task, []) if t.inverted == inverted]
        if not cands:
            raise MmdataError(f"no multi {'inverted ' if inverted else ''}templates for task {task!r}")
        if granularity == "fine":
            hint = self.hints.get((dataset, task), {}).get("inverted" if inverted else "forward", "")
            return [(t, f"{t.id}@{dataset}", hint) for t in cands]
        return [(t, t.id, "") for t in cands]


@cache
def _cached_bank(directory: str) -> TemplateBank:
    return TemplateBank.load(directory or None)


def bank_digest(directory: str | Path | None = None) -> tuple[str, str]:
    """The template directory (``bundled`` for the shipped one) and the SHA-256 over its template
    files' relative names and bytes: the manifest's record of which templates rendered a mixture."""
    import hashlib

    d = Path(directory) if directory else default_dir()
    h = hashlib.sha256()
    for kind in ("fine", "coarse", "multi"):
        for f in sorted((d / kind).glob("*.yaml")):
            h.update(f"{kind}/{f.name}\0".encode() + f.read_bytes() + b"\n")
    return (str(d.resolve()) if directory else "bundled"), h.hexdigest()


# -------------------------------------------------------------------------------------- variables


def fmt_bbox(b) -> str:
    """Honeybee's box convention: normalised ``[x1,y1,x2,y2]``, three decimals, no spaces.

    Each value is rounded to thousandths half-to-even (``round(v * 1000)``), the same integers the
    dedup key and the vectorised renderer use, so all three agree on every box."""
    out = []
    for v in b:
        k = round(v * 1000)
        out.append(f"{'-' if k < 0 else ''}{abs(k) // 1000}.{abs(k) % 1000:03d}")
    return "[" + ",".join(out) + "]"


def turn_variables(row: dict, task: str, hint: str, rng: random.Random, *, file=None) -> dict:
    """Template variables for one Record (one turn). MC options are shuffled per draw (Honeybee)."""
    for key in REQUIRED.get(task, ()):
        if row.get(key) is None:
            raise MmdataError(f"a {task} record needs '{key}'", file=file, record=row.get("record_id"), field=key)
    v = {
        "hint": hint or "",
        "question": row.get("question") or "",
        "answer": row.get("answer") or "",
        "context": row.get("context") or "",
        "phrase": row.get("phrase") or "",
        "caption": row.get("caption") or "",
        "bbox": fmt_bbox(row["bbox"]) if row.get("bbox") is not None else "",
        "choices": [],
        "options": "",
        "answer_letter": "",
        "distractors": [],
    }
    if row.get("choices") is not None:
        choices = list(row["choices"])
        correct = choices[row["answer_idx"]] if row.get("answer_idx") is not None else None
        order = list(range(len(choices)))
        rng.shuffle(order)
        shuffled = [choices[i] for i in order]
        v["choices"] = shuffled
        v["options"] = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(shuffled))
        if correct is not None:
            k = order.index(row["answer_idx"])
            v["answer_letter"] = LETTERS[k]
            v["answer"] = correct
            v["distractors"] = [c for i, c in enumerate(shuffled) if i != k]
    return v
