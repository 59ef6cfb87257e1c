"""Distributed: ``torchrun`` with 2 gloo processes matches one process with the same global batch,
for DDP and for FSDP2 (meant for GPUs; gloo runs it too), including a stop and an exact resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdata.model import checkpoint as ckpt_io
from mmdata.model.train import train
from tests.model.conftest import write_preset

REPO = Path(__file__).resolve().parents[2]
STEPS = 4


def torchrun(preset: Path, mixture: Path, out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MMDATA_CACHE": str(cache), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "mmdata.cli", "train",
           "--preset", str(preset), "--stage", "2", "--mixture", str(mixture), "--out", str(out), "--max-steps", str(STEPS),
           "--workers", "0", *extra]  # fmt: skip
    res = subprocess.run(cmd, env=env, cwd=out.parent, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.parametrize(
    ("parallel", "per_rank", "accum"),
    [("ddp", 4, 1), ("fsdp", 2, 2)],  # 2 ranks × 4, or 2 ranks × 2 × 2 accumulation = 8
)
def test_two_processes_match_single_process(mixtures, stage0, session_cache, tmp_path, parallel, per_rank, accum):
    single = write_preset(tmp_path / "single.yaml", {"train": {"stage2": {"batch_size": 8}}})
    dist = write_preset(tmp_path / "dist.yaml", {"train": {"parallel": parallel, "stage2": {"batch_size": per_rank, "grad_accum": accum}}})
    ref = train(single, 2, tmp_path / "single", mixture=mixtures["instruct"], max_steps=STEPS, log=lambda *_: None)
    # half the steps, stop (every rank contributes optimizer shards and RNG states), then resume
    first = torchrun(dist, mixtures["instruct"], tmp_path / "dist", session_cache, "--stop-at", str(STEPS // 2))
    log1 = first.stdout + first.stderr  # the trainer logs through mmdata's logger (stderr)
    assert "cpu × 2" in log1 and log1.count(f"global batch 8 samples ({per_rank}×{accum}×2)") == 1  # rank 0 logs
    assert ckpt_io.has_train_state(tmp_path / "dist")
    second = torchrun(dist, mixtures["instruct"], tmp_path / "dist", session_cache)
    assert f"resuming at step {STEPS // 2}" in second.stdout + second.stderr

    got = ckpt_io.read_metrics(tmp_path / "dist")
    assert [m["step"] for m in got] == list(range(1, STEPS + 1))
    want = torch.tensor([m["loss"] for m in ref["metrics"]])
    torch.testing.assert_close(torch.tensor([m["loss"] for m in got]), want, rtol=1e-4, atol=1e-5)
    a = ckpt_io.load_tensors(tmp_path / "single/model.safetensors")
    b = ckpt_io.load_tensors(tmp_path / "dist/model.safetensors")  # gathered full weights, like any checkpoint
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    assert ckpt_io.read_config(tmp_path / "dist")["meta"]["world"] == 2
