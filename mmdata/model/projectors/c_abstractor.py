"""``c-abs``: Honeybee's C-Abstractor (locality-preserving convolutional abstractor).

features + learned position embedding → (B, D, √N, √N) → ``depth`` ResNet bottleneck blocks with
squeeze-excite (RegNet style: 1×1 conv, depthwise 3×3 conv, SE, 1×1 conv; LayerNorm2d, SiLU)
→ adaptive average pooling to √M×√M (M may exceed N) → ``depth`` blocks → flatten → MLP readout
(Linear, SiLU, Linear; ``mlp_depth`` layers). Convolutions have no bias (Honeybee uses timm's
``RegStage``; the block is written out here to avoid the dependency).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from mmdata.model.config import Strict
from mmdata.model.projectors.base import LayerNorm2d, Projector, grid_side
from mmdata.model.registry import register


class CAbsConfig(Strict):
    name: Literal["c-abs"]
    num_queries: PositiveInt = 144  # M, a perfect square
    depth: PositiveInt = 3  # blocks before and after pooling (Honeybee: 3 + 3)
    hidden_size: PositiveInt = 1024
    mlp_depth: PositiveInt = 2
    pos_emb: bool = True
    se_ratio: float = Field(0.25, gt=0, le=1)
    square: ClassVar[bool] = True  # M must be a perfect square


class SqueezeExcite(nn.Module):
    def __init__(self, ch: int, rd: int) -> None:
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Conv2d(ch, rd, 1), nn.Conv2d(rd, ch, 1), nn.SiLU()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


class Bottleneck(nn.Module):
    """RegNet bottleneck (bottleneck ratio 1, group width 1 → depthwise 3×3) with SE, residual, SiLU."""

    def __init__(self, cin: int, cout: int, se_ratio: float) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), LayerNorm2d(cout), nn.SiLU())
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, groups=cout, bias=False), LayerNorm2d(cout), nn.SiLU())
        self.se = SqueezeExcite(cout, max(1, round(cin * se_ratio)))
        self.conv3 = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), LayerNorm2d(cout))
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), LayerNorm2d(cout))
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv3(self.se(self.conv2(self.conv1(x)))) + self.shortcut(x))


def stage(depth: int, cin: int, cout: int, se_ratio: float) -> nn.Sequential:
    return nn.Sequential(*(Bottleneck(cin if i == 0 else cout, cout, se_ratio) for i in range(depth)))


@register("c-abs", CAbsConfig)
class CAbstractor(Projector):
    def __init__(self, cfg, in_dim, out_dim, num_patches, with_cls=False):
        super().__init__(cfg, in_dim, out_dim, num_patches, with_cls)
        self.side = grid_side(num_patches, "C-Abstractor input length N")
        self.out_side = math.isqrt(cfg.num_queries)
        h = cfg.hidden_size
        self.pos_emb = nn.Parameter(torch.zeros(1, num_patches, in_dim)) if cfg.pos_emb else None
        if self.pos_emb is not None:
            nn.init.trunc_normal_(self.pos_emb, std=0.02)
        self.net = nn.Sequential(
            stage(cfg.depth, in_dim, h, cfg.se_ratio), nn.AdaptiveAvgPool2d(self.out_side), stage(cfg.depth, h, h, cfg.se_ratio)
        )
        readout: list[nn.Module] = [nn.Linear(h, out_dim)]
        for _ in range(cfg.mlp_depth - 1):
            readout += [nn.SiLU(), nn.Linear(out_dim, out_dim)]
        self.readout = nn.Sequential(*readout)

    def project(self, x):
        if self.pos_emb is not None:
            x = x + self.pos_emb
        b, n, d = x.shape
        x = x.transpose(1, 2).reshape(b, d, self.side, self.side)
        x = self.net(x).flatten(2).transpose(1, 2)  # (B, M, hidden)
        return self.readout(x)
