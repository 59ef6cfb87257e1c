"""DDP: ``torchrun`` with 2 gloo processes matches one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from mmdata.model import checkpoint as ckpt_io
from mmdata.model.train import train
from tests.model.conftest import write_preset

REPO = Path(__file__).resolve().parents[2]
STEPS = 4


def test_ddp_two_processes_match_single_process(mixtures, stage0, session_cache, tmp_path):
    single = write_preset(tmp_path / "single.yaml", {"train": {"stage2": {"batch_size": 8}}})
    double = write_preset(tmp_path / "double.yaml", {"train": {"stage2": {"batch_size": 4}}})  # 2 × 4 = 8
    ref = train(single, 2, tmp_path / "single", mixture=mixtures["instruct"], max_steps=STEPS, log=lambda *_: None)

    env = {**os.environ, "PYTHONPATH": str(REPO), "MMDATA_CACHE": str(session_cache), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "mmdata.cli", "train",
           "--preset", str(double), "--stage", "2", "--mixture", str(mixtures["instruct"]), "--out", str(tmp_path / "ddp"),
           "--max-steps", str(STEPS), "--workers", "0"]  # fmt: skip
    res = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "cpu × 2" in res.stdout and res.stdout.count("global batch 8 samples (4×1×2)") == 1  # rank 0 prints

    ddp = ckpt_io.read_metrics(tmp_path / "ddp")
    assert [m["step"] for m in ddp] == list(range(1, STEPS + 1))
    want = torch.tensor([m["loss"] for m in ref["metrics"]])
    got = torch.tensor([m["loss"] for m in ddp])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    a = ckpt_io.load_tensors(tmp_path / "single/model.safetensors")
    b = ckpt_io.load_tensors(tmp_path / "ddp/model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    assert ckpt_io.read_config(tmp_path / "ddp")["meta"]["world"] == 2


def test_fsdp_two_processes_match_single_process(mixtures, stage0, session_cache, tmp_path):
    """FSDP2 (meant for GPUs) on gloo: the sharded step computes the same losses, and its checkpoint
    (gathered full state) loads like any other."""
    single = write_preset(tmp_path / "single.yaml", {"train": {"stage2": {"batch_size": 8}}})
    sharded = write_preset(tmp_path / "fsdp.yaml", {"train": {"parallel": "fsdp", "stage2": {"batch_size": 2, "grad_accum": 2}}})
    ref = train(single, 2, tmp_path / "single", mixture=mixtures["instruct"], max_steps=STEPS, log=lambda *_: None)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MMDATA_CACHE": str(session_cache), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "mmdata.cli", "train",
           "--preset", str(sharded), "--stage", "2", "--mixture", str(mixtures["instruct"]), "--out", str(tmp_path / "fsdp"),
           "--max-steps", str(STEPS), "--workers", "0"]  # fmt: skip
    res = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    got = torch.tensor([m["loss"] for m in ckpt_io.read_metrics(tmp_path / "fsdp")])
    torch.testing.assert_close(got, torch.tensor([m["loss"] for m in ref["metrics"]]), rtol=1e-4, atol=1e-5)
    a = ckpt_io.load_tensors(tmp_path / "single/model.safetensors")
    b = ckpt_io.load_tensors(tmp_path / "fsdp/model.safetensors")
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
