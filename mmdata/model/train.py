"""The trainer: a plain PyTorch loop (nanoGPT style), readable top to bottom.

    mmdata train --preset P --stage 0|1|2 --mixture DIR --out CKPT [--init CKPT] [--max-steps N]

* stage 0 (world presets): tokenizer + CLIP + LM pretraining (:mod:`stage0`, cached), written as a
  checkpoint whose projector / MoE are freshly initialised;
* stage 1: the visual path's projections only; stage 2: visual path (projector + MoE, or a discrete
  path's projections + vocabulary rows) + LLM (:func:`stages.set_stage`; ``llm_tuning: bias-norm``
  trains only the LLM's biases and norms plus TEAL's inserted per-layer scale and bias);
* AdamW with one learning rate per module, linear warmup then cosine decay, gradient clipping;
* bf16 autocast on GPU, fp32 on CPU; DDP under ``torchrun`` (gloo on CPU, NCCL on GPU), FSDP2 as an
  option (meant for GPUs; it also runs on gloo, which the tests use); optional gradient checkpointing;
* the loss is normalised by the number of supervised tokens in the *global* batch, so 1 process ×
  batch B and k processes × B/k (or gradient accumulation) compute the same update;
* a checkpoint (weights, optimizer, RNG, data position) is written atomically at ``save_every`` and
  at the end; re-running the same command on the same ``--out`` resumes exactly. ``--stop-at N``
  stops early at step N (resumable), without changing the schedule.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from mmdata.errors import MmdataError
from mmdata.io import check_out
from mmdata.model import checkpoint as ckpt_io
from mmdata.model.config import Preset, load_preset
from mmdata.model.data import Encoder, Mixture, MixtureStream, loader
from mmdata.model.metrics import FlopCounter, console_line, device_peak
from mmdata.model.stages import set_stage
from mmdata.model.vlm import Backbones, build_vlm

# ----------------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, *values: float) -> list[float]:
        """All-reduce sums of a few numbers (float64, so token counts stay exact)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()


def setup_process() -> Proc:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return Proc(rank, world, device)


# ------------------------------------------------------------------------------------ schedule


def lr_multiplier(step: int, total: int, warmup_frac: float, min_ratio: float) -> float:
    """Linear warmup over ``warmup_frac·total`` steps, then cosine from 1 to ``min_ratio``."""
    warm = max(1, round(warmup_frac * total)) if warmup_frac > 0 else 0
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(vlm, lrs: dict[str, float], weight_decay: float) -> list[dict]:
    """One group per trained learning-rate key (``vision`` / ``projector`` / ``moe`` / ``llm``, in that order; and
    decay / no-decay), carrying its base learning rate. Parameters are looked up by name on the
    (possibly FSDP-wrapped) model, so the groups hold the parameters the optimizer must step."""
    named: dict[str, list] = {}
    for n, p in vlm.named_parameters():
        if p.requires_grad:
            named.setdefault(vlm.lr_key(n), []).append(p)
    groups = []
    for module in vlm.trained_modules:
        params = named.get(module, [])
        decay = [p for p in params if p.ndim >= 2]
        plain = [p for p in params if p.ndim < 2]
        for ps, wd in ((decay, weight_decay), (plain, 0.0)):
            if ps:
                groups.append({"params": ps, "lr": lrs[module], "base_lr": lrs[module], "weight_decay": wd, "module": module})
    return groups


# --------------------------------------------------------------------------------------- model


def _resume_or_fresh(out: Path, stage: int, total: int, preset: Preset, overwrite: bool) -> str:
    """'fresh', 'resume' or 'done' for this ``--out``."""
    if not out.exists() or overwrite or (out.is_dir() and not any(out.iterdir())):
        return "fresh"
    cfg = ckpt_io.read_config(out) if (out / "config.yaml").is_file() else None
    if cfg is None:
        raise MmdataError("--out exists and is not a checkpoint; choose another directory or pass --overwrite", file=out)
    if cfg.get("stage") != stage:
        raise MmdataError(f"--out holds a stage-{cfg.get('stage')} checkpoint; write stage {stage} elsewhere (pass it as --init) or --overwrite", file=out)
    stored = cfg.get("total_steps")
    if stored is not None and stored != total:
        raise MmdataError(f"--out was trained with a {stored}-step schedule, not {total}; use the same --max-steps or --overwrite", file=out)
    if cfg["preset"] != preset.to_dict():
        raise MmdataError("--out was trained with a different preset; choose another directory or pass --overwrite", file=out)
    if cfg.get("step", 0) >= total:
        return "done"
    if not ckpt_io.has_train_state(out):
        raise MmdataError("--out has no training state to resume from; pass --overwrite", file=out)
    return "resume"


