"""The chat template, label masking, the mixture loader (positions, sharding, workers, packing)."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
import torch

from mmdata.errors import MmdataError
from mmdata.model import chat
from mmdata.model.data import Encoder, Mixture, MixtureStream, loader
from mmdata.model.stages import set_stage
from mmdata.model.tokenizer import TextTokenizer


@pytest.fixture(scope="module")
def tok(stage0):
    return TextTokenizer.load(stage0 / "tokenizer")


def test_template_supervises_assistant_turns_only(tok):
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>\nWhat colour?"},
             {"role": "assistant", "content": "red"}, {"role": "user", "content": "And the shape?"},
             {"role": "assistant", "content": "a circle"}]  # fmt: skip
    ids, sup = chat.encode(tok, chat.render(turns), 5)
    assert ids[0] == tok.bos_id and ids.count(chat.IMAGE_TOKEN_ID) == 5
    supervised = [i for i, s in zip(ids, sup, strict=True) if s]
    assert supervised == tok.encode("red") + [tok.eos_id] + tok.encode("a circle") + [tok.eos_id]
    text = tok.decode([i for i in ids if i >= 0])
    assert text == "Be brief.\nUSER: \nWhat colour?\nASSISTANT: redUSER: And the shape?\nASSISTANT: a circle"
    # generation prompt = the training prefix up to the answer
    gen, _ = chat.encode(tok, chat.render(chat.prompt_turns("What colour?", True), generation_prompt=True), 5)
    train_ids, _ = chat.encode(tok, chat.render([{"role": "user", "content": "<image>\nWhat colour?"}, {"role": "assistant", "content": "red"}]), 5)
    assert train_ids[: len(gen)] == gen


@pytest.mark.parametrize("turns", [
    [{"role": "user", "content": "<image> <image>"}, {"role": "assistant", "content": "x"}],
    [{"role": "user", "content": "<image>"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "<image>"}],
    [{"role": "assistant", "content": "x <image>"}],
])  # fmt: skip
def test_template_rejects_misplaced_images(turns):
    with pytest.raises(ValueError):
        chat.render(turns)


def _stream(mixtures, tok, vlm, kind="instruct", **kw):
    mix = Mixture.open(mixtures[kind])
    enc = Encoder(tok, vlm.vision.transform, vlm.num_visual_tokens, kw.pop("max_len", 160), mix.image_roots, str(mix.root))
    return mix, MixtureStream(mix, enc, kw.pop("batch_size", 4), tok.pad_id, **kw)


def test_loader_reads_mixture_in_order_and_labels(mixtures, tok, vlm_factory):
    vlm = vlm_factory()
    mix, s = _stream(mixtures, tok, vlm)
    table = pq.read_table(mix.files[0])
    assert mix.n_rows == table.num_rows and len(mix.groups) > 1  # several row groups
    b = s.batch(0)
    rows = table.slice(0, 4).to_pylist()
    for r, row in enumerate(rows):
        n_img = int((b["input_ids"][r] == chat.IMAGE_TOKEN_ID).sum())
        assert n_img == (vlm.num_visual_tokens if row["images"] else 0)
        want = [t for turn in row["turns"] if turn["role"] == "assistant" for t in [*tok.encode(turn["content"]), tok.eos_id]]
        got = b["labels"][r][b["labels"][r] != chat.IGNORE].tolist()
        assert got == want[: len(got)] and len(got) > 0
    assert b["pixel_values"].shape[1:] == (3, 64, 64)
    assert b["n_samples"] == 4 and b["languages"] == [r["language"] for r in rows]
    # the stream wraps around the mixture (epochs) with absolute positions
    last = (mix.n_rows // 4) + 1
    assert s.indices(last) == [(last * 4 + k) % mix.n_rows for k in range(4)]


def test_ranks_partition_the_global_batch(mixtures, tok, vlm_factory):
    vlm = vlm_factory()
    _, single = _stream(mixtures, tok, vlm, batch_size=8)
    _, r0 = _stream(mixtures, tok, vlm, batch_size=4, rank=0, world=2)
    _, r1 = _stream(mixtures, tok, vlm, batch_size=4, rank=1, world=2)
    for b in (0, 3, 50):
        assert sorted(r0.indices(b) + r1.indices(b)) == sorted(single.indices(b))


def test_workers_and_resume_position_give_the_same_batches(mixtures, tok, vlm_factory):
    vlm = vlm_factory()
    _, s0 = _stream(mixtures, tok, vlm, start=3)
    want = [s0.batch(b) for b in range(3, 7)]
    _, s2 = _stream(mixtures, tok, vlm, start=3)
    it = iter(loader(s2, num_workers=2))
    for w in want:
        got = next(it)
        assert got["index"] == w["index"]
        for k in ("input_ids", "labels", "position_ids", "pixel_values"):
            assert torch.equal(got[k], w[k]), k


def test_packing_keeps_samples_independent(mixtures, tok, vlm_factory):
    vlm = vlm_factory()
    set_stage(vlm, 2)
    vlm.eval()
    _, plain = _stream(mixtures, tok, vlm, batch_size=6, max_len=400)
    _, packed = _stream(mixtures, tok, vlm, batch_size=6, packing=True, max_len=400)
    a, b = plain.batch(2), packed.batch(2)
    assert b["input_ids"].shape[0] < a["input_ids"].shape[0]  # fewer rows
    assert (b["segment_ids"].max(1).values > 1).any()
    assert int((a["labels"] != -100).sum()) == int((b["labels"] != -100).sum())
    with torch.no_grad():
        la, lb = vlm(a), vlm(b)
    torch.testing.assert_close(la["loss_sum"], lb["loss_sum"], rtol=1e-4, atol=1e-4)
    order = torch.argsort(b["image_sample"])  # packed rows list images in a different order
    assert torch.equal(a["image_sample"], b["image_sample"][order])
    torch.testing.assert_close(la["router_probs"], lb["router_probs"][order], rtol=1e-4, atol=1e-5)


def test_bad_mixtures_are_one_line_errors(tmp_path, mixtures):
    with pytest.raises(MmdataError, match="mixture directory not found"):
        Mixture.open(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(MmdataError, match="manifest.json"):
        Mixture.open(tmp_path / "m")
    (tmp_path / "m/manifest.json").write_text('{"image_roots": {}}')
    with pytest.raises(MmdataError, match="no data"):
        Mixture.open(tmp_path / "m")


def _with_roots(mixtures, tok, vlm, d, roots: str) -> MixtureStream:
    """A copy of the caption mixture whose manifest has other image roots."""
    shutil.copytree(mixtures["caption"], d)
    (d / "manifest.json").write_text(roots)
    mix = Mixture.open(d)
    return MixtureStream(mix, Encoder(tok, vlm.vision.transform, vlm.num_visual_tokens, 160, mix.image_roots, str(d)), 2, tok.pad_id)


def test_missing_image_root_names_the_row(mixtures, tok, vlm_factory, tmp_path):
    stream = _with_roots(mixtures, tok, vlm_factory(), tmp_path / "mix", '{"image_roots": {}}')
    with pytest.raises(MmdataError, match=r"record coco_captions-.*no image root"):
        stream.batch(0)


def test_worker_errors_stay_one_line(mixtures, tok, vlm_factory, tmp_path):
    d = tmp_path / "mix"
    stream = _with_roots(mixtures, tok, vlm_factory(), d, '{"image_roots": {"coco_captions": "/nonexistent"}}')
    with pytest.raises(MmdataError) as e:
        next(loader(stream, num_workers=1))  # the error happens in a worker process
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and msg.startswith(f"{d}: record coco_captions-") and "image not found" in msg
