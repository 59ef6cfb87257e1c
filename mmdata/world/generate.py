"""Write a whole world: image pools, every source in its native layout, scene graphs, duplicates,
and the ``world.json`` manifest — atomically (a temporary directory renamed into place).

Layout of ``DIR``::

    world.json            seed, size, image size, counts per source, software versions
    duplicates.jsonl      every planted paraphrase-duplicate group (dataset, image_id, record_ids, …)
    scenes/<pool>.jsonl   scene graphs (the ground truth) of the coco, vg and ocr pools
    images/               shared pools (coco, vg, ocr) and the ScienceQA diagrams
    sources/<name>/       one native layout per dataset; ``images`` links into the pools (the hub
                          parquet sets, cauldron and llava_onevision, embed their images instead)
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import PIL

from mmdata import __version__
from mmdata.errors import MmdataError
from mmdata.io import atomic_dir, dumps_json
from mmdata.world.pools import build_pool
from mmdata.world.sizes import SIZES, scaled
from mmdata.world.writers import (
    Ctx,
    Output,
    aokvqa,
    captions,
    hub,
    llava,
    ocrvqa,
    refcoco,
    scienceqa,
    sharegpt,
    vg_regions,
    vqa,
    vsr,
)

SOURCE_NAMES = (
    "vqav2", "gqa", "ocrvqa", "vsr", "scienceqa", "aokvqa", "refcoco", "refcoco+", "refcocog", "vg_regions",
    "coco_captions", "llava_instruct", "sharegpt",
    "llava_instruct_zh", "llava_instruct_pt", "llava_instruct_ar", "llava_instruct_tr", "llava_instruct_ru",
    "cauldron", "llava_onevision",
    "vqav2_zh", "vqav2_pt", "vqav2_ar", "vqav2_tr", "vqav2_ru",
)  # fmt: skip


@dataclass
class WorldResult:
    path: Path
    counts: dict[str, int]
    outputs: dict[str, Output]  # with .truth when keep_truth=True
    scenes: dict[str, dict]  # scene_id → Scene (training pools)


def _writers(ctx: Ctx) -> list[Callable[[], Output | list[Output]]]:
    return [
        lambda: vqa.build_vqav2(ctx),
        lambda: vqa.build_gqa(ctx),
        lambda: ocrvqa.build(ctx),
        lambda: vsr.build(ctx),
        lambda: scienceqa.build(ctx),
        lambda: aokvqa.build(ctx),
        lambda: refcoco.build(ctx, "refcoco"),
        lambda: refcoco.build(ctx, "refcoco+"),
        lambda: refcoco.build(ctx, "refcocog"),
        lambda: vg_regions.build(ctx),
        lambda: captions.build(ctx),
        lambda: llava.build_en(ctx),
        lambda: sharegpt.build(ctx),
        lambda: llava.build_multilingual(ctx),
        lambda: hub.build_cauldron(ctx),
        lambda: hub.build_onevision(ctx),
        lambda: vqa.build_vqav2_translated(ctx),
    ]


def _write_output(root: Path, out: Output) -> None:
    d = root / "sources" / out.name
    d.mkdir(parents=True, exist_ok=True)
    for rel, content in out.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".jsonl"):
            p.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in content))
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_bytes(orjson.dumps(content))
    if out.images_link:
        os.symlink(out.images_link, d / "images")


def generate(
    out: str | Path,
    size: str = "tiny",
    seed: int = 0,
    image_size: int = 64,
    *,
    keep_truth: bool = False,
    progress: bool = False,
    overwrite: bool = False,
    scale: int = 1,
) -> WorldResult:
    """Write the world of ``(seed, size)`` to ``out`` atomically and return a summary. An existing
    non-empty ``out`` is replaced only with ``overwrite`` and only if it is an mmdata output."""
    if size not in SIZES:
        raise MmdataError(f"unknown world size {size!r}; choose one of {', '.join(SIZES)}")
    if not 16 <= image_size <= 1024:
        raise MmdataError(f"image size {image_size} is out of range (16..1024)")
    if not 1 <= scale <= 64:
        raise MmdataError(f"world scale {scale} is out of range (1..64)")
    cfg = scaled(size, scale)
    out = Path(out)
    from rich.progress import Progress

    from mmdata import ui

    with atomic_dir(out, overwrite=overwrite, kind="world") as tmp, Progress(disable=not progress, transient=True, console=ui.console()) as bar:
        total = cfg.coco_images + cfg.vg_images + cfg.books
        t_img = bar.add_task(f"rendering {total} pool images", total=total)

        def adv(k):
            bar.advance(t_img, k)

        coco = build_pool("coco", cfg.coco_images, seed, tmp, image_size, adv)
        vg = build_pool("vg", cfg.vg_images, seed, tmp, image_size, adv)
        books = build_pool("ocr", cfg.books, seed, tmp, image_size, adv)
        ctx = Ctx(seed, size, cfg, image_size, tmp, coco, vg, books, keep_truth)
        writers = _writers(ctx)
        t_src = bar.add_task("writing sources", total=len(writers))
        outputs: dict[str, Output] = {}
        dups: list[dict] = []
        for w in writers:
            res = w()
            for o in res if isinstance(res, list) else [res]:
                _write_output(tmp, o)
                dups += o.duplicates
                o.files = {}  # free the native documents
                outputs[o.name] = o
            bar.advance(t_src)
        (tmp / "duplicates.jsonl").write_bytes(b"".join(dumps_json(d, indent=False) for d in dups))
        (tmp / "scenes").mkdir()
        for pool, imgs in (("coco", coco), ("vg", vg), ("ocr", books)):
            lines = [dumps_json({"image_id": im.image_id, **im.scene.to_json()}, indent=False) for im in imgs]
            (tmp / "scenes" / f"{pool}.jsonl").write_bytes(b"".join(lines))
        counts = {name: outputs[name].count for name in SOURCE_NAMES}
        manifest = {
            "kind": "mmdata-world",
            "seed": seed,
            "size": size,
            **({"scale": scale} if scale != 1 else {}),
            "image_size": image_size,
            "counts": counts,
            "total_records": sum(counts.values()),
            "pools": {"coco": len(coco), "vg": len(vg), "ocr": len(books), "sqa": cfg.sqa_images},
            "duplicate_groups": len(dups),
            "heldout": {"stream": "heldout", "note": "benchmark scenes come from this stream only; no training source draws from it"},
            "software": {"mmdata": __version__, "pillow": PIL.__version__, "python": platform.python_version()},
        }
        (tmp / "world.json").write_bytes(dumps_json(manifest))
    scenes = {im.scene.scene_id: im.scene for im in (*coco, *vg, *books)}
    return WorldResult(out, counts, outputs, scenes)


def world_inputs(size: str, seed: int, image_size: int) -> dict:
    """The content key of a world: its arguments and the digest of the generator's code."""
    from mmdata import cache

    return {"size": size, "seed": seed, "image_size": image_size, "code": cache.code_digest("mmdata.world")}


def cached_world(size: str = "small", seed: int = 0, image_size: int = 64, *, progress: bool = False) -> Path:
    """The world of ``(size, seed, image_size)`` from the content cache, generated on first use.
    Its key is those arguments and the digest of this package's code, so a generator change makes
    a new world instead of reusing a stale one."""
    from mmdata import cache

    entry = cache.run("world", world_inputs(size, seed, image_size), lambda tmp: generate(tmp / "world", size, seed, image_size, progress=progress),
                      label=f"{size} world (seed {seed}, {image_size} px)")  # fmt: skip
    return entry.path / "world"
