"""The image-use control: the same questions, each shown another benchmark image of its category.

``bench run --control shuffled`` scores a second pass in which every item's image is replaced by the
image of another item of the same category. A model that reads the image drops towards chance on that
pass; one that answers from the text alone does not move, so ``mean − shuffled_mean`` (the image-use gap,
see :func:`mmdata.bench.score.summarise_control`) says how much of a score the image earns.

The swap is a deterministic derangement per category: the category's circular groups (``g_index``; the
``index`` of plain rows), sorted and shuffled with a seed derived from the category name, each take the
image of the next group in that cycle. It depends on the groups only, so every language (and every
rotation of an MMBench question) gets the same donor. Where the donor shows the very same image (real
benchmarks sometimes ask several questions about one picture) the walk moves on along the cycle; an item
for which no group of its category has a different image keeps its own and is counted as ``unchanged``.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import replace
from typing import Literal, get_args

from mmdata.bench.tsv import Item

ControlName = Literal["shuffled"]
CONTROLS: tuple[str, ...] = get_args(ControlName)


def _image_digest(it: Item, cache: dict[str, bytes]) -> bytes:
    d = cache.get(it.image_key)
    if d is None:
        data = it.image if it.image is not None else it.image_path.read_bytes() if it.image_path else b""
        d = cache[it.image_key] = hashlib.sha1(data).digest()
    return d


def derangement(groups: set[int], category: str) -> dict[int, int]:
    """Group → donor group: the next one in a seeded cycle over the category's groups (no fixed point
    when there are at least two)."""
    order = sorted(groups)
    random.Random(f"mmdata/bench/control/shuffled/{category}").shuffle(order)
    return {g: order[(i + 1) % len(order)] for i, g in enumerate(order)}


def shuffled_images(items: list[Item]) -> tuple[list[Item], int]:
    """``items`` with every image swapped within its category, and how many rows kept their own image."""
    groups: dict[str, set[int]] = defaultdict(set)
    holder: dict[tuple[str, str, int], Item] = {}  # (language, category, group) → a row showing its image
    for it in items:
        groups[it.category].add(it.group)
        key = (it.language, it.category, it.group)
        if key not in holder or it.index == it.group:
            holder[key] = it
    cycles = {c: derangement(g, c) for c, g in groups.items()}
    digests: dict[str, bytes] = {}
    out, unchanged = [], 0
    for it in items:
        cycle = cycles[it.category]
        own = _image_digest(it, digests)
        donor, g = None, cycle[it.group]
        for _ in range(len(cycle) - 1):
            cand = holder.get((it.language, it.category, g))
            if cand is not None and _image_digest(cand, digests) != own:
                donor = cand
                break
            g = cycle[g]
        if donor is None:
            unchanged += 1
            out.append(it)
        else:
            out.append(replace(it, image=donor.image, image_path=donor.image_path, image_key=donor.image_key))
    return out, unchanged
