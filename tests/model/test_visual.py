"""The visual path interface: the VLM holds one ``visual`` module (projector path here; the discrete path
is exercised in tests/tokenizers), stage rules come from the path, and checkpoints written before the
interface (top-level ``projector.*`` / ``moe.*`` keys) still load."""

from __future__ import annotations

import torch

from mmdata.model import checkpoint as ckpt_io
from mmdata.model.stages import set_stage
from mmdata.model.visual import ProjectorPath, VisualPath, legacy_key


def test_projector_path_interface_and_stage_rules(vlm_factory):
    vlm = vlm_factory()
    assert isinstance(vlm.visual, ProjectorPath) and isinstance(vlm.visual, VisualPath)
    assert not hasattr(vlm, "projector") and not hasattr(vlm, "discrete")
    assert vlm.num_visual_tokens == vlm.visual.projector.num_tokens + 1 and vlm.num_code_tokens is None
    assert set_stage(vlm, 1) == ["projector"] and not vlm.use_moe
    assert {n for n, p in vlm.named_parameters() if p.requires_grad} == {f"visual.{n}" for n in vlm.visual.trainable(1)}
    assert all(n.startswith("visual.projector.") for n, p in vlm.named_parameters() if p.requires_grad)
    assert set_stage(vlm, 2) == ["projector", "moe", "llm"] and vlm.use_moe and vlm.visual.stage == 2
    assert vlm.lr_key("visual.moe.router.weight") == "moe" and vlm.lr_key("visual.projector.x") == "projector"
    assert vlm.lr_key("llm.model.norm.weight") == "llm" and vlm.lr_key("llm_affine.0.scale") == "llm"
    assert not any(p.requires_grad for p in vlm.vision.parameters())


def test_legacy_keys():
    assert legacy_key("projector.net.0.weight", discrete=False) == "visual.projector.net.0.weight"
    assert legacy_key("moe.router.weight", discrete=False) == "visual.moe.router.weight"
    assert legacy_key("projector.embed", discrete=True) == "visual.embed"
    for k in ("llm.model.norm.weight", "vision.clip.x", "visual.projector.w", "projector"):
        assert legacy_key(k, discrete=False) == k


def test_checkpoint_written_before_the_interface_loads(vlm_factory, tmp_path):
    vlm = vlm_factory()
    set_stage(vlm, 2)
    ckpt_io.save_checkpoint(tmp_path / "ck", vlm, stage=2, step=1)
    f = tmp_path / "ck/model.safetensors"
    sd = ckpt_io.load_tensors(f)
    old = {k.removeprefix("visual."): v for k, v in sd.items()}  # the names the VLM used to write
    assert any(k.startswith("projector.") for k in old) and any(k.startswith("moe.") for k in old)
    ckpt_io.save_tensors(old, f)
    loaded, cfg = ckpt_io.load_vlm(tmp_path / "ck")
    assert cfg["stage"] == 2 and loaded.use_moe
    new = loaded.state_dict()
    assert all(torch.equal(new[k], v) for k, v in sd.items())


def test_visual_norm_puts_tokens_at_the_text_scale_and_saves_it(vlm_factory, preset, tmp_path):
    assert "visual_norm" not in preset.to_dict()  # presets without the option hash as before it
    p = preset.model_copy(update={"visual_norm": "text-rms"})
    assert p.to_dict()["visual_norm"] == "text-rms" and p.model_section()["visual_norm"] == "text-rms"
    vlm = vlm_factory(p)
    emb = vlm.llm.get_input_embeddings().weight
    text_rms = emb.pow(2).mean(-1).sqrt().mean()
    assert torch.allclose(vlm.visual.token_rms, text_rms)
    px = torch.rand(2, 3, p.vision.arch.image_size, p.vision.arch.image_size)
    with torch.no_grad():
        vis = vlm.visual(px, vlm.vision).embeds
        plain = vlm_factory().visual(px, vlm.vision).embeds
    rms = vis.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.full_like(rms, float(text_rms)), rtol=1e-3)
    assert not torch.allclose(plain.pow(2).mean(-1).sqrt(), rms, rtol=0.1)  # without the option the scale is the projector's own
    set_stage(vlm, 2)
    vlm.visual.token_rms.fill_(0.123)  # a checkpoint restores its own value, not the LLM's
    ckpt_io.save_checkpoint(tmp_path / "ck", vlm, stage=2, step=1)
    loaded, _ = ckpt_io.load_vlm(tmp_path / "ck")
    assert abs(float(loaded.visual.token_rms) - 0.123) < 1e-6 and loaded.preset.visual_norm == "text-rms"


def test_visual_norm_standardize_centres_every_feature_and_saves_its_statistics(vlm_factory, preset, tmp_path):
    """``standardize``: in training every feature of the batch's visual tokens has mean 0 and variance 1
    (a vector added to every token is removed); at inference the running statistics apply, and a
    checkpoint carries them."""
    p = preset.model_copy(update={"visual_norm": "standardize"})
    assert p.model_section()["visual_norm"] == "standardize"
    vlm = vlm_factory(p)
    set_stage(vlm, 1)
    vlm.train()
    s = p.vision.arch.image_size
    px = torch.rand(4, 3, s, s)
    vis = vlm.visual(px, vlm.vision).embeds
    flat = vis.detach().flatten(0, 1)
    assert torch.allclose(flat.mean(0), torch.zeros(flat.shape[1]), atol=1e-4)
    assert torch.allclose(flat.var(0, unbiased=False), torch.ones(flat.shape[1]), atol=1e-2)
    shift = torch.randn(flat.shape[1]) * 50  # a vector added to every token the projector puts out changes nothing
    hook = vlm.visual.projector.register_forward_hook(lambda m, i, out: tuple(o + shift for o in out) if isinstance(out, tuple) else out + shift)
    assert torch.allclose(vlm.visual(px, vlm.vision).embeds.detach(), vis.detach(), atol=1e-3)
    hook.remove()
    with torch.no_grad():  # running statistics follow the batches (train mode: updated without gradients)
        for _ in range(100):
            vlm.visual(px, vlm.vision)
    vlm.eval()
    with torch.no_grad():
        inf = vlm.visual(px, vlm.vision).embeds
    assert torch.allclose(inf.flatten(0, 1).mean(0), torch.zeros(flat.shape[1]), atol=0.1)
    ckpt_io.save_checkpoint(tmp_path / "ck", vlm, stage=1, step=1)
    loaded, _ = ckpt_io.load_vlm(tmp_path / "ck")
    loaded.eval()
    assert torch.equal(loaded.visual.standardize.running_mean, vlm.visual.standardize.running_mean)
    with torch.no_grad():
        assert torch.allclose(loaded.visual(px, loaded.vision).embeds, inf, atol=1e-5)
