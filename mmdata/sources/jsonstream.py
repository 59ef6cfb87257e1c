"""Native JSON read in bounded memory: the elements of a document's top-level arrays, batch by batch.

Published annotation files are one JSON document each (VQAv2's annotations are ~0.4 GB, LLaVA-665k's
~1 GB); parsing one whole builds every Python object at once. :func:`events` reads a file in chunks
and finds, with a handful of numpy operations per chunk, the commas and brackets that lie outside
strings: where each element of a top-level array (or each member of a top-level object) begins and
ends. Each run of complete elements is then parsed by orjson in one call, so the bytes are parsed at
orjson's speed and memory holds one chunk plus one batch of parsed elements, whatever the file size.

A document is either

* an array — :func:`events` yields ``("array", None, [elements…])`` batches, or
* an object — ``("array", key, [elements…])`` batches for every member whose value is an array, and
  ``("members", None, {key: value, …})`` batches for the other members, in file order, or
* anything else — one ``("value", None, value)``.

Every byte is checked: elements and members by orjson, the skeleton between them (keys, colons,
commas, brackets, whitespace) by the scanner, so a malformed file is a one-line ``invalid JSON`` error
naming the file and the byte offset, as a whole-file parse would be. One difference: a key repeated in
a top-level object is an error when both copies fall in one batch, and otherwise read twice (a whole
parse keeps the last value).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mmdata.errors import MmdataError
from mmdata.io import open_input
from mmdata.sources.base import _tname

CHUNK = 1 << 20  # bytes read per step (a larger element is carried until it is complete)
_WS = b" \t\n\r"
_OPEN, _CLOSE = np.frombuffer(b"{[", np.uint8), np.frombuffer(b"}]", np.uint8)
_STRUCT = np.zeros(256, bool)
_STRUCT[list(b"{}[],:")] = True


def _invalid(path, what: str) -> MmdataError:
    return MmdataError(f"invalid JSON: {what}", file=path)


def _parse(path, data: bytes, at: int):
    """orjson over one wrapped run of elements; errors name the byte offset in the file."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise _invalid(path, f"{e.msg} (near byte {max(0, at + e.pos - 1):,})") from None


class _Scanner:
    """Structural characters outside strings, chunk by chunk, with the string/escape/depth state carried."""

    def __init__(self) -> None:
        self.in_str = False  # the next byte is inside a string
        self.esc = False  # the next byte is escaped by a backslash
        self.depth = 0

    def scan(self, chunk: bytes, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(absolute positions, characters, depth before) of the chunk's structural characters."""
        a = np.frombuffer(chunk, np.uint8)
        n = len(a)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.int64)
        idx = np.arange(n, dtype=np.int32)  # int32 throughout: a chunk is far below 2**31 bytes, and the
        bs = a == 92  # temporaries of one chunk are what a reader's memory peaks on
        # a backslash escapes the next byte when it is at an even place in its run of backslashes
        # (a run that starts the chunk while the carried state says "escaped" is shifted by one)
        start = bs & np.r_[True, ~bs[:-1]]
        run0 = np.maximum.accumulate(np.where(start, idx, 0))
        place = idx - run0 + np.int32(self.esc & bool(bs[0])) * (run0 == 0)
        escaping = bs & (place % 2 == 0)
        escaped = np.r_[self.esc, escaping[:-1]]
        quote = (a == 34) & ~escaped
        flips = np.cumsum(quote, dtype=np.int32)
        inside = ((flips - quote) + self.in_str) % 2 == 1  # inside a string before this byte's own flip
        struct = _STRUCT[a] & ~inside
        pos = np.flatnonzero(struct)
        ch = a[pos]
        delta = np.isin(ch, _OPEN).astype(np.int64) - np.isin(ch, _CLOSE).astype(np.int64)
        cum = np.cumsum(delta)
        before = self.depth + cum - delta
        self.depth += int(cum[-1]) if len(cum) else 0
        self.in_str = bool((int(flips[-1]) + self.in_str) % 2)
        self.esc = bool(escaping[-1])
        return pos + base, ch, before


def events(path: str | Path, *, chunk: int = CHUNK) -> Iterator[tuple[str, Any, Any]]:
    """The document at ``path`` as batches (see the module doc). Memory: one chunk, one batch."""
    path = Path(path)
    f = open_input(path)  # closed in finally (a generator)
    try:
        yield from _events(path, f, chunk)
    finally:
        f.close()


