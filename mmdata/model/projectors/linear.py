"""``linear``: one Linear per token (LLaVA-1's projector); M = N."""

from __future__ import annotations

from typing import Literal

from torch import nn

from mmdata.model.config import Strict
from mmdata.model.projectors.base import Projector
from mmdata.model.registry import register


class LinearConfig(Strict):
    name: Literal["linear"]


@register("linear", LinearConfig)
class LinearProjector(Projector):
    tokenwise = True

    def __init__(self, cfg, in_dim, out_dim, num_patches, with_cls=False):
        super().__init__(cfg, in_dim, out_dim, num_patches, with_cls)
        self.proj = nn.Linear(in_dim, out_dim)

    def project(self, x):
        return self.proj(x)
