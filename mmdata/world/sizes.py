"""World sizes. ``tiny`` is for tests (seconds), ``small`` for the demo and CPU ablations, ``full``
for performance benchmarks (≥1M records over a bounded image pool)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

SizeName = Literal["tiny", "small", "full"]  # the world sizes, named once (configs and the CLI use these)


@dataclass(frozen=True)
class WorldSize:
    coco_images: int  # pool behind vqav2, coco_captions, refcoco*, aokvqa, llava_instruct*
    vg_images: int  # pool behind gqa, vsr, vg_regions
    books: int  # ocrvqa covers
    sqa_images: int  # scienceqa diagrams
    sqa_text: int  # text-only scienceqa problems
    vqav2_per_image: int
    gqa_per_image: int
    vsr_share: float  # share of vg images with a VSR claim
    aokvqa_share: float
    llava_share: float  # share of coco images with an English LLaVA conversation
    sharegpt: int
    multilingual: dict  # llava_instruct_<lang> conversation counts
    dup_share: float = 0.2  # share of VQA images that get a planted paraphrase duplicate
    cauldron_rows: int = 0  # hub parquet sets (embedded images): single-image rows of the Cauldron-style set
    cauldron_pairs: int = 0  # its two-image rows
    onevision_rows: int = 0  # LLaVA-OneVision-style rows (a share of them text-only)


SIZES: dict[str, WorldSize] = {
    "tiny": WorldSize(48, 32, 10, 12, 6, 6, 5, 1.0, 0.5, 1.0, 10, {"zh": 6, "pt": 4, "ar": 4, "tr": 4, "ru": 4},
                      cauldron_rows=8, cauldron_pairs=4, onevision_rows=10),
    "small": WorldSize(1200, 800, 200, 200, 100, 6, 6, 1.0, 0.5, 1.0, 300, {"zh": 300, "pt": 120, "ar": 120, "tr": 120, "ru": 120},
                       cauldron_rows=200, cauldron_pairs=60, onevision_rows=200),
    "full": WorldSize(30000, 20000, 5000, 3000, 1500, 12, 10, 0.5, 0.5, 1.0, 5000, {"zh": 5000, "pt": 2000, "ar": 2000, "tr": 2000, "ru": 2000},
                      cauldron_rows=3000, cauldron_pairs=1000, onevision_rows=3000),
}

SIZE_NAMES: tuple[str, ...] = get_args(SizeName)
assert set(SIZE_NAMES) == set(SIZES)


def scaled(size: str, k: int = 1) -> WorldSize:
    """The world ``size`` with every pool and per-source count multiplied by ``k`` (``--scale``: a world
    k times as large, for measuring how a build grows with its input)."""
    from dataclasses import replace

    c = SIZES[size]
    if k == 1:
        return c
    return replace(c, coco_images=c.coco_images * k, vg_images=c.vg_images * k, books=c.books * k, sqa_images=c.sqa_images * k,
                   sqa_text=c.sqa_text * k, sharegpt=c.sharegpt * k, multilingual={lang: n * k for lang, n in c.multilingual.items()},
                   cauldron_rows=c.cauldron_rows * k, cauldron_pairs=c.cauldron_pairs * k, onevision_rows=c.onevision_rows * k)  # fmt: skip
