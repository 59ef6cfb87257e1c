"""Model adapters: exact-prefix registry, scripted models, hf:LOCAL_DIR, mmdata:CHECKPOINT_DIR."""

from __future__ import annotations

import sys
import types

import pytest

from mmdata.bench import models
from mmdata.bench.models import BenchModel, resolve
from mmdata.bench.run import run_benchmark
from mmdata.bench.tsv import Item, load_benchmark
from mmdata.errors import MmdataError


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
        def choose(self, images, prompts, choices):
            seen["choices"] = choices
            return [max(c, key=c.get) for c in choices]  # the option with the "largest" text

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=lambda path: Fake()))
    m = resolve(f"mmdata-choice:{tmp_path}")
    rows = [Item(0, "q", {"A": "b", "B": "c", "C": "a"}, "A", "en"), Item(1, "q", {"A": "z", "B": "y"}, "B", "zh")]
    assert models.generate(m, [[], []], ["p", "p"], rows) == ["B", "A"]  # letters back, whatever the gold answer
    assert seen["choices"] == [{"A": "b", "B": "c", "C": "a"}, {"A": "z", "B": "y"}]


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
