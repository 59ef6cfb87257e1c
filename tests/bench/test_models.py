"""Model adapters: exact-prefix registry, scripted models, hf:LOCAL_DIR, mmdata:CHECKPOINT_DIR."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from mmdata.bench import models
from mmdata.bench.models import BenchModel, resolve
from mmdata.bench.run import run_benchmark
from mmdata.bench.tsv import Item, load_benchmark
from mmdata.errors import MmdataError
from mmdata.model import inference  # noqa: F401  (loaded before tests swap mmdata.model for a fake loader)


def _rows():
    opts = {"A": "a", "B": "b", "C": "c"}
    return [Item(i, "q", opts, "ABC"[i % 3], "en") for i in range(6)]


def test_scripted_models():
    rows = _rows()
    ims, prompts = [[]] * 6, ["p"] * 6
    assert models.generate(resolve("oracle"), ims, prompts, rows) == [r.answer for r in rows]
    assert models.generate(resolve("constant:C"), ims, prompts, rows) == ["C"] * 6
    r1 = models.generate(resolve("random:4"), ims, prompts, rows)
    assert set(r1) <= {"A", "B", "C"}
    assert models.generate(resolve("random:4"), ims[:3], prompts[:3], rows[:3]) == r1[:3]  # per row, not per call
    assert resolve("random").name == "random:0" and resolve("random:7").name == "random:7"
    for spec in ("oracle", "random:1", "constant:A"):
        assert isinstance(resolve(spec), BenchModel)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("gpt4", "unknown model 'gpt4'"), ("Oracle", "unknown model"), ("rand:1", "unknown model"),
     ("oracle:x", "takes no argument"), ("random:x", "integer seed"), ("constant:", "constant:LETTER"),
     ("constant:b", "constant:LETTER"), ("hf:", "hf:DIR"), ("hf:/definitely/not/here", "config.json")],
)  # fmt: skip
def test_registry_is_exact_and_errors_are_clear(spec, needle):
    with pytest.raises(MmdataError, match=needle):
        resolve(spec)


def test_bad_model_output_length_is_an_error():
    class Broken:
        name = "broken"

        def generate(self, images, prompts):
            return ["A"]

    with pytest.raises(MmdataError, match="returned 1 outputs for a batch of 2"):
        models.generate(Broken(), [[], []], ["p", "q"], _rows()[:2])


def test_mmdata_adapter_without_the_reference_model(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mmdata.model", None)  # as if the model package were absent
    with pytest.raises(MmdataError, match="reference model is not available"):
        resolve(f"mmdata:{tmp_path}")


def test_mmdata_adapter_forwards_to_load_for_generation(monkeypatch, tmp_path):
    calls = {}

    class Fake:
        def generate(self, images, prompts, max_new_tokens=16):
            calls["max_new_tokens"] = max_new_tokens
            return ["B"] * len(prompts)

    def load_for_generation(path):
        calls["path"] = str(path)
        return Fake()

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=load_for_generation))
    m = resolve(f"mmdata:{tmp_path}")
    assert m.name == f"mmdata:{tmp_path}" and calls["path"] == str(tmp_path)
    assert models.generate(m, [[]], ["p"], _rows()[:1]) == ["B"] and calls["max_new_tokens"] == 16
    with pytest.raises(MmdataError, match="checkpoint directory not found"):
        resolve(f"mmdata:{tmp_path / 'nope'}")


def test_mmdata_choice_adapter_passes_option_texts_never_answers(monkeypatch, tmp_path):
    seen = {}

    class Fake:
        def choose(self, images, prompts, choices, scoring="auto"):
            seen["choices"] = choices
            return [max(c, key=c.get) for c in choices]  # the option with the "largest" text

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=lambda path: Fake()))
    m = resolve(f"mmdata-choice:{tmp_path}")
    rows = [Item(0, "q", {"A": "b", "B": "c", "C": "a"}, "A", "en"), Item(1, "q", {"A": "z", "B": "y"}, "B", "zh")]
    assert models.generate(m, [[], []], ["p", "p"], rows) == ["B", "A"]  # letters back, whatever the gold answer
    assert seen["choices"] == [{"A": "b", "B": "c", "C": "a"}, {"A": "z", "B": "y"}]


def test_text_scoring_asks_the_open_question_as_training_does(monkeypatch, tmp_path):
    """scoring="text" sends hint, question and the short-answer instruction of the row's language (never
    the options), and its predictions are keyed apart from other rules and earlier open prompts."""
    from mmdata.bench.prompts import OPEN_PROMPT_VERSION, TEMPLATES

    seen = {}

    class Fake:
        def choose(self, images, prompts, choices, scoring="auto"):
            seen["prompts"], seen["scoring"] = prompts, scoring
            return ["A" for _ in prompts]

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=lambda path: Fake()))
    m = models.MmdataChoiceModel(f"mmdata-choice:{tmp_path}", str(tmp_path), scoring="text")
    rows = [Item(0, "What colour is the star?", {"A": "red", "B": "blue"}, "A", "en"),
            Item(1, "Qual é a cor?", {"A": "azul", "B": "verde"}, "B", "pt", hint="Olhe a estrela")]  # fmt: skip
    assert models.generate(m, [[], []], ["mc prompt", "mc prompt"], rows) == ["A", "A"]
    assert seen["prompts"] == ["What colour is the star?\n" + TEMPLATES["en"]["short"],
                               "Dica: Olhe a estrela\nQual é a cor?\n" + TEMPLATES["pt"]["short"]]  # fmt: skip
    assert seen["scoring"] == "text" and models.answer_method(m) == f"choice-text-{OPEN_PROMPT_VERSION}"
    assert models.answer_method(models.MmdataChoiceModel(f"mmdata-choice:{tmp_path}", str(tmp_path))) == "choice-auto"


def _tiny_llava(path):
    """A tiny random LLaVA (CLIP vision tower + Llama) with a byte-level tokenizer, saved offline."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(tok_models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([], trainers.BpeTrainer(vocab_size=260, special_tokens=["<pad>", "<s>", "</s>", "<image>"],
                                                     initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))  # fmt: skip
    ftok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>"})  # fmt: skip
    vc = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16)
    tc = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                     vocab_size=len(ftok), max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2)  # fmt: skip
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=ftok.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)  # fmt: skip
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=ip, tokenizer=ftok, patch_size=16, vision_feature_select_strategy="default",
                   num_additional_image_tokens=1).save_pretrained(path)  # fmt: skip


