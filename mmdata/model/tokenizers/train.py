"""Training a discrete visual tokenizer, its metrics, and the on-the-fly cache.

    train_tokenizer(cfg, context, out)   one tokenizer from a ``discrete`` config
    train_from_preset(preset, out)       the same on a preset's stage-0 backbones and world images
    ensure_tokenizer(preset)             cached by content hash (``tokenizer: null`` in a preset)

A run is seeded (``train.seed``) and deterministic on CPU: the tokenizer's initialisation, the batch
order, k-means and dead-code revival all draw from one forked torch RNG. ``vqvae`` and ``seed`` train
with AdamW (warmup then cosine) on random batches of the images; ``kmeans`` fits once. UniCode's modes
drive the codebook through :class:`~mmdata.model.tokenizers.unicode.LanguageLink`.

Metrics (``metrics.json``), over every training image after training:

``recon_mse`` / ``psnr``
    pixels in [0, 1] (vqvae; PSNR peak 1) or features (seed: decoder vs Q-Former output; kmeans:
    centroid vs patch feature; PSNR peak = the target's dynamic range);
``usage_pct`` / ``used_codes`` / ``dead_codes``
    share of the K codes used at least once / used / never used, over all N·D codes of all images;
``perplexity``
    exp(entropy) of the code histogram (K when every code is used equally often);

plus the training time, first and last loss and, for UniCode modes, the codebook's distance to the
LLM rows and whether the LLM's embeddings are bit-identical afterwards.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from mmdata.errors import MmdataError
from mmdata.model.quantizer import code_stats
from mmdata.model.tokenizers import build_tokenizer
from mmdata.model.tokenizers.base import Dims, save_tokenizer, vision_sha

CACHE_VERSION = "1"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Context:
    """Everything a tokenizer trains on: the frozen backbones and the images (plus world text)."""

    vision: object  # VisionEncoder (frozen)
    llm: object  # causal LM (only UniCode modes and seed's contrastive term read it)
    text_tokenizer: object  # TextTokenizer
    images: list[Path]
    feature_layer: int
    captions: list[str] | None = None  # one per image (seed contrastive)
    docs: list[str] | None = None  # world text (dual's language side)

    @property
    def dims(self) -> Dims:
        return Dims(self.vision.image_size, self.vision.hidden_size, self.vision.num_patches, self.llm.get_input_embeddings().embedding_dim)


# ---------------------------------------------------------------------------------------- data


def image_files(d: str | Path) -> list[Path]:
    d = Path(d)
    if not d.is_dir():
        raise MmdataError("image directory not found", file=d)
    files = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith("."))
    if not files:
        raise MmdataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under this directory", file=d)
    return files


def load_pixels(paths: list[Path], transform) -> torch.Tensor:
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                out.append(transform(im))
        except (OSError, ValueError) as e:
            raise MmdataError(f"cannot decode image ({type(e).__name__})", file=p) from None
    return torch.stack(out)


@torch.no_grad()
def encoder_features(vision, pixels: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(M, 1 + P, F): CLS then patch tokens of the vision encoder's feature layer."""
    vision.eval()
    parts = []
    for i in range(0, len(pixels), batch):
        cls, patches = vision(pixels[i : i + batch])
        parts.append(torch.cat([cls[:, None], patches], dim=1))
    return torch.cat(parts)


@torch.no_grad()
def caption_embeddings(llm, tok, captions: list[str]) -> torch.Tensor:
    """A caption's mean frozen LLM input embedding (the contrastive term's text side)."""
    table = llm.get_input_embeddings().weight
    return torch.stack([table[torch.tensor(tok.encode(c) or [tok.eos_id])].mean(0) for c in captions]).float()


