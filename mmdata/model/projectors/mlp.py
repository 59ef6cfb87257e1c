"""``mlp``: a per-token MLP, 2 layers by default (LLaVA-1.5's ``mlp2x_gelu``); M = N."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt
from torch import nn

from mmdata.model.config import Strict
from mmdata.model.projectors.base import Projector
from mmdata.model.registry import register


class MLPConfig(Strict):
    name: Literal["mlp"]
    depth: PositiveInt = 2
    act: Literal["gelu", "silu"] = "gelu"  # LLaVA / Parrot: GELU; Honeybee's MLP baseline: SiLU


@register("mlp", MLPConfig)
class MLPProjector(Projector):
    tokenwise = True

    def __init__(self, cfg, in_dim, out_dim, num_patches, with_cls=False):
        super().__init__(cfg, in_dim, out_dim, num_patches, with_cls)
        act = nn.GELU if cfg.act == "gelu" else nn.SiLU
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        for _ in range(cfg.depth - 1):
            layers += [act(), nn.Linear(out_dim, out_dim)]
        self.net = nn.Sequential(*layers)

    def project(self, x):
        return self.net(x)
