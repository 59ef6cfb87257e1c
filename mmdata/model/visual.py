"""The visual path of the VLM: how images become LLM input embeddings, behind one interface.

========================  ======================================================================
``ProjectorPath``         vision features → projector → [Parrot MoE] (``visual: projector``)
``DiscretePath``          image → frozen discrete tokenizer → codes → new vocabulary rows
                          (``visual: discrete``, :mod:`mmdata.model.discrete`)
========================  ======================================================================

Both are ``nn.Module``\\ s with the same surface, so :class:`~mmdata.model.vlm.VLM` and
:func:`~mmdata.model.stages.set_stage` never ask which one they hold:

* ``num_tokens`` — visual tokens spliced per ``<image>``; ``num_codes`` — an image's code sequence
  length for ``<image-codes>`` runs (``None``: the path has no codes);
* ``forward(pixel_values, vision, text, mask) → VisualTokens`` — the tokens of I images, the router
  probabilities (``None`` unless an MoE routed them on ``text`` under ``mask``: the prompt-token
  embeddings of each image's sample) and the codes (discrete only); ``vision`` is the VLM's encoder,
  which the path reads but does not own;
* ``stage`` — set by the VLM (the MoE runs from stage 2 on); ``routed`` — whether ``forward`` reads
  the routing context now;
* ``trainable(stage)`` — the parameter names the stage trains; ``lr_key(name)`` — the preset's
  learning-rate key (``projector`` / ``moe``) of a parameter;
* ``splice_codes(...)`` and ``extra_logits(hidden)`` — the code runs and the logits of the joint
  vocabulary (identity / ``None`` for the projector path).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from mmdata.model.chat import CODES_TOKEN_ID


@dataclass
class VisualTokens:
    embeds: torch.Tensor  # (I, V, d)
    router_probs: torch.Tensor | None = None  # (I, E)
    codes: torch.Tensor | None = None  # (I, N, D), discrete paths


class VisualPath(nn.Module):
    """What both paths share (see the module docstring)."""

    num_codes: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.stage = 1

    @property
    def routed(self) -> bool:
        return False

    def trainable(self, stage: int) -> list[str]:
        raise NotImplementedError

    def lr_key(self, name: str) -> str:
        return "projector"

    def extra_logits(self, hidden: torch.Tensor) -> torch.Tensor | None:
        return None

    def splice_codes(self, embeds, labels, input_ids, segment_ids, image_row, image_segment, codes):
        if bool((input_ids == CODES_TOKEN_ID).any()):
            raise ValueError("'<image-codes>' placeholders need a discrete-token model (visual: discrete)")
        return embeds, labels


class ProjectorPath(VisualPath):
    """Vision features → projector (→ the projected CLS in front, with ``keep_cls``) → Parrot MoE
    (from stage 2 on; bypassed, i.e. identity, in stage 1)."""

    def __init__(self, preset, vision, d: int) -> None:
        from mmdata.model.moe import ParrotMoE
        from mmdata.model.projectors import build_projector

        super().__init__()
        self.keep_cls = preset.vision.keep_cls
        self.projector = build_projector(preset.projector, vision.hidden_size, d, vision.num_patches, self.keep_cls)
        m = preset.moe
        self.moe = ParrotMoE(d, m.experts, m.intermediate, m.alpha, m.residual) if m.enabled else None
        # visual_norm "text-rms": the target RMS of a visual token (a buffer, saved with the weights)
        self.norm_to = preset.visual_norm == "text-rms"
        if self.norm_to:
            self.register_buffer("token_rms", torch.ones(()))
        # visual_norm "standardize": per-feature statistics over the batch's tokens (buffers, saved with the weights)
        self.standardize = nn.BatchNorm1d(d, affine=False) if preset.visual_norm == "standardize" else None

    @property
    def num_tokens(self) -> int:
        return self.projector.num_tokens + int(self.keep_cls)

    @property
    def routed(self) -> bool:
        return self.moe is not None and self.stage >= 2

    def forward(self, pixel_values, vision, text=None, mask=None) -> VisualTokens:
        frozen = not any(p.requires_grad for p in vision.parameters())
        with torch.no_grad() if frozen else contextlib.nullcontext():
            cls, patches = vision(pixel_values)
        if self.keep_cls:
            vis, cls_tok = self.projector(patches, cls)
            vis = torch.cat([cls_tok[:, None], vis], dim=1)
        else:
            vis = self.projector(patches)
        if self.norm_to:
            vis = vis * (self.token_rms * torch.rsqrt(vis.pow(2).mean(-1, keepdim=True) + 1e-6))
        if self.standardize is not None:
            vis = self.standardize(vis.flatten(0, 1)).view_as(vis)
        if not self.routed:
            return VisualTokens(vis)
        vis, probs = self.moe(vis, text, mask)
        return VisualTokens(vis, probs)

    def trainable(self, stage: int) -> list[str]:
        parts = ("projector.",) if stage == 1 else ("projector.", "moe.")
        return [n for n, _ in self.named_parameters() if n.startswith(parts)]

    def lr_key(self, name: str) -> str:
        return "moe" if name.startswith("moe.") else "projector"


def build_visual(preset, vision, llm, *, weights: bool) -> VisualPath:
    """The preset's visual path (``weights=False``: architecture only, a checkpoint's weights follow)."""
    if preset.is_discrete:
        from mmdata.model.discrete import build_discrete

        return build_discrete(preset, vision, llm, weights=weights)
    emb = llm.get_input_embeddings()
    path = ProjectorPath(preset, vision, emb.embedding_dim)
    if path.norm_to and weights:  # the LLM's own token scale (a checkpoint brings its saved value)
        with torch.no_grad():
            path.token_rms.fill_(emb.weight.float().pow(2).mean(-1).sqrt().mean())
    return path


def legacy_key(name: str, discrete: bool) -> str:
    """A state-dict key written before the visual paths (``projector.*`` / ``moe.*`` at the top of
    the VLM) → today's key (``visual.projector.*`` / ``visual.moe.*``; ``visual.*`` for a discrete
    path, which sat in the projector's slot). Other keys pass unchanged."""
    head, dot, rest = name.partition(".")
    if not dot or head not in ("projector", "moe"):
        return name
    if discrete and head == "projector":
        return f"visual.{rest}"
    return f"visual.{name}"
