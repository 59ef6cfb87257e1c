"""What every discrete visual tokenizer shares: its dimensions, its quantizer, its input, its files.

A tokenizer turns an image into codes ``(N, D)``: ``N`` positions with ``D`` stacked codes each, from
one codebook of ``K`` entries (:mod:`mmdata.model.quantizer`). It reads either pixels (``vqvae``) or
the frozen vision encoder's features (``seed``, ``kmeans``; the same ``feature_layer`` the projectors
use). Each kind implements ``prequant`` (continuous vectors before quantization), ``loss`` (its
training objective) and ``reconstruct`` (target and reconstruction, for the reported MSE / PSNR).

A tokenizer directory (written atomically by :func:`save_tokenizer`)::

    tokenizer.json         kind, config (the preset's ``discrete`` section), dimensions, image
                           transform, vision feature layer and weights hash, metrics, versions
    tokenizer.safetensors  the weights (quantizer buffers included)
    metrics.json           the reported metrics (``mmdata tokenizer train``)
    vision/                seed / kmeans: the vision encoder the features come from (save_pretrained),
                           so ``mmdata tokenizer encode`` needs nothing else
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import torch
from torch import nn

from mmdata.errors import MmdataError
from mmdata.io import atomic_dir, atomic_write_bytes, dumps_json
from mmdata.model.quantizer import Quantizer, QuantizerSpec

KIND = "mmdata-visual-tokenizer"
VERSION = 1
DEFAULT_CODE_DIM = {"vqvae": 64, "seed": 32}


@dataclass(frozen=True)
class Dims:
    """The backbone sizes a tokenizer's architecture depends on."""

    image_size: int
    feature_dim: int  # vision hidden width
    num_patches: int
    llm_dim: int


def code_dim(cfg, dims: Dims) -> int:
    if cfg.llm_linked:
        return dims.llm_dim
    if cfg.kind == "kmeans":
        return dims.feature_dim
    return cfg.code_dim or DEFAULT_CODE_DIM[cfg.kind]


def quantizer_spec(cfg, dims: Dims) -> QuantizerSpec:
    """The preset's ``discrete`` section → the quantizer: EMA + k-means init by default; UniCode's
    modes start from the LLM's rows (frozen, gradient-shared, or EMA); k-means fits once and freezes."""
    t = cfg.train
    update, kmeans_init = "ema", True
    if cfg.codebook_mode == "frozen-llm":
        update, kmeans_init = "frozen", False
    elif cfg.codebook_mode == "dual":
        update, kmeans_init = "gradient", False
    elif cfg.codebook_mode == "language-driven":
        kmeans_init = False
    elif cfg.kind == "kmeans":
        update = "frozen"
    return QuantizerSpec(dim=code_dim(cfg, dims), codebook_size=cfg.codebook_size, layers=cfg.stacked, aggregate=cfg.aggregate,
                         update=update, decay=t.decay, kmeans_init=kmeans_init, kmeans_iters=t.kmeans_iters,
                         dead_code_threshold=t.dead_code_threshold, commitment=t.commitment, cosine=cfg.cosine)  # fmt: skip


