"""Configuration in one place: the strict model base, the YAML loader, ``--set`` overrides, shipped
presets and the value types every config shares.

Recipes (:mod:`mmdata.recipe.config`), model presets (:mod:`mmdata.model.config`) and ablation suites
(:mod:`mmdata.ablate.spec`) are pydantic models built on :class:`Strict` and loaded through
:func:`load`, so they fail the same way on the same mistakes::

    recipes/mix.yaml:7: field 'balance.size': Input should be greater than or equal to 1
    recipes/mix.yaml:12: duplicate key 'sources' (first defined on line 3)
    models/tiny.yaml:3: field 'train.seed': Input should be greater than or equal to 0

* :func:`read_yaml` parses YAML with duplicate keys as errors and keeps the line of every key, so a
  validation error names ``file:line`` as well as the key path.
* :func:`apply_overrides` is the one ``--set key.path=value`` implementation (values are YAML
  scalars; list items by index: ``sources.0.path=...``).
* :func:`find_preset` / :func:`preset_names` locate shipped presets (``mmdata/presets/<kind>/``) with
  :mod:`importlib.resources`, so they are found from an installed wheel as from a checkout.
* ``Seed``, ``Weight``, ``Ratio`` and :func:`bounded_items` are the value rules: seeds are
  non-negative integers that fit a 64-bit generator, weights finite and > 0, sizes bounded by an
  estimate of the memory they need.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mmdata.errors import MmdataError

# ------------------------------------------------------------------------------------ value types


class Strict(BaseModel):
    """The base of every config model: unknown keys are errors, NaN and infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def with_(self, **changes):
        """A validated copy with ``changes`` applied (``recipe.with_(root=world, seed=1)``)."""
        return type(self).model_validate({**self.model_dump(), **changes})


SEED_MAX = 2**63 - 1
# a seed feeds numpy's SeedSequence, torch.manual_seed and our counter-based hashes: all need a
# non-negative integer that fits 64 bits
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, strict=True)]
Weight = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]

ITEM_BYTES = 320  # bytes of index and sampling state per mixture item during a build (measured ≈ 250)


