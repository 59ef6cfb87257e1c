"""The one interface over vector-quantize-pytorch (pinned to an exact version in ``pyproject.toml``).

:class:`Quantizer` maps ``(B, N, input_dim)`` vectors to ``D`` codes per position from **one**
codebook of ``K`` entries of width ``c`` (the D layers share it: a single visual vocabulary, as in
UniCode's unified codebook and RQ-VAE's shared codebook):

* ``aggregate: cumsum`` — residual (stacked) quantization, ``ResidualVQ(shared_codebook=True)``: layer
  ``d`` quantizes what layers ``< d`` left over and the position's vector is the **sum** of its D code
  vectors (``input_dim = c``);
* ``aggregate: concat`` — the position's vector is cut into D slices of width ``c``, each quantized
  with the same codebook, and the vector is the **concatenation** of the D code vectors
  (``VectorQuantize(heads=D)``, ``input_dim = D·c``).

Codebook updates: ``ema`` (the library's EMA of assigned vectors, with dead-code revival from the
batch below ``dead_code_threshold`` and optional k-means initialisation on the first batch),
``gradient`` (a learnable codebook trained by the commitment/codebook loss; no EMA, no revival) or
``frozen`` (nothing changes the codebook; with ``kmeans_init`` the first training batch fits it by
k-means, which is how the TEAL-style tokenizer is built).

Known traps handled here (see ``reference/model-anchors.md`` §9):

* **fp32 codebook maths.** The library only disables *CUDA* autocast around its codebook; we run the
  whole quantizer with autocast off on every device and feed it fp32, so distances, EMA statistics and
  the returned vectors are fp32 even inside a bf16 autocast region (CPU included).
* **DDP codebook sync.** ``sync`` (all-reducing EMA statistics and k-means) is decided once, when the
  quantizer is built: on when ``torch.distributed`` is initialised with more than one process, never
  through the library's cached ``is_distributed()``. When it is on, *every rank must call forward on
  every training step* (the VLM feeds a blank image on text-only batches); in eval mode no collective
  runs. A ``gradient`` codebook is a plain parameter, synchronised by DDP like any other.
* **shared codebook + EMA** (library issue #162): the pinned version updates a shared codebook once,
  after all layers; its statistics live in the first layer's codebook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

AGGREGATES = ("cumsum", "concat")
UPDATES = ("ema", "gradient", "frozen")


def _quiet_library() -> None:
    from loguru import logger

    logger.disable("vector_quantize_pytorch")  # k-means init warns through loguru on small batches


@dataclass(frozen=True)
class QuantizerSpec:
    dim: int  # c: width of one code vector
    codebook_size: int  # K
    layers: int = 1  # D codes per position
    aggregate: Literal["cumsum", "concat"] = "cumsum"
    update: Literal["ema", "gradient", "frozen"] = "ema"
    decay: float = 0.9  # EMA decay (ema)
    kmeans_init: bool = True  # fit the codebook by k-means on the first training batch
    kmeans_iters: int = 10
    dead_code_threshold: float = 1.0  # ema: revive codes whose EMA cluster size is below this (0: never)
    commitment: float = 0.25
    cosine: bool = False  # cosine-similarity codebook (l2-normalised codes)

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        if self.update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {self.update!r}")
        if self.layers < 1 or self.codebook_size < 2 or self.dim < 1:
            raise ValueError(f"bad quantizer shape: {self.layers} layers, {self.codebook_size} codes of width {self.dim}")
        if self.update == "gradient" and self.cosine:
            raise ValueError("a gradient-trained codebook cannot be a cosine codebook (library limitation)")

    @property
    def input_dim(self) -> int:
        return self.dim * self.layers if self.aggregate == "concat" else self.dim


@dataclass
class Quantized:
    vectors: torch.Tensor  # (B, N, input_dim), fp32: the quantized vectors (straight-through while training)
    codes: torch.Tensor  # (B, N, D) long
    loss: torch.Tensor  # scalar: commitment (+ codebook, for a gradient codebook) loss


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class Quantizer(nn.Module):
    def __init__(self, spec: QuantizerSpec, *, sync: bool | None = None) -> None:
        super().__init__()
        from vector_quantize_pytorch import ResidualVQ, VectorQuantize

        _quiet_library()
        self.spec = spec
        self.sync = _distributed() if sync is None else sync
        s = spec
        kw = {
            "codebook_size": s.codebook_size,
            "decay": s.decay,
            "kmeans_init": s.kmeans_init,
            "kmeans_iters": s.kmeans_iters,
            "threshold_ema_dead_code": s.dead_code_threshold if s.update == "ema" else 0.0,
            "commitment_weight": s.commitment,
            "use_cosine_sim": s.cosine,
            "ema_update": s.update == "ema",
            "learnable_codebook": s.update == "gradient",
            "freeze_codebook": s.update == "frozen",
            "sync_codebook": self.sync,
        }
        if s.aggregate == "cumsum":
            self.vq = ResidualVQ(dim=s.dim, num_quantizers=s.layers, shared_codebook=True, **kw)
        else:
            self.vq = VectorQuantize(dim=s.dim * s.layers, codebook_dim=s.dim, heads=s.layers, separate_codebook_per_head=False, **kw)

    # ------------------------------------------------------------------------------- codebook

    @property
    def _book(self):
        """The library's ``Codebook`` holding the shared codebook and its EMA statistics."""
        return self.vq.layers[0]._codebook if self.spec.aggregate == "cumsum" else self.vq._codebook

    @property
    def codebook(self) -> torch.Tensor:
        """The live (K, c) codebook (a view; clone it for a snapshot)."""
        return self._book.embed[0]

    @property
    def input_dim(self) -> int:
        return self.spec.input_dim

    def codebook_parameters(self) -> list[nn.Parameter]:
        """The codebook as trainable parameters (``gradient`` updates only)."""
        return [self._book.embed] if self.spec.update == "gradient" else []

    @torch.no_grad()
    def set_codebook(self, rows: torch.Tensor) -> None:
        """Replace the codebook by ``rows`` (K, c), keeping the EMA statistics consistent, and mark it
        initialised (so no k-means init overwrites it)."""
        book = self._book
        rows = rows.detach().to(book.embed.device, torch.float32)
        if tuple(rows.shape) != tuple(book.embed.shape[1:]):
            raise ValueError(f"codebook rows must be {tuple(book.embed.shape[1:])}, got {tuple(rows.shape)}")
        book.embed.data[0].copy_(rows)
        book.embed_avg.data[0].copy_(rows * book.cluster_size[0, :, None])
        book.initted.data.copy_(torch.tensor(True))

    @torch.no_grad()
    def lerp_codebook(self, target: torch.Tensor, weight: float) -> None:
        """``C ← (1 − w)·C + w·target`` (UniCode's ``C' = λC + (1 − λ)C_L`` with ``w = 1 − λ``).

        ``embed_avg`` moves with it, so the next EMA step starts from the moved codebook instead of
        undoing the move. ``target`` is only read."""
        book = self._book
        target = target.detach().to(book.embed.device, torch.float32)
        book.embed.data[0].lerp_(target, weight)
        book.embed_avg.data[0].copy_(book.embed.data[0] * book.cluster_size[0, :, None])

    # -------------------------------------------------------------------------------- forward

    def forward(self, x: torch.Tensor) -> Quantized:
        """(B, N, input_dim) → quantized vectors, codes (B, N, D) and the loss; fp32 throughout."""
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"expected (B, N, {self.input_dim}), got {tuple(x.shape)}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            # freeze_codebook is passed on every call: ResidualVQ.forward would otherwise override the
            # layers' constructor setting with its own default (False)
            out = self.vq(x.float(), freeze_codebook=self.spec.update == "frozen")
        vectors, codes, loss = out[0], out[1], out[2]
        if codes.ndim == 2:  # one layer, concat: (B, N)
            codes = codes[..., None]
        return Quantized(vectors.float(), codes.long(), loss.float().sum())

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes only (B, N, D), with the module in whatever mode it is (eval: no codebook update)."""
        return self(x).codes

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, N, D) → vectors (B, N, input_dim): the sum (cumsum) or concatenation of the code
        vectors; equals the quantizer's output in eval mode."""
        vec = self.codebook[codes]  # (B, N, D, c)
        if self.spec.cosine:
            vec = torch.nn.functional.normalize(vec, dim=-1)
        return vec.sum(-2) if self.spec.aggregate == "cumsum" else vec.flatten(-2)

    @torch.no_grad()
    def fit_kmeans(self, x: torch.Tensor) -> None:
        """Fit the codebook by k-means on ``x`` (M, input_dim) — one training-mode forward of a
        ``kmeans_init`` quantizer; a ``frozen`` one then never changes again. Seed the torch RNG first
        for a reproducible fit (the library samples the initial centroids)."""
        if not self.spec.kmeans_init:
            raise ValueError("fit_kmeans needs a quantizer built with kmeans_init")
        was = self.training
        self.train()
        self(x[None])
        self.train(was)


def code_stats(codes: torch.Tensor, codebook_size: int) -> dict:
    """Codebook health over a set of codes: usage (share of the K codes used at least once), dead
    codes (never used), and perplexity (exp of the entropy of the code histogram; K = uniform use)."""
    counts = torch.bincount(codes.reshape(-1).long().cpu(), minlength=codebook_size).double()
    p = counts / counts.sum().clamp_min(1)
    nz = p[p > 0]
    used = int((counts > 0).sum())
    return {
        "usage_pct": 100.0 * used / codebook_size,
        "used_codes": used,
        "dead_codes": codebook_size - used,
        "perplexity": float(math.exp(float(-(nz * nz.log()).sum()))) if nz.numel() else 0.0,
        "assignments": int(counts.sum()),
    }
