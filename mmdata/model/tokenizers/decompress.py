"""UniCode's in-context image decompression task, as builder data.

The task: given an image's *compressed* embeddings (the h·w position embeddings a discrete model
puts where ``<image>`` is, each the aggregate of its D codes), predict the full unfolded h·w·D code
sequence. Which codes are right depends on the model's own tokenizer, so the data does not spell them
out: the assistant turn is the marker ``<image-codes>`` (:data:`mmdata.model.chat.CODES`), which a
discrete model expands into its image's code tokens at training time. One mixture therefore serves
every tokenizer and codebook mode of an ablation; a projector model refuses such rows.

:func:`write_decompress_source` writes the task as a source in LLaVA's conversation layout, read by
the ``decompress`` adapter (task ``decompress``, passed through by the builder like other
conversation tasks)::

    OUT/decompress.json   [{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n…"},
                                                            {"from": "gpt", "value": "<image-codes>"}]}, …]
    OUT/images/…          the images (hard links where possible, else copies)

Put it in a recipe like any source: ``{dataset: decompress, path: sources/decompress}`` after
``mmdata tokenizer decompress-data --world WORLD --out WORLD/sources/decompress``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import atomic_dir, atomic_write_bytes, dumps_json
from mmdata.model.chat import CODES, IMAGE

PROMPTS = (
    "Decompress the image: write out every one of its visual codes, position by position.",
    "List the full visual code sequence of this image.",
    "Unfold the compressed image into all of its codes.",
    "Reconstruct the image's complete code sequence, layer by layer for each position.",
)


def conversation(rel: str) -> dict:
    """One decompression conversation for the image at ``rel``; the prompt is fixed per image."""
    k = int(hashlib.sha256(rel.encode()).hexdigest()[:8], 16) % len(PROMPTS)
    return {
        "id": f"decompress-{hashlib.sha256(rel.encode()).hexdigest()[:16]}",
        "image": rel,
        "conversations": [{"from": "human", "value": f"{IMAGE}\n{PROMPTS[k]}"}, {"from": "gpt", "value": CODES}],
    }


def _world_images(world: Path) -> list[tuple[Path, str]]:
    from mmdata.model.stage0 import world_scenes

    if not (world / "world.json").is_file():
        raise MmdataError("not a world directory (no world.json)", file=world)
    images = world / "images"
    return [(p, p.relative_to(images).as_posix()) for _, p in world_scenes(world)]  # training-pool images only


def write_decompress_source(out: str | Path, *, world: str | Path | None = None, images: str | Path | None = None,
                            limit: int | None = None, overwrite: bool = False) -> dict:  # fmt: skip
    """Write the decompression source for a world's training images (``world``) or for every image
    under ``images``; returns a summary. Exactly one of the two is given."""
    from mmdata.model.tokenizers.train import image_files

    if (world is None) == (images is None):
        raise MmdataError("give either a world directory or an image directory")
    if world is not None:
        found = _world_images(Path(world))
    else:
        root = Path(images)
        found = [(p, p.relative_to(root).as_posix()) for p in image_files(root)]
    found = found[:limit] if limit else found
    with atomic_dir(out, overwrite=overwrite, inputs=[world, images], kind="source") as tmp:
        for src, rel in found:
            dest = tmp / "images" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
        atomic_write_bytes(tmp / "decompress.json", dumps_json([conversation(rel) for _, rel in found]))
    return {"out": str(out), "conversations": len(found)}
