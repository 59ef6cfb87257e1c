"""Code maps for a set of images (``mmdata tokenizer encode``).

Output directory (written atomically)::

    codes.jsonl     one line per image, in sorted path order:
                    {"image": relative path, "sha256", "grid": [h, w] (or [N] for seed's 1-D queries),
                     "codes": N × D nested list, row-major positions}
    manifest.json   the tokenizer (directory, kind, config), the image root, counts and codebook health
                    (usage, perplexity, dead codes) over all the codes written

A tokenizer directory is self-contained: pixel tokenizers carry their normalisation, feature
tokenizers their vision encoder (``vision/``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from mmdata.io import atomic_dir, atomic_write_bytes, dumps_json, sha256_file
from mmdata.model.quantizer import code_stats
from mmdata.model.tokenizers.base import load_tokenizer


def _vision_for(tok_dir: Path, info: dict):
    from mmdata.model.vision import VisionEncoder, load_clip_vision, read_image_stats

    vision = VisionEncoder(load_clip_vision(tok_dir / "vision"), info["feature_layer"], *read_image_stats(tok_dir / "vision"))
    return vision.eval().requires_grad_(False)


def encode_images(tokenizer: str | Path, images: str | Path, out: str | Path, *, batch_size: int = 64, overwrite: bool = False) -> dict:
    from mmdata.model.tokenizers.train import image_files, load_pixels
    from mmdata.model.vision import ImageTransform

    tok_dir, root = Path(tokenizer), Path(images)
    tok, info = load_tokenizer(tok_dir)
    files = image_files(root)
    vision = _vision_for(tok_dir, info) if tok.space == "features" else None
    transform = vision.transform if vision is not None else ImageTransform(tok.dims.image_size, tuple(tok.mean.flatten().tolist()),
                                                                          tuple(tok.std.flatten().tolist()))  # fmt: skip
    n = tok.num_positions
    side = math.isqrt(n)
    grid = [side, side] if tok.kind != "seed" and side * side == n else [n]
    lines, all_codes = [], []
    with torch.no_grad():
        for i in range(0, len(files), batch_size):
            chunk = files[i : i + batch_size]
            codes = tok.encode(tok.inputs(load_pixels(chunk, transform), vision))
            all_codes.append(codes)
            for f, c in zip(chunk, codes.tolist(), strict=True):
                lines.append(dumps_json({"image": f.relative_to(root).as_posix(), "sha256": sha256_file(f), "grid": grid, "codes": c}, indent=False))
    stats = code_stats(torch.cat(all_codes), tok.codebook_size)
    manifest = {"tokenizer": str(tok_dir), "kind": tok.kind, "config": info["config"], "images_root": str(root), "images": len(files),
                "shape": [*grid, tok.layers], "codebook": stats}  # fmt: skip
    with atomic_dir(out, overwrite=overwrite, inputs=[images, tokenizer], kind="codes") as tmp:
        atomic_write_bytes(tmp / "codes.jsonl", b"".join(lines))
        atomic_write_bytes(tmp / "manifest.json", dumps_json(manifest))
    return manifest