def build_model(preset: Preset, *, init: Path | None, resume_from: Path | None, proc: Proc, log) -> object:
    if resume_from is not None:
        vlm, _ = ckpt_io.load_vlm(resume_from, preset)
        return vlm
    if init is not None:
        vlm, cfg = ckpt_io.load_vlm(init)
        stored = vlm.preset.model_section()
        if stored != preset.model_section():
            diff = sorted(k for k in stored if stored[k] != preset.model_section()[k])
            raise MmdataError(f"--init checkpoint has a different architecture ({', '.join(diff)}) than the preset", file=init, field=diff[0])
        vlm.preset = preset
        log(f"init from {init} (stage {cfg['stage']}, step {cfg['step']})")
        return vlm
    if preset.is_world:
        from mmdata.model.stage0 import run_stage0

        if proc.main:
            run_stage0(preset, log=log)
        proc.barrier()
        s0 = run_stage0(preset, log=lambda *_: None)
        return build_vlm(preset, Backbones(s0 / "vision", s0 / "llm", s0 / "tokenizer"))
    return build_vlm(preset, Backbones(Path(preset.vision.path), Path(preset.llm.path), Path(preset.llm.path)))


def wrap(vlm, preset: Preset, proc: Proc):
    """DDP or FSDP2 around the VLM (identity for a single process)."""
    if preset.train.gradient_checkpointing:  # non-reentrant: works through a frozen LLM (stage 1) too
        kw = {"use_reentrant": False}
        if hasattr(vlm.llm, "activation_checkpointing_enable"):  # transformers ≥ 5.x
            vlm.llm.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
        else:
            vlm.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    if proc.world == 1:
        return vlm
    if preset.train.parallel == "fsdp":  # FSDP2: one unit per decoder layer and per stack part
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        bf16 = autocast_for(preset, proc.device)[1] == "bf16"
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else MixedPrecisionPolicy()
        for layer in vlm.llm.get_decoder().layers:
            fully_shard(layer, mp_policy=mp)
        fully_shard(vlm.vision, mp_policy=mp)
        # the visual path stays gathered after its forward: a discrete path's output rows are read
        # again for the logits, after the LLM
        fully_shard(vlm.visual, mp_policy=mp, reshard_after_forward=False)
        return fully_shard(vlm, mp_policy=mp)
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [proc.device.index] if proc.device.type == "cuda" else None
    return DDP(vlm, device_ids=ids, gradient_as_bucket_view=True)


def autocast_for(preset: Preset, device: torch.device) -> tuple[torch.autocast, str]:
    mode = preset.train.precision
    use_bf16 = mode == "bf16" or (mode == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16), "bf16" if use_bf16 else "fp32"


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


# ---------------------------------------------------------------------------------------- train


def train(
    preset: Preset | str | Path,
    stage: int,
    out: str | Path,
    *,
    mixture: str | Path | None = None,
    init: str | Path | None = None,
    max_steps: int | None = None,
    stop_at: int | None = None,
    overwrite: bool = False,
    num_workers: int | None = None,
    log=print,
) -> dict:
    """Run one stage; returns a summary (``losses`` per step, ``metrics`` lines, ``out``)."""
    preset = preset if isinstance(preset, Preset) else load_preset(preset)
    out = Path(out)
    if overwrite:  # only an mmdata output, never the current directory or an input
        check_out(out, overwrite=True, inputs=[mixture, init])
    proc = setup_process()
    log = log if proc.main else (lambda *_: None)
    if stage == 0:
        with cpu_threads(preset.train.threads):
            return _stage0(preset, out, proc, overwrite, log)
    if stage not in (1, 2):
        raise MmdataError(f"stage must be 0, 1 or 2, got {stage}", field="stage")
    if mixture is None:
        raise MmdataError("stages 1 and 2 need --mixture DIR", field="mixture")
    st = preset.train.stage(stage)
    total = max_steps or st.steps
    tc = preset.train

    # ---- run state: fresh, resumed, or already complete
    mode = _resume_or_fresh(out, stage, total, preset, overwrite)
    if mode == "done":
        log(f"{out}: stage {stage} already complete ({total} steps)")
        return {"out": out, "losses": [], "metrics": ckpt_io.read_metrics(out), "done": True}
    with _deterministic(proc.device.type == "cpu" and tc.deterministic), cpu_threads(tc.threads):
        return _train(preset, stage, out, Mixture.open(mixture), init, total, stop_at, mode, num_workers, proc, log)


