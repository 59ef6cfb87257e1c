"""Vision encoder: a transformers ``CLIPVisionModel`` plus feature-layer selection and CLS handling.

Built from a small config for the world (:func:`vision_hf_config`) or loaded from a local directory
with ``local_files_only=True`` (a ``CLIPVisionModel`` or a full ``CLIPModel`` checkpoint such as
CLIP ViT-L/14-336). ``forward`` returns the CLS token and the N patch tokens of hidden layer
``feature_layer`` (default -2, the second-to-last layer, as LLaVA / Honeybee / Parrot use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from mmdata.model.llm import quiet_hf

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def vision_hf_config(arch):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        attn_implementation="sdpa",
    )


def load_clip_vision(path: str | Path, *, weights: bool = True):
    """A CLIPVisionModel from a local directory (weights, or the config only)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    quiet_hf()
    if weights:
        return CLIPVisionModel.from_pretrained(path, local_files_only=True, dtype=torch.float32, attn_implementation="sdpa")
    cfg = CLIPVisionConfig.from_pretrained(path, local_files_only=True)
    cfg._attn_implementation = "sdpa"
    return CLIPVisionModel(cfg)


@dataclass(frozen=True)
class ImageTransform:
    """PIL image → normalised (3, S, S) float tensor: RGB, bicubic resize to a square, CLIP mean/std
    (Honeybee's preprocessing; no augmentation). Picklable, so data-loader workers run it."""

    size: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = img.convert("RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.BICUBIC)
        a = np.asarray(img, dtype=np.float32) / 255.0
        a = (a - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return torch.from_numpy(a.transpose(2, 0, 1).copy())


def read_image_stats(path: str | Path) -> tuple[tuple, tuple]:
    """CLIP mean/std from a local ``preprocessor_config.json`` when present (JSON only)."""
    import orjson

    f = Path(path) / "preprocessor_config.json"
    if f.is_file():
        d = orjson.loads(f.read_bytes())
        if "image_mean" in d and "image_std" in d:
            return tuple(d["image_mean"]), tuple(d["image_std"])
    return CLIP_MEAN, CLIP_STD


class VisionEncoder(nn.Module):
    def __init__(self, clip, feature_layer: int = -2, mean=CLIP_MEAN, std=CLIP_STD) -> None:
        super().__init__()
        self.clip = clip
        cfg = clip.config
        n_layers = cfg.num_hidden_layers
        if not -(n_layers + 1) <= feature_layer <= n_layers:
            raise ValueError(f"feature_layer {feature_layer} out of range for {n_layers} layers")
        self.feature_layer = feature_layer
        self.hidden_size = cfg.hidden_size
        self.image_size = cfg.image_size
        self.num_patches = (cfg.image_size // cfg.patch_size) ** 2
        self.transform = ImageTransform(cfg.image_size, tuple(mean), tuple(std))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) → CLS (B, D) and patches (B, N, D) of the selected hidden layer."""
        out = self.clip(pixel_values=pixel_values, output_hidden_states=True)
        feats = out.hidden_states[self.feature_layer]
        return feats[:, 0], feats[:, 1:]