def test_hf_adapter_runs_a_local_model(bench, tmp_path):
    d = tmp_path / "tiny-llava"
    _tiny_llava(d)
    m = resolve(f"hf:{d}")
    b = load_benchmark(bench / "mmmb").limit(1)
    res = run_benchmark(b, m, tmp_path / "run", batch_size=4, db=None)
    assert res.computed == 6 and m.name == f"hf:{d}"
    # an untrained model babbles: its outputs are scored, failures counted per language, never guessed
    s = res.scores
    assert set(s["extraction_failures"]) == set(s["overall"]) and all(0 <= v <= 1 for v in s["overall"].values())
    import pyarrow.parquet as pq

    outs = pq.read_table(tmp_path / "run" / "predictions.parquet").column("output").to_pylist()
    assert len(outs) == 6 and all(isinstance(o, str) for o in outs)


# ------------------------------------------------------------------------- fingerprints, partial


def test_fingerprint_dir_is_a_function_of_names_and_bytes(tmp_path):
    import os

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "w.bin").write_bytes(b"\x00\x01weights")
        (d / "sub" / "config.json").write_text("{}")
    fa = models.fingerprint_dir(a)
    assert fa == models.fingerprint_dir(b) and len(fa) == 64  # the path itself does not count
    os.utime(b / "w.bin", (1, 1))
    assert models.fingerprint_dir(b) == fa  # nor do times
    (b / "w.bin").write_bytes(b"\x00\x02weights")
    assert models.fingerprint_dir(b) != fa  # one byte does
    (b / "w.bin").write_bytes(b"\x00\x01weights")
    (b / "sub" / "config.json").rename(b / "sub" / "config2.json")
    assert models.fingerprint_dir(b) != fa  # and so do names
    assert models.model_fingerprint(resolve("oracle")) == models.fingerprint_spec("oracle") != models.fingerprint_spec("random:0")
    with pytest.raises(MmdataError, match="model path not found"):
        models.fingerprint_dir(tmp_path / "missing")


