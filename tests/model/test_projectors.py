"""Projectors: shapes over several N and M, autocast + backprop, the D-Abstractor's initial sampling
points, and the exact-name registry."""

from __future__ import annotations

import math

import pytest
import torch

from mmdata.errors import MmdataError
from mmdata.model import registry
from mmdata.model.projectors import build_projector
from mmdata.model.projectors.d_abstractor import DAbstractor, grid_reference_points

D_IN, D_OUT = 48, 40
SMALL = {
    "linear": {},
    "mlp": {"depth": 2},
    "resampler": {"hidden_size": 32, "layers": 2, "heads": 4},
    "c-abs": {"hidden_size": 32, "depth": 2},
    "d-abs": {"hidden_size": 32, "layers": 2, "heads": 4, "points": 4, "ffn": 64, "dropout": 0.0},
}


def make(name: str, n: int, m: int | None = None, with_cls: bool = False):
    cfg_cls, _ = registry.get(name)
    extra = {} if m is None else {"num_queries": m}
    cfg = cfg_cls.model_validate({"name": name, **SMALL[name], **extra})
    torch.manual_seed(0)
    return build_projector(cfg, D_IN, D_OUT, n, with_cls)


def test_registry_has_exact_names():
    assert registry.names() == ["c-abs", "d-abs", "linear", "mlp", "resampler"]
    for bad in ("mlp2x_gelu", "c-ab", "C-Abs", "abs", ""):
        with pytest.raises(MmdataError, match="unknown projector"):
            registry.get(bad)


@pytest.mark.parametrize("n", [16, 64, 144])
@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_tokenwise_shapes(name, n):
    p = make(name, n)
    assert p.num_tokens == n
    x, cls = torch.randn(3, n, D_IN), torch.randn(3, D_IN)
    assert p(x).shape == (3, n, D_OUT)
    tokens, cls_tok = p(x, cls)
    torch.testing.assert_close(tokens, p(x))
    torch.testing.assert_close(cls_tok, p(cls[:, None])[:, 0])  # the CLS goes through the same weights


@pytest.mark.parametrize("n", [16, 64, 144])
@pytest.mark.parametrize("m", [4, 16, 64, 144])
@pytest.mark.parametrize("name", ["resampler", "c-abs", "d-abs"])
def test_pooling_shapes(name, n, m):
    p = make(name, n, m, with_cls=True)
    assert p.num_tokens == m
    x = torch.randn(2, n, D_IN)
    assert p(x).shape == (2, m, D_OUT)  # M > N is allowed (Honeybee upsamples)
    tokens, cls_tok = p(x, torch.randn(2, D_IN))
    assert tokens.shape == (2, m, D_OUT) and cls_tok.shape == (2, D_OUT)


def test_grid_projectors_need_square_inputs():
    with pytest.raises(ValueError, match="perfect square"):
        make("c-abs", 15, 4)
    with pytest.raises(ValueError, match="perfect square"):
        make("d-abs", 20, 4)


@pytest.mark.parametrize("name", ["c-abs", "d-abs"])
def test_autocast_and_backprop(name):
    p = make(name, 64, 16)
    x = torch.randn(2, 64, D_IN, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = p(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
    y.float().square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    grads = [q.grad for q in p.parameters() if q.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_c_abstractor_structure():
    p = make("c-abs", 64, 16)
    blocks = [m for m in p.net if isinstance(m, torch.nn.Sequential)]
    assert len(blocks) == 2 and all(len(b) == 2 for b in blocks)  # depth blocks before and after pooling
    pool = p.net[1]
    assert isinstance(pool, torch.nn.AdaptiveAvgPool2d) and pool.output_size == 4
    conv2 = blocks[0][0].conv2[0]
    assert conv2.groups == conv2.in_channels and conv2.kernel_size == (3, 3)  # depthwise 3×3
    assert all(c.bias is None for c in p.net.modules() if isinstance(c, torch.nn.Conv2d) and c.kernel_size != (1, 1))
    assert p.pos_emb.shape == (1, 64, D_IN)


@pytest.mark.parametrize("m", [4, 16, 64])
def test_d_abstractor_samples_at_grid_reference_points_at_init(m):
    p: DAbstractor = make("d-abs", 64, m)
    s = math.isqrt(m)
    ref = p.reference_points[0]
    centres = (torch.arange(s) + 0.5) / s
    expected = torch.stack(torch.meshgrid(centres, centres, indexing="ij")[::-1], -1).reshape(m, 2)
    torch.testing.assert_close(ref, expected)  # uniform √M×√M grid, (x, y), row-major
    torch.testing.assert_close(grid_reference_points(m), expected)
    side = p.side
    query = torch.randn(2, m, 32)  # any query: at init the offsets do not depend on it
    for layer in p.layers:
        attn = layer.cross_attn
        loc = attn.sampling_locations(query, p.reference_points, side)  # (B, M, heads, points, 2)
        offset_cells = (loc - ref[None, :, None, None, :]) * side
        init = attn.offset_init()  # (heads, points, 2): (k+1)·direction of head h, in cells
        torch.testing.assert_close(offset_cells, init[None, None].expand_as(offset_cells), atol=1e-5, rtol=0)
        assert float(init.abs().max()) == attn.points  # ± offset init: at most `points` cells away
        weights = attn.attention_weights(query).view(2, m, attn.heads, attn.points).softmax(-1)
        torch.testing.assert_close(weights, torch.full_like(weights, 1 / attn.points))


def test_d_abstractor_v_pooled_queries():
    p = make("d-abs", 64, 16)
    mem = torch.randn(1, 64, 32)
    pos = p.query_pos(mem)
    fmap = mem.transpose(1, 2).reshape(1, 32, 8, 8)
    torch.testing.assert_close(pos[0, 0], fmap[0, :, :2, :2].mean((1, 2)))  # top-left 2×2 cell average
