"""Write pickles the way Python 2's ``cPickle.dump(obj, f, 2)`` does, opcode by opcode.

The refer toolkit's ``refs(<splitBy>).p`` files were written by Python 2, where a plain ``str`` is a
byte string (``SHORT_BINSTRING``/``BINSTRING``) and ``unicode`` is ``BINUNICODE``; Python 3 cannot
produce those opcodes for text, so tests build them here. Values: ``Py2Str`` (a byte string, e.g.
UTF-8 text that Python 2 kept undecoded), ``str`` (written as unicode), int, float, bool, None,
list, tuple, dict. Containers are memoised with ``BINPUT`` as Python 2 does.
"""

from __future__ import annotations

import struct
from typing import Any


class Py2Str(bytes):
    """A Python 2 ``str``: bytes on the wire."""


def dumps_py2(obj: Any) -> bytes:
    out = bytearray(b"\x80\x02")  # PROTO 2
    memo = [0]

    def put() -> None:
        if memo[0] < 256:
            out.extend(b"q" + bytes([memo[0]]))  # BINPUT
        else:
            out.extend(b"r" + struct.pack("<I", memo[0]))  # LONG_BINPUT
        memo[0] += 1

    def emit(v: Any) -> None:
        if v is None:
            out.extend(b"N")
        elif v is True:
            out.extend(b"\x88")
        elif v is False:
            out.extend(b"\x89")
        elif isinstance(v, Py2Str):
            if len(v) < 256:
                out.extend(b"U" + bytes([len(v)]) + v)  # SHORT_BINSTRING
            else:
                out.extend(b"T" + struct.pack("<i", len(v)) + v)  # BINSTRING
            put()
        elif isinstance(v, str):
            data = v.encode("utf-8")
            out.extend(b"X" + struct.pack("<I", len(data)) + data)  # BINUNICODE
            put()
        elif isinstance(v, int):
            if 0 <= v < 256:
                out.extend(b"K" + bytes([v]))
            elif 0 <= v < 65536:
                out.extend(b"M" + struct.pack("<H", v))
            elif -(2**31) <= v < 2**31:
                out.extend(b"J" + struct.pack("<i", v))
            else:  # Python 2 long
                n = (v.bit_length() + 8) // 8
                out.extend(b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True))
        elif isinstance(v, float):
            out.extend(b"G" + struct.pack(">d", v))
        elif isinstance(v, list):
            out.extend(b"]")
            put()
            if v:
                out.extend(b"(")
                for x in v:
                    emit(x)
                out.extend(b"e")  # APPENDS
        elif isinstance(v, tuple):
            out.extend(b"(")
            for x in v:
                emit(x)
            out.extend(b"t")
            put()
        elif isinstance(v, dict):
            out.extend(b"}")
            put()
            if v:
                out.extend(b"(")
                for k, x in v.items():
                    emit(k)
                    emit(x)
                out.extend(b"u")  # SETITEMS
        else:
            raise TypeError(type(v).__name__)

    emit(obj)
    out.extend(b".")
    return bytes(out)


def as_py2(obj: Any) -> Any:
    """``obj`` with every text value turned into a Python 2 byte string (UTF-8), keys included."""
    if isinstance(obj, str):
        return Py2Str(obj.encode("utf-8"))
    if isinstance(obj, list):
        return [as_py2(x) for x in obj]
    if isinstance(obj, dict):
        return {as_py2(k): as_py2(v) for k, v in obj.items()}
    return obj
