"""Choice scoring (``Generator.choose``): the batched scores equal an unbatched one-row reference, every
option of a question sees the same visual prefix (the MoE routed on the prompt only), and the scored
reply follows what training taught (a bare letter for lettered options, the answer text otherwise)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from mmdata.model import chat
from mmdata.model.inference import ChoiceScoring, Generator, lists_options
from mmdata.model.stages import set_stage

MC = "What colour is the background?\nA. red\nB. blue\nC. light green\nD. a white square\nAnswer with the letter of the correct option only."


@pytest.fixture(scope="module")
def gen(vlm_factory):
    vlm = vlm_factory()
    set_stage(vlm, 2)  # the MoE routes from stage 2 on
    vlm.eval()
    assert vlm.use_moe
    return Generator(vlm, {"preset": {"name": "t"}, "stage": 2, "step": 0}, torch.device("cpu"))


@pytest.fixture(scope="module")
def images(tiny_world):
    paths = sorted((tiny_world / "images/coco/train2017").glob("*.jpg"))[:3]
    return [Image.open(p).convert("RGB") for p in paths]


def reference_scores(gen: Generator, imgs: list, prompt: str, options: dict[str, str], letter: bool) -> dict[str, float]:
    """One row at a time, no padding, written out from the definition: the prompt's ids, the reply
    (the key or the text, then </s>), visual tokens routed on the prompt tokens only."""
    vlm, tok = gen.vlm, gen.tokenizer
    prompt_ids = chat.encode(tok, chat.render(chat.prompt_turns(prompt, len(imgs)), generation_prompt=True), vlm.num_visual_tokens)[0]
    px = torch.stack([vlm.vision.transform(im) for im in imgs]) if imgs else None
    rows = torch.zeros(len(imgs), dtype=torch.long)
    out = {}
    for key, text in options.items():
        reply = tok.encode(key if letter else text) + [tok.eos_id]
        ids = torch.tensor([prompt_ids + reply])
        ctx = torch.zeros_like(ids, dtype=torch.bool)
        ctx[0, : len(prompt_ids)] = True
        logits = vlm.token_logits(ids, torch.ones_like(ids), px, rows if imgs else None, context_mask=ctx)
        logp = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1], dim=-1).gather(-1, torch.tensor(reply)[:, None])[:, 0]
        out[key] = float(logp.sum() if letter else logp.mean())
    return out


def test_rule_follows_the_taught_format():
    opts = {"A": "red", "B": "blue"}
    assert lists_options("Q?\nA. red\nB. blue\nAnswer with the letter.", opts)
    assert lists_options("Q?\nA. red\nB. blue", opts)  # multi templates teach the letter without an instruction line too
    assert not lists_options("What colour is the square?", opts)
    assert not lists_options("Q?\nA. red", opts)  # B is not listed
    assert not lists_options("Q? A. red B. blue", opts)  # not lettered lines


# transformers deprecates keyword names of the decoder's cache; a deprecated one prints a FutureWarning
# on every evaluation, so this test, which runs the shared-prefix cache path, fails on it.
@pytest.mark.filterwarnings("error::FutureWarning")
def test_batched_scores_equal_the_one_row_reference(gen, images):
    prompts = [MC, "How many objects are in the image?", "Is there a circle?\nA. yes\nB. no", "Say hello."]
    choices = [{"A": "red", "B": "blue", "C": "light green", "D": "a white square"}, {"A": "one", "B": "two", "C": "3"},
               {"A": "yes", "B": "no"}, {"A": "hi", "B": "good morning to you"}]  # fmt: skip
    imgs = [[images[0]], [images[1]], [images[2], images[0]], []]  # a two-image question and a text-only one
    batched = gen.option_scores(imgs, prompts, choices)
    letter = [True, False, True, False]
    for k in range(len(prompts)):
        want = reference_scores(gen, imgs[k], prompts[k], choices[k], letter[k])
        assert batched[k].keys() == want.keys()
        for key in want:
            assert batched[k][key] == pytest.approx(want[key], abs=1e-5), (k, key)
    picks = gen.choose(imgs, prompts, choices)
    assert picks == [max(sorted(s), key=s.get) for s in batched]
    # forcing a rule overrides the prompt's format
    text = gen.option_scores(imgs[:1], prompts[:1], choices[:1], scoring=ChoiceScoring.TEXT)[0]
    assert text == pytest.approx(reference_scores(gen, imgs[0], MC, choices[0], letter=False), abs=1e-5)
    assert gen.choose([[]], ["Hello"], [{}]) == [""]


def test_every_option_is_scored_on_the_same_visual_prefix(gen, images):
    """The MoE routes on the prompt tokens: two candidate answers give identical router probabilities
    and visual tokens; routing on prompt + candidate (the old behaviour) would not."""
    vlm, tok = gen.vlm, gen.tokenizer
    prompt_ids = gen.prompt_ids(1, "What colour is the background?")
    px = vlm.vision.transform(images[0])[None]
    rows = torch.zeros(1, dtype=torch.long)

    def visual(reply: str, prompt_only: bool):
        ids = torch.tensor([prompt_ids + tok.encode(reply) + [tok.eos_id]])
        ctx = torch.ones_like(ids, dtype=torch.bool)
        if prompt_only:
            ctx[0, len(prompt_ids) :] = False
        with torch.no_grad():
            return vlm.prompt_visuals(ids, torch.ones_like(ids), px, rows, context_mask=ctx)

    a, b = visual("red", True), visual("a white square with many words", True)
    torch.testing.assert_close(a.router_probs, b.router_probs, rtol=0, atol=0)
    torch.testing.assert_close(a.embeds, b.embeds, rtol=0, atol=0)
    a_all, b_all = visual("red", False), visual("a white square with many words", False)
    assert not torch.allclose(a_all.router_probs, b_all.router_probs)
