"""``d-abs``: Honeybee's D-Abstractor (deformable-attention abstractor), pure torch via ``grid_sample``.

A Deformable-DETR-style decoder with one feature level and post-norm layers (self-attention →
deformable cross-attention → FFN). Its M queries have

* a learned content part (``nn.Embedding(M, d)``), the initial decoder state;
* a *v-pooled* positional part: the visual map adaptively average-pooled to √M×√M ("v-pooled Q");
* learnable reference points initialised on a uniform √M×√M grid over the whole map ("M-RP"),
  shared across layers (no iterative refinement).

Deformable cross-attention (one level): for each head, ``points`` sampling offsets and softmaxed
weights come from linear layers on ``query + pos``; values are read bilinearly at
``reference + offset / side`` with ``grid_sample`` and summed with those weights. Offsets start at
Deformable DETR's directional grid (zero weights, bias ``(k+1)·(cos θ_h, sin θ_h)`` scaled to the
unit square), so at initialisation every query samples around its own reference point. The
sampling runs in fp32 even under autocast (Honeybee's kernel does too).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from mmdata.model.config import Strict
from mmdata.model.projectors.base import Projector, grid_side
from mmdata.model.registry import register


class DAbsConfig(Strict):
    name: Literal["d-abs"]
    num_queries: PositiveInt = 144  # M, a perfect square
    layers: PositiveInt = 6
    hidden_size: PositiveInt = 1024
    heads: PositiveInt = 8
    points: PositiveInt = 4
    ffn: PositiveInt = 1024
    dropout: float = Field(0.1, ge=0, lt=1)
    pos_emb: bool = True
    square: ClassVar[bool] = True


def grid_reference_points(m: int) -> torch.Tensor:
    """(M, 2) cell centres (x, y) of a uniform √M×√M grid over [0, 1]², row-major."""
    s = math.isqrt(m)
    c = (torch.arange(s, dtype=torch.float32) + 0.5) / s
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=-1)


class DeformableCrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, points: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"d-abs hidden_size {dim} is not a multiple of heads {heads}")
        self.heads, self.points = heads, points
        self.sampling_offsets = nn.Linear(dim, heads * points * 2)
        self.attention_weights = nn.Linear(dim, heads * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.sampling_offsets.weight)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(self.offset_init().flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def offset_init(self) -> torch.Tensor:
        """(heads, points, 2) initial offsets in feature-map cells: point k of head h at (k+1)·dir_h."""
        theta = torch.arange(self.heads, dtype=torch.float32) * (2 * math.pi / self.heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True).values
        return grid[:, None, :] * torch.arange(1, self.points + 1, dtype=torch.float32)[None, :, None]

    def sampling_locations(self, query: torch.Tensor, ref: torch.Tensor, side: int) -> torch.Tensor:
        """(B, M, heads, points, 2) normalised (x, y) locations; ``ref`` is (1|B, M, 2)."""
        b, m, _ = query.shape
        off = self.sampling_offsets(query).float().view(b, m, self.heads, self.points, 2)
        return ref.float()[:, :, None, None, :] + off / side

    def forward(self, query: torch.Tensor, ref: torch.Tensor, memory: torch.Tensor, side: int) -> torch.Tensor:
        b, m, d = query.shape
        h, p, dh = self.heads, self.points, d // self.heads
        value = self.value_proj(memory).view(b, side, side, h, dh).permute(0, 3, 4, 1, 2).reshape(b * h, dh, side, side)
        loc = self.sampling_locations(query, ref, side)  # (B, M, h, p, 2)
        attn = self.attention_weights(query).float().view(b, m, h, p).softmax(-1)
        grid = (2 * loc - 1).permute(0, 2, 1, 3, 4).reshape(b * h, m, p, 2)
        with torch.autocast(device_type=query.device.type, enabled=False):
            sampled = F.grid_sample(value.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            out = (sampled * attn.permute(0, 2, 1, 3).reshape(b * h, 1, m, p)).sum(-1)  # (B·h, dh, M)
        out = out.view(b, h * dh, m).transpose(1, 2).to(query.dtype)
        return self.output_proj(out)


class DecoderLayer(nn.Module):
    """Deformable-DETR decoder layer (post-norm): self-attn → deformable cross-attn → FFN (ReLU)."""

    def __init__(self, dim: int, heads: int, points: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = DeformableCrossAttention(dim, heads, points)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, tgt, pos, ref, memory, side):
        q = tgt + pos
        tgt = self.norm1(tgt + self.drop(self.self_attn(q, q, tgt, need_weights=False)[0]))
        tgt = self.norm2(tgt + self.drop(self.cross_attn(tgt + pos, ref, memory, side)))
        return self.norm3(tgt + self.drop(self.fc2(self.drop(F.relu(self.fc1(tgt))))))


@register("d-abs", DAbsConfig)
class DAbstractor(Projector):
    def __init__(self, cfg, in_dim, out_dim, num_patches, with_cls=False):
        super().__init__(cfg, in_dim, out_dim, num_patches, with_cls)
        d = cfg.hidden_size
        self.side = grid_side(num_patches, "D-Abstractor input length N")
        self.out_side = math.isqrt(cfg.num_queries)
        self.pos_emb = nn.Parameter(torch.zeros(1, num_patches, in_dim)) if cfg.pos_emb else None
        if self.pos_emb is not None:
            nn.init.trunc_normal_(self.pos_emb, std=0.02)
        self.input_proj = nn.Identity() if in_dim == d else nn.Linear(in_dim, d)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.reference_points = nn.Parameter(grid_reference_points(cfg.num_queries)[None])  # (1, M, 2)
        self.pool = nn.AdaptiveAvgPool2d(self.out_side)
        self.layers = nn.ModuleList(DecoderLayer(d, cfg.heads, cfg.points, cfg.ffn, cfg.dropout) for _ in range(cfg.layers))
        self.out_proj = nn.Linear(d, out_dim)

    def query_pos(self, memory: torch.Tensor) -> torch.Tensor:
        """The v-pooled positional part of the queries: (B, M, d)."""
        b, n, d = memory.shape
        fmap = memory.transpose(1, 2).reshape(b, d, self.side, self.side)
        return self.pool(fmap).flatten(2).transpose(1, 2)

    def project(self, x):
        if self.pos_emb is not None:
            x = x + self.pos_emb
        memory = self.input_proj(x)
        pos = self.query_pos(memory)
        tgt = self.query_embed.weight[None].expand(x.shape[0], -1, -1)
        for layer in self.layers:
            tgt = layer(tgt, pos, self.reference_points, memory, self.side)
        return self.out_proj(tgt)
