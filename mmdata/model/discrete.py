"""The discrete visual path of the VLM (``visual: discrete``): image → codes → new vocabulary rows.

A frozen tokenizer (:mod:`mmdata.model.tokenizers`) turns each image into codes ``(N, D)``. The codes
are ``K`` new tokens of the LLM vocabulary, ids ``V … V + K − 1`` after the ``V`` text tokens:

* **input rows** — ``rows = proj(E)``: ``E`` (K × c) starts as the tokenizer's codebook (``init:
  codebook``, TEAL's initialisation from the tokenizer) or random with the codebook's scale (``init:
  random``); ``proj`` (c → d_LLM) starts as the identity when the widths agree (UniCode modes: the
  codebook already lives in the LLM's embedding space) and as a random orthogonal map otherwise,
  scaled so the rows have the LLM's embedding RMS;
* **a position's embedding** — the aggregate of its D code rows: the sum (``cumsum``) or a learned
  linear map of their concatenation (``concat``); N such embeddings replace the ``<image>``
  placeholder run (UniCode's "compressed" h·w embeddings);
* **output rows** — ``head`` (K × d_LLM), initialised from the input rows at the LM head's scale: the
  logits over the joint vocabulary are ``[lm_head(h), head · h]``, so the model can predict visual
  codes (the in-context decompression task, where each code is also fed back as one token).

Generation for the harness uses the text head only (answers are text). The tokenizer is always in
eval mode and frozen (:func:`mmdata.model.stages.set_stage`), so it never updates its codebook and
runs no collective under DDP.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mmdata.errors import MmdataError

# fields of the ``discrete`` section that fix the tokenizer's architecture (a trained tokenizer
# directory must agree with the preset on all of them)
ARCH_FIELDS = ("kind", "codebook_size", "stacked", "aggregate", "codebook_mode", "code_dim", "cosine", "channels", "downsample",
               "queries", "qformer_layers", "qformer_heads", "llm_offset")  # fmt: skip


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().float().pow(2).mean().sqrt().clamp_min(1e-8))


class DiscreteVisual(nn.Module):
    discrete = True

    def __init__(self, cfg, tokenizer, llm) -> None:
        super().__init__()
        self.cfg, self.tokenizer = cfg, tokenizer
        table = llm.get_input_embeddings().weight
        head = llm.get_output_embeddings().weight
        self.text_vocab = head.shape[0]
        book = tokenizer.quantizer.codebook.detach().float().clone()
        k, c = book.shape
        d = table.shape[1]
        self.embed = nn.Parameter(book if cfg.init == "codebook" else torch.randn(k, c) * book.std().clamp_min(1e-8))
        self.proj = nn.Linear(c, d)
        with torch.no_grad():
            w = torch.eye(d, c) if c == d else nn.init.orthogonal_(torch.empty(d, c))
            scale = _rms(table) / _rms(self.embed @ w.T)
            self.proj.weight.copy_(w * scale)
            self.proj.bias.zero_()
        self.agg = None
        if cfg.aggregate == "concat" and cfg.stacked > 1:
            self.agg = nn.Linear(cfg.stacked * d, d)
            with torch.no_grad():  # starts as the mean of the D code rows
                self.agg.weight.copy_(torch.cat([torch.eye(d)] * cfg.stacked, dim=1) / cfg.stacked)
                self.agg.bias.zero_()
        with torch.no_grad():
            rows = self.rows()
            self.head = nn.Parameter(rows * (_rms(head) / _rms(rows)))

    # ------------------------------------------------------------------------------ shapes

    @property
    def num_tokens(self) -> int:
        """Visual tokens per image: one per position."""
        return self.tokenizer.num_positions

    @property
    def num_codes(self) -> int:
        """Length of an image's full code sequence (N·D), the decompression target."""
        return self.tokenizer.num_positions * self.cfg.stacked

    def vocabulary_rows(self) -> list[nn.Parameter]:
        """The new vocabulary rows (input and output), frozen in stage 1 (TEAL trains projections first)."""
        return [self.embed, self.head]

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()  # frozen: never an EMA update, k-means init or collective
        return self

    # ------------------------------------------------------------------------------- coding

    @torch.no_grad()
    def codes(self, pixels: torch.Tensor, vision) -> torch.Tensor:
        """Images (B, 3, S, S) → codes (B, N, D)."""
        return self.tokenizer.encode(self.tokenizer.inputs(pixels, vision))

    def rows(self) -> torch.Tensor:
        """(K, d) input rows of the visual tokens."""
        return self.proj(self.embed)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, N, D) → one embedding per position (B, N, d)."""
        e = self.rows()[codes]  # (B, N, D, d)
        if self.agg is not None:
            return self.agg(e.flatten(2))
        return e.sum(2)

    def code_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.head.to(hidden.dtype).T

    def forward(self, pixels: torch.Tensor, vision) -> tuple[torch.Tensor, torch.Tensor]:
        """Images → (position embeddings (B, N, d), codes (B, N, D))."""
        codes = self.codes(pixels, vision)
        return self.embed_codes(codes), codes


# ------------------------------------------------------------------------------------- building


def build_discrete(preset, vision, llm, *, weights: bool) -> DiscreteVisual:
    """The discrete path for ``preset``. With ``weights`` the tokenizer is loaded from
    ``discrete.tokenizer`` or trained on the fly (cached), and checked against the preset and the
    backbones; without, only the architecture is built (a checkpoint's weights follow)."""
    from mmdata.model.tokenizers import build_tokenizer
    from mmdata.model.tokenizers.base import Dims, load_tokenizer, vision_sha

    cfg = preset.discrete
    dims = Dims(vision.image_size, vision.hidden_size, vision.num_patches, llm.get_input_embeddings().embedding_dim)
    if not weights:
        return DiscreteVisual(cfg, build_tokenizer(cfg, dims), llm)
    if cfg.tokenizer is not None:
        d = Path(cfg.tokenizer)
    else:
        from mmdata.model.tokenizers.train import ensure_tokenizer

        d = ensure_tokenizer(preset)
    tok, info = load_tokenizer(d, field="discrete.tokenizer")
    where = {"file": d / "tokenizer.json"}
    for key in ARCH_FIELDS:
        if info["config"].get(key) != getattr(cfg, key):
            raise MmdataError(f"tokenizer has {key} {info['config'].get(key)!r}, the preset says {getattr(cfg, key)!r}", **where, field=f"discrete.{key}")
    if tok.dims != dims:
        raise MmdataError(f"tokenizer was built for backbones {tok.dims}, these are {dims}", **where, field="dims")
    if tok.space == "features":
        if info.get("feature_layer") != preset.vision.feature_layer:
            raise MmdataError(f"tokenizer reads feature layer {info.get('feature_layer')}, the preset uses {preset.vision.feature_layer}", **where,
                              field="vision.feature_layer")  # fmt: skip
        if info.get("vision_sha") != vision_sha(vision):
            raise MmdataError("tokenizer was trained on another vision encoder's features", **where, field="vision_sha")
    if cfg.codebook_mode == "dual":  # the codebook is shared with the LLM's rows: the LLM holds it too
        from mmdata.model.tokenizers.unicode import llm_rows

        with torch.no_grad():
            llm_rows(llm, cfg).copy_(tok.quantizer.codebook)
    return DiscreteVisual(cfg, tok, llm)
