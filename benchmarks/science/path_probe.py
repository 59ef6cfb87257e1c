"""Where along a stage-2 checkpoint's visual path does the scene get lost? Linear probes (logistic
regression, 900 world images to fit, 300 held out) of scene attributes from three places: the CLIP
feature layer the projector reads (mean-pooled, and flattened), the projector's visual tokens
(flattened: the LLM sees each token, not their mean), and the LLM's last hidden state at the end of the prompt "What
shape is the largest object?" (what the answer is read from). Prints ``attribute probe%/majority%``.

    .venv/bin/python benchmarks/science/path_probe.py CKPT WORLD_DIR [--threads 2]

``WORLD_DIR`` is the world the checkpoint trained on (its ``scenes/`` are the labels).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from mmdata.model.inference import load_for_generation
from mmdata.model.stage0 import world_scenes
from mmdata.world.lexicon import BACKGROUNDS, COLOURS, SHAPES


def _largest(s):
    return max(s.objects, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("world")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    gen = load_for_generation(args.ckpt)
    vlm = gen.vlm
    scenes = [s for s in world_scenes(Path(args.world)) if s[0].pool == "coco"][:1200]
    ss = [s for s, _ in scenes]
    labels = {"background": [BACKGROUNDS.index(s.background) for s in ss], "count": [len(s.objects) for s in ss]}
    labels |= {f"has_{c}": [int(any(o.shape == c for o in s.objects)) for s in ss] for c in SHAPES[:3]}
    labels["largest_shape"] = [SHAPES.index(_largest(s).shape) for s in ss]
    labels["largest_colour"] = [COLOURS.index(_largest(s).colour) for s in ss]
    feats: dict[str, list[np.ndarray]] = {"CLIP features (mean)": [], "CLIP features (flattened)": [], "projector tokens": [],
                                          "LLM state at the answer": []}  # fmt: skip
    with torch.no_grad():
        for k in range(0, len(scenes), 50):
            ims = [Image.open(p).convert("RGB") for _, p in scenes[k : k + 50]]
            q = gen.encode([[im] for im in ims], ["What shape is the largest object?"] * len(ims))
            vis = vlm.prompt_visuals(q["input_ids"], q["attention_mask"], q.get("pixel_values"), q.get("image_row")).embeds
            feats["projector tokens"].append(vis.flatten(1).float().numpy())
            hs = vlm.vision.clip(pixel_values=q["pixel_values"], output_hidden_states=True).hidden_states[vlm.vision.feature_layer]
            feats["CLIP features (mean)"].append(hs.mean(1).float().numpy())
            feats["CLIP features (flattened)"].append(hs.flatten(1).float().numpy())
            mask = q["attention_mask"]  # prompts are left-padded: the last position is every row's end
            pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
            h = vlm.llm.get_decoder()(inputs_embeds=vlm.splice(q["input_ids"], vis), attention_mask=mask, position_ids=pos).last_hidden_state
            feats["LLM state at the answer"].append(h[:, -1].float().numpy())
    n = 900
    for name, chunks in feats.items():
        f = np.concatenate(chunks)
        f = (f - f[:n].mean(0)) / (f[:n].std(0) + 1e-6)
        row = []
        for key, y in labels.items():
            y = np.array(y)
            majority = np.bincount(y[n:] - y.min()).max() / len(y[n:])
            acc = LogisticRegression(max_iter=1000, C=0.05 if f.shape[1] > 2000 else 1.0).fit(f[:n], y[:n]).score(f[n:], y[n:])
            row.append(f"{key} {100 * acc:.0f}/{100 * majority:.0f}")
        print(f"{name}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
