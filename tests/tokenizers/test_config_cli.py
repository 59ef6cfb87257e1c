"""Presets with ``visual: discrete`` (validation, backwards compatibility, ablation overrides) and the
``mmdata tokenizer`` commands."""

from __future__ import annotations

import json

import pytest
import yaml

from mmdata.errors import MmdataError
from mmdata.model.config import load_preset, preset_from_dict
from tests.tokenizers.conftest import discrete_data, discrete_preset


def _error(overrides: dict, delete: tuple[str, ...] = ()) -> str:
    data = discrete_data(overrides)
    for key in delete:
        *parents, last = key.split(".")
        node = data
        for k in parents:
            node = node[k]
        del node[last]
    with pytest.raises(MmdataError) as e:
        preset_from_dict(data, file="p.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("p.yaml: ")
    return msg


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"discrete": {"kind": "vqgan"}}, "discrete.kind", "'vqvae', 'seed' or 'kmeans'"),
        ({"discrete": {"codebook_mode": "both"}}, "discrete.codebook_mode", "language-driven"),
        ({"discrete": {"stacked": 0}}, "discrete.stacked", "greater than or equal to 1"),
        ({"discrete": {"stacked": 9}}, "discrete.stacked", "less than or equal to 8"),
        ({"discrete": {"aggregate": "mean"}}, "discrete.aggregate", "cumsum"),
        ({"discrete": {"init": "zeros"}}, "discrete.init", "codebook"),
        ({"discrete": {"kind": "kmeans"}}, "discrete.codebook_mode", "needs codebook_mode: none"),
        ({"discrete": {"kind": "kmeans", "codebook_mode": "none", "stacked": 2}}, "discrete.stacked", "set stacked: 1"),
        ({"discrete": {"downsample": 12}}, "discrete.downsample", "power of two"),
        ({"discrete": {"downsample": 128}}, "discrete.downsample", "not a multiple"),
        ({"discrete": {"code_dim": 64}}, "discrete.code_dim", "LLM's embedding space"),
        ({"discrete": {"llm_offset": 2000}}, "discrete.llm_offset", "exceed the vocabulary"),
        ({"discrete": {"wat": 1}}, "discrete.wat", "unknown key"),
        ({"moe": {"enabled": True}}, "moe.enabled", "moe.enabled: false"),
        ({"vision": {"keep_cls": True}}, "vision.keep_cls", "no CLS token"),
        ({"projector": {"name": "mlp"}}, "projector", "replaces the projector"),
        ({"train": {"stage1": {"llm_tuning": "bias-norm"}}}, "train.stage1.llm_tuning", "frozen in stage 1"),
        ({"train": {"stage2": {"llm_tuning": "lora"}}}, "train.stage2.llm_tuning", "bias-norm"),
    ],
)
def test_malformed_discrete_presets_are_one_line_errors(overrides, field, words):
    msg = _error(overrides)
    assert f"field '{field}'" in msg and words in msg


def test_visual_and_section_must_agree():
    assert "needs a 'discrete' section" in _error({}, delete=("discrete",))
    assert "required mapping" in _error({"visual": "projector"})  # a projector preset needs its projector
    msg = _error({"visual": "projector", "projector": {"name": "mlp"}})
    assert "field 'discrete'" in msg and "needs visual: discrete" in msg


def test_projector_presets_serialise_as_before():
    """Existing presets and checkpoints: no new keys in their dicts (hashes and resume checks unchanged)."""
    p = load_preset("tiny-cpu")
    d = p.to_dict()
    assert "visual" not in d and "discrete" not in d and "llm_tuning" not in d["train"]["stage2"]
    assert "llm_tuning" not in p.train.model_dump(mode="json")["stage2"]
    assert set(p.model_section()) == {"vision", "llm", "projector", "moe"}
    assert preset_from_dict(d).to_dict() == d  # round trip, as a checkpoint's config.yaml is read back


def test_shipped_discrete_preset_and_ablation_overrides():
    p = load_preset("tiny-cpu-discrete")
    assert p.is_discrete and p.discrete.kind == "vqvae" and p.discrete.codebook_mode == "language-driven" and p.projector is None
    for mode in ("frozen-llm", "dual", "language-driven"):  # the unicode-codebook arms
        assert load_preset("tiny-cpu-discrete", {"discrete": {"codebook_mode": mode}}).discrete.codebook_mode == mode
    for k in (64, 256, 1024):  # TEAL arms: k-means vocabulary sizes with bias-norm tuning
        teal = load_preset("tiny-cpu-discrete", {"discrete": {"kind": "kmeans", "codebook_mode": "none", "stacked": 1, "codebook_size": k},
                                                 "train": {"stage2": {"llm_tuning": "bias-norm"}}})  # fmt: skip
        assert teal.discrete.codebook_size == k and teal.train.stage2.llm_tuning == "bias-norm"
    d = p.to_dict()
    assert d["visual"] == "discrete" and "projector" not in d and preset_from_dict(d).to_dict() == d
    assert "tokenizer" not in p.model_section()["discrete"]  # where the tokenizer lives does not change the model


def test_tokenizer_directory_errors(tmp_path, context):
    from mmdata.model.discrete import build_discrete

    with pytest.raises(MmdataError, match="tokenizer directory not found") as e:
        build_discrete(discrete_preset({"discrete": {"tokenizer": str(tmp_path / "nope")}}), context.vision, context.llm, weights=True)
    assert "field 'discrete.tokenizer'" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MmdataError, match="not a tokenizer directory"):
        build_discrete(discrete_preset({"discrete": {"tokenizer": str(tmp_path / "empty")}}), context.vision, context.llm, weights=True)


