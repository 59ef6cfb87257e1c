"""The world's six-language lexicon (``lexicon/<lang>.yaml``), loaded once per process.

A lexicon holds the words (colours, shapes, sizes, corners, relations), the question templates per
category (``open`` variants for VQA-style data, ``mc`` for the benchmark), answer sentences, caption
and description templates. Everything is written for mmdata. Grammar (articles, gender, case) lives in
:mod:`mmdata.world.grammar`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from mmdata.errors import MmdataError
from mmdata.schema import LANGUAGES

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "brown")
BACKGROUNDS = ("white", "gray", "black")
SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross")
SIZES = ("small", "large")
QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")
RELATIONS = ("left_of", "right_of", "above", "below")
CATEGORIES = (
    "colour",
    "shape",
    "count",
    "size",
    "position",
    "spatial_relation",
    "existence",
    "ocr",
    "comparison",
    "background",
    "colour_count",
    "total_count",
    "same_colour",
    "closest",
    "extreme",
)


@cache
def lexicon(lang: str) -> dict:
    """The parsed lexicon of ``lang`` (one of :data:`mmdata.schema.LANGUAGES`)."""
    if lang not in LANGUAGES:
        raise MmdataError(f"unknown language {lang!r}; the world speaks {', '.join(LANGUAGES)}")
    text = resources.files("mmdata.world").joinpath("lexicon", f"{lang}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def word(forms, key: str = "m"):
    """A word from a lexicon entry that is either a plain string or a dict of forms."""
    if isinstance(forms, str):
        return forms
    return forms.get(key) or forms.get("base") or forms.get("sg") or forms["m"]
