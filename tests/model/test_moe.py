"""Parrot MoE: residual forms, router normalisation, stage-1 bypass, and that answer tokens never
enter the routing attention."""

from __future__ import annotations

import math

import pytest
import torch

from mmdata.model import chat
from mmdata.model.data import Sample, collate
from mmdata.model.moe import ParrotMoE
from mmdata.model.stages import set_stage


def _moe(residual: str) -> ParrotMoE:
    torch.manual_seed(0)
    return ParrotMoE(dim=16, experts=4, intermediate=24, alpha=0.1, residual=residual)


def test_residual_forms_with_identical_weights():
    code, paper = _moe("code"), _moe("paper")
    paper.load_state_dict(code.state_dict())
    x, text = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    out_c, p_c = code(x, text, mask)
    out_p, p_p = paper(x, text, mask)
    torch.testing.assert_close(p_c, p_p)
    # the mixture, computed by hand from the definition
    q = x[:, 0]
    att = torch.softmax((torch.einsum("id,itd->it", q, text) / math.sqrt(16)).masked_fill(~mask, -math.inf), -1)
    probs = torch.softmax(code.router(torch.einsum("it,itd->id", att, text)), -1)
    torch.testing.assert_close(p_c, probs)
    mix = sum(probs[:, e, None, None] * ex(x) for e, ex in enumerate(code.experts))
    torch.testing.assert_close(out_c, mix + 0.1 * x)  # released code: mix + α·x
    torch.testing.assert_close(out_p, x + 0.1 * mix)  # paper, Eq. 5: x + α·mix
    assert not torch.allclose(out_c, out_p)


def test_router_probabilities_sum_to_one_and_router_is_bias_free():
    moe = _moe("code")
    assert moe.router.bias is None and all(e.gate_proj.bias is None for e in moe.experts)
    p = moe.route(torch.randn(6, 16), torch.randn(6, 9, 16), torch.rand(6, 9) > 0.3)
    assert p.shape == (6, 4)
    torch.testing.assert_close(p.sum(-1), torch.ones(6))
    empty = moe.route(torch.randn(2, 16), torch.randn(2, 3, 16), torch.zeros(2, 3, dtype=torch.bool))
    torch.testing.assert_close(empty, torch.full((2, 4), 0.25))  # no context → uniform, never NaN


def _batch(vlm, answers: list[str]) -> dict:
    tok = vlm.tokenizer
    turns = [{"role": "user", "content": "<image>\nWhat colour is the square?"}, {"role": "assistant", "content": answers[0]},
             {"role": "user", "content": "How many circles?"}, {"role": "assistant", "content": answers[1]}]  # fmt: skip
    ids, sup = chat.encode(tok, chat.render(turns), vlm.num_visual_tokens)
    torch.manual_seed(1)
    image = torch.randn(3, vlm.vision.image_size, vlm.vision.image_size)
    return collate([Sample(ids, sup, [image], "en")], tok.pad_id, 512, packing=False)


def test_answer_tokens_never_enter_routing(vlm_factory):
    vlm = vlm_factory()
    set_stage(vlm, 2)
    vlm.eval()
    a = _batch(vlm, ["red", "2"])
    b = _batch(vlm, ["a very different and much longer answer", "seventeen"])
    pm = a["prompt_mask"][0]
    sup = a["labels"][0] != chat.IGNORE  # supervised targets, shifted: position t predicts t+1
    answer_pos = torch.nonzero(sup).flatten() + 1
    assert not pm[answer_pos].any()  # no answer token (nor the closing </s>) is routing context
    assert not pm[a["input_ids"][0] == chat.IMAGE_TOKEN_ID].any()
    assert pm[: int(torch.nonzero(a["input_ids"][0] == chat.IMAGE_TOKEN_ID)[0])].all()  # the prompt before the image is

    def probs(batch):
        _, p = vlm.embed(batch["input_ids"], batch["segment_ids"], batch["prompt_mask"], batch["pixel_values"],
                         batch["image_row"], batch["image_segment"])  # fmt: skip
        return p

    with torch.no_grad():
        pa, pb = probs(a), probs(b)
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)  # different answers, identical routing
        c = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in a.items()}
        c["input_ids"][0, pm.nonzero()[3]] = 7  # change one prompt token: routing changes
        assert not torch.allclose(probs(c), pa)
        # and spelled out: routing = attention over the prompt-token embeddings only
        emb = vlm.llm.get_input_embeddings()(a["input_ids"].clamp_min(0))[0]
        vis, _ = vlm.visual_tokens(a["pixel_values"], emb[None], pm[None])
        cls_feat, patches = vlm.vision(a["pixel_values"])
        cls = vlm.visual.projector(patches, cls_feat)[1]
        scores = (emb[pm] @ cls[0]) / math.sqrt(emb.shape[-1])
        summary = torch.softmax(scores, 0) @ emb[pm]
        torch.testing.assert_close(torch.softmax(vlm.visual.moe.router(summary), -1), pa[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stage", [1, 2])
def test_moe_bypassed_in_stage_1(vlm_factory, stage):
    vlm = vlm_factory()
    set_stage(vlm, stage)
    vlm.eval()
    batch = _batch(vlm, ["red", "2"])
    with torch.no_grad():
        vis, probs = vlm.visual_tokens(batch["pixel_values"], torch.zeros(1, 4, vlm.llm.config.hidden_size), torch.ones(1, 4, dtype=torch.bool))
        cls, patches = vlm.vision(batch["pixel_values"])
        tokens, cls_tok = vlm.visual.projector(patches, cls)
        plain = torch.cat([cls_tok[:, None], tokens], 1)
    if stage == 1:
        assert probs is None and torch.equal(vis, plain)
        assert not any(p.requires_grad for p in vlm.visual.moe.parameters())
    else:
        assert probs is not None and not torch.allclose(vis, plain)
        assert all(p.requires_grad for p in vlm.visual.moe.parameters())
    assert not any(p.requires_grad for p in vlm.vision.parameters())
