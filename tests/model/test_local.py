"""Real-checkpoint path: a random tiny CLIP and a tiny Llama saved with ``save_pretrained`` load
through the same local-directory code a user's CLIP ViT-L/14 and 7B LLM go through."""

from __future__ import annotations

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from mmdata.model import load_for_generation
from mmdata.model.config import load_preset
from mmdata.model.tokenizer import TextTokenizer
from mmdata.model.train import train


@pytest.fixture(scope="module")
def local_dirs(tmp_path_factory, stage0):
    from transformers import (
        CLIPConfig,
        CLIPModel,
        CLIPVisionConfig,
        CLIPVisionModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    root = tmp_path_factory.mktemp("weights")
    vision = {"image_size": 32, "patch_size": 8, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4}
    CLIPModel(CLIPConfig(vision_config=vision, text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                                            "num_attention_heads": 2})).save_pretrained(root / "clip-full")  # fmt: skip
    CLIPVisionModel(CLIPVisionConfig(**vision)).save_pretrained(root / "clip-vision")
    tok = TextTokenizer.load(stage0 / "tokenizer")  # any HF tokenizer directory works; reuse the world BPE
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                                         pad_token_id=tok.pad_id))  # fmt: skip
    llama.save_pretrained(root / "llama")
    tok.save(root / "llama")
    return root


@pytest.mark.parametrize("clip_dir", ["clip-full", "clip-vision"])
def test_local_backbones_train_and_generate(local_dirs, mixtures, tmp_path, monkeypatch, clip_dir):
    monkeypatch.setenv("MY_WEIGHTS", str(local_dirs))
    preset = {
        "name": "local-test",
        "vision": {"source": "local", "path": f"${{MY_WEIGHTS}}/{clip_dir}", "keep_cls": False},
        "llm": {"source": "local", "path": "${MY_WEIGHTS}/llama"},
        "projector": {"name": "mlp", "depth": 2},
        "train": {"num_workers": 0, "max_len": 96, "log_every": 1,
                  "stage1": {"steps": 3, "batch_size": 4, "lr": {"projector": 1e-3}},
                  "stage2": {"steps": 3, "batch_size": 4, "lr": {"projector": 1e-4, "llm": 1e-4}}},
    }  # fmt: skip
    f = tmp_path / "local.yaml"
    f.write_text(yaml.safe_dump(preset))
    p = load_preset(f)
    assert p.vision.path == f"{local_dirs}/{clip_dir}"
    r1 = train(f, 1, tmp_path / "s1", mixture=mixtures["caption"], log=lambda *_: None)
    r2 = train(f, 2, tmp_path / "s2", mixture=mixtures["instruct"], init=tmp_path / "s1", log=lambda *_: None)
    assert r1["done"] and r2["done"] and len(r2["losses"]) == 3
    gen = load_for_generation(tmp_path / "s2")
    saved = load_file(local_dirs / clip_dir / "model.safetensors")
    for name, param in gen.vlm.vision.clip.named_parameters():  # the user's (frozen) weights, not a fresh init
        key = name if name in saved else f"vision_model.{name}"  # a CLIPModel folder prefixes the vision tower
        assert torch.equal(param, saved[key]), name
    assert gen.vlm.num_visual_tokens == 16  # (32 / 8)² patches, CLS dropped, MLP keeps M = N
    out = gen.generate([[Image.new("RGB", (48, 48), "red")]], ["What colour?"], max_new_tokens=3)
    assert len(out) == 1
