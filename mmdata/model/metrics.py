"""Throughput and utilisation: tokens/s, samples/s, data-wait fraction, model FLOPs and MFU.

MFU = achieved model FLOP/s ÷ the device's peak *dense* bf16 FLOP/s (H100/H200 989 TFLOP/s, not the
sparsity-doubled figure). On CPU there is no meaningful peak: MFU is reported as null unless
``MMDATA_PEAK_FLOPS`` is set (e.g. to a measured matmul rate, see :func:`measure_cpu_peak`).

Model FLOPs per micro-batch (PaLM / nanoGPT accounting, counted per module):
``2·P·tokens`` for a forward pass, times 3 when the module is trained (forward + input grads + weight
grads), times 2 when it is frozen but gradients flow through it (the LLM in stage 1), times 1 when
it runs without gradients (the vision encoder). The LLM adds ``4·L·d·T²`` per row for attention.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def device_peak(device: torch.device) -> tuple[str, float | None]:
    env = os.environ.get("MMDATA_PEAK_FLOPS")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_FLOPS.items() if k in name.upper()), None)
    else:
        name, peak = "cpu", None
    return name, float(env) if env else peak


def cpu_flags() -> set[str]:
    """This CPU's feature flags (``/proc/cpuinfo``; empty where there is none)."""
    try:
        line = next(x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[1].split())


def machine() -> str:
    """One line naming what a run's numbers depend on: the processor, its cores and bf16 units, and
    torch's version (training numerics differ from one CPU's kernels to another's)."""
    import platform

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} · torch {torch.__version__}"
    try:
        name = next(x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    bf16 = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return f"{name} · {os.cpu_count()} cores · bf16 units: {', '.join(bf16) or 'none'} · torch {torch.__version__}"


def measure_cpu_peak(n: int = 1024, reps: int = 5) -> float:
    """fp32 matmul FLOP/s on this CPU (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def _params(module) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


class FlopCounter:
    """Model FLOPs of one micro-batch of a :class:`~mmdata.model.vlm.VLM` in its current stage."""

    def __init__(self, vlm) -> None:
        emb = vlm.llm.get_input_embeddings()
        head = vlm.llm.get_output_embeddings()
        cfg = vlm.llm.config
        self.p_llm = _params(vlm.llm) - emb.weight.numel() - head.weight.numel()
        self.p_head = head.weight.numel()
        self.p_vis = _params(vlm.vision)
        vis = {}
        for n, p in vlm.visual.named_parameters():
            key = vlm.visual.lr_key(n)
            vis[key] = vis.get(key, 0) + p.numel()
        self.p_proj = vis.get("projector", 0)
        self.p_moe = vis.get("moe", 0) if vlm.use_moe else 0
        self.layers, self.d = cfg.num_hidden_layers, cfg.hidden_size
        self.n_patch = vlm.vision.num_patches + 1
        self.n_vis = vlm.num_visual_tokens
        trained = set(vlm.trained_modules)
        self.m_llm = 3 if "llm" in trained else 2
        self.m_proj = 3 if "projector" in trained else 1
        self.m_moe = 3 if "moe" in trained else 1
        self.m_vis = 3 if "vision" in trained else 1

    def __call__(self, batch: dict) -> float:
        n_img = 0 if "pixel_values" not in batch else batch["pixel_values"].shape[0]
        seg = batch["segment_ids"]
        lens = (seg > 0).sum(1).double()
        tokens = float(lens.sum())
        supervised = float((batch["labels"] != -100).sum())
        f = self.m_vis * 2 * self.p_vis * self.n_patch * n_img
        f += self.m_proj * 2 * self.p_proj * self.n_patch * n_img
        f += self.m_moe * 2 * self.p_moe * self.n_vis * n_img
        f += self.m_llm * (2 * self.p_llm * tokens + 4 * self.layers * self.d * float((lens**2).sum()))
        f += self.m_llm * 2 * self.p_head * supervised
        return f


def console_line(rec: dict, total: int) -> str:
    mfu = "n/a" if rec.get("mfu") is None else f"{100 * rec['mfu']:.1f}%"
    return (
        f"step {rec['step']:>6}/{total} | loss {rec['loss']:.4f} | lr {rec['lr']:.2e} | "
        f"{rec['tokens_per_s']:,.0f} tok/s | {rec['samples_per_s']:,.1f} samples/s | "
        f"data-wait {100 * rec['data_wait']:.0f}% | mfu {mfu}"
    )