def _fake_checkpoint(path, letter: str, step: int = 10, total: int = 10):
    """An mmdata-style checkpoint folder for a fake loader: ``config.yaml`` and a 'weights' file."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(f"kind: mmdata-vlm\nstage: 2\nstep: {step}\ntotal_steps: {total}\n")
    (path / "model.safetensors").write_text(letter)


@pytest.fixture
def fake_loader(monkeypatch):
    """``mmdata.model.load_for_generation`` replaced by a loader whose model answers the letter in its weights."""
    loads = []

    class Letter:
        def __init__(self, letter):
            self.letter = letter

        def generate(self, images, prompts, max_new_tokens=16):
            return [self.letter] * len(prompts)

        def choose(self, images, prompts, choices, scoring="auto"):
            return [self.letter] * len(prompts)

    def load(path):
        loads.append(str(path))
        return Letter((Path(path) / "model.safetensors").read_text())

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=load))
    return loads


def test_retrained_checkpoint_in_the_same_folder_gets_new_predictions(bench, tmp_path, fake_loader):
    ckpt, out = tmp_path / "ckpt", tmp_path / "run"
    b = load_benchmark(bench / "mmmb").limit(5)
    _fake_checkpoint(ckpt, "A")
    first = run_benchmark(b, f"mmdata:{ckpt}", out, db=None)
    assert first.computed == 30 and first.scores["model_fingerprint"] == models.fingerprint_dir(ckpt)
    assert first.scores["checkpoint"] == {"step": 10, "total_steps": 10}
    same = run_benchmark(b, f"mmdata:{ckpt}", out, db=None)
    assert (same.computed, same.reused) == (0, 30)  # unchanged weights: everything reused
    _fake_checkpoint(ckpt, "C")  # retrained into the same folder: same spec string, new weights
    second = run_benchmark(b, f"mmdata:{ckpt}", out, db=None)
    assert (second.computed, second.reused) == (30, 0)
    assert second.scores["model_fingerprint"] != first.scores["model_fingerprint"]
    share = {x: sum(it.answer == x for it in b.items if it.language == "en") / 5 for x in "AC"}
    assert first.scores["overall"]["en"] == share["A"] and second.scores["overall"]["en"] == share["C"]
    import pyarrow.parquet as pq

    t = pq.read_table(out / "predictions.parquet").to_pydict()
    assert len(set(t["model_fingerprint"])) == 2 and set(t["model"]) == {f"mmdata:{ckpt}"}  # both kept


def test_old_prediction_files_are_kept_but_never_reused(bench, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    out.mkdir()
    b = load_benchmark(bench / "mmmb").limit(1)
    old = {"model": ["constant:A"] * 6, "benchmark": [b.name] * 6, "language": [it.language for it in b.items],
           "index": [it.index for it in b.items], "prompt_version": ["mmmb-v1"] * 6, "item_sha": ["x"] * 6,
           "output": ["A"] * 6}  # fmt: skip
    pq.write_table(pa.table(old), out / "predictions.parquet")  # the layout before fingerprints
    res = run_benchmark(b, "constant:A", out, db=None)
    assert res.computed == 6
    t = pq.read_table(out / "predictions.parquet").to_pydict()
    assert len(t["output"]) == 12 and t["model_fingerprint"].count("") == 6


def test_unfinished_checkpoint_is_refused_unless_allowed(bench, tmp_path, fake_loader):
    from .conftest import cli

    ckpt = tmp_path / "ckpt"
    _fake_checkpoint(ckpt, "B", step=40, total=150)
    with pytest.raises(MmdataError, match=r"unfinished checkpoint \(step 40 of 150\).*--allow-partial"):
        resolve(f"mmdata:{ckpt}")
    assert fake_loader == []  # refused before anything was loaded
    b = load_benchmark(bench / "mmmb").limit(2)
    res = run_benchmark(b, f"mmdata-choice:{ckpt}", tmp_path / "run", db=tmp_path / "lb.duckdb", allow_partial=True)
    assert res.scores["checkpoint"] == {"step": 40, "total_steps": 150}
    from mmdata.bench.leaderboard import load_board

    board = load_board(tmp_path / "lb.duckdb")  # scored, but never ranked beside finished models
    assert board.entries == {} and board.partial[b.name][0].partial == "checkpoint at step 40 of 150"
    r = cli("bench", "run", bench / "mmmb", "--model", f"mmdata:{ckpt}", "--out", tmp_path / "cli", "--db", tmp_path / "x.duckdb")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "unfinished checkpoint (step 40 of 150)" in r.stderr
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "trainer_state.json").write_text('{"global_step": 5, "max_steps": 9}')
    with pytest.raises(MmdataError, match=r"step 5 of 9"):
        resolve(f"hf:{hf}")


def test_retrained_hf_model_is_a_new_model(bench, tmp_path):
    d = tmp_path / "tiny-llava"
    _tiny_llava(d)
    b = load_benchmark(bench / "mmmb").limit(1)
    first = run_benchmark(b, f"hf:{d}", tmp_path / "run", batch_size=6, db=None)
    fp = first.scores["model_fingerprint"]
    assert fp == models.fingerprint_dir(d)
    import shutil

    shutil.rmtree(d)
    _tiny_llava(d)  # "retrained": new random weights in the same folder
    second = run_benchmark(b, f"hf:{d}", tmp_path / "run", batch_size=6, db=None)
    assert second.scores["model_fingerprint"] != fp and (second.computed, second.reused) == (6, 0)
