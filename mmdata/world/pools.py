"""Image pools shared across datasets, as in reality (DESIGN §3).

* ``coco`` — behind vqav2, coco_captions, refcoco/+/g, aokvqa and every llava_instruct set. Written
  once as ``images/coco/train2017/<id:012d>.jpg`` and hard-linked as
  ``images/coco/train2014/COCO_train2014_<id:012d>.jpg`` (COCO 2014 and 2017 hold the same images).
* ``vg`` — behind gqa, vsr and vg_regions: ``images/vg/VG_100K/<id>.jpg``.
* ``ocr`` — OCR-VQA book covers: ``images/ocr/<book id>.jpg``.

(The ScienceQA diagram pool is private to that dataset; its writer renders it.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mmdata.io import sha256_bytes
from mmdata.world.render import encode, render
from mmdata.world.scene import Scene, make_book, make_scene, rng_for

COCO_ID0 = 100_000
VG_ID0 = 2_300_000
BOOK_ID0 = 1_000_000_000


@dataclass(frozen=True)
class PoolImage:
    index: int
    image_id: int
    scene: Scene
    sha256: str
    width: int
    height: int

    def ref(self, path: str) -> dict:
        """A Record image reference for this image under a given relative path."""
        return {"path": path, "sha256": self.sha256, "width": self.width, "height": self.height}


def coco_2017(image_id: int) -> str:
    return f"train2017/{image_id:012d}.jpg"


def coco_2014(image_id: int) -> str:
    return f"train2014/COCO_train2014_{image_id:012d}.jpg"


def write_image(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        dst.write_bytes(src.read_bytes())


def build_pool(kind: str, n: int, seed: int, root: Path, image_size: int, progress=None) -> list[PoolImage]:
    """Render and write one pool under ``root/images``; returns its images in index order."""
    out = []
    for i in range(n):
        rng = rng_for(seed, kind, i)
        if kind == "coco":
            image_id = COCO_ID0 + i
            scene = make_scene(rng, f"coco-{i}", "coco", image_size, image_size)
        elif kind == "vg":
            image_id = VG_ID0 + i
            scene = make_scene(rng, f"vg-{i}", "vg", image_size, image_size, n_objects=(2, 6), text_prob=0.25)
        elif kind == "ocr":
            image_id = BOOK_ID0 + i * 7919
            scene = make_book(rng, f"ocr-{i}", image_size, image_size)
        else:
            raise ValueError(kind)
        data = encode(render(scene), "jpeg")
        if kind == "coco":
            write_image(root / "images/coco" / coco_2017(image_id), data)
            link_or_copy(root / "images/coco" / coco_2017(image_id), root / "images/coco" / coco_2014(image_id))
        elif kind == "vg":
            write_image(root / f"images/vg/VG_100K/{image_id}.jpg", data)
        else:
            write_image(root / f"images/ocr/{image_id}.jpg", data)
        out.append(PoolImage(i, image_id, scene, sha256_bytes(data), image_size, image_size))
        if progress:
            progress(1)
    return out
