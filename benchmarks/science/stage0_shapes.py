"""How many steps does the tiny ViT need to see shapes? Trains a fresh stage-0 vision tower on the
scene-graph read-outs alone (:class:`mmdata.model.stage0.SceneHeads`, no contrastive loss) and prints
training and held-out accuracies every 100 steps (held out: the world's scenes after the first 1,900).

    .venv/bin/python benchmarks/science/stage0_shapes.py WORLD_DIR [--steps 2400] [--lr 1e-3] [--patch 8]
"""

from __future__ import annotations

import argparse
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPVisionModel

from mmdata.model.config import load_preset
from mmdata.model.stage0 import SceneHeads, scene_labels, world_scenes
from mmdata.model.vision import ImageTransform, vision_hf_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("world")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = load_preset("tiny-cpu", sets=[f"vision.arch.patch_size={args.patch}"])
    v = CLIPVisionModel(vision_hf_config(p.vision.arch))
    scenes = world_scenes(Path(args.world))
    tf = ImageTransform(v.config.image_size)
    x = torch.stack([tf(Image.open(q)) for _, q in scenes])
    labels = [scene_labels(s, v.config.image_size, args.patch) for s, _ in scenes]
    y = {k: torch.from_numpy(np.stack([lab[k] for lab in labels])) for k in labels[0]}
    heads = SceneHeads(v.config.hidden_size)
    opt = torch.optim.AdamW([*v.parameters(), *heads.parameters()], lr=args.lr)
    n, rng = 1900, random.Random(0)
    held = list(range(n, min(len(scenes), n + 300)))
    keep = ("obj_shape", "obj_colour", "obj_size", "shape", "count")
    for step in range(args.steps):
        idx = rng.sample(range(n), 48)
        loss, acc = heads(v(pixel_values=x[idx], output_hidden_states=True).hidden_states[p.vision.feature_layer], {k: t[idx] for k, t in y.items()})
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(v.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            with torch.no_grad():
                feats = v(pixel_values=x[held], output_hidden_states=True).hidden_states[p.vision.feature_layer]
                _, h = heads(feats, {k: t[held] for k, t in y.items()})
            print(f"step {step:>5} loss {loss.item():.3f} | train " + " ".join(f"{k} {acc[k]:.2f}" for k in keep)
                  + " | held out " + " ".join(f"{k} {h[k]:.2f}" for k in keep), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
