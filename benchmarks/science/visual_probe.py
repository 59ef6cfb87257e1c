"""Does a checkpoint's visual path carry the scene, and does its LLM use it? For one checkpoint:

* a linear probe (logistic regression, 400 images to fit, 200 held out) of the background colour
  from the projector's visual tokens and from the CLIP features the projector reads;
* the visual tokens' mean norm, their spread across images and the text embeddings' norm;
* greedy answers to the background question on the 200 held-out images (accuracy), and to two
  questions on eight different images (constant answers: the image is ignored).

    .venv/bin/python benchmarks/science/visual_probe.py CKPT WORLD_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from mmdata.model.inference import load_for_generation
from mmdata.world.lexicon import BACKGROUNDS
from mmdata.world.render import RGB


def main(ckpt: str, world: str) -> None:
    torch.set_num_threads(1)
    gen = load_for_generation(ckpt)
    vlm = gen.vlm
    paths = sorted(Path(world, "images", "coco").rglob("*.jpg"))[:600]
    ims = [Image.open(p).convert("RGB") for p in paths]
    # the background is the corner pixel's nearest background colour (objects never touch the corner)
    y = np.array([min(range(len(BACKGROUNDS)), key=lambda b: sum((x - c) ** 2 for x, c in zip(RGB[BACKGROUNDS[b]], im.getpixel((0, 0)), strict=True)))
                  for im in ims])  # fmt: skip
    vis_f, clip_f, norms = [], [], []
    with torch.no_grad():
        for k in range(0, len(ims), 50):
            chunk = ims[k : k + 50]
            q = gen.encode([[im] for im in chunk], ["What colour is the background?"] * len(chunk))
            vis = vlm.prompt_visuals(q["input_ids"], q["attention_mask"], q.get("pixel_values"), q.get("image_row")).embeds
            vis_f.append(vis.flatten(1).numpy())
            norms.append(vis)
            hs = vlm.vision.clip(pixel_values=q["pixel_values"], output_hidden_states=True).hidden_states[vlm.vision.feature_layer]
            clip_f.append(hs.mean(1).numpy())
    e = torch.cat(norms)
    print(f"images {len(ims)}  background classes {np.bincount(y).tolist()}")
    print(f"visual tokens: mean norm {e.norm(dim=-1).mean():.2f}, spread across images / mean |x| "
          f"{(e.std(0).mean() / e.abs().mean()):.2f}; text embeddings: mean norm {vlm.llm.get_input_embeddings().weight.norm(dim=-1).mean():.2f}")
    for name, f in (("projector tokens", np.concatenate(vis_f)), ("CLIP features", np.concatenate(clip_f))):
        f = (f - f[:400].mean(0)) / (f[:400].std(0) + 1e-6)
        acc = LogisticRegression(max_iter=2000).fit(f[:400], y[:400]).score(f[400:], y[400:])
        print(f"linear probe of the background from {name}: {100 * acc:.1f}% held out (chance {100 / len(BACKGROUNDS):.1f}%)")
    held = list(range(400, 600))
    said = []
    for k in range(0, len(held), 50):
        said += gen.generate([[ims[i]] for i in held[k : k + 50]], ["What colour is the background?"] * len(held[k : k + 50]), max_new_tokens=4)
    right = sum(a.strip().strip(".").lower() == BACKGROUNDS[y[i]] for a, i in zip(said, held, strict=True))
    print(f"greedy answers to 'What colour is the background?': {100 * right / len(held):.1f}% right on the 200 held-out images "
          f"(always answering the commonest: {100 * np.bincount(y[held]).max() / len(held):.1f}%)")
    picks = [ims[i] for i in range(0, len(ims), len(ims) // 8)][:8]
    for question in ("What colour is the background?", "How many objects are there?"):
        print(question, gen.generate([[im] for im in picks], [question] * 8, max_new_tokens=6))


if __name__ == "__main__":
    main(*sys.argv[1:3])
