"""Model presets (``models/*.yaml``): one validated object holding every hyperparameter.

A preset names the backbones (built from a small architecture for the synthetic world, or loaded from
a local Hugging Face directory), the visual path — ``visual: projector`` (the default: a projector by
exact name from :mod:`mmdata.model.registry`, optionally the Parrot MoE) or ``visual: discrete`` (a
discrete visual tokenizer whose codes become new LLM vocabulary rows, the ``discrete:`` section) —,
the stage-0 pretraining recipe (world presets only) and the per-stage training settings.
Every field is validated; an unknown key, a wrong type or an inconsistent combination is a one-line
:class:`~mmdata.errors.MmdataError` naming the file and the key (``models/x.yaml: field 'moe.alpha': …``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_serializer

from mmdata.config import (
    Doc,
    Seed,
    Strict,
    apply_overrides,
    find_preset,
    preset_names,
    read_mapping,
    validate,
)
from mmdata.errors import MmdataError
from mmdata.model.stages import OPTIONAL, TRAINABLE
from mmdata.world.sizes import SizeName

MODULES = ("vision", "projector", "moe", "llm")


# ------------------------------------------------------------------------------------- backbones


class VisionArch(Strict):
    """A CLIP ViT built from scratch for the world (stage 0 pretrains it)."""

    image_size: PositiveInt = 64
    patch_size: PositiveInt = 8
    hidden_size: PositiveInt = 128
    layers: PositiveInt = 3
    heads: PositiveInt = 4
    intermediate: PositiveInt = 512


class VisionConfig(Strict):
    source: Literal["world", "local"]
    path: str | None = None  # local: a directory written by save_pretrained (CLIPVisionModel or CLIPModel)
    arch: VisionArch | None = None  # world
    feature_layer: int = -2  # hidden_states index; -2 = second-to-last layer, as in the papers
    keep_cls: bool = True  # splice the projected CLS token in front of the visual tokens (Parrot)


class LLMArch(Strict):
    """A Llama decoder built from scratch for the world (stage 0 pretrains it)."""

    hidden_size: PositiveInt = 192
    layers: PositiveInt = 3
    heads: PositiveInt = 4
    kv_heads: PositiveInt = 4
    intermediate: PositiveInt = 512
    max_position: PositiveInt = 2048
    rope_theta: PositiveFloat = 10000.0
    # Initial weights when stage 0 builds the LLM: init_std for every weight (transformers'
    # initializer_range; None: its 0.02), embed_init for the input embeddings (None: as init_std). At
    # 0.02 the tiny Llama does not learn in-context recall in budgets where it does at embed_init 1.0,
    # init_std 0.05 (reports/ablations/tiny-config.md, fifth round).
    embed_init: PositiveFloat | None = None
    init_std: PositiveFloat | None = None

    @model_serializer(mode="wrap")
    def _omit_default_init(self, handler):
        d = handler(self)
        for k in ("embed_init", "init_std"):  # presets, stage-0 entries and checkpoints written before them hash as before
            if getattr(self, k) is None:
                d.pop(k, None)
        return d


class LLMConfig(Strict):
    source: Literal["world", "local"]
    path: str | None = None  # local: an AutoModelForCausalLM directory (its tokenizer lives there too)
    arch: LLMArch | None = None  # world


class MoEConfig(Strict):
    """Parrot's text-guided mixture of SwiGLU experts after the projector (dense soft routing)."""

    enabled: bool = False
    experts: PositiveInt = 6
    intermediate: PositiveInt = 4096
    alpha: float = 0.1
    residual: Literal["code", "paper"] = "code"  # code: mix + α·x (released Parrot); paper: x + α·mix (Eq. 5)


# ------------------------------------------------------------------------------ discrete visual

DiscreteKind = Literal["vqvae", "seed", "kmeans"]
CodebookMode = Literal["none", "frozen-llm", "dual", "language-driven"]
Aggregate = Literal["cumsum", "concat"]
KINDS: tuple[str, ...] = get_args(DiscreteKind)
CODEBOOK_MODES: tuple[str, ...] = get_args(CodebookMode)
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
LLM_MODES = ("frozen-llm", "dual", "language-driven")  # UniCode: the codebook lives in the LLM's embedding space


