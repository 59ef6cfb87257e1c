"""The held-out scene space: scenes the benchmark may use and no training source ever draws from.

Held-out scenes come from their own random stream (``"heldout"``), so they are independent of every
training pool; on top of that, any held-out scene whose content signature equals a training scene's
(possible in principle for two-object scenes) is skipped, so "no scene shared" holds exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from mmdata.errors import MmdataError
from mmdata.io import load_json
from mmdata.world.scene import Scene, make_scene, rng_for


def world_info(world_dir: str | Path) -> dict:
    p = Path(world_dir) / "world.json"
    info = load_json(p)
    if not isinstance(info, dict) or info.get("kind") != "mmdata-world":
        raise MmdataError("not an mmdata world manifest (run `mmdata world --out DIR` first)", file=p)
    return info


def training_signatures(world_dir: str | Path) -> set[str]:
    sigs = set()
    for f in sorted((Path(world_dir) / "scenes").glob("*.jsonl")):
        for line in f.read_bytes().splitlines():
            if line:
                sigs.add(Scene.from_json(orjson.loads(line)).signature())
    return sigs


def heldout_scenes(world_dir: str | Path, n: int, *, text_prob: float = 0.3) -> Iterator[Scene]:
    """The first ``n`` held-out scenes of a world (deterministic from its seed and image size)."""
    info = world_info(world_dir)
    seed, size = info["seed"], info["image_size"]
    taken = training_signatures(world_dir)
    i = produced = 0
    while produced < n:
        s = make_scene(rng_for(seed, "heldout", i), f"heldout-{i}", "heldout", size, size, text_prob=text_prob)
        i += 1
        if s.signature() in taken:
            continue
        produced += 1
        yield s
