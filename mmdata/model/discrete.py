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

This is a :class:`~mmdata.model.visual.VisualPath` (the same interface as the projector path).
Stage 1 trains ``proj`` (and ``agg``) only — the new vocabulary rows stay as initialised, as in TEAL's
stage 1 —, stage 2 trains the rows too; the tokenizer is never trained by either (``mmdata tokenizer
train`` trains it once). Generation for the harness uses the text head only (answers are text). The
tokenizer is always in eval mode and frozen, so it never updates its codebook and runs no collective
under DDP.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mmdata.errors import MmdataError
from mmdata.model.chat import CODES_TOKEN_ID
from mmdata.model.visual import VisualPath, VisualTokens

# fields of the ``discrete`` section that fix the tokenizer's architecture (a trained tokenizer
# directory must agree with the preset on all of them)
ARCH_FIELDS = ("kind", "codebook_size", "stacked", "aggregate", "codebook_mode", "code_dim", "cosine", "channels", "downsample",
               "queries", "qformer_layers", "qformer_heads", "llm_offset")  # fmt: skip


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().float().pow(2).mean().sqrt().clamp_min(1e-8))


class DiscretePath(VisualPath):
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

    def trainable(self, stage: int) -> list[str]:
        """Stage 1: the projections; stage 2: also the new vocabulary rows (input and output). Never
        the tokenizer."""
        frozen = ("tokenizer.",) if stage >= 2 else ("tokenizer.", "embed", "head")
        return [n for n, _ in self.named_parameters() if not n.startswith(frozen)]

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

    def extra_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of the K visual tokens (after the text vocabulary's: the joint vocabulary)."""
        return self.code_logits(hidden)

    def forward(self, pixels: torch.Tensor, vision, text=None, mask=None) -> VisualTokens:
        """Images → position embeddings (B, N, d) and codes (B, N, D) (no routing context)."""
        codes = self.codes(pixels, vision)
        return VisualTokens(self.embed_codes(codes), None, codes)

    def splice_codes(self, embeds, labels, input_ids, segment_ids, image_row, image_segment, codes):
        """Fill the ``<image-codes>`` runs with their images' codes (position-major, D per position):
        code-token embeddings as inputs and visual-token ids ``V + code`` as the shifted targets. The
        j-th run of a sample decompresses the sample's j-th image."""
        run = input_ids == CODES_TOKEN_ID
        if not bool(run.any()):
            return embeds, labels
        if codes is None:
            raise ValueError("code placeholders in a batch without images")
        rows = self.rows().to(embeds.dtype)
        labels = labels.clone()
        taken, nth = 0, {}
        n = self.num_codes
        for i in range(codes.shape[0]):
            r, s = int(image_row[i]), int(image_segment[i])
            j = nth[(r, s)] = nth.get((r, s), -1) + 1  # this image is the sample's j-th
            pos = torch.nonzero(run[r] & (segment_ids[r] == s)).squeeze(1)[j * n : (j + 1) * n]
            if pos.numel() == 0:
                continue
            flat = codes[i].reshape(-1)
            if pos.numel() != flat.numel():
                raise ValueError(f"{pos.numel()} code placeholders for an image with {flat.numel()} codes")
            embeds = embeds.index_put((torch.full_like(pos, r), pos), rows[flat])
            labels[r, pos - 1] = self.text_vocab + flat
            taken += pos.numel()
        if taken != int(run.sum()):
            raise ValueError(f"{int(run.sum()) - taken} code placeholders belong to no image")
        return embeds, labels


# ------------------------------------------------------------------------------------- building


def build_discrete(preset, vision, llm, *, weights: bool) -> DiscretePath:
    """The discrete path for ``preset``. With ``weights`` the tokenizer is loaded from
    ``discrete.tokenizer`` or trained on the fly (cached), and checked against the preset and the
    backbones; without, only the architecture is built (a checkpoint's weights follow)."""
    from mmdata.model.tokenizers import build_tokenizer
    from mmdata.model.tokenizers.base import Dims, load_tokenizer, vision_sha

    cfg = preset.discrete
    dims = Dims(vision.image_size, vision.hidden_size, vision.num_patches, llm.get_input_embeddings().embedding_dim)
    if not weights:
        return DiscretePath(cfg, build_tokenizer(cfg, dims), llm)
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
    return DiscretePath(cfg, tok, llm)