def _events(path: Path, f, chunk: int) -> Iterator[tuple[str, Any, Any]]:
    head = f.read(chunk)
    first = head.lstrip(_WS)[:1]
    if first not in (b"[", b"{"):  # a scalar document (or not JSON at all): small, parse it whole
        yield ("value", None, _parse(path, head + f.read(), 0))
        return
    sc = _Scanner()
    buf, base = b"", 0  # bytes not yet consumed, and the file offset of buf[0]
    tok = (np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.int64))  # tokens not yet consumed
    # state "start" (before the top bracket) | "top" (inside the top object, between members) |
    # "array" (inside an array: the top one, depth 1, or a member's, depth 2) | "after" (after a
    # member's array) | "end" (after the top bracket)
    state, arr_key, arr_depth, had_sep = "start", None, 1, False
    comma_after_array = False  # the top object's last separator was the comma after a member's array
    run = cur = 0  # top object: where the run of whole, not yet parsed members starts; where the current member starts
    n_run = 0
    data = head
    while data:
        new = sc.scan(data, base + len(buf))
        buf += data
        pos, ch, dep = (np.concatenate([a, b]) for a, b in zip(tok, new, strict=True))
        k, n = 0, len(pos)
        while k < n:
            p, c = int(pos[k]), int(ch[k])
            if state == "start":
                if buf[: p - base].strip(_WS):
                    raise _invalid(path, "unexpected bytes before the document")
                run = cur = p + 1
                state = "array" if c == ord("[") else "top"
                k += 1
            elif state == "array":  # separators and the closing bracket at this depth, vectorised
                sel = np.flatnonzero(dep[k:] == arr_depth) + k
                closers = sel[np.isin(ch[sel], _CLOSE)]
                end = int(closers[0]) if len(closers) else n
                seps = sel[(sel < end) & (ch[sel] == 44)]
                if len(seps):
                    last = int(pos[seps[-1]])
                    body = buf[run - base : last - base]
                    if not body.strip(_WS):
                        raise _invalid(path, f"an empty element in an array (near byte {run:,})")
                    yield ("array", arr_key, _parse(path, b"[" + body + b"]", run))
                    run, had_sep = last + 1, True
                if end == n:
                    k = n
                    break
                p = int(pos[end])
                if ch[end] != ord("]"):
                    raise _invalid(path, f"'{chr(ch[end])}' closes an array (near byte {p:,})")
                body = buf[run - base : p - base]
                if body.strip(_WS):
                    yield ("array", arr_key, _parse(path, b"[" + body + b"]", run))
                elif had_sep:
                    raise _invalid(path, f"a trailing comma in an array (near byte {p:,})")
                else:  # an empty array still shows up (a key with [] is not a missing key)
                    yield ("array", arr_key, [])
                k = end + 1
                state, run, cur = ("end" if arr_key is None else "after"), p + 1, p + 1
            elif state == "after":  # only a comma or the closing brace may follow a member's array
                if dep[k] != 1 or c not in b",}" or buf[run - base : p - base].strip(_WS):
                    raise _invalid(path, f"expected ',' or '}}' after an array (near byte {p:,})")
                run = cur = p + 1
                state = "end" if c == ord("}") else "top"
                comma_after_array = c == ord(",")
                k += 1
            elif state == "top":  # the top object's own tokens (depth 1), vectorised up to the next array member
                ones = np.flatnonzero(dep[k:] == 1) + k
                oc = ch[ones]
                colon = np.flatnonzero(oc == 58)
                arr = colon[(colon + 1 < len(ones)) & (oc[np.minimum(colon + 1, len(oc) - 1)] == 91)]
                undecided = colon[colon + 1 == len(ones)]  # a colon whose value starts in the next chunk
                closer = np.flatnonzero(np.isin(oc, _CLOSE))
                stop = min([len(ones), *(x[0] for x in (arr, undecided, closer) if len(x))])
                commas = np.flatnonzero(oc[:stop] == 44)
                if len(commas):
                    n_run += len(commas)
                    cur = int(pos[ones[commas[-1]]]) + 1
                if stop == len(ones):
                    k = n
                    break
                t = int(ones[stop])
                p = int(pos[t])
                if len(undecided) and stop == undecided[0] and not (len(arr) and arr[0] == stop):
                    k = t
                    break  # decide when the next chunk shows what follows the colon
                if len(closer) and stop == closer[0]:  # the top object's closing brace
                    if ch[t] != ord("}"):
                        raise _invalid(path, f"']' closes an object (near byte {p:,})")
                    if buf[cur - base : p - base].strip(_WS):
                        n_run += 1
                    elif n_run or comma_after_array:  # nothing after the last comma
                        raise _invalid(path, f"a trailing comma in an object (near byte {p:,})")
                    if n_run:
                        yield ("members", None, _members(path, buf[run - base : p - base], run, n_run))
                    state, run, n_run, k = "end", p + 1, 0, t + 1
                    continue
                q = int(ones[stop + 1])  # the '[' opening this member's array
                if buf[p + 1 - base : int(pos[q]) - base].strip(_WS):
                    raise _invalid(path, f"unexpected data before '[' (near byte {p:,})")
                if n_run:  # the whole members before this one go first
                    yield ("members", None, _members(path, buf[run - base : cur - 1 - base], run, n_run))
                    n_run = 0
                name = _parse(path, buf[cur - base : p - base], cur)
                if not isinstance(name, str):
                    raise _invalid(path, f"an object key must be a string (near byte {cur:,})")
                state, arr_key, arr_depth, had_sep = "array", name, 2, False
                run, k = int(pos[q]) + 1, q + 1
            else:  # "end"
                raise _invalid(path, f"unexpected data after the document (near byte {p:,})")
        tok = (pos[k:], ch[k:], dep[k:])
        if state == "top" and n_run:  # hand over the whole members of this chunk
            yield ("members", None, _members(path, buf[run - base : cur - 1 - base], run, n_run))
            run, n_run = cur, 0
        keep = {"start": base, "top": run, "array": run, "after": run, "end": run}[state]
        if state == "end":
            if buf[keep - base :].strip(_WS):
                raise _invalid(path, f"unexpected data after the document (near byte {keep:,})")
            keep = base + len(buf)
        buf, base = buf[keep - base :], keep
        data = f.read(chunk)
    if state != "end":
        raise _invalid(path, "unexpected end of data: the file ends inside the document")


