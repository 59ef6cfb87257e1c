"""The trainer: learning on the tiny world, exact resume, the harness hook on a trained checkpoint."""

from __future__ import annotations

import pytest
import torch

from mmdata.errors import MmdataError
from mmdata.model import checkpoint as ckpt_io
from mmdata.model import load_for_generation
from mmdata.model.train import lr_multiplier, train
from tests.model.conftest import write_preset

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def stage0_ckpt(preset_file, stage0, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "stage0"
    train(preset_file, 0, out, **QUIET)
    return out


@pytest.fixture(scope="module")
def trained(preset_file, stage0_ckpt, mixtures, tmp_path_factory):
    """Stage 1 then stage 2 on the tiny world, a few hundred steps in all."""
    d = tmp_path_factory.mktemp("ckpt")
    s1 = train(preset_file, 1, d / "stage1", mixture=mixtures["caption"], init=stage0_ckpt, max_steps=80, **QUIET)
    s2 = train(preset_file, 2, d / "stage2", mixture=mixtures["instruct"], init=d / "stage1", max_steps=200, **QUIET)
    return s1, s2, d


def _mean(xs):
    return sum(xs) / len(xs)


def test_stage0_checkpoint(stage0_ckpt, stage0):
    cfg = ckpt_io.read_config(stage0_ckpt)
    assert cfg["stage"] == 0 and cfg["step"] == 0
    summary = ckpt_io.read_metrics(stage0_ckpt)[0]
    assert summary["lm"]["loss_last"] < summary["lm"]["loss_first"] and summary["clip"]["loss_last"] < summary["clip"]["loss_first"]
    assert {p.name for p in stage0.iterdir()} >= {"tokenizer", "vision", "llm", "stage0.json"}


def test_stage1_then_stage2_lowers_the_loss(trained):
    s1, s2, d = trained
    l1, l2 = s1["losses"], s2["losses"]
    assert len(l1) == 80 and len(l2) == 200
    start = _mean(l1[:5])
    assert _mean(l1[-20:]) < 0.95 * start  # alignment on captions (bounded by the tiny LM's caption loss)
    assert _mean(l2[-20:]) < 0.6 * start  # instruction tuning: well below where training started
    assert _mean(l2[-20:]) < 0.5 * _mean(l2[:5])
    m = s2["metrics"][-1]
    assert set(m) >= {"step", "loss", "lr", "tokens_per_s", "samples_per_s", "data_wait", "mfu", "router_probs"}
    assert m["mfu"] is None  # no peak for CPUs
    for probs in m["router_probs"].values():
        assert abs(sum(probs) - 1) < 1e-4 and len(probs) == 6
    assert "router_probs" not in s1["metrics"][-1]  # the MoE is bypassed in stage 1
    cfg = ckpt_io.read_config(d / "stage2")
    assert cfg["stage"] == 2 and cfg["step"] == 200
    assert not (d / "stage2" / "state").exists()  # complete: optimizer state dropped
    assert len(ckpt_io.read_metrics(d / "stage2")) == 200  # log_every 1


def test_generation_hook_on_trained_checkpoint(trained, tiny_world):
    from PIL import Image

    _, _, d = trained
    gen = load_for_generation(d / "stage2")
    paths = sorted((tiny_world / "images/coco/train2017").glob("*.jpg"))[:3]
    images = [[Image.open(p)] for p in paths]
    prompts = ["What colour is the background?", "How many objects are in the image?\nAnswer the question using a single word or phrase.",
               "Describe the image briefly."]  # fmt: skip
    batched = gen.generate(images, prompts, max_new_tokens=8)
    assert len(batched) == 3 and all(isinstance(t, str) for t in batched)
    single = [gen.generate([im], [p], max_new_tokens=8)[0] for im, p in zip(images, prompts, strict=True)]
    assert batched == single  # left padding + KV cache give the same greedy output
    assert gen.generate([[]], ["Hello"], max_new_tokens=4)[0] is not None  # text-only prompt


def test_choice_scoring_on_a_trained_checkpoint(trained, tiny_world):
    """``choose`` (the ``mmdata-choice:`` harness adapter) on a trained, loaded checkpoint picks what the
    one-row reference of tests/model/test_choice.py picks: the letter for lettered options, the text
    (mean log-probability per token) for an open question."""
    from PIL import Image

    from tests.model.test_choice import reference_scores

    _, _, d = trained
    gen = load_for_generation(d / "stage2")
    paths = sorted((tiny_world / "images/coco/train2017").glob("*.jpg"))[:3]
    images = [[Image.open(p)] for p in paths]
    prompts = ["What colour is the background?\nA. red\nB. blue\nC. green\nD. a white square\nAnswer with the letter of the correct option only.",
               "How many objects are in the image?", "Is there a circle?"]  # fmt: skip
    choices = [{"A": "red", "B": "blue", "C": "green", "D": "a white square"}, {"A": "one", "B": "two", "C": "3"},
               {"A": "yes", "B": "no"}]  # fmt: skip
    picks = gen.choose(images, prompts, choices)
    for k, pick in enumerate(picks):
        scores = reference_scores(gen, images[k], prompts[k], choices[k], letter=k == 0)
        assert pick == max(sorted(scores), key=scores.get), (prompts[k], scores, pick)
    assert gen.choose([[]], ["Hello"], [{"A": "hi", "B": "bye"}])[0] in {"A", "B"}  # text-only prompt


def test_resume_is_exact(preset_file, stage0_ckpt, mixtures, tmp_path):
    n = 4
    kw = {"mixture": mixtures["instruct"], "init": stage0_ckpt, "max_steps": 2 * n, **QUIET}
    straight = train(preset_file, 2, tmp_path / "straight", num_workers=0, **kw)
    first = train(preset_file, 2, tmp_path / "resumed", stop_at=n, num_workers=0, **kw)
    assert ckpt_io.has_train_state(tmp_path / "resumed") and not first["done"]
    second = train(preset_file, 2, tmp_path / "resumed", num_workers=1, **kw)  # resumes at step n, with a worker
    assert second["done"] and len(second["losses"]) == n
    assert first["losses"] == straight["losses"][:n]
    torch.testing.assert_close(torch.tensor(second["losses"]), torch.tensor(straight["losses"][n:]), rtol=0, atol=1e-6)
    a = ckpt_io.load_tensors(tmp_path / "straight/model.safetensors")
    b = ckpt_io.load_tensors(tmp_path / "resumed/model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    assert [m["step"] for m in ckpt_io.read_metrics(tmp_path / "resumed")] == list(range(1, 2 * n + 1))
    again = train(preset_file, 2, tmp_path / "resumed", **kw)  # complete: nothing to do
    assert again["done"] and again["losses"] == []


def test_out_and_init_guards(preset_file, stage0_ckpt, mixtures, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk/file.txt").write_text("x")
    with pytest.raises(MmdataError, match="not a checkpoint"):
        train(preset_file, 1, tmp_path / "junk", mixture=mixtures["caption"], init=stage0_ckpt, max_steps=2, **QUIET)
    with pytest.raises(MmdataError, match="stage-0 checkpoint"):
        train(preset_file, 1, stage0_ckpt, mixture=mixtures["caption"], max_steps=2, **QUIET)
    other = write_preset(tmp_path / "other.yaml", {"projector": {"num_queries": 9}})
    with pytest.raises(MmdataError, match=r"different architecture \(projector\)"):
        train(other, 1, tmp_path / "x", mixture=mixtures["caption"], init=stage0_ckpt, max_steps=2, **QUIET)
    with pytest.raises(MmdataError, match="--mixture"):
        train(preset_file, 1, tmp_path / "y", **QUIET)


def test_lr_schedule():
    total = 100
    lrs = [lr_multiplier(s, total, 0.1, 0.1) for s in range(total)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warmup over 10 steps
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # then monotone cosine decay
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_gradient_checkpointing_and_bf16_autocast(preset_file, stage0_ckpt, mixtures, tmp_path):
    kw = {"mixture": mixtures["instruct"], "init": stage0_ckpt, "max_steps": 3, **QUIET}
    base = train(preset_file, 2, tmp_path / "base", **kw)
    gc = train(write_preset(tmp_path / "gc.yaml", {"train": {"gradient_checkpointing": True}}), 2, tmp_path / "gc", **kw)
    torch.testing.assert_close(torch.tensor(gc["losses"]), torch.tensor(base["losses"]), rtol=1e-5, atol=1e-6)
    bf = train(write_preset(tmp_path / "bf.yaml", {"train": {"precision": "bf16"}}), 2, tmp_path / "bf", **kw)
    torch.testing.assert_close(torch.tensor(bf["losses"]), torch.tensor(base["losses"]), rtol=0.05, atol=0.05)


def test_stage2_tunes_the_vision_encoder_only_when_given_a_rate(preset_file, stage0_ckpt, mixtures, tmp_path):
    """``train.stage2.lr.vision`` unfreezes the vision encoder in stage 2 (its weights move and are
    saved); without it the encoder's weights are those of the init checkpoint, bit for bit. A
    discrete preset refuses it (its tokenizer reads the encoder)."""
    from mmdata.model.config import load_preset

    kw = {"mixture": mixtures["instruct"], "init": stage0_ckpt, "max_steps": 2, **QUIET}
    base = train(preset_file, 2, tmp_path / "frozen", **kw)
    lr = {"projector": 5.0e-4, "moe": 5.0e-4, "llm": 5.0e-4, "vision": 1.0e-3}
    tuned = train(write_preset(tmp_path / "v.yaml", {"train": {"stage2": {"lr": lr}}}), 2, tmp_path / "tuned", **kw)
    init = {k: v for k, v in ckpt_io.load_tensors(stage0_ckpt / "model.safetensors").items() if k.startswith("vision.")}
    assert init
    for out, moved in ((base["out"], False), (tuned["out"], True)):
        sd = ckpt_io.load_tensors(out / "model.safetensors")
        changed = [k for k in init if not torch.equal(sd[k], init[k])]
        assert bool(changed) is moved, (out, changed[:3])
    with pytest.raises(MmdataError, match="stays frozen"):
        load_preset("tiny-cpu-discrete", sets=["train.stage2.lr.vision=1e-4"])


def test_train_killed_with_sigkill_resumes_from_its_last_save(preset_file, stage0_ckpt, mixtures, tmp_path):
    """``mmdata train`` killed with SIGKILL after a save: the same command resumes from that save and
    ends with the weights of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import orjson

    def cmd(out):
        return [sys.executable, "-m", "mmdata", "-q", "train", "--preset", str(preset_file), "--stage", "2", "--out", str(out),
                "--mixture", str(mixtures["instruct"]), "--init", str(stage0_ckpt), "--max-steps", "40",
                "--set", "train.save_every=4", "--set", "train.threads=1", "--workers", "0"]  # fmt: skip

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    straight = subprocess.run(cmd(tmp_path / "straight"), env=env, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]
    out = tmp_path / "killed"
    p = subprocess.Popen(cmd(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "state" / "state.json"
    deadline = time.monotonic() + 600
    while p.poll() is None and time.monotonic() < deadline:
        if state.is_file() and orjson.loads(state.read_bytes()).get("step", 0) >= 8:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL, "training finished before it could be killed"
    saved = orjson.loads(state.read_bytes())["step"]
    assert 8 <= saved < 40 and saved % 4 == 0
    again = subprocess.run(cmd(out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert ckpt_io.read_config(out)["step"] == 40
    a = ckpt_io.load_tensors(tmp_path / "straight/model.safetensors")
    b = ckpt_io.load_tensors(out / "model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    steps = [m["step"] for m in ckpt_io.read_metrics(out)]
    assert steps == list(range(1, 41))  # the metrics log resumes where the save was, without repeats or gaps


def test_tiny_preset_saves_often_enough_to_lose_under_a_minute():
    """tiny-cpu's stage-2 steps take about 0.3 s on 2 idle cores (1.2 s on a loaded machine), so a
    save every 50 steps loses at most 15-60 s of training to a kill."""
    from mmdata.model.config import load_preset

    assert 0 < load_preset("tiny-cpu").train.save_every <= 50
