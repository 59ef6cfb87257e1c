"""Helpers for recipe tests: write a recipe YAML next to a world."""

from __future__ import annotations

from pathlib import Path

import yaml

ALL = ["vqav2", "gqa", "ocrvqa", "vsr", "scienceqa", "aokvqa", "refcoco", "refcoco+", "refcocog", "vg_regions",
       "coco_captions", "llava_instruct", "sharegpt"]  # fmt: skip


def write_recipe(path: Path, world: Path, datasets=None, **sections) -> Path:
    data = {
        "name": "test",
        "seed": 0,
        "root": str(world),
        "sources": [{"dataset": d, "path": f"sources/{d}"} for d in (datasets or ALL)],
    }
    data.update(sections)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