def _members(path, body: bytes, at: int, expected: int) -> dict:
    d = _parse(path, b"{" + body + b"}", at)
    if len(d) != expected:
        raise _invalid(path, f"an empty or repeated member in the top-level object (near byte {at:,})")
    return d


# ----------------------------------------------------------------------------------- consumers


def array_items(path: str | Path, key: str | None, *, what: str, chunk: int = CHUNK) -> Iterator[list]:
    """Batches of the elements of the document's top-level array (``key`` None) or of the array under
    ``key`` in its top-level object, with the errors a whole parse checked by hand gives: the top
    level of the wrong type, the key missing (or null), the value not a list."""
    found = False
    for kind, k, payload in events(path, chunk=chunk):
        if kind == "value":
            _wrong_top(path, payload, key, what)
        if key is None:
            if kind != "array" or k is not None:
                raise MmdataError(f"expected a JSON list of {what} at the top level, got object", file=path, record="(top level)")
            found = True
            yield payload
        elif kind == "array" and k is None:
            raise MmdataError("expected a JSON object, got list", file=path, record="(top level)")
        elif kind == "array" and k == key:
            found = True
            yield payload
        elif kind == "members" and key in payload:
            v = payload[key]
            if v is None:
                raise MmdataError("missing required key", file=path, record="(top level)", field=key)
            raise MmdataError(f"expected list, got {_tname(v)}", file=path, record="(top level)", field=key)
    if not found:
        if key is None:
            yield from ()
            return
        raise MmdataError("missing required key", file=path, record="(top level)", field=key)


def object_members(path: str | Path, *, what: str, chunk: int = CHUNK) -> Iterator[tuple[str, Any]]:
    """The members of the document's top-level object, in file order (GQA, OCR-VQA, ScienceQA). A member
    whose value is an array is streamed, not built: it shows as ``(key, [])``."""
    last = None
    for kind, k, payload in events(path, chunk=chunk):
        if kind == "value" or (kind == "array" and k is None):
            got = "list" if kind == "array" else _tname(payload)
            raise MmdataError(f"expected a JSON object of {what} at the top level, got {got}", file=path, record="(top level)")
        if kind == "members":
            yield from payload.items()
            last = None
        elif k != last:  # a member whose value is an array: the caller rejects it (members of id-keyed files are objects)
            yield k, []
            last = k


def _wrong_top(path, value, key, what):
    if key is None:
        raise MmdataError(f"expected a JSON list of {what} at the top level, got {_tname(value)}", file=path, record="(top level)")
    raise MmdataError(f"expected a JSON object, got {_tname(value)}", file=path, record="(top level)")


def items(path: str | Path, key: str | None, *, what: str, of: type | tuple | None = None, chunk: int = CHUNK) -> Iterator[Any]:
    """The elements one by one (see :func:`array_items`); with ``of``, each must be of that type, as
    :func:`~mmdata.sources.base.need_list_of` checks: ``item i should be object, got string``."""
    from mmdata.sources.base import _tdesc

    i = 0
    for batch in array_items(path, key, what=what, chunk=chunk):
        for v in batch:
            if of is not None and (not isinstance(v, of) or (isinstance(v, bool) and bool not in (of if isinstance(of, tuple) else (of,)))):
                if key is None:
                    raise MmdataError(f"expected a JSON object, got {_tname(v)}", file=path, record=f"#{i}")
                raise MmdataError(f"item {i} should be {_tdesc(of)}, got {_tname(v)}", file=path, record="(top level)", field=key)
            yield v
            i += 1
