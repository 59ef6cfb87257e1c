"""Parrot's multilingual MoE, placed after the projector (dense, text-guided soft routing).

For each image (one routing decision per sample, not per token):

1. ``q`` = the projected CLS token (row 0 of the visual tokens);
2. cross-attention with no learned projections and a single head over the LLM *input embeddings*
   of the prompt (the non-answer tokens of that sample): ``a = softmax(q·Tᵀ/√d)``, ``h = a·T``;
3. router: a bias-free ``Linear(d, E)`` and a softmax → ``p`` (E,);
4. every SwiGLU expert runs on all visual tokens; ``mix = Σ_e p_e·expert_e(x)``;
5. residual: ``mix + α·x`` (the released code) or ``x + α·mix`` (the paper's Eq. 5).

It is bypassed (identity) in stage 1. No auxiliary loss, as in Parrot.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class ParrotMoE(nn.Module):
    def __init__(self, dim: int, experts: int, intermediate: int, alpha: float = 0.1, residual: str = "code") -> None:
        super().__init__()
        if residual not in ("code", "paper"):
            raise ValueError(f"residual must be 'code' or 'paper', got {residual!r}")
        self.dim, self.alpha, self.residual = dim, alpha, residual
        self.router = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(dim, intermediate) for _ in range(experts))

    def route(self, cls: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """cls (I, d), text (I, T, d), mask (I, T) bool → router probabilities (I, E).

        Rows whose mask is empty (no prompt tokens) get an all-zero summary, i.e. uniform routing.
        """
        scores = torch.einsum("id,itd->it", cls, text) / math.sqrt(self.dim)
        scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores.float(), dim=-1).nan_to_num(0.0).to(text.dtype)
        summary = torch.einsum("it,itd->id", attn, text)
        return torch.softmax(self.router(summary).float(), dim=-1)

    def forward(self, x: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (I, V, d) visual tokens with the projected CLS at row 0 → (same shape, probs (I, E))."""
        probs = self.route(x[:, 0], text, mask)
        p = probs.to(x.dtype)
        mix = sum(p[:, e, None, None] * expert(x) for e, expert in enumerate(self.experts))
        out = mix + self.alpha * x if self.residual == "code" else x + self.alpha * mix
        return out, probs
