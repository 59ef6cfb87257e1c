"""Compile substitution-only Jinja templates to vectorised string concatenation.

Most instruction templates are text with ``{{ variable }}`` holes and ``{% if variable %}`` blocks.
For those, rendering a million turns one by one through Jinja is wasted work: the same output is a
polars ``concat_str`` over columns. :func:`compile_template` walks a template's Jinja AST and returns
segments when every node is one of

* literal text,
* ``{{ name }}`` where ``name`` is one of the documented string variables
  (:data:`~mmdata.recipe.templates.STRING_VARIABLES`),
* ``{% if name %} … {% else %} … {% endif %}`` on such a variable (true when non-empty);

otherwise it returns None and the caller renders with the sandbox itself — so a template naming
anything else (``{{ record_id }}``, ``{{ nope }}``) fails exactly as the sandbox makes it fail, with
the same one-line error, and never reads the builder's internal columns. Constant variables (the
per-pool ``hint``) are folded in at compile time. Output is stripped of exactly the characters
Python's ``str.strip()`` removes. A hypothesis test renders generated templates and records both
ways and compares bytes and errors (tests/recipe/test_render_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl
from jinja2 import nodes

from mmdata.recipe.templates import _PY_SPACE, STRING_VARIABLES, Template, _env


@dataclass(frozen=True)
class Cond:
    var: str
    then: tuple
    other: tuple


def _walk(body: list[nodes.Node], consts: dict[str, str]) -> tuple | None:
    out: list = []
    for node in body:
        if isinstance(node, nodes.Output):
            for n in node.nodes:
                if isinstance(n, nodes.TemplateData):
                    out.append(n.data)
                elif isinstance(n, nodes.Name) and n.ctx == "load" and n.name in STRING_VARIABLES:
                    out.append(consts.get(n.name, ("var", n.name)))
                else:
                    return None
        elif isinstance(node, nodes.If):
            if node.elif_ or not (isinstance(node.test, nodes.Name) and node.test.ctx == "load" and node.test.name in STRING_VARIABLES):
                return None
            then, other = _walk(node.body, consts), _walk(node.else_, consts)
            if then is None or other is None:
                return None
            name = node.test.name
            if name in consts:
                out.extend(then if consts[name] else other)
            else:
                out.append(Cond(name, then, other))
        else:
            return None
    return tuple(out)


def compile_source(source: str, consts: dict[str, str]) -> tuple | None:
    return _walk(_env().parse(source).body, consts)


@lru_cache(maxsize=4096)
def _compile_with_hint(source: str, hint: str) -> tuple | None:
    # a pure function of the source text and the hint (segments are immutable tuples), so it is
    # cached per process: a build compiles each (template, hint) once, not once per render part
    return compile_source(source, {"hint": hint})


def compile_template(t: Template, hint: str) -> tuple[tuple, tuple] | None:
    user = _compile_with_hint(t.user_src, hint)
    assistant = _compile_with_hint(t.assistant_src, hint)
    if user is None or assistant is None:
        return None
    return user, assistant


def variables(segments: tuple) -> set[str]:
    out = set()
    for s in segments:
        if isinstance(s, tuple) and len(s) == 2 and s[0] == "var":
            out.add(s[1])
        elif isinstance(s, Cond):
            out.add(s.var)
            out |= variables(s.then) | variables(s.other)
    return out


def to_expr(segments: tuple) -> pl.Expr:
    """A polars expression producing the rendered text from variable columns (stripped, as Jinja output is)."""
    return _concat(segments).str.strip_chars(_PY_SPACE)


def _concat(segments: tuple) -> pl.Expr:
    parts: list[pl.Expr] = []
    for s in segments:
        if isinstance(s, str):
            parts.append(pl.lit(s))
        elif isinstance(s, Cond):
            parts.append(pl.when(pl.col(s.var).str.len_chars() > 0).then(_concat(s.then)).otherwise(_concat(s.other)))
        else:
            parts.append(pl.col(s[1]))
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts)