def plan(preset: Preset, stage: int, out: str | Path, *, mixture=None, init=None, max_steps: int | None = None,
         overwrite: bool = False) -> dict:  # fmt: skip
    """What ``train`` would do (``mmdata train --dry-run``): the resolved preset, fresh / resume /
    done, the schedule, and whether stage 0 is cached. Runs and writes nothing."""
    from mmdata import cache

    out = Path(out)
    d: dict = {"preset": preset.to_dict(), "stage": stage, "out": str(out)}
    if preset.is_world:
        from mmdata.model.stage0 import stage0_inputs

        d["stage0"] = "cached" if cache.lookup("stage0", stage0_inputs(preset)) else "will train"
    if stage in (1, 2):
        total = max_steps or preset.train.stage(stage).steps
        d.update(steps=total, mixture=str(mixture) if mixture else None, init=str(init) if init else None,
                 mode=_resume_or_fresh(out, stage, total, preset, overwrite))  # fmt: skip
        if mixture is not None:
            d["mixture_rows"] = Mixture.open(mixture).n_rows
    d["writes"] = "nothing (dry run)"
    return d


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run with ``n`` intra-op CPU threads (0: leave torch's setting), restoring the caller's."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def _deterministic(enabled: bool):
    """Deterministic kernels for the run (CPU), restoring the caller's setting afterwards."""
    old, old_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old, warn_only=old_warn)


