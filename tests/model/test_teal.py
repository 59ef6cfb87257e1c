"""TEAL's bias-norm tuning: a learnable scale and bias per decoder layer, identity when inserted,
trained only under ``llm_tuning: bias-norm`` (with the LLM's norms), frozen under ``full``, and kept by
checkpoints (safetensors)."""

from __future__ import annotations

import torch

from mmdata.model import chat
from mmdata.model import checkpoint as ckpt_io
from mmdata.model.data import Sample, collate
from mmdata.model.stages import set_stage
from mmdata.model.train import param_groups


def _batch(vlm) -> dict:
    turns = [{"role": "user", "content": "<image>\nWhat colour is the square?"}, {"role": "assistant", "content": "red"}]
    ids, sup = chat.encode(vlm.tokenizer, chat.render(turns), vlm.num_visual_tokens)
    torch.manual_seed(1)
    image = torch.randn(3, vlm.vision.image_size, vlm.vision.image_size)
    return collate([Sample(ids, sup, [image], "en")], vlm.tokenizer.pad_id, 512, packing=False)


def test_identity_at_insertion_and_trained_only_under_bias_norm(vlm_factory):
    vlm = vlm_factory()
    batch = _batch(vlm)
    set_stage(vlm, 2)
    vlm.eval()
    assert vlm.llm_affine is None  # full tuning inserts nothing
    with torch.no_grad():
        before = vlm(batch)["loss_sum"]
    trained = set_stage(vlm, 2, "bias-norm")
    assert trained == ["projector", "moe", "llm"]
    n_layers = vlm.llm.config.num_hidden_layers
    assert len(vlm.llm_affine) == n_layers
    with torch.no_grad():
        assert torch.equal(vlm(batch)["loss_sum"], before)  # s = 1, b = 0: the model is unchanged
    for name, p in vlm.named_parameters():
        if name.startswith("llm_affine."):
            assert p.requires_grad and p.ndim == 1
        elif name.startswith("llm."):
            assert p.requires_grad == ("norm" in name), name  # a Llama has no biases: only its norms train
    groups = param_groups(vlm, {"projector": 1.0, "moe": 1.0, "llm": 2.0}, 0.1)
    for p in vlm.llm_affine.parameters():  # stepped with the LLM's learning rate, never decayed
        (g,) = [g for g in groups if any(p is q for q in g["params"])]
        assert g["module"] == "llm" and g["lr"] == 2.0 and g["weight_decay"] == 0.0
    vlm.train()
    vlm(batch)["loss_sum"].backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in vlm.llm_affine.parameters())
    # full tuning freezes the inserted scale and bias (and trains the whole LLM)
    set_stage(vlm, 2, "full")
    assert not any(p.requires_grad for p in vlm.llm_affine.parameters())
    assert all(p.requires_grad for p in vlm.llm.parameters())
    set_stage(vlm, 1, "full")
    assert not any(p.requires_grad for p in vlm.llm_affine.parameters())


def test_scale_and_bias_survive_a_checkpoint(vlm_factory, tmp_path):
    vlm = vlm_factory()
    set_stage(vlm, 2, "bias-norm")
    vlm.eval()
    with torch.no_grad():
        for k, a in enumerate(vlm.llm_affine):
            a.scale.fill_(1.0 + 0.1 * (k + 1))
            a.bias.normal_(0, 0.05)
    batch = _batch(vlm)
    with torch.no_grad():
        want = vlm(batch)["loss_sum"]
    ckpt_io.save_checkpoint(tmp_path / "ck", vlm, stage=2, step=1)
    sd = ckpt_io.load_tensors(tmp_path / "ck/model.safetensors")
    assert {f"llm_affine.{k}.{p}" for k in range(len(vlm.llm_affine)) for p in ("scale", "bias")} <= set(sd)
    loaded, _ = ckpt_io.load_vlm(tmp_path / "ck")
    loaded.eval()
    for a, b in zip(vlm.llm_affine.parameters(), loaded.llm_affine.parameters(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch)["loss_sum"], want, rtol=0, atol=0)
    # a checkpoint without them (full tuning) loads without them
    plain = vlm_factory()
    ckpt_io.save_checkpoint(tmp_path / "plain", plain, stage=1, step=1)
    assert ckpt_io.load_vlm(tmp_path / "plain")[0].llm_affine is None
