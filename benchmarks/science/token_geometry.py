"""How much of a checkpoint's visual tokens is one vector shared by every token? For 100 world images:
the tokens' mean norm, the norm of their mean over every image and position (the shared vector),
the per-position and per-image deviations, the mean cosine between a sample's tokens, and, after
the RMS normalisation the LLM applies first, the share of the variance that differs between images.
The same figures for the CLIP features the projector reads, and the text embeddings' norm.

    .venv/bin/python benchmarks/science/token_geometry.py CKPT WORLD_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from mmdata.model.inference import load_for_generation


def geometry(name: str, e: torch.Tensor) -> None:
    """``e``: (images, tokens, features)."""
    shared = e.mean((0, 1))
    per_pos = e.mean(0) - shared
    per_img = e - e.mean(0, keepdim=True)
    norm = lambda x: x.norm(dim=-1).mean().item()  # noqa: E731
    cos = torch.nn.functional.cosine_similarity(e[:, :, None], e[:, None, :], dim=-1).mean().item()
    r = e / e.pow(2).mean(-1, keepdim=True).sqrt()
    share = (r - r.mean(0, keepdim=True)).pow(2).sum().item() / r.pow(2).sum().item()
    print(f"{name:>16}: |token| {norm(e):7.2f}  |shared| {shared.norm():7.2f}  |per position| {norm(per_pos):6.2f}  "
          f"|per image| {norm(per_img):6.2f}  cos(tokens) {cos:.3f}  image-dependent share after RMS norm {100 * share:.1f} %")


def main(ckpt: str, world: str) -> None:
    torch.set_num_threads(2)
    gen = load_for_generation(ckpt, "cpu")
    vlm = gen.vlm
    ims = [Image.open(p).convert("RGB") for p in sorted(Path(world, "images", "coco").rglob("*.jpg"))[:100]]
    with torch.no_grad():
        q = gen.encode([[im] for im in ims], ["What colour is the background?"] * len(ims))
        vis = vlm.prompt_visuals(q["input_ids"], q["attention_mask"], q.get("pixel_values"), q.get("image_row")).embeds
        feats = vlm.vision.clip(pixel_values=q["pixel_values"], output_hidden_states=True).hidden_states[vlm.vision.feature_layer]
    geometry("visual tokens", vis)
    geometry("CLIP features", feats)
    print(f"text embeddings: mean norm {vlm.llm.get_input_embeddings().weight.norm(dim=-1).mean():.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
