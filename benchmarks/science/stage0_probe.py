"""How well do a stage-0 vision tower's features carry the scene? Linear probes (logistic regression,
900 world images to fit, 300 held out) of scene attributes from the feature layer the projector reads:
mean-pooled and flattened patch tokens. Prints ``attribute probe%/majority%`` per attribute.

    MMDATA_CACHE=... .venv/bin/python benchmarks/science/stage0_probe.py STAGE0_ENTRY WORLD_DIR [--threads 1]

``STAGE0_ENTRY`` is a ``$MMDATA_CACHE/stage0/<key>`` folder (``vision/`` inside), ``WORLD_DIR`` the
world it was trained on (its ``scenes/`` are the labels).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression
from transformers import CLIPVisionModel

from mmdata.model.stage0 import world_scenes
from mmdata.model.vision import ImageTransform
from mmdata.world.lexicon import BACKGROUNDS, COLOURS, SHAPES


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("entry")
    ap.add_argument("world")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layer", type=int, default=-2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    v = CLIPVisionModel.from_pretrained(Path(args.entry) / "vision").eval()
    scenes = [s for s in world_scenes(Path(args.world)) if s[0].pool == "coco"][:1200]
    tf = ImageTransform(v.config.image_size)
    x = torch.stack([tf(Image.open(p)) for _, p in scenes])
    with torch.no_grad():
        h = torch.cat([v(pixel_values=x[k : k + 100], output_hidden_states=True).hidden_states[args.layer] for k in range(0, len(x), 100)])
    ss = [s for s, _ in scenes]
    labels = {"background": [BACKGROUNDS.index(s.background) for s in ss], "count": [len(s.objects) for s in ss]}
    labels |= {f"has_{c}": [int(any(o.colour == c for o in s.objects)) for s in ss] for c in COLOURS[:4]}
    labels |= {f"has_{c}": [int(any(o.shape == c for o in s.objects)) for s in ss] for c in SHAPES[:3]}
    labels["largest_colour"] = [COLOURS.index(max(s.objects, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1])).colour) for s in ss]
    n = 900
    for name, f in (("mean", h.mean(1).numpy()), ("flat", h.flatten(1).numpy())):
        f = (f - f[:n].mean(0)) / (f[:n].std(0) + 1e-6)
        row = []
        for k, y in labels.items():
            y = np.array(y)
            majority = np.bincount(y[n:] - y.min()).max() / len(y[n:])
            acc = LogisticRegression(max_iter=500, C=0.05 if name == "flat" else 1.0).fit(f[:n], y[:n]).score(f[n:], y[n:])
            row.append(f"{k} {100 * acc:.0f}/{100 * majority:.0f}")
        print(f"{name:>4}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