class DiscreteTrain(Strict):
    """How a tokenizer is trained (``mmdata tokenizer train``, or on the fly for ``tokenizer: null``)."""

    steps: PositiveInt = 300
    batch_size: PositiveInt = 16  # small batches learn fastest per second on CPU
    lr: PositiveFloat = 3e-3
    seed: Seed = 0
    decay: float = Field(0.9, gt=0, lt=1)  # EMA decay of the codebook
    dead_code_threshold: float = Field(1.0, ge=0)  # EMA codebooks: revive codes whose EMA use falls below this (0: off)
    commitment: float = Field(0.25, ge=0)
    language_every: PositiveInt = 10  # UniCode: steps between language-side codebook updates
    language_lambda: float = Field(0.9, ge=0, lt=1)  # C' = λ·C + (1 − λ)·C_LLM
    contrastive: float = Field(0.0, ge=0)  # seed: weight of the image-text contrastive term (0: off)
    kmeans_iters: PositiveInt = 20
    max_samples: PositiveInt = 65536  # kmeans: cluster at most this many feature vectors (seeded subsample)


class DiscreteConfig(Strict):
    """A discrete visual tokenizer and how its codes enter the LLM (``visual: discrete``)."""

    kind: DiscreteKind
    codebook_size: int = Field(256, ge=2, le=65536)  # K: new vocabulary rows
    stacked: int = Field(1, ge=1, le=8)  # D codes per position (stacked / residual quantization)
    aggregate: Aggregate = "cumsum"  # how a position's D codes form its embedding
    codebook_mode: CodebookMode = "none"  # UniCode (vqvae only)
    init: Literal["codebook", "random"] = "codebook"  # new vocabulary rows: the codebook through a projection, or random
    code_dim: PositiveInt | None = None  # null: LLM width (UniCode modes), vision width (kmeans), 32 (seed), 64 (vqvae)
    cosine: bool = False  # cosine-similarity codebook (ema / kmeans)
    channels: PositiveInt = 32  # vqvae: conv width
    downsample: int = 16  # vqvae: pixels per code position along a side (a power of two)
    queries: PositiveInt = 16  # seed: causal Q-Former queries (= positions)
    qformer_layers: PositiveInt = 2  # seed
    qformer_heads: PositiveInt = 4  # seed
    llm_offset: NonNegativeInt = 259  # UniCode: code k is LLM vocabulary row llm_offset + k (259: after <pad> <s> </s> and the 256 bytes)
    tokenizer: str | None = None  # a directory written by `mmdata tokenizer train`; null: train on the fly (cached)
    train: DiscreteTrain = DiscreteTrain()

    @property
    def llm_linked(self) -> bool:
        return self.codebook_mode in LLM_MODES


# --------------------------------------------------------------------------------------- stage 0


class ClipPretrain(Strict):
    steps: PositiveInt = 200
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-3
    warmup: NonNegativeInt = 20
    text_hidden: PositiveInt = 128
    text_layers: PositiveInt = 2
    text_heads: PositiveInt = 4
    max_len: PositiveInt = 48
    projection_dim: PositiveInt = 128
    # weight of the scene-graph loss beside the contrastive one (0: contrastive only); see
    # mmdata.model.stage0.SceneHeads — captions alone let CLIP ignore shapes and counts
    scene_loss: NonNegativeFloat = 1.0


class LMPretrain(Strict):
    steps: PositiveInt = 300
    batch_size: PositiveInt = 16
    seq_len: PositiveInt = 128
    lr: PositiveFloat = 3e-3
    warmup: NonNegativeInt = 20
    # Scenes drawn for the LM's text alone (no image is rendered), beyond the world's: their documents,
    # the same kinds as the world's, join the LM's corpus (not the tokenizer's or CLIP's). The world's
    # ~2k scenes let a long LM run fit their answers by heart instead of learning to look an object up
    # (reports/ablations/tiny-config.md, sixth round).
    text_scenes: NonNegativeInt = 0

    @model_serializer(mode="wrap")
    def _omit_default_text(self, handler):
        d = handler(self)
        if self.text_scenes == 0:  # presets and stage-0 entries written before the option hash as before
            d.pop("text_scenes", None)
        return d