class Tokenizer(nn.Module):
    kind = ""
    space = "pixels"  # "pixels" | "features": what the tokenizer reads and reconstructs

    def __init__(self, cfg, dims: Dims) -> None:
        super().__init__()
        self.cfg, self.dims = cfg, dims
        self.quantizer = Quantizer(quantizer_spec(cfg, dims))

    @property
    def layers(self) -> int:
        return self.cfg.stacked

    @property
    def codebook_size(self) -> int:
        return self.cfg.codebook_size

    @property
    def num_positions(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- inputs

    def inputs(self, pixels: torch.Tensor | None, vision=None, features: torch.Tensor | None = None) -> torch.Tensor:
        """What this tokenizer reads: normalised pixels, or the frozen encoder's tokens."""
        if self.space == "pixels":
            return pixels
        if features is None:
            with torch.no_grad():
                cls, patches = vision(pixels)
            features = torch.cat([cls[:, None], patches], dim=1)
        return self.select(features)

    def select(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 1 + P, F) encoder tokens (CLS first) → what this kind reads."""
        return features

    # ------------------------------------------------------------------------------- coding

    def prequant(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs → continuous (B, N, quantizer.input_dim) vectors."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs → codes (B, N, D); never updates the codebook (eval-mode quantizer)."""
        was = self.quantizer.training
        self.quantizer.eval()
        codes = self.quantizer(self.prequant(x)).codes
        self.quantizer.train(was)
        return codes

    def loss(self, x: torch.Tensor, extra: dict | None = None) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(target, reconstruction, codes) in the space the metrics are reported in."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------- files


def vision_sha(vision) -> str:
    """A hash of the vision encoder's weights: a features tokenizer only fits the encoder it was trained on."""
    h = hashlib.sha256()
    for k, v in sorted(vision.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def save_tokenizer(out: str | Path, tok: Tokenizer, *, meta: dict, metrics: dict, vision=None, overwrite: bool = False) -> Path:
    """Write a tokenizer directory atomically (see module docstring)."""
    from mmdata import __version__
    from mmdata.model.checkpoint import save_tensors

    cfg = tok.cfg.model_dump(mode="json")
    cfg.pop("tokenizer", None)
    info = {"kind": KIND, "version": VERSION, "tokenizer_kind": tok.kind, "config": cfg, "dims": asdict(tok.dims),
            "metrics": metrics, "mmdata": __version__, "torch": str(torch.__version__), **meta}  # fmt: skip
    with atomic_dir(out, overwrite=overwrite, kind="tokenizer") as tmp:
        save_tensors(tok.state_dict(), tmp / "tokenizer.safetensors")
        atomic_write_bytes(tmp / "tokenizer.json", dumps_json(info))
        atomic_write_bytes(tmp / "metrics.json", dumps_json(metrics))
        if vision is not None:
            vision.clip.save_pretrained(tmp / "vision")
            tr = vision.transform
            atomic_write_bytes(tmp / "vision/preprocessor_config.json", dumps_json({"image_mean": list(tr.mean), "image_std": list(tr.std), "size": tr.size}))
    return Path(out)


def read_tokenizer_info(d: str | Path, *, field: str | None = None) -> dict:
    d = Path(d)
    f = d / "tokenizer.json"
    if not d.is_dir():
        raise MmdataError("tokenizer directory not found", file=d, field=field)
    if not f.is_file() or not (d / "tokenizer.safetensors").is_file():
        raise MmdataError("not a tokenizer directory (expected tokenizer.json and tokenizer.safetensors from `mmdata tokenizer train`)", file=d, field=field)
    try:
        info = orjson.loads(f.read_bytes())
    except orjson.JSONDecodeError as e:
        raise MmdataError(f"invalid JSON: {e}", file=f) from None
    if not isinstance(info, dict) or info.get("kind") != KIND:
        raise MmdataError(f"not an {KIND} file", file=f, field="kind")
    if info.get("version") != VERSION:
        raise MmdataError(f"tokenizer format version {info.get('version')} is not {VERSION}; retrain it", file=f, field="version")
    return info


def load_tokenizer(d: str | Path, *, field: str | None = None) -> tuple[Tokenizer, dict]:
    """Rebuild a tokenizer from its directory (config, dimensions) and load its weights."""
    from pydantic import ValidationError

    from mmdata.model.checkpoint import load_tensors
    from mmdata.model.config import DiscreteConfig
    from mmdata.model.tokenizers import build_tokenizer

    d = Path(d)
    info = read_tokenizer_info(d, field=field)
    try:
        cfg = DiscreteConfig.model_validate(info["config"])
        dims = Dims(**info["dims"])
    except (ValidationError, TypeError, KeyError) as e:
        raise MmdataError(f"bad tokenizer config ({type(e).__name__})", file=d / "tokenizer.json", field="config") from None
    tok = build_tokenizer(cfg, dims)
    missing, unexpected = tok.load_state_dict(load_tensors(d / "tokenizer.safetensors"), strict=False)
    if missing or unexpected:
        raise MmdataError(f"weights do not match the tokenizer ({'missing' if missing else 'unexpected'} {(missing or unexpected)[:3]})",
                          file=d / "tokenizer.safetensors")  # fmt: skip
    tok.eval()
    return tok, info