def test_local_backbones_need_a_tokenizer_directory():
    data = discrete_data()
    data["vision"] = {"source": "local", "path": "/x/vision", "keep_cls": False}
    data["llm"] = {"source": "local", "path": "/x/llm"}
    del data["stage0"]
    with pytest.raises(MmdataError, match="local backbones need a tokenizer directory"):
        preset_from_dict(data)


# -------------------------------------------------------------------------------------------- CLI


def run(capsys, *args) -> tuple[int, str, str]:
    from mmdata.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def preset_path(tmp_path):
    p = tmp_path / "disc.yaml"
    p.write_text(yaml.safe_dump(discrete_data()))
    return p


def test_cli_train_writes_metrics_and_encode_writes_code_maps(capsys, preset_path, context, tmp_path):
    code, out, err = run(capsys, "tokenizer", "train", "--kind", "kmeans", "--codebook-size", "64", "--preset", str(preset_path),
                         "--out", str(tmp_path / "tok"))  # fmt: skip
    assert code == 0, err
    m = json.loads((tmp_path / "tok/metrics.json").read_text())
    assert {"recon_mse", "psnr", "usage_pct", "perplexity", "dead_codes"} <= set(m) and m["kind"] == "kmeans" and m["codebook_size"] == 64
    assert (tmp_path / "tok/vision/config.json").is_file() and "usage" in err  # the summary goes to stderr with the log
    images = context.images[0].parent
    code, out, err = run(capsys, "tokenizer", "encode", "--tokenizer", str(tmp_path / "tok"), "--images", str(images), "--out", str(tmp_path / "codes"))
    assert code == 0, err
    lines = [json.loads(x) for x in (tmp_path / "codes/codes.jsonl").read_text().splitlines()]
    assert len(lines) == len(list(images.glob("*.jpg"))) and lines[0]["grid"] == [8, 8] and len(lines[0]["codes"]) == 64
    manifest = json.loads((tmp_path / "codes/manifest.json").read_text())
    assert manifest["shape"] == [8, 8, 1] and manifest["codebook"]["used_codes"] <= 64
    # the same tokenizer, loaded by the model from the directory, gives the same codes
    from mmdata.model.discrete import build_discrete
    from mmdata.model.tokenizers.train import load_pixels

    p = discrete_preset({"discrete": {"kind": "kmeans", "codebook_mode": "none", "stacked": 1, "codebook_size": 64, "tokenizer": str(tmp_path / "tok")}})
    dv = build_discrete(p, context.vision, context.llm, weights=True)
    codes = dv.codes(load_pixels([images / lines[0]["image"]], context.vision.transform), context.vision)
    assert codes[0].tolist() == lines[0]["codes"]


def test_cli_vqvae_stacked_and_modes(capsys, preset_path, tmp_path):
    code, _, err = run(capsys, "tokenizer", "train", "--kind", "vqvae", "--stacked", "2", "--codebook-mode", "language-driven", "--steps", "5",
                       "--preset", str(preset_path), "--out", str(tmp_path / "v"))  # fmt: skip
    assert code == 0, err
    m = json.loads((tmp_path / "v/metrics.json").read_text())
    assert m["stacked"] == 2 and m["codebook_mode"] == "language-driven" and m["llm_rows_identical"] is True


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--kind", "vqgan"), "'vqgan' is not one of 'vqvae', 'seed', 'kmeans'"),
        (("--kind", "seed", "--codebook-mode", "dual"), "needs codebook_mode: none"),
        (("--kind", "vqvae", "--stacked", "0"), "--stacked"),
        (("--kind", "vqvae", "--codebook-mode", "both"), "'both' is not one of"),
        (("--kind", "kmeans", "--set", "train.nope=1"), "unknown key"),
    ],
)
def test_cli_bad_options_are_one_line_errors(capsys, preset_path, tmp_path, args, words):
    code, _, err = run(capsys, "tokenizer", "train", *args, "--preset", str(preset_path), "--out", str(tmp_path / "x"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path / "x").exists()


def test_cli_encode_and_preset_errors(capsys, tmp_path):
    code, _, err = run(capsys, "tokenizer", "encode", "--tokenizer", str(tmp_path / "missing"), "--images", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 2 and "tokenizer directory not found" in err
    code, _, err = run(capsys, "tokenizer", "train", "--kind", "kmeans", "--preset", "tiny-cpu", "--out", str(tmp_path / "o"))
    assert code == 2 and "discrete preset" in err


def test_cli_decompress_data(capsys, tiny_world, tmp_path):
    code, out, err = run(capsys, "tokenizer", "decompress-data", "--world", str(tiny_world), "--out", str(tmp_path / "dec"), "--limit", "5")
    assert code == 0, err
    items = json.loads((tmp_path / "dec/decompress.json").read_text())
    assert len(items) == 5 and all((tmp_path / "dec/images" / it["image"]).is_file() for it in items)
    assert items[0]["conversations"][1] == {"from": "gpt", "value": "<image-codes>"}
    from mmdata.sources import read_table

    t = read_table("decompress", tmp_path / "dec")
    assert t.num_rows == 5 and set(t.column("task").to_pylist()) == {"decompress"}
    code, _, err = run(capsys, "tokenizer", "decompress-data", "--out", str(tmp_path / "d2"))
    assert code == 2 and "either a world directory or an image directory" in err