class Stage0Config(Strict):
    """Backbones for a world with no pretrained weights: BPE tokenizer, CLIP contrastive, causal LM."""

    world_size: SizeName = "tiny"
    world_seed: Seed = 0
    world_image_size: PositiveInt = 64
    vocab_size: PositiveInt = 2048
    seed: Seed = 0
    clip: ClipPretrain = ClipPretrain()
    lm: LMPretrain = LMPretrain()


# ---------------------------------------------------------------------------------------- stages


class StageTrain(Strict):
    steps: PositiveInt  # length of the LR schedule (the run stops here)
    batch_size: PositiveInt  # samples per device per micro-batch
    grad_accum: PositiveInt = 1
    lr: dict[str, PositiveFloat]  # per trainable module: projector / moe / llm
    warmup: float = Field(0.03, ge=0, le=1)  # fraction of steps
    min_lr_ratio: float = Field(0.1, ge=0, le=1)  # cosine decays to lr·min_lr_ratio
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    eps: PositiveFloat = 1e-6
    grad_clip: float = Field(1.0, ge=0)  # 0 = off
    llm_tuning: Literal["full", "bias-norm"] = "full"  # where the LLM trains: all of it, or only biases and norms (TEAL)

    @model_serializer(mode="wrap")
    def _omit_default_tuning(self, handler):
        d = handler(self)
        if self.llm_tuning == "full":  # presets and checkpoints written before the option hash as before
            d.pop("llm_tuning", None)
        return d


class TrainConfig(Strict):
    seed: Seed = 0
    max_len: PositiveInt = 2048
    packing: bool = False
    num_workers: NonNegativeInt = 2  # image-decoding worker processes per rank
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    gradient_checkpointing: bool = False
    parallel: Literal["ddp", "fsdp"] = "ddp"  # under torchrun; fsdp shards parameters (for large LLMs on GPUs)
    log_every: PositiveInt = 10
    save_every: NonNegativeInt = 0  # 0: save at the end only
    deterministic: bool = True  # torch.use_deterministic_algorithms on CPU
    # intra-op CPU threads (0: torch's default). One thread per process is the fast choice on a busy
    # small machine: OpenMP threads spin at barriers whenever another process holds a core
    threads: NonNegativeInt = 0

    @model_serializer(mode="wrap")
    def _omit_default_threads(self, handler):
        d = handler(self)
        if self.threads == 0:  # presets and checkpoints written before the option hash as before
            d.pop("threads", None)
        return d
    stage1: StageTrain
    stage2: StageTrain

    def stage(self, n: int) -> StageTrain:
        return {1: self.stage1, 2: self.stage2}[n]


class Preset(Strict):
    name: str
    description: str = ""
    vision: VisionConfig
    llm: LLMConfig
    visual: Literal["projector", "discrete"] = "projector"
    projector: Any = None  # a registered projector config (see mmdata.model.registry); visual: projector
    discrete: DiscreteConfig | None = None  # visual: discrete
    moe: MoEConfig = MoEConfig()
    # "text-rms": the projector's tokens are RMS-normalised and scaled to the LLM's input-embedding RMS
    # (fixed when the model is built), so visual and text tokens enter the LLM at one scale;
    # "standardize": every feature of the projector's tokens is centred and scaled to unit variance over
    # the batch's tokens (batch normalisation without affine terms; running statistics at inference),
    # so no vector shared by every token can grow to drown what differs between tokens and images
    visual_norm: Literal["none", "text-rms", "standardize"] = "none"
    stage0: Stage0Config | None = None
    train: TrainConfig

    _file: str | None = None

    @property
    def file(self) -> str | None:
        return self._file

    @property
    def is_world(self) -> bool:
        return self.vision.source == "world"

    @property
    def is_discrete(self) -> bool:
        return self.visual == "discrete"

    def to_dict(self) -> dict:
        d = self.model_dump(mode="json")
        d["projector"] = self.projector.model_dump(mode="json") if self.projector is not None else None
        if not self.is_discrete:  # projector presets serialise (and hash) exactly as before the option
            d.pop("visual")
            d.pop("discrete")
        else:
            d.pop("projector")
        if self.visual_norm == "none":  # likewise presets written before visual_norm
            d.pop("visual_norm")
        return d

    def model_section(self) -> dict:
        """What fixes the architecture (used to check that ``--init`` matches the preset); local
        paths are left out, since moving the weights does not change the model."""
        d = self.to_dict()
        keys = ("vision", "llm", "visual", "discrete", "moe") if self.is_discrete else ("vision", "llm", "projector", "moe", "visual_norm")
        out = {k: d[k] for k in keys if k in d}
        for k in ("vision", "llm"):
            out[k].pop("path")
        if self.is_discrete:
            out["discrete"].pop("tokenizer")
        return out