def _train(preset: Preset, stage: int, out: Path, mix: Mixture, init, total: int, stop_at, mode: str, num_workers, proc: Proc, log) -> dict:
    st, tc = preset.train.stage(stage), preset.train
    torch.manual_seed(tc.seed)

    # ---- model, stage, wrapping, optimizer
    vlm = build_model(preset, init=Path(init) if init else None, resume_from=out if mode == "resume" else None, proc=proc, log=log)
    trained = set_stage(vlm, stage, st.llm_tuning, vision="vision" in st.lr)
    vlm.to(proc.device)
    model = wrap(vlm, preset, proc)
    fused = preset.train.parallel != "fsdp" or proc.world == 1  # fused AdamW (CPU and CUDA); FSDP keeps foreach
    opt = torch.optim.AdamW(param_groups(vlm, st.lr, st.weight_decay), betas=st.betas, eps=st.eps, fused=fused)
    step, metrics = 0, []
    if mode == "resume":
        step, metrics = _load_state(out, model, opt, proc)

    # ---- data
    encoder = Encoder(vlm.tokenizer, vlm.vision.transform, vlm.num_visual_tokens, tc.max_len, mix.image_roots, str(mix.root),
                      n_code_tokens=vlm.num_code_tokens)  # fmt: skip
    stream = MixtureStream(mix, encoder, st.batch_size, vlm.tokenizer.pad_id, rank=proc.rank, world=proc.world,
                           start=step * st.grad_accum, packing=tc.packing)  # fmt: skip
    workers = tc.num_workers if num_workers is None else num_workers
    batches = loader(stream, workers, pin_memory=proc.device.type == "cuda")
    torch.manual_seed(tc.seed * 1000 + proc.rank)  # dropout etc. differ per rank
    if mode == "resume":
        _restore_rng(out, proc)  # after the loader drew its worker seed, exactly as the first run did
    autocast, precision = autocast_for(preset, proc.device)
    if precision == "bf16" and proc.device.type == "cpu" and vlm.llm.config._attn_implementation == "sdpa":
        vlm.llm.set_attn_implementation("eager")  # PyTorch's CPU SDPA backward is slow in bf16; eager uses bf16 matmuls
    flops = FlopCounter(vlm)
    dev_name, peak = device_peak(proc.device)
    trainable = [p for p in vlm.parameters() if p.requires_grad]

    # ---- derived quantities, printed once
    global_batch = st.batch_size * st.grad_accum * proc.world
    n_par = {m: sum(p.numel() for p in getattr(vlm, m).parameters()) for m in ("vision", "visual", "llm", "llm_affine") if getattr(vlm, m) is not None}
    log(f"stage {stage} | {preset.name} | {dev_name} × {proc.world} | precision {precision} | trains {', '.join(trained)}"
        + (f" (llm: {st.llm_tuning})" if st.llm_tuning != "full" else ""))
    log("params " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_par.items()) + f" | trainable {sum(p.numel() for p in trainable) / 1e6:.2f}M")
    log(f"global batch {global_batch} samples ({st.batch_size}×{st.grad_accum}×{proc.world}) | {vlm.num_visual_tokens} visual tokens/image | "
        f"{total} steps ≈ {total * global_batch / mix.n_rows:.2f} epochs of {mix.n_rows:,} rows" + (f" | resuming at step {step}" if step else ""))  # fmt: skip

    losses: list[float] = []
    window = _Window()
    stop = min(total, stop_at) if stop_at else total
    model.train()
    while step < stop:
        t0 = time.perf_counter()
        micro = [next(batches) for _ in range(st.grad_accum)]
        t_data = time.perf_counter() - t0
        sup = sum(int((mb["labels"] != -100).sum()) for mb in micro)
        n_sup, = proc.sum(sup)  # fmt: skip
        mult = lr_multiplier(step, total, st.warmup, st.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * mult
        loss_sum = torch.zeros((), dtype=torch.float64, device=proc.device)
        for k, mb in enumerate(micro):
            mb = to_device(mb, proc.device)
            last = k == len(micro) - 1
            if hasattr(model, "set_requires_gradient_sync"):  # FSDP2: reduce-scatter on the last micro-batch only
                model.set_requires_gradient_sync(last)
            sync = model.no_sync() if (not last and hasattr(model, "no_sync")) else contextlib.nullcontext()
            with sync:
                with autocast:
                    res = model(mb)
                loss = res["loss_sum"] * (proc.world / max(n_sup, 1.0))
                loss.backward()
            loss_sum += res["loss_sum"].detach().double()
            window.route(res["router_probs"], mb["image_lang"])
        if st.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable, st.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tot_loss, tokens, samples, fl = proc.sum(float(loss_sum), *_counts(micro, flops))
        if proc.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        loss_value = tot_loss / max(n_sup, 1.0)
        losses.append(loss_value)
        window.add(loss_value, dt, t_data, tokens, samples, fl)
        if step % tc.log_every == 0 or step == stop:
            rec = window.record(step, stage, opt, peak, proc.world)
            metrics.append(rec)
            log(console_line(rec, total))
        if tc.save_every and step % tc.save_every == 0 and step < stop:
            _save(out, model, vlm, opt, stage, step, total, metrics, proc, st.grad_accum, keep_state=True)
    _save(out, model, vlm, opt, stage, step, total, metrics, proc, st.grad_accum, keep_state=step < total)
    if proc.world > 1:
        proc.barrier()
    return {"out": out, "losses": losses, "metrics": metrics, "step": step, "done": step >= total}


def _counts(micro: list[dict], flops: FlopCounter) -> tuple[float, float, float]:
    tokens = sum(float(mb["n_tokens"]) for mb in micro)
    samples = sum(float(mb["n_samples"]) for mb in micro)
    return tokens, samples, sum(flops(mb) for mb in micro)


class _Window:
    """Accumulates one logging interval."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss, self.n, self.dt, self.wait, self.tokens, self.samples, self.flops = 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0
        self.router: dict[str, list] = {}

    def add(self, loss, dt, wait, tokens, samples, flops) -> None:
        self.loss += loss
        self.n += 1
        self.dt += dt
        self.wait += wait
        self.tokens += tokens
        self.samples += samples
        self.flops += flops

    def route(self, probs, langs) -> None:
        if probs is None:
            return
        p = probs.detach().float().cpu()
        for row, lang in zip(p, langs, strict=True):
            acc = self.router.setdefault(lang, [torch.zeros_like(row), 0])
            acc[0] += row
            acc[1] += 1

    def record(self, step, stage, opt, peak, world) -> dict:
        lrs = {g["module"]: g["lr"] for g in opt.param_groups}
        rec = {
            "step": step, "stage": stage, "loss": self.loss / self.n, "lr": next(iter(lrs.values())), "lrs": lrs,
            "tokens_per_s": self.tokens / self.dt, "samples_per_s": self.samples / self.dt, "data_wait": self.wait / self.dt,
            "step_time": self.dt / self.n, "mfu": (self.flops / self.dt) / (peak * world) if peak else None,
        }  # fmt: skip
        if self.router:
            rec["router_probs"] = {lang: [round(x, 5) for x in (s / n).tolist()] for lang, (s, n) in sorted(self.router.items())}
        self.reset()
        return rec


# ---------------------------------------------------------------------------------- checkpoints


def _gather_rng(proc: Proc) -> dict[str, torch.Tensor]:
    cpu, cuda, _ = ckpt_io.rng_state()
    out = {}
    for name, t in (("cpu", cpu), ("cuda", cuda)):
        if t is None:
            continue
        if proc.world > 1:
            dev = proc.device if proc.device.type == "cuda" else torch.device("cpu")
            parts = [torch.empty_like(t, device=dev) for _ in range(proc.world)]
            dist.all_gather(parts, t.to(dev))
            out.update({f"{name}.{r}": x.cpu() for r, x in enumerate(parts)})
        else:
            out[f"{name}.0"] = t
    return out


def _save(out, model, vlm, opt, stage, step, total, metrics, proc: Proc, accum: int, keep_state: bool) -> None:
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)  # gathered on rank 0 (collectives: every rank calls)
    sd = get_model_state_dict(model, options=opts)
    osd = get_optimizer_state_dict(model, opt, options=opts) if keep_state else None
    rng = _gather_rng(proc) if keep_state else None
    if proc.main:
        train_state = None
        if keep_state:
            tensors, meta = ckpt_io.flatten_optimizer(osd)
            _, _, py = ckpt_io.rng_state()
            js = {"step": step, "total_steps": total, "micro_batches": step * accum, "world": proc.world, "optimizer": meta, "rng": py}
            train_state = {"optimizer_tensors": tensors, "rng_tensors": rng, "json": js}
        ckpt_io.save_checkpoint(out, vlm, stage=stage, step=step, total_steps=total, state_dict=sd, metrics=metrics,
                                train_state=train_state, meta={"world": proc.world})  # fmt: skip
    proc.barrier()


def _load_state(out: Path, model, opt, proc: Proc) -> tuple[int, list[dict]]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    st = ckpt_io.load_train_state(out)
    js = st["json"]
    if js["world"] != proc.world:
        raise MmdataError(f"checkpoint was written by {js['world']} processes; resume with the same number (got {proc.world})", file=out)
    from mmdata.model.visual import legacy_key

    discrete = (model.module if hasattr(model, "module") else model).preset.is_discrete
    osd = ckpt_io.unflatten_optimizer(st["optimizer_tensors"], js["optimizer"], rename=lambda n: legacy_key(n, discrete))
    set_optimizer_state_dict(model, opt, osd, options=StateDictOptions(full_state_dict=True))
    metrics = [m for m in ckpt_io.read_metrics(out) if m["step"] <= js["step"]]
    return js["step"], metrics


def _restore_rng(out: Path, proc: Proc) -> None:
    st = ckpt_io.load_train_state(out)
    t = st["rng_tensors"]
    ckpt_io.set_rng_state(t[f"cpu.{proc.rank}"], t.get(f"cuda.{proc.rank}"), st["json"]["rng"])


def _stage0(preset: Preset, out: Path, proc: Proc, overwrite: bool, log) -> dict:
    from mmdata.model.stage0 import run_stage0

    if not preset.is_world:
        raise MmdataError("stage 0 pretrains world backbones; this preset loads local checkpoints (start at stage 1)", file=preset.file, field="vision.source")
    if out.exists() and any(out.iterdir()) and not overwrite and not (out / "config.yaml").is_file():
        raise MmdataError("--out exists and is not a checkpoint; choose another directory or pass --overwrite", file=out)
    if proc.main:
        s0 = run_stage0(preset, log=log)
        vlm = build_vlm(preset, Backbones(s0 / "vision", s0 / "llm", s0 / "tokenizer"))
        import orjson

        summary = orjson.loads((s0 / "stage0.json").read_bytes())
        ckpt_io.save_checkpoint(out, vlm, stage=0, step=0, metrics=[{"step": 0, "stage": 0, **summary}], meta={"stage0": summary["key"]})
        log(f"stage 0 checkpoint → {out}")
    proc.barrier()
    return {"out": out, "losses": [], "metrics": [], "done": True}
