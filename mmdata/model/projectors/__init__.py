"""Projectors: N visual features (B, N, D_vision) → M visual tokens (B, M, d_LLM). Pure torch.

Importing this package registers the built-in projectors under their exact names.
"""

from mmdata.model.projectors import c_abstractor, d_abstractor, linear, mlp, resampler  # noqa: F401
from mmdata.model.projectors.base import Projector, build_projector

__all__ = ["Projector", "build_projector"]