# ------------------------------------------------------------------------------------ validation


def _expand(p: str | None) -> str | None:
    return os.path.expandvars(os.path.expanduser(p)) if p else p


def preset_from_dict(data: Any, *, file: str | Path | None = None, doc: Doc | None = None) -> Preset:
    """Validate a preset dict (as read from YAML); every problem is a one-line MmdataError."""
    from mmdata.model.registry import get

    file = str(file) if file is not None else (doc.file if doc else None)
    if not isinstance(data, dict):
        raise MmdataError(f"a preset is a mapping, got {type(data).__name__}", file=file)
    raw_proj = data.get("projector")
    preset = validate(Preset, {**data, "projector": None}, doc=doc, file=file)
    if preset.is_discrete:
        if raw_proj is not None:
            raise MmdataError("visual 'discrete' replaces the projector; remove 'projector' (or set it to null)", file=file, field="projector")
    else:
        if not isinstance(raw_proj, dict):
            raise MmdataError("required mapping with a 'name'", file=file, field="projector")
        cfg_cls, _ = get(raw_proj.get("name"), file=file)
        preset.projector = validate(cfg_cls, raw_proj, doc=doc, file=file, prefix=("projector",))
    preset._file = file
    _check(preset, file)
    return preset


def _check(p: Preset, file) -> None:
    def fail(field: str, msg: str):
        raise MmdataError(msg, file=file, field=field)

    for part in ("vision", "llm"):
        c = getattr(p, part)
        if c.source == "local":
            if not c.path:
                fail(f"{part}.path", "source 'local' needs a path to a local Hugging Face directory")
            if c.arch is not None:
                fail(f"{part}.arch", "source 'local' reads the architecture from the directory; remove 'arch'")
            c.path = _expand(c.path)
        else:
            if c.path:
                fail(f"{part}.path", "source 'world' builds the backbone from 'arch'; remove 'path'")
            if c.arch is None:
                fail(f"{part}.arch", "source 'world' needs an 'arch' mapping")
    if p.vision.source != p.llm.source:
        fail("llm.source", "vision and llm must both be 'world' (stage 0 trains them) or both 'local'")
    if p.is_world and p.stage0 is None:
        fail("stage0", "world backbones need a 'stage0' section")
    if not p.is_world and p.stage0 is not None:
        fail("stage0", "stage 0 is for world backbones only; remove it for local checkpoints")
    if p.llm.arch is not None and p.llm.arch.heads % p.llm.arch.kv_heads:
        fail("llm.arch.kv_heads", "heads must be a multiple of kv_heads")
    va = p.vision.arch
    if va is not None:
        if va.image_size % va.patch_size:
            fail("vision.arch.patch_size", "image_size must be a multiple of patch_size")
        if va.hidden_size % va.heads:
            fail("vision.arch.heads", "hidden_size must be a multiple of heads")
    _check_visual(p, fail)
    if p.moe.enabled and not p.vision.keep_cls:
        fail("vision.keep_cls", "the Parrot MoE routes with the CLS token; set keep_cls: true")
    m = getattr(p.projector, "num_queries", None)
    if m is not None and getattr(p.projector, "square", False) and math.isqrt(m) ** 2 != m:
        fail("projector.num_queries", f"{p.projector.name} pools to a √M×√M grid; {m} is not a perfect square")
    for n in (1, 2):
        st = p.train.stage(n)
        want = set(TRAINABLE[n]) - ({"moe"} if not p.moe.enabled else set())
        have = set(st.lr)
        optional = set(OPTIONAL[n]) & have
        if optional and p.is_discrete:
            fail(f"train.stage{n}.lr.vision", "a discrete preset's tokenizer reads the vision encoder; it stays frozen")
        for k in sorted(have - want - optional):
            why = "is frozen in this stage" if k in MODULES else "is not a module (projector, moe, llm)"
            fail(f"train.stage{n}.lr.{k}", f"'{k}' {why}")
        for k in sorted(want - have):
            fail(f"train.stage{n}.lr", f"missing a learning rate for '{k}' (trained in stage {n})")
        if st.llm_tuning != "full" and "llm" not in want:
            fail(f"train.stage{n}.llm_tuning", f"the LLM is frozen in stage {n}; llm_tuning applies where it trains (stage 2)")


