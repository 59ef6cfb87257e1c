"""Model presets (``models/*.yaml``): one validated object holding every hyperparameter.

A preset names the backbones (built from a small architecture for the synthetic world, or loaded from
a local Hugging Face directory), the projector (exact name from :mod:`mmdata.model.registry`), the
Parrot MoE, the stage-0 pretraining recipe (world presets only) and the per-stage training settings.
Every field is validated; an unknown key, a wrong type or an inconsistent combination is a one-line
:class:`~mmdata.errors.MmdataError` naming the file and the key (``models/x.yaml: field 'moe.alpha': …``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError

from mmdata.errors import MmdataError
from mmdata.model.stages import TRAINABLE

MODULES = ("vision", "projector", "moe", "llm")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class LMPretrain(Strict):
    steps: PositiveInt = 300
    batch_size: PositiveInt = 16
    seq_len: PositiveInt = 128
    lr: PositiveFloat = 3e-3
    warmup: NonNegativeInt = 20


class Stage0Config(Strict):
    """Backbones for a world with no pretrained weights: BPE tokenizer, CLIP contrastive, causal LM."""

    world_size: Literal["tiny", "small", "full"] = "tiny"
    world_seed: int = 0
    world_image_size: PositiveInt = 64
    vocab_size: PositiveInt = 2048
    seed: int = 0
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


class TrainConfig(Strict):
    seed: int = 0
    max_len: PositiveInt = 2048
    packing: bool = False
    num_workers: NonNegativeInt = 2  # image-decoding worker processes per rank
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    gradient_checkpointing: bool = False
    parallel: Literal["ddp", "fsdp"] = "ddp"  # under torchrun; fsdp shards parameters (for large LLMs on GPUs)
    log_every: PositiveInt = 10
    save_every: NonNegativeInt = 0  # 0: save at the end only
    deterministic: bool = True  # torch.use_deterministic_algorithms on CPU
    stage1: StageTrain
    stage2: StageTrain

    def stage(self, n: int) -> StageTrain:
        return {1: self.stage1, 2: self.stage2}[n]


class Preset(Strict):
    name: str
    description: str = ""
    vision: VisionConfig
    llm: LLMConfig
    projector: Any  # a registered projector config (see mmdata.model.registry)
    moe: MoEConfig = MoEConfig()
    stage0: Stage0Config | None = None
    train: TrainConfig

    _file: str | None = None

    @property
    def file(self) -> str | None:
        return self._file

    @property
    def is_world(self) -> bool:
        return self.vision.source == "world"

    def to_dict(self) -> dict:
        d = self.model_dump(mode="json")
        d["projector"] = self.projector.model_dump(mode="json")
        return d

    def model_section(self) -> dict:
        """What fixes the architecture (used to check that ``--init`` matches the preset); local
        paths are left out, since moving the weights does not change the model."""
        d = self.to_dict()
        out = {k: d[k] for k in ("vision", "llm", "projector", "moe")}
        for k in ("vision", "llm"):
            out[k].pop("path")
        return out


# ------------------------------------------------------------------------------------ validation


def _loc(err: dict, prefix: str = "") -> str:
    parts = [str(p) for p in err.get("loc", ()) if not str(p).startswith("function-")]
    return ".".join(([prefix] if prefix else []) + parts)


def _raise(e: ValidationError, file, prefix: str = "") -> None:
    err = e.errors()[0]
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    if err["type"] == "missing":
        msg = "required key is missing"
    raise MmdataError(msg, file=file, field=_loc(err, prefix) or None) from None


def _expand(p: str | None) -> str | None:
    return os.path.expandvars(os.path.expanduser(p)) if p else p


def preset_from_dict(data: Any, *, file: str | Path | None = None) -> Preset:
    """Validate a preset dict (as read from YAML); every problem is a one-line MmdataError."""
    from mmdata.model.registry import get

    file = str(file) if file is not None else None
    if not isinstance(data, dict):
        raise MmdataError(f"a preset is a mapping, got {type(data).__name__}", file=file)
    raw_proj = data.get("projector")
    try:
        preset = Preset.model_validate({**data, "projector": {}})
    except ValidationError as e:
        _raise(e, file)
    if not isinstance(raw_proj, dict):
        raise MmdataError("required mapping with a 'name'", file=file, field="projector")
    cfg_cls, _ = get(raw_proj.get("name"), file=file)
    try:
        proj = cfg_cls.model_validate(raw_proj)
    except ValidationError as e:
        _raise(e, file, "projector")
    preset.projector = proj
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
    if p.moe.enabled and not p.vision.keep_cls:
        fail("vision.keep_cls", "the Parrot MoE routes with the CLS token; set keep_cls: true")
    m = getattr(p.projector, "num_queries", None)
    if m is not None and getattr(p.projector, "square", False) and math.isqrt(m) ** 2 != m:
        fail("projector.num_queries", f"{p.projector.name} pools to a √M×√M grid; {m} is not a perfect square")
    for n in (1, 2):
        st = p.train.stage(n)
        want = set(TRAINABLE[n]) - ({"moe"} if not p.moe.enabled else set())
        have = set(st.lr)
        for k in sorted(have - want):
            why = "is frozen in this stage" if k in MODULES else "is not a module (projector, moe, llm)"
            fail(f"train.stage{n}.lr.{k}", f"'{k}' {why}")
        for k in sorted(want - have):
            fail(f"train.stage{n}.lr", f"missing a learning rate for '{k}' (trained in stage {n})")


def models_dir() -> Path:
    env = os.environ.get("MMDATA_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def resolve_preset(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise MmdataError("preset file not found", file=p)
        return p
    cand = models_dir() / f"{name_or_path}.yaml"
    if not cand.is_file():
        known = sorted(x.stem for x in models_dir().glob("*.yaml"))
        raise MmdataError(f"unknown preset {str(name_or_path)!r}; known: {', '.join(known) or 'none'}", file=models_dir())
    return cand


def load_preset(name_or_path: str | Path, overrides: dict | None = None) -> Preset:
    """Read and validate a preset by name (``models/NAME.yaml``) or path; ``overrides`` is merged in."""
    path = resolve_preset(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise MmdataError(f"invalid YAML: {' '.join(str(e).split())}", file=path) from None
    if overrides:
        data = merge(data, overrides)
    return preset_from_dict(data, file=path)


def merge(base: Any, over: Any) -> Any:
    """Deep-merge ``over`` into ``base`` (mappings merge; anything else replaces)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over
