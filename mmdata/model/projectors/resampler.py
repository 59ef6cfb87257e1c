"""``resampler``: a Perceiver resampler (Flamingo / mPLUG-Owl style); M learned queries.

Each layer lets the latent queries attend over ``[visual features; latents]`` (pre-norm multi-head
attention), then applies a feed-forward block; an input projection maps the encoder width to the
resampler width (plus a learned position embedding) and an output projection maps to the LLM width.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import PositiveInt
from torch import nn

from mmdata.model.config import Strict
from mmdata.model.projectors.base import Projector
from mmdata.model.registry import register


class ResamplerConfig(Strict):
    name: Literal["resampler"]
    num_queries: PositiveInt = 64
    hidden_size: PositiveInt = 1024
    layers: PositiveInt = 6
    heads: PositiveInt = 16
    ffn_mult: PositiveInt = 4


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_x, self.norm_q = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.o = nn.Linear(dim, dim, bias=False)
        self.ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim))

    def forward(self, x: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
        b, m, d = lat.shape
        h = self.heads
        q_in = self.norm_q(lat)
        kv_in = torch.cat([self.norm_x(x), q_in], dim=1)
        q = self.q(q_in).view(b, m, h, d // h).transpose(1, 2)
        k, v = self.kv(kv_in).view(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v)
        lat = lat + self.o(att.transpose(1, 2).reshape(b, m, d))
        return lat + self.ffn(lat)


@register("resampler", ResamplerConfig)
class Resampler(Projector):
    def __init__(self, cfg, in_dim, out_dim, num_patches, with_cls=False):
        super().__init__(cfg, in_dim, out_dim, num_patches, with_cls)
        d = cfg.hidden_size
        if d % cfg.heads:
            raise ValueError(f"resampler hidden_size {d} is not a multiple of heads {cfg.heads}")
        self.in_proj = nn.Linear(in_dim, d)
        self.pos_emb = nn.Parameter(torch.zeros(1, num_patches, d))
        self.queries = nn.Parameter(torch.zeros(cfg.num_queries, d))
        nn.init.trunc_normal_(self.pos_emb, std=0.02)
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.blocks = nn.ModuleList(_Block(d, cfg.heads, cfg.ffn_mult) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.out_proj = nn.Linear(d, out_dim)

    def project(self, x):
        x = self.in_proj(x) + self.pos_emb
        lat = self.queries.expand(x.shape[0], -1, -1)
        for blk in self.blocks:
            lat = blk(x, lat)
        return self.out_proj(self.norm(lat))
