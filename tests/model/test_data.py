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
    [{"role": "user", "content": "<image>"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "<image>"}],
    [{"role": "user", "content": "<image>\n<image>\nQ"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "<image>"}],
    [{"role": "assistant", "content": "x <image>"}],
    [{"role": "system", "content": "<image>"}, {"role": "user", "content": "Q"}],
])  # fmt: skip
def test_template_rejects_misplaced_images(turns):
    with pytest.raises(ValueError):
        chat.render(turns)


def test_template_gives_each_image_its_own_run(tok):
    one, _ = chat.encode(tok, chat.render([{"role": "user", "content": "<image>\nQ?"}, {"role": "assistant", "content": "a"}]), 3)
    two, _ = chat.encode(tok, chat.render([{"role": "user", "content": "<image>\n<image>\nQ?"}, {"role": "assistant", "content": "a"}]), 3)
    img = chat.IMAGE_TOKEN_ID
    first = one.index(img)
    assert one[first : first + 3] == [img] * 3 and one.count(img) == 3
    assert two.count(img) == 6 and two[: first + 3] == one[: first + 3]  # the first run sits where a single image's does
    assert two[first + 3 : first + 3 + len(tok.encode("\n"))] == tok.encode("\n")  # "\n" between the runs
    gen, _ = chat.encode(tok, chat.render(chat.prompt_turns("Q?", 2), generation_prompt=True), 3)
    assert two[: len(gen)] == gen  # the harness prompt for two images = the training prefix


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


def _per_token(vlm, batch):
    """Hidden states and per-token losses (at supervised positions, else 0) of a batch."""
    hidden, labels, _ = vlm.hidden_states(batch)
    sel = labels != chat.IGNORE
    loss = torch.zeros(labels.shape)
    loss[sel] = torch.nn.functional.cross_entropy(vlm.logits(hidden[sel]), labels[sel], reduction="none")
    return hidden, loss


@pytest.mark.parametrize("attn", ["sdpa", "eager"])  # eager: what bf16 training on a CPU uses
def test_packed_rows_equal_the_samples_run_separately(mixtures, tok, vlm_factory, attn):
    """Block-diagonal attention: each sample's hidden states and per-token losses inside a packed row
    equal those of the sample run on its own (fp32), and the mask never lets a token see another
    sample or a later token."""
    from mmdata.model.data import collate

    vlm = vlm_factory()
    vlm.llm.set_attn_implementation(attn)
    set_stage(vlm, 2)
    vlm.eval()
    mix, _ = _stream(mixtures, tok, vlm)
    enc = Encoder(tok, vlm.vision.transform, vlm.num_visual_tokens, 400, mix.image_roots, str(mix.root))
    from mmdata.model.data import RowReader

    reader = RowReader(mix)
    samples = [enc(reader.row(i)) for i in range(12, 20)]
    packed = collate(samples, tok.pad_id, 400, packing=True)
    assert packed["input_ids"].shape[0] < len(samples) and int(packed["segment_ids"].max()) >= 3
    mask = vlm.attention_mask(packed["segment_ids"])
    seg = packed["segment_ids"]
    want = (seg[:, :, None] == seg[:, None, :]) & torch.ones(seg.shape[1], seg.shape[1], dtype=torch.bool).tril()
    allowed = mask[:, 0] if attn == "sdpa" else mask[:, 0] == 0  # eager: an additive mask (0 where allowed)
    assert mask.shape == (seg.shape[0], 1, seg.shape[1], seg.shape[1]) and torch.equal(allowed, want)
    with torch.no_grad():
        hp, lp = _per_token(vlm, packed)
        for s in samples:
            hs, ls = _per_token(vlm, collate([s], tok.pad_id, 400, packing=False))
            n = len(s.ids)
            where = [(r, g) for r in range(seg.shape[0]) for g in seg[r].unique().tolist() if g > 0
                     and packed["input_ids"][r][seg[r] == g].tolist() == s.ids]  # fmt: skip
            assert len(where) >= 1
            r, g = where[0]
            pos = torch.nonzero(seg[r] == g).squeeze(1)
            assert pos.numel() == n
            torch.testing.assert_close(hp[r, pos], hs[0, :n], rtol=0, atol=1e-5)
            torch.testing.assert_close(lp[r, pos], ls[0, :n], rtol=0, atol=1e-5)


def test_two_image_row_splices_each_image_in_order(mixtures, tok, vlm_factory, tiny_world):
    """A Conversation row with two images and two ``<image>`` placeholders: two visual-token runs, the
    first filled with the first image's tokens and the second with the second's; the images swapped
    give other hidden states; a placeholder count that does not match the images is one clear line."""
    from mmdata.model.data import collate

    vlm = vlm_factory()
    set_stage(vlm, 2)
    vlm.eval()
    root = tiny_world / "images/coco/train2017"
    paths = sorted(p.name for p in root.glob("*.jpg"))[:2]
    refs = [{"path": p, "sha256": "0" * 64, "width": 64, "height": 64} for p in paths]
    turns = [{"role": "user", "content": "<image>\n<image>\nWhich image has more objects?"}, {"role": "assistant", "content": "the first"}]
    row = {"id": "two", "images": refs, "turns": turns, "dataset": "d", "language": "en"}
    enc = Encoder(tok, vlm.vision.transform, vlm.num_visual_tokens, 400, {"d": str(root)}, "mix")
    s = enc(row)
    v = vlm.num_visual_tokens
    assert len(s.images) == 2 and s.ids.count(chat.IMAGE_TOKEN_ID) == 2 * v
    b = collate([s], tok.pad_id, 400, packing=False)
    assert b["pixel_values"].shape[0] == 2 and b["image_row"].tolist() == [0, 0] and b["image_segment"].tolist() == [1, 1]
    with torch.no_grad():
        embeds, probs = vlm.embed(b["input_ids"], b["segment_ids"], b["prompt_mask"], b["pixel_values"], b["image_row"], b["image_segment"])
        ctx = b["prompt_mask"][[0, 0]]
        text = vlm.llm.get_input_embeddings()(b["input_ids"][[0, 0]].clamp_min(0))
        each, _ = vlm.visual_tokens(b["pixel_values"], text, ctx)
        runs = embeds[0][b["input_ids"][0] == chat.IMAGE_TOKEN_ID].reshape(2, v, -1)
        torch.testing.assert_close(runs, each)
        assert probs.shape[0] == 2 and not torch.allclose(each[0], each[1])
        loss = vlm(b)
        swapped = enc({**row, "images": refs[::-1]})
        loss_swapped = vlm(collate([swapped], tok.pad_id, 400, packing=False))
    assert torch.isfinite(loss["loss_sum"]) and float(loss["loss_sum"]) != float(loss_swapped["loss_sum"])
    with pytest.raises(MmdataError, match=r"record two.*2 '<image>' placeholder\(s\) for 1 image"):
        enc({**row, "images": refs[:1]})
    # truncation inside the second run drops that image (and never leaves a partial run)
    first = s.ids.index(chat.IMAGE_TOKEN_ID)
    cut = Encoder(tok, vlm.vision.transform, v, first + v + 3, {"d": str(root)}, "mix")(row)
    assert len(cut.images) == 1 and cut.ids.count(chat.IMAGE_TOKEN_ID) == v


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
