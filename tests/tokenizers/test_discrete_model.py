"""A discrete-token VLM end to end: stage 0 (+ tokenizer) → stage 1 → stage 2 on the tiny fixture
mixtures, scored by the harness through ``mmdata:CKPT``; TEAL's bias-norm stage; the decompression
task built by the recipe builder and trained on."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from mmdata.errors import MmdataError
from mmdata.model import checkpoint as ckpt_io
from mmdata.model.train import train
from tests.model.conftest import write_preset
from tests.tokenizers.conftest import write_discrete_preset

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def preset_file(tmp_path_factory, modes):  # modes: the language-driven tokenizer this preset uses is cached
    return write_discrete_preset(tmp_path_factory.mktemp("disc-preset") / "disc.yaml")


@pytest.fixture(scope="module")
def trained(preset_file, mixtures, tmp_path_factory):
    d = tmp_path_factory.mktemp("disc-ckpt")
    train(preset_file, 0, d / "s0", **QUIET)
    s1 = train(preset_file, 1, d / "s1", mixture=mixtures["caption"], init=d / "s0", max_steps=20, **QUIET)
    s2 = train(preset_file, 2, d / "s2", mixture=mixtures["instruct"], init=d / "s1", max_steps=60, **QUIET)
    return d, s1, s2


def _mean(xs):
    return sum(xs) / len(xs)


def test_discrete_model_trains_and_the_loss_falls(trained):
    d, s1, s2 = trained
    assert len(s1["losses"]) == 20 and len(s2["losses"]) == 60
    assert _mean(s1["losses"][-5:]) < _mean(s1["losses"][:5])
    assert _mean(s2["losses"][-10:]) < 0.7 * _mean(s2["losses"][:5])
    cfg = ckpt_io.read_config(d / "s2")
    assert cfg["preset"]["visual"] == "discrete" and cfg["preset"]["discrete"]["codebook_mode"] == "language-driven"
    sd = ckpt_io.load_tensors(d / "s2/model.safetensors")
    assert any(k.startswith("visual.tokenizer.quantizer.") for k in sd) and "visual.embed" in sd and "visual.head" in sd
    s0 = ckpt_io.load_tensors(d / "s0/model.safetensors")
    tok_keys = [k for k in sd if k.startswith("visual.tokenizer.")]
    assert all(torch.equal(sd[k], s0[k]) for k in tok_keys)  # the tokenizer never trains in stages 1-2
    assert not torch.equal(sd["visual.embed"], ckpt_io.load_tensors(d / "s1/model.safetensors")["visual.embed"])  # stage 2 trains the rows


def test_stage1_trains_projections_only(trained):
    d, _, _ = trained
    a, b = ckpt_io.load_tensors(d / "s0/model.safetensors"), ckpt_io.load_tensors(d / "s1/model.safetensors")
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed == {"visual.proj.weight", "visual.proj.bias"}  # TEAL stage 1: rows and LLM untouched


def test_harness_scores_the_discrete_model(trained, tiny_world, tmp_path):
    from mmdata.bench.make import make_benchmark
    from mmdata.bench.run import run_benchmark

    d, _, _ = trained
    make_benchmark(tiny_world, tmp_path / "bench", per_language=5)
    db = tmp_path / "lb.duckdb"
    run_benchmark(tmp_path / "bench/mmmb", "mmdata:" + str(d / "s2"), tmp_path / "run", db=db, batch_size=16)
    import json

    scores = json.loads((tmp_path / "run/scores.json").read_text())
    assert set(scores["overall"]) == {"en", "zh", "pt", "ar", "tr", "ru"} and scores["n_items"]["en"] == 5
    assert scores["mean"] is not None and 0.0 <= scores["mean"] <= 100.0
    assert db.is_file()


def test_bias_norm_tuning_freezes_the_llm_except_biases_and_norms(trained, mixtures, tmp_path):
    d, _, _ = trained
    p = write_discrete_preset(tmp_path / "teal.yaml", {"train": {"stage2": {"llm_tuning": "bias-norm"}}})
    train(p, 2, tmp_path / "bn", mixture=mixtures["instruct"], init=d / "s1", max_steps=3, **QUIET)
    a, b = ckpt_io.load_tensors(d / "s1/model.safetensors"), ckpt_io.load_tensors(tmp_path / "bn/model.safetensors")
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    llm_changed = {k for k in changed if k.startswith("llm.")}
    assert llm_changed and all("norm" in k for k in llm_changed)  # a Llama has no biases: only RMSNorm weights
    affine = {k: v for k, v in b.items() if k.startswith("llm_affine.")}  # TEAL's inserted scale and bias, trained
    assert len(affine) == 2 * len([k for k in a if k.endswith("input_layernorm.weight")])
    assert any(not torch.equal(v, torch.ones_like(v) if k.endswith("scale") else torch.zeros_like(v)) for k, v in affine.items())
    assert {"visual.embed", "visual.head", "visual.proj.weight"} <= changed
    assert "llm.model.embed_tokens.weight" not in changed and "llm.lm_head.weight" not in changed


def test_decompression_task_through_the_builder(trained, tiny_world, tmp_path):
    """`mmdata tokenizer decompress-data` → a recipe mixing it with VQAv2 → a discrete model trains on
    it (code targets in the loss); a projector model refuses it."""
    from mmdata.model.tokenizers.decompress import write_decompress_source
    from mmdata.recipe.build import build

    d, _, _ = trained
    write_decompress_source(tmp_path / "world-dec", world=tiny_world)
    recipe = {"name": "dec", "seed": 0, "root": str(tiny_world),
              "sources": [{"dataset": "decompress", "path": str(tmp_path / "world-dec")}, {"dataset": "vqav2", "path": "sources/vqav2", "max_turns": 1}],
              "templates": {"granularity": "coarse", "diversity": "single"}, "multiturn": {"max_turns": 1, "dedup": "none"},
              "balance": {"strategy": "per-dataset", "size": 64}, "output": {"formats": ["parquet"]}}  # fmt: skip
    (tmp_path / "dec.yaml").write_text(yaml.safe_dump(recipe))
    build(str(tmp_path / "dec.yaml"), tmp_path / "mix")
    rows = pq.read_table(tmp_path / "mix/data").to_pylist()
    dec = [r for r in rows if r["task"] == "decompress"]
    assert dec and dec[0]["turns"][-1] == {"role": "assistant", "content": "<image-codes>"} and dec[0]["turns"][0]["content"].startswith("<image>\n")

    from mmdata.model.checkpoint import load_vlm
    from mmdata.model.data import Encoder, Mixture, MixtureStream

    vlm, _ = load_vlm(d / "s2")
    mix = Mixture.open(tmp_path / "mix")
    enc = Encoder(vlm.tokenizer, vlm.vision.transform, vlm.num_visual_tokens, 256, mix.image_roots, str(mix.root), n_code_tokens=vlm.num_code_tokens)
    stream = MixtureStream(mix, enc, 8, vlm.tokenizer.pad_id)
    batch = next(b for b in (stream.batch(i) for i in range(8)) if bool((b["input_ids"] == -201).any()))
    vlm.train()
    out = vlm(batch)
    assert torch.isfinite(out["loss_sum"]) and int(out["tokens"]) > 32  # the code targets are supervised too
    assert vlm.num_code_tokens == 16 * 2
    res = train(write_discrete_preset(tmp_path / "d.yaml", {"train": {"max_len": 256}}), 2, tmp_path / "ck", mixture=tmp_path / "mix",
                init=d / "s1", max_steps=4, **QUIET)  # fmt: skip
    assert len(res["losses"]) == 4 and all(x == x for x in res["losses"])
    proj = write_preset(tmp_path / "proj.yaml")
    with pytest.raises(MmdataError, match="needs a discrete-token model"):
        train(proj, 1, tmp_path / "p", mixture=tmp_path / "mix", max_steps=8, num_workers=0, **QUIET)  # 8 × 8 rows: all of them
