"""Presets: every shipped preset validates; bad ones fail with one line naming the file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmdata.errors import MmdataError
from mmdata.model.config import load_preset, models_dir
from tests.model.conftest import write_preset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny-cpu", "small-gpu", "clip-vicuna-local"])
def test_shipped_presets_validate(name):
    p = load_preset(name)
    assert p.name == name and p.vision.feature_layer == -2
    assert (models_dir() / f"{name}.yaml").is_file()


def test_small_gpu_llm_is_about_300m():
    a = load_preset("small-gpu").llm.arch
    per_layer = 4 * a.hidden_size**2 + 3 * a.hidden_size * a.intermediate
    assert 280e6 < a.layers * per_layer < 330e6


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"colour": 1}, "colour", "unknown key"),
        ({"llm": {"arch": {"hiddden_size": 64}}}, "llm.arch.hiddden_size", "unknown key"),
        ({"vision": {"arch": {"layers": "three"}}}, "vision.arch.layers", "integer"),
        ({"projector": {"name": "mlp2x_gelu"}}, "projector.name", "unknown projector"),
        ({"projector": {"heads": 4}}, "projector.heads", "unknown key"),
        ({"projector": {"num_queries": 10}}, "projector.num_queries", "perfect square"),
        ({"moe": {"residual": "both"}}, "moe.residual", "'code' or 'paper'"),
        ({"vision": {"keep_cls": False}}, "vision.keep_cls", "CLS"),
        ({"train": {"stage1": {"lr": {"projector": 1e-3, "llm": 1e-5}}}}, "train.stage1.lr.llm", "frozen"),
        ("train.stage2.lr.moe", "train.stage2.lr", "missing a learning rate for 'moe'"),
        ({"train": {"stage1": {"lr": {"projector": 1e-3, "vision": 1e-5}}}}, "train.stage1.lr.vision", "frozen"),  # stage 2 may tune it
        ({"vision": {"source": "local"}}, "vision.path", "local"),
        ({"stage0": None}, "stage0", "stage0"),
        ({"train": {"stage1": {"steps": 0}}}, "train.stage1.steps", "greater than 0"),
    ],
)
def test_bad_presets_name_file_and_key(tmp_path, override, field, message):
    f = write_preset(tmp_path / "bad.yaml", *(({}, (override,)) if isinstance(override, str) else (override,)))
    with pytest.raises(MmdataError) as e:
        load_preset(f)
    text = str(e.value)
    assert "\n" not in text and str(f) in text and f"field '{field}'" in text and message in text


def test_missing_required_key_and_unknown_preset(tmp_path):
    data = yaml.safe_load((models_dir() / "tiny-cpu.yaml").read_text())
    del data["llm"]
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(MmdataError, match="field 'llm': required key is missing"):
        load_preset(f)
    with pytest.raises(MmdataError, match="unknown model 'nope'; shipped: .*tiny-cpu"):
        load_preset("nope")
    (tmp_path / "broken.yaml").write_text("a: [1\n")
    with pytest.raises(MmdataError, match="invalid YAML"):
        load_preset(tmp_path / "broken.yaml")


def test_local_paths_expand_and_missing_dirs_fail_at_build(tmp_path, monkeypatch):
    from mmdata.model.train import Proc, build_model

    monkeypatch.setenv("MMDATA_WEIGHTS", str(tmp_path / "weights"))
    p = load_preset("clip-vicuna-local")
    assert p.vision.path == str(tmp_path / "weights/clip-vit-large-patch14-336")
    import torch

    with pytest.raises(MmdataError) as e:
        build_model(p, init=None, resume_from=None, proc=Proc(0, 1, torch.device("cpu")), log=print)
    assert "field 'vision.path'" in str(e.value) and "directory not found" in str(e.value) and "clip-vicuna-local.yaml" in str(e.value)


def test_cli_reports_bad_preset_in_one_line(tmp_path):
    f = write_preset(tmp_path / "bad.yaml", {"moe": {"alpha": "lots"}})
    res = subprocess.run([sys.executable, "-m", "mmdata.cli", "train", "--preset", str(f), "--stage", "1", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "field 'moe.alpha'" in lines[0] and str(f) in lines[0]


def test_llm_initial_weight_scales():
    """``llm.arch.embed_init`` / ``init_std`` set the world LLM's initial weights; left unset, the
    preset, its stage-0 key and the LLM are exactly as before the options."""
    import torch

    from mmdata.model.llm import build_world_llm
    from mmdata.model.stage0 import stage0_key

    base = load_preset("tiny-cpu")
    scaled = load_preset("tiny-cpu", sets=["llm.arch.embed_init=1.0", "llm.arch.init_std=0.05"])
    assert "embed_init" not in base.to_dict()["llm"]["arch"] and "init_std" not in base.to_dict()["llm"]["arch"]
    assert stage0_key(base) != stage0_key(scaled)

    def stds(arch):
        torch.manual_seed(0)
        lm = build_world_llm(arch, 512, bos=1, eos=2, pad=0)
        return lm.get_input_embeddings().weight.std().item(), lm.model.layers[0].self_attn.q_proj.weight.std().item()

    assert stds(base.llm.arch) == pytest.approx((0.02, 0.02), rel=0.05)
    assert stds(scaled.llm.arch) == pytest.approx((1.0, 0.05), rel=0.05)


def test_lm_text_scenes():
    """``stage0.lm.text_scenes`` draws that many new scenes, the same on every call, on a random
    stream of their own (ids ``text-N``, no image); at its default 0 the preset and its stage-0 key are as before the option."""
    from mmdata.model.stage0 import stage0_key, text_scenes, world_text

    base = load_preset("tiny-cpu")
    more = load_preset("tiny-cpu", sets=["stage0.lm.text_scenes=40"])
    assert "text_scenes" not in base.to_dict()["stage0"]["lm"]
    assert stage0_key(base) != stage0_key(more)
    a, b = text_scenes(more.stage0), text_scenes(more.stage0)
    assert len(a) == 40 and [s.to_json() for s, _ in a] == [s.to_json() for s, _ in b]
    assert len({tuple((o.shape, o.colour) for o in s.objects) for s, _ in a}) > 30  # independent draws
    assert all(path is None and s.scene_id.startswith("text-") for s, path in a)
    assert len(world_text(a, 1)[1]) == 40 * 6  # one document per scene and language
    assert text_scenes(base.stage0) == []