def lm_windows(tok, docs: list[str], seq_len: int = 64) -> torch.Tensor:
    stream: list[int] = []
    for d in docs:
        stream += [tok.bos_id, *tok.encode(d), tok.eos_id] if tok.bos_id is not None else [*tok.encode(d), tok.eos_id]
    n = max(1, len(stream) // seq_len)
    stream = (stream * (1 + seq_len // max(1, len(stream))))[: n * seq_len]
    return torch.tensor(stream).view(n, seq_len)


# --------------------------------------------------------------------------------------- train


def _lr(step: int, total: int, base: float) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return base * (step + 1) / warm
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))


def _llm_hash(llm) -> str:
    w = llm.get_input_embeddings().weight.detach().float().cpu().contiguous()
    return hashlib.sha256(w.numpy().tobytes()).hexdigest()


def train_tokenizer(cfg, ctx: Context, out: str | Path | None = None, *, log=print, overwrite: bool = False) -> tuple[object, dict]:
    """Train one tokenizer; returns ``(tokenizer, metrics)`` and writes ``out`` when given."""
    from mmdata.model.tokenizers.unicode import LanguageLink

    t = cfg.train
    t0 = time.perf_counter()
    pixels = load_pixels(ctx.images, ctx.vision.transform)
    tr = ctx.vision.transform
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t.seed)
        gen = torch.Generator().manual_seed(t.seed)
        kw = {"mean": tr.mean, "std": tr.std} if cfg.kind == "vqvae" else {}
        tok = build_tokenizer(cfg, ctx.dims, **kw)
        data = pixels if tok.space == "pixels" else tok.select(encoder_features(ctx.vision, pixels))
        extra = None
        if cfg.kind == "seed" and t.contrastive > 0:
            if ctx.captions is None:
                raise MmdataError("seed's contrastive term needs captions: train on the world's images (no --images)", field="discrete.train.contrastive")
            extra = caption_embeddings(ctx.llm, ctx.text_tokenizer, ctx.captions)
        llm_before = _llm_hash(ctx.llm) if cfg.llm_linked else None
        link = None
        if cfg.llm_linked:
            windows = None
            if cfg.codebook_mode == "dual":
                if not ctx.docs:
                    raise MmdataError("codebook mode 'dual' trains the LLM rows on world text; use a world preset", field="discrete.codebook_mode")
                windows = lm_windows(ctx.text_tokenizer, ctx.docs)
            link = LanguageLink(cfg, tok.quantizer, ctx.llm, lm_windows=windows, generator=gen)
        losses: list[float] = []
        if cfg.kind == "kmeans":
            tok.fit(data, t.seed)
        else:
            losses = _fit(tok, data, extra, cfg, gen, link, log)
        metrics = evaluate(tok, data)
    metrics.update({
        "kind": cfg.kind, "codebook_mode": cfg.codebook_mode, "codebook_size": cfg.codebook_size, "stacked": cfg.stacked,
        "aggregate": cfg.aggregate, "positions": tok.num_positions, "space": tok.space, "images": len(ctx.images),
        "steps": 0 if cfg.kind == "kmeans" else t.steps, "train_seconds": time.perf_counter() - t0,
    })  # fmt: skip
    if losses:
        metrics["loss_first"], metrics["loss_last"] = losses[0], sum(losses[-10:]) / len(losses[-10:])
    if link is not None:
        metrics.update(link.summary())
        metrics["llm_rows_identical"] = _llm_hash(ctx.llm) == llm_before
    log(f"tokenizer {cfg.kind}{'/' + cfg.codebook_mode if cfg.llm_linked else ''}: mse {metrics['recon_mse']:.5f} | psnr {metrics['psnr']:.2f} dB | "
        f"usage {metrics['usage_pct']:.1f}% | perplexity {metrics['perplexity']:.1f} | dead {metrics['dead_codes']} | {metrics['train_seconds']:.1f}s")  # fmt: skip
    if out is not None:
        meta = {"feature_layer": ctx.feature_layer, "vision_sha": vision_sha(ctx.vision) if tok.space == "features" else None,
                "images": [str(p) for p in ctx.images[:3]] + (["…"] if len(ctx.images) > 3 else [])}  # fmt: skip
        save_tokenizer(out, tok, meta=meta, metrics=metrics, vision=ctx.vision if tok.space == "features" else None, overwrite=overwrite)
    return tok, metrics


