"""``vqvae``: a convolutional VQ-VAE over the world's images, with stacked quantization (UniCode).

The encoder halves the resolution ``log2(downsample)`` times (4×4 stride-2 convolutions) down to an
``h × w`` grid (4×4 for 64 px images at ``downsample: 16``) and projects to the quantizer's input; each
position gets ``D`` codes (``stacked``), aggregated by cumulative sum (residual quantization) or by
concatenation of D slices (see :mod:`mmdata.model.quantizer`). The decoder mirrors the encoder with
transposed convolutions. Loss: pixel MSE (in the CLIP-normalised space the VLM feeds it) plus the
quantizer's commitment loss. Reported MSE / PSNR are in ``[0, 1]`` pixel space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mmdata.model.tokenizers.base import Tokenizer


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.net(x)


class VQVAE(Tokenizer):
    kind = "vqvae"
    space = "pixels"

    def __init__(self, cfg, dims, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> None:
        super().__init__(cfg, dims)
        levels = int(math.log2(cfg.downsample))
        ch, q = cfg.channels, self.quantizer.input_dim
        self.side = dims.image_size // cfg.downsample
        enc: list[nn.Module] = [nn.Conv2d(3, ch, 4, 2, 1)]
        for _ in range(levels - 1):
            enc += [nn.SiLU(), nn.Conv2d(ch, ch, 4, 2, 1)]
        enc += [ResBlock(ch), nn.SiLU(), nn.Conv2d(ch, q, 1)]
        dec: list[nn.Module] = [nn.Conv2d(q, ch, 1), ResBlock(ch)]
        for _ in range(levels - 1):
            dec += [nn.SiLU(), nn.ConvTranspose2d(ch, ch, 4, 2, 1)]
        dec += [nn.SiLU(), nn.ConvTranspose2d(ch, 3, 4, 2, 1)]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    @property
    def num_positions(self) -> int:
        return self.side * self.side

    def prequant(self, x):
        return self.encoder(x).flatten(2).transpose(1, 2)  # (B, h·w, q), row-major positions

    def _decode(self, vectors):
        b = vectors.shape[0]
        return self.decoder(vectors.transpose(1, 2).reshape(b, -1, self.side, self.side))

    def loss(self, x, extra=None):
        q = self.quantizer(self.prequant(x))
        rec = F.mse_loss(self._decode(q.vectors), x)
        return rec + q.loss, {"recon": float(rec.detach()), "commit": float(q.loss.detach())}

    @torch.no_grad()
    def reconstruct(self, x):
        codes = self.encode(x)
        out = self._decode(self.quantizer.decode(codes))
        return self.to_unit(x), self.to_unit(out), codes

    def to_unit(self, x):
        """Normalised pixels → ``[0, 1]`` (clamped), the space MSE / PSNR are reported in."""
        return (x * self.std + self.mean).clamp(0, 1)
