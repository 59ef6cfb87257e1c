"""Text normalisation for dedup keys: NFKC, lower case, punctuation dropped, spaces collapsed.

Honeybee compares answer strings exactly; we compare them after this normalisation, so "Yes." and
"yes" are the same answer. Boxes compare as Honeybee's three-decimal strings.
"""

from __future__ import annotations

import unicodedata

import polars as pl

_SEPARATORS = r"[\p{P}\p{S}\p{Cc}]"  # punctuation, symbols and control characters become spaces


def norm_text(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).lower()
    s = "".join(" " if unicodedata.category(c)[0] in "PS" or unicodedata.category(c) == "Cc" else c for c in s)
    return " ".join(s.split())


def norm_expr(col: pl.Expr) -> pl.Expr:
    """The vectorised twin of :func:`norm_text`: the same result on any string of characters that
    Python's Unicode database assigns (a property test checks this). Characters newer than Python's
    tables may normalise differently in polars' newer Unicode data."""
    return (
        col.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(_SEPARATORS, " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def bbox_key_expr(col: pl.Expr) -> pl.Expr:
    """``[x1,y1,x2,y2]`` rounded to thousandths, as one string (Honeybee's box identity)."""
    parts = [(col.arr.get(i) * 1000).round(0, mode="half_to_even").cast(pl.Int64).cast(pl.Utf8) for i in range(4)]
    return pl.concat_str(parts, separator=",")