def memory_bytes() -> int:
    """Physical memory of this machine (a conservative 8 GiB when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def _items_fit(n: int | None) -> int | None:
    if n is None:
        return n
    need, have = n * ITEM_BYTES, memory_bytes()
    if need > have // 2:
        raise ValueError(f"{n:,} items need about {human_bytes(need)} of memory to sample and render; "
                         f"this machine has {human_bytes(have)} (at most {have // 2 // ITEM_BYTES:,} items fit)")  # fmt: skip
    return n


def bounded_items(*, ge: int = 1):
    """A count of mixture items: a positive integer whose estimated memory fits this machine."""
    return Annotated[int | None, Field(None, ge=ge, strict=True), AfterValidator(_items_fit)]


# ------------------------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML with duplicate keys refused (PyYAML keeps the last one silently)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark) from None
        if key in seen:
            raise _DuplicateKey(key, seen[key], key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first_line: int, mark) -> None:
        self.key, self.first_line, self.problem_mark = key, first_line, mark
        super().__init__(f"duplicate key {key!r}")


@dataclass
class Doc:
    """A parsed YAML document: its data, where it came from, and the line of every key path."""

    data: Any
    file: str
    lines: dict[tuple, int] = field(default_factory=dict)
    overrides: dict[tuple, str] = field(default_factory=dict)  # key path → the --set that gave it

    def origin(self, loc: Iterable) -> str:
        """Where the value at ``loc`` came from: ``--set k=v`` or ``file:line`` (or the file)."""
        loc = tuple(loc)
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.overrides:
                return f"{self.file}: --set {self.overrides[loc[:n]]}"
        line = self.line_of(loc)
        return f"{self.file}:{line}" if line else self.file

    def line_of(self, loc: Iterable) -> int | None:
        """The line of the deepest key along ``loc`` that the file spells out."""
        loc = tuple(loc)
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


def yaml_error(e: Exception, file: str | Path) -> MmdataError:
    """A YAML parse problem as one line: ``FILE: invalid YAML: line L, column C: problem``."""
    mark = getattr(e, "problem_mark", None)
    if isinstance(e, _DuplicateKey):
        return MmdataError(f"duplicate key {e.key!r} (first defined on line {e.first_line})", file=f"{file}:{mark.line + 1}")
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return MmdataError(f"invalid YAML: {where}{getattr(e, 'problem', None) or e}", file=file)


def _lines(node, path: tuple, out: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is None:
                continue
            p = (*path, key)
            out[p] = k.start_mark.line + 1
            _lines(v, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[(*path, i)] = v.start_mark.line + 1
            _lines(v, (*path, i), out)


def parse_yaml(text: str, file: str | Path) -> Doc:
    """Parse YAML text (duplicate keys refused); errors are one line naming ``file``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise yaml_error(e, file) from None
    except RecursionError:
        raise MmdataError("invalid YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()
    doc = Doc(data, str(file))
    if node is not None:
        _lines(node, (), doc.lines)
    return doc


def read_yaml(path: str | Path, *, what: str = "file") -> Doc:
    """Read and parse a YAML file; a missing, unreadable or malformed file is a one-line error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MmdataError(f"{what} not found", file=path) from None
    except IsADirectoryError:
        raise MmdataError(f"{what} is a directory, expected a YAML file", file=path) from None
    except UnicodeDecodeError:
        raise MmdataError(f"{what} is not UTF-8 text", file=path) from None
    except OSError as e:
        raise MmdataError(f"cannot read {what} ({e.strerror or type(e).__name__})", file=path) from None
    return parse_yaml(text, path)


def read_mapping(path: str | Path, *, what: str = "file") -> Doc:
    doc = read_yaml(path, what=what)
    if not isinstance(doc.data, dict):
        raise MmdataError(f"a {what} must be a YAML mapping, got {_tname(doc.data)}", file=path)
    return doc


def _tname(v) -> str:
    return {type(None): "nothing", dict: "mapping", list: "list", str: "text"}.get(type(v), type(v).__name__)


# -------------------------------------------------------------------------------------- overrides


def parse_set(item: str) -> tuple[list[str], Any]:
    """``key.path=value`` → (path parts, value parsed as a YAML scalar or flow collection)."""
    if "=" not in item:
        raise MmdataError(f"--set expects key.path=value, got {item!r}")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise MmdataError(f"--set {item!r}: empty key in {key!r}")
    if raw == "":
        return parts, ""
    try:
        value = parse_yaml(raw, f"--set {key}").data
    except MmdataError:
        value = raw  # not YAML (e.g. an unbalanced bracket in a path): keep the text as given
    return parts, value


def apply_overrides(data: dict, overrides: Iterable[str], *, file: str | Path | None = None, doc: Doc | None = None) -> dict:
    """Apply ``key.path=value`` overrides in place to nested mappings and lists; returns ``data``.
    With ``doc``, each overridden key path is remembered so errors point at the ``--set``."""
    for ov in overrides:
        parts, value = parse_set(ov)
        key = ".".join(parts)
        if doc is not None:
            doc.overrides[tuple(int(p) if p.isdigit() else p for p in parts)] = ov
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise MmdataError(f"--set {key}: no list item {part!r} at {where}", file=file)
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise MmdataError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list", file=file)
    return data


# -------------------------------------------------------------------------------------- validation

M = TypeVar("M", bound=BaseModel)


def loc_text(loc: Iterable) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).startswith(("function-", "constrained-")):
            continue
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def describe(e: ValidationError) -> tuple[tuple, str]:
    """The first problem of a validation error: (location, one-line message)."""
    err = e.errors()[0]
    loc = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "constrained-")))
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if kind in ("int_type", "int_parsing", "int_from_float") and "input" in err:
            msg += f", got {err['input']!r}"[:120]
        if kind == "finite_number":
            msg = "must be a finite number (not NaN or infinity)"
    return loc, msg


def validate(model: type[M], data: Any, *, doc: Doc | None = None, file: str | Path | None = None, prefix: tuple = ()) -> M:
    """``model.model_validate(data)`` with any problem as a one-line :class:`MmdataError` naming
    ``file:line`` and the key path (``prefix`` is prepended to locations for nested sections)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        loc, msg = describe(e)
        loc = (*prefix, *loc)
        where = doc.origin(loc) if doc else (str(file) if file else None)
        raise MmdataError(msg, file=where, field=loc_text(loc)) from None


def load(model: type[M], path: str | Path, *, overrides: Iterable[str] = (), what: str = "file") -> tuple[M, Doc]:
    """Read ``path``, apply ``--set`` overrides and validate it as ``model``."""
    doc = read_mapping(path, what=what)
    apply_overrides(doc.data, overrides, file=path, doc=doc)
    return validate(model, doc.data, doc=doc), doc


# ----------------------------------------------------------------------------------------- presets

PRESET_KINDS = {
    "recipes": "recipes for `mmdata build` (mixtures)",
    "models": "model presets for `mmdata train`",
    "suites": "ablation suites for `mmdata ablate`",
    "benchmarks": "benchmark specs for `mmdata bench make`",
}


def _preset_dir(kind: str):
    if kind not in PRESET_KINDS:
        raise MmdataError(f"unknown preset kind {kind!r}; choose one of {', '.join(PRESET_KINDS)}")
    return resources.files("mmdata.presets").joinpath(kind)


def preset_names(kind: str) -> list[str]:
    """Names of the shipped presets of ``kind`` (file names without ``.yaml``)."""
    return sorted(p.name.removesuffix(".yaml") for p in _preset_dir(kind).iterdir() if p.name.endswith(".yaml"))


def preset_path(kind: str, name: str) -> Path:
    return Path(str(_preset_dir(kind).joinpath(f"{name}.yaml")))


def find_preset(kind: str, spec: str | Path, *, base: Path | None = None) -> tuple[Path, bool]:
    """A YAML file given by path (relative to ``base`` first), or a shipped preset by name.

    Returns ``(path, shipped)``; an unknown name is one line listing the shipped ones."""
    p = Path(spec)
    for cand in ([base / p] if base is not None and not p.is_absolute() else []) + [p]:
        if cand.is_file():
            return cand, False
    if str(spec) in preset_names(kind):
        return preset_path(kind, str(spec)), True
    if p.suffix in (".yaml", ".yml") or os.sep in str(spec):
        raise MmdataError(f"{kind[:-1]} file not found", file=p)
    known = ", ".join(preset_names(kind)) or "none"
    raise MmdataError(f"unknown {kind[:-1]} {str(spec)!r}; shipped: {known} (or give a YAML file)")


def finite(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
