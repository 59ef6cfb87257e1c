"""Checkpoints: safetensors + YAML/JSON only (nothing is ever pickled or unpickled).

Layout of a checkpoint directory (written atomically with :func:`mmdata.io.atomic_dir`)::

    config.yaml          kind, stage, step, schedule length, the resolved preset, versions
    model.safetensors    every parameter of the VLM (vision, visual path, LLM, TEAL's per-layer
                         scale and bias when bias-norm tuning inserted them), fp32
    vision/ llm/         the HF configs (config.json; vision also preprocessor_config.json)
    tokenizer/           the tokenizer files
    metrics.jsonl        the training log up to this step
    state/               only while training can resume:
      optimizer.safetensors   AdamW moments keyed "<param name>::<key>"
      rng.safetensors         torch CPU (and CUDA) generator states, one per rank
      state.json              step, schedule, data position, optimizer groups, Python / NumPy RNG
                              states (the LR schedule is a pure function of the step)

A checkpoint is self-contained: :func:`load_vlm` rebuilds the architecture from ``vision/``,
``llm/`` and ``tokenizer/`` through the same local-directory code as user checkpoints, then loads the
weights. Checkpoints written before the visual-path interface (keys ``projector.*`` / ``moe.*``)
load through a key mapping (:func:`mmdata.model.visual.legacy_key`).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mmdata.config import read_mapping
from mmdata.errors import MmdataError
from mmdata.io import atomic_dir, atomic_write_bytes, dumps_json

KIND = "mmdata-vlm"


# ------------------------------------------------------------------------------------- tensors


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, meta: dict | None = None) -> None:
    """safetensors with shared storage de-duplicated (aliases recorded in the metadata)."""
    out, aliases, seen = {}, {}, {}
    for k, v in tensors.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), v.dtype) if v.numel() else None
        if key is not None and key in seen:
            aliases[k] = seen[key]
            continue
        if key is not None:
            seen[key] = k
        out[k] = v.detach().to("cpu").contiguous()
    md = {"aliases": orjson.dumps(aliases).decode()}
    if meta:
        md.update({k: str(v) for k, v in meta.items()})
    save_file(out, str(path), metadata=md)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        aliases = orjson.loads((f.metadata() or {}).get("aliases", "{}"))
    for k, src in aliases.items():
        tensors[k] = tensors[src]
    return tensors


# ------------------------------------------------------------------------------------- writing


def save_checkpoint(out, vlm, *, stage: int, step: int, total_steps: int | None = None, state_dict: dict | None = None,
                    metrics: list[dict] | None = None, train_state: dict | None = None, meta: dict | None = None) -> Path:  # fmt: skip
    """Write a checkpoint directory atomically. ``state_dict`` defaults to ``vlm.state_dict()``."""
    from mmdata import __version__
    from mmdata.model.llm import quiet_hf

    quiet_hf()
    sd = state_dict if state_dict is not None else vlm.state_dict()
    info = {"mmdata": __version__, "torch": str(torch.__version__)}
    try:
        import transformers

        info["transformers"] = str(transformers.__version__)
    except ImportError:  # pragma: no cover
        pass
    config = {"kind": KIND, "stage": stage, "step": step, "total_steps": total_steps, "preset": vlm.preset.to_dict(),
              "meta": {**info, **(meta or {})}}  # fmt: skip
    with atomic_dir(out, overwrite=True, kind="checkpoint") as tmp:  # the trainer checked --out before training
        save_tensors(sd, tmp / "model.safetensors")
        atomic_write_bytes(tmp / "config.yaml", yaml.safe_dump(config, sort_keys=True, allow_unicode=True).encode())
        vlm.vision.clip.config.save_pretrained(tmp / "vision")
        tr = vlm.vision.transform
        atomic_write_bytes(tmp / "vision/preprocessor_config.json", dumps_json({"image_mean": list(tr.mean), "image_std": list(tr.std), "size": tr.size}))
        vlm.llm.config.save_pretrained(tmp / "llm")
        vlm.tokenizer.save(tmp / "tokenizer")
        atomic_write_bytes(tmp / "metrics.jsonl", b"".join(dumps_json(m, indent=False) for m in metrics or []))
        if train_state is not None:
            _write_state(tmp / "state", train_state)
    return Path(out)


def _write_state(d: Path, st: dict) -> None:
    d.mkdir()
    save_tensors(st["optimizer_tensors"], d / "optimizer.safetensors")
    save_tensors(st["rng_tensors"], d / "rng.safetensors")
    atomic_write_bytes(d / "state.json", dumps_json(st["json"]))


def flatten_optimizer(sd: dict) -> tuple[dict, dict]:
    """A name-keyed optimizer state dict (``get_optimizer_state_dict``) → (tensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for name, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{name}::{k}"] = v
            else:
                scalars.setdefault(name, {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict, meta: dict, rename=None) -> dict:
    """The inverse of :func:`flatten_optimizer`; ``rename`` maps stored parameter names (older
    checkpoints) to today's."""
    rename = rename or (lambda n: n)
    state: dict[str, dict] = {}
    for key, v in tensors.items():
        name, k = key.split("::")
        state.setdefault(rename(name), {})[k] = v
    for name, extra in meta["scalars"].items():
        state.setdefault(rename(name), {}).update(extra)
    groups = [{**g, "params": [rename(n) for n in g["params"]]} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def rng_state() -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    py = random.getstate()
    npst = np.random.get_state()
    js = {"python": [py[0], list(py[1]), py[2]], "numpy": [npst[0], npst[1].tolist(), *[x.item() if hasattr(x, "item") else x for x in npst[2:]]]}
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() else None
    return torch.get_rng_state(), cuda, js


def set_rng_state(cpu: torch.Tensor, cuda: torch.Tensor | None, js: dict) -> None:
    torch.set_rng_state(cpu)
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)
    v, s, g = js["python"]
    random.setstate((v, tuple(s), g))
    n = js["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), *n[2:]))


# ------------------------------------------------------------------------------------- reading


def read_config(ckpt: str | Path) -> dict:
    ckpt = Path(ckpt)
    f = ckpt / "config.yaml"
    if not f.is_file():
        raise MmdataError("not a checkpoint (no config.yaml)", file=ckpt)
    cfg = read_mapping(f, what="checkpoint config").data
    if cfg.get("kind") != KIND:
        raise MmdataError(f"not an {KIND} checkpoint", file=f, field="kind")
    if not (ckpt / "model.safetensors").is_file():
        raise MmdataError("checkpoint has no model.safetensors", file=ckpt)
    return cfg


def load_vlm(ckpt: str | Path, preset=None):
    """Rebuild the VLM of a checkpoint and load its weights; returns ``(vlm, config)``."""
    from mmdata.model.config import preset_from_dict
    from mmdata.model.vlm import Backbones, build_vlm

    ckpt = Path(ckpt)
    cfg = read_config(ckpt)
    stored = preset_from_dict(cfg["preset"], file=ckpt / "config.yaml")
    vlm = build_vlm(stored, Backbones(ckpt / "vision", ckpt / "llm", ckpt / "tokenizer", weights=False))
    sd = upgrade_keys(load_tensors(ckpt / "model.safetensors"), stored.is_discrete)
    if any(k.startswith("llm_affine.") for k in sd):  # trained with bias-norm tuning: TEAL's scale and bias
        vlm.add_layer_affine()
    missing, unexpected = vlm.load_state_dict(sd, strict=False)
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise MmdataError(f"weights do not match the architecture ({what})", file=ckpt / "model.safetensors")
    if preset is not None:
        vlm.preset = preset
    vlm.stage = max(1, int(cfg.get("stage", 1)))
    return vlm, cfg


def upgrade_keys(sd: dict, discrete: bool) -> dict:
    """State-dict keys of any mmdata checkpoint version → today's names."""
    from mmdata.model.visual import legacy_key

    return {legacy_key(k, discrete): v for k, v in sd.items()}


def has_train_state(ckpt: str | Path) -> bool:
    return (Path(ckpt) / "state" / "state.json").is_file()


def load_train_state(ckpt: str | Path) -> dict:
    d = Path(ckpt) / "state"
    js = orjson.loads((d / "state.json").read_bytes())
    return {"json": js, "optimizer_tensors": load_tensors(d / "optimizer.safetensors"), "rng_tensors": load_tensors(d / "rng.safetensors")}


def read_metrics(ckpt: str | Path) -> list[dict]:
    f = Path(ckpt) / "metrics.jsonl"
    if not f.is_file():
        return []
    return [orjson.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