def _fit(tok, data, extra, cfg, gen, link, log) -> list[float]:
    t = cfg.train
    params = [p for p in tok.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=t.lr, betas=(0.9, 0.99), weight_decay=0.0)
    tok.train()
    losses = []
    n = len(data)
    for step in range(t.steps):
        for g in opt.param_groups:
            g["lr"] = _lr(step, t.steps, t.lr)
        idx = torch.randint(n, (min(t.batch_size, n),), generator=gen)
        loss, parts = tok.loss(data[idx], {"text": extra[idx]} if extra is not None else None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if link is not None:
            link.after_step(step + 1)
        losses.append(float(loss.detach()))
        if (step + 1) % 100 == 0 or step == 0:
            log(f"tokenizer step {step + 1:>5}/{t.steps} | loss {float(loss.detach()):.4f} | " + " ".join(f"{k} {v:.4f}" for k, v in parts.items()))
    tok.eval()
    return losses


@torch.no_grad()
def evaluate(tok, data: torch.Tensor, batch: int = 64) -> dict:
    """Reconstruction error and codebook health over ``data`` (see module docstring)."""
    tok.eval()
    sq, count, lo, hi, codes = 0.0, 0, math.inf, -math.inf, []
    for i in range(0, len(data), batch):
        target, rec, c = tok.reconstruct(data[i : i + batch])
        sq += float(F.mse_loss(rec.float(), target.float(), reduction="sum"))
        count += target.numel()
        lo, hi = min(lo, float(target.min())), max(hi, float(target.max()))
        codes.append(c)
    mse = sq / max(1, count)
    peak = 1.0 if tok.space == "pixels" else hi - lo
    stats = code_stats(torch.cat(codes), tok.codebook_size)
    return {"recon_mse": mse, "psnr": 10 * math.log10(peak**2 / max(mse, 1e-12)), **stats}


# ------------------------------------------------------------------------------- from a preset


def preset_context(preset, images: str | Path | None = None, *, log=print) -> Context:
    """The preset's stage-0 backbones (trained and cached on first use) and the world's training
    images with their English captions and the world text — or the images under ``images``."""
    from mmdata.model.llm import load_llm
    from mmdata.model.stage0 import run_stage0, world_for, world_scenes, world_text
    from mmdata.model.tokenizer import TextTokenizer
    from mmdata.model.vision import VisionEncoder, load_clip_vision, read_image_stats

    if not preset.is_world:
        raise MmdataError("tokenizers train on a world preset's stage-0 backbones; for local backbones pass a trained tokenizer directory",
                          file=preset.file, field="vision.source")  # fmt: skip
    s0 = run_stage0(preset, log=log)
    vision = VisionEncoder(load_clip_vision(s0 / "vision"), preset.vision.feature_layer, *read_image_stats(s0 / "vision"))
    vision.requires_grad_(False)
    llm = load_llm(s0 / "llm")
    text_tok = TextTokenizer.load(s0 / "tokenizer")
    scenes = world_scenes(world_for(preset.stage0))
    captions, docs = world_text(scenes, preset.stage0.seed)
    if images is None:
        paths, caps = [p for _, p in scenes], [c[0] for c in captions]  # c[0]: English, first caption template
    else:
        paths, caps = image_files(images), None
    return Context(vision, llm, text_tok, paths, preset.vision.feature_layer, caps, docs)


def train_from_preset(preset, out: str | Path | None = None, *, images: str | Path | None = None, log=print, overwrite: bool = False) -> tuple[object, dict]:
    """Train ``preset.discrete`` on the preset's backbones (``mmdata tokenizer train``)."""
    if preset.discrete is None:
        raise MmdataError("the preset has no 'discrete' section", file=preset.file, field="discrete")
    return train_tokenizer(preset.discrete, preset_context(preset, images, log=log), out, log=log, overwrite=overwrite)


def tokenizer_inputs(preset) -> dict:
    """What an on-the-fly tokenizer depends on: the ``discrete`` section, the stage-0 backbones it
    encodes with, and the feature layer."""
    from mmdata.model.stage0 import stage0_key

    cfg = preset.discrete.model_dump(mode="json")
    cfg.pop("tokenizer", None)
    return {"v": CACHE_VERSION, "discrete": cfg, "stage0": stage0_key(preset), "feature_layer": preset.vision.feature_layer}


def ensure_tokenizer(preset, *, context: Context | None = None, log=print) -> Path:
    """The preset's tokenizer trained on the fly, from the content cache (:mod:`mmdata.cache`).
    ``context`` reuses already loaded backbones (it must be the preset's, e.g. from :func:`preset_context`)."""
    from mmdata import cache

    def fill(tmp: Path) -> None:
        if context is None:
            train_from_preset(preset, tmp / "tokenizer", log=log)
        else:
            train_tokenizer(preset.discrete, context, tmp / "tokenizer", log=log)

    entry = cache.run("tokenizer", tokenizer_inputs(preset), fill, label=f"{preset.discrete.kind} tokenizer")
    if entry.hit:
        log(f"tokenizer: reusing cached {entry.path}")
    return entry.path / "tokenizer"


def read_metrics(d: str | Path) -> dict:
    """``metrics.json`` of a tokenizer directory."""
    import orjson

    return orjson.loads((Path(d) / "metrics.json").read_bytes())
