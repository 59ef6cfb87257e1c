"""What every projector shares: its output length ``num_tokens`` (M), ``project`` (the per-projector
part) and the CLS projection.

The Parrot MoE routes with the *projected* CLS token, and ``keep_cls`` splices it in front of the
visual tokens. Token-wise projectors (linear, MLP) project the CLS with the same weights, exactly as
Parrot's MLP does; pooling projectors (resampler, C-/D-Abstractor) cannot take a token outside the
grid, so they get a small readout of their own (Linear → SiLU → Linear), trained with the projector.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmdata.model.registry import get


class Projector(nn.Module):
    tokenwise = False  # True: every input token maps to one output token (M = N)

    def __init__(self, cfg, in_dim: int, out_dim: int, num_patches: int, with_cls: bool = False) -> None:
        super().__init__()
        self.cfg, self.in_dim, self.out_dim, self.num_patches = cfg, in_dim, out_dim, num_patches
        self.cls_head = None
        if with_cls and not self.tokenwise:
            self.cls_head = nn.Sequential(nn.Linear(in_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    @property
    def num_tokens(self) -> int:
        return self.num_patches if self.tokenwise else self.cfg.num_queries

    def forward(self, x: torch.Tensor, cls: torch.Tensor | None = None):
        """(B, N, D) → (B, M, d); with ``cls`` (B, D) also the projected CLS token (B, d).

        One call does both, so a sharded (FSDP) projector gathers its weights once per step.
        """
        if cls is None:
            return self.project(x)
        if self.tokenwise:
            out = self.project(torch.cat([cls[:, None], x], dim=1))
            return out[:, 1:], out[:, 0]
        if self.cls_head is None:
            raise RuntimeError("projector was built without a CLS head (keep_cls is false)")
        return self.project(x), self.cls_head(cls)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def grid_side(n: int, what: str) -> int:
    s = math.isqrt(n)
    if s * s != n:
        raise ValueError(f"{what} must be a perfect square (a √n×√n grid), got {n}")
    return s


def build_projector(cfg, in_dim: int, out_dim: int, num_patches: int, with_cls: bool) -> Projector:
    _, cls = get(cfg.name)
    return cls(cfg, in_dim, out_dim, num_patches, with_cls=with_cls)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