def _check_visual(p: Preset, fail) -> None:
    """The ``visual`` / ``discrete`` combination (everything a preset alone can tell)."""
    if not p.is_discrete:
        if p.discrete is not None:
            fail("discrete", "a 'discrete' section needs visual: discrete (this preset uses a projector)")
        return
    c = p.discrete
    if c is None:
        fail("discrete", "visual 'discrete' needs a 'discrete' section (kind: vqvae | seed | kmeans, …)")
    if p.moe.enabled:
        fail("moe.enabled", "the Parrot MoE routes projector outputs; set moe.enabled: false for visual: discrete")
    if p.vision.keep_cls:
        fail("vision.keep_cls", "discrete visual tokens have no CLS token; set vision.keep_cls: false")
    if c.codebook_mode != "none" and c.kind != "vqvae":
        fail("discrete.codebook_mode", f"codebook modes are UniCode's VQ-VAE codebook; kind '{c.kind}' needs codebook_mode: none")
    if c.kind == "kmeans" and c.stacked != 1:
        fail("discrete.stacked", "kind 'kmeans' clusters whole feature vectors (TEAL); set stacked: 1")
    if c.downsample < 2 or c.downsample & (c.downsample - 1):
        fail("discrete.downsample", f"must be a power of two (2, 4, 8, 16, …), got {c.downsample}")
    if c.tokenizer is not None:
        c.tokenizer = _expand(c.tokenizer)
    elif not p.is_world:
        fail("discrete.tokenizer", "local backbones need a tokenizer directory (train one with `mmdata tokenizer train`)")
    va, la = p.vision.arch, p.llm.arch
    if c.kind == "vqvae" and va is not None and va.image_size % c.downsample:
        fail("discrete.downsample", f"image_size {va.image_size} is not a multiple of downsample {c.downsample}")
    if c.kind == "seed" and va is not None and va.hidden_size % c.qformer_heads:
        fail("discrete.qformer_heads", f"the Q-Former width (vision hidden size {va.hidden_size}) must be a multiple of qformer_heads")
    if c.llm_linked:
        if c.code_dim is not None and la is not None and c.code_dim != la.hidden_size:
            fail("discrete.code_dim", f"codebook mode '{c.codebook_mode}' puts codes in the LLM's embedding space: code_dim must be null or {la.hidden_size}")
        if p.stage0 is not None and c.llm_offset + c.codebook_size > p.stage0.vocab_size:
            fail("discrete.llm_offset", f"LLM rows {c.llm_offset}…{c.llm_offset + c.codebook_size - 1} exceed the vocabulary ({p.stage0.vocab_size})")
    if c.kind == "kmeans" and c.code_dim is not None:
        fail("discrete.code_dim", "k-means codes live in the vision feature space; leave code_dim null")


def models_dir() -> Path:
    """The shipped model presets (``mmdata/presets/models``)."""
    from mmdata.config import preset_path

    return preset_path("models", "x").parent


def resolve_preset(name_or_path: str | Path) -> Path:
    return find_preset("models", name_or_path)[0]


def load_preset(name_or_path: str | Path, overrides: dict | None = None, *, sets: list[str] | None = None) -> Preset:
    """Read and validate a preset by name (shipped ``models`` preset) or path; ``overrides`` is
    merged in, then ``sets`` (``key.path=value``) are applied."""
    doc = read_mapping(resolve_preset(name_or_path), what="model preset")
    data = merge(doc.data, overrides) if overrides else doc.data
    apply_overrides(data, sets or [], file=doc.file, doc=doc)
    return preset_from_dict(data, doc=doc)


def model_names() -> list[str]:
    return preset_names("models")


def merge(base: Any, over: Any) -> Any:
    """Deep-merge ``over`` into ``base`` (mappings merge; anything else replaces)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over
