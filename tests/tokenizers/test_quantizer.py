"""The quantizer core: shapes, aggregation, codebook updates, fp32 under autocast, DDP sync."""

from __future__ import annotations

import socket

import pytest
import torch

from mmdata.model.quantizer import Quantizer, QuantizerSpec, code_stats


def _fit(q: Quantizer, x: torch.Tensor, steps: int = 20) -> float:
    q.train()
    for _ in range(steps):
        q(x)
    q.eval()
    out = q(x)
    return float((out.vectors - x).pow(2).mean())


@pytest.mark.parametrize("aggregate", ["cumsum", "concat"])
def test_shapes_and_decode(aggregate):
    torch.manual_seed(0)
    q = Quantizer(QuantizerSpec(dim=8, codebook_size=16, layers=3, aggregate=aggregate))
    assert q.input_dim == (8 if aggregate == "cumsum" else 24)
    x = torch.randn(2, 5, q.input_dim)
    q.train()
    out = q(x)
    assert out.vectors.shape == x.shape and out.codes.shape == (2, 5, 3) and out.codes.dtype == torch.long
    assert out.loss.ndim == 0
    q.eval()
    out = q(x)
    torch.testing.assert_close(q.decode(out.codes), out.vectors)  # decode = eval output: sum or concatenation
    assert int(out.codes.max()) < 16 and q.codebook.shape == (16, 8)


@pytest.mark.parametrize("aggregate", ["cumsum", "concat"])
def test_stacked_quantization_improves_with_depth(aggregate):
    """Known answer at the core: same codebook size and iterations, more layers, lower error."""
    x = torch.randn(1, 3000, 16, generator=torch.Generator().manual_seed(1))
    errs = []
    for d in (1, 2, 4):
        torch.manual_seed(0)
        width = 16 if aggregate == "cumsum" else 16 // d
        q = Quantizer(QuantizerSpec(dim=width, codebook_size=16, layers=d, aggregate=aggregate, decay=0.8))
        errs.append(_fit(q, x))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 0.75 * errs[0]


def test_update_rules():
    torch.manual_seed(0)
    x = torch.randn(1, 200, 8)
    rows = torch.randn(32, 8)
    frozen = Quantizer(QuantizerSpec(dim=8, codebook_size=32, update="frozen", kmeans_init=False))
    frozen.set_codebook(rows)
    _fit(frozen, x, 3)
    assert torch.equal(frozen.codebook, rows)  # nothing moves a frozen codebook
    ema = Quantizer(QuantizerSpec(dim=8, codebook_size=32, update="ema", kmeans_init=False, dead_code_threshold=0))
    ema.set_codebook(rows)
    _fit(ema, x, 3)
    assert not torch.equal(ema.codebook, rows) and not ema.codebook_parameters()
    grad = Quantizer(QuantizerSpec(dim=8, codebook_size=32, update="gradient", kmeans_init=False))
    grad.set_codebook(rows)
    grad.train()
    grad(x.requires_grad_()).loss.backward()
    (p,) = grad.codebook_parameters()
    assert p.grad is not None and float(p.grad.abs().sum()) > 0  # the commitment/codebook loss reaches it


def test_lerp_moves_toward_target_and_survives_the_next_ema_step():
    torch.manual_seed(0)
    q = Quantizer(QuantizerSpec(dim=4, codebook_size=8, kmeans_init=False, dead_code_threshold=0, decay=0.9))
    q.set_codebook(torch.randn(8, 4))
    target = torch.randn(8, 4)
    before = float((q.codebook - target).norm())
    q.lerp_codebook(target, 0.5)
    after = float((q.codebook - target).norm())
    assert after == pytest.approx(before / 2, rel=1e-5)
    book = q._book  # EMA statistics were moved too: an EMA step on no data reproduces the codebook
    torch.testing.assert_close(book.embed_avg[0] / book.cluster_size[0, :, None], q.codebook)


def test_codebook_maths_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    q = Quantizer(QuantizerSpec(dim=8, codebook_size=64, layers=2, kmeans_init=False)).eval()
    x = torch.randn(2, 10, 8)
    ref = q(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = q(x.bfloat16())
    assert got.vectors.dtype == torch.float32 and q.codebook.dtype == torch.float32
    assert torch.equal(got.codes, q(x.bfloat16().float()).codes)  # same maths as fp32 on the same inputs
    assert (got.codes == ref.codes).float().mean() > 0.9  # only bf16 rounding of the inputs differs


def test_code_stats_known_answer():
    s = code_stats(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), 8)
    assert s["usage_pct"] == 50.0 and s["dead_codes"] == 4 and s["used_codes"] == 4
    assert s["perplexity"] == pytest.approx(4.0)  # four codes used equally: perplexity 4


def test_kmeans_fit_is_seeded():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(3))

    def fit(seed):
        q = Quantizer(QuantizerSpec(dim=6, codebook_size=16, update="frozen", kmeans_iters=5))
        torch.manual_seed(seed)
        q.fit_kmeans(x)
        return q.codebook.clone()

    assert torch.equal(fit(0), fit(0)) and not torch.equal(fit(0), fit(1))


# ------------------------------------------------------------------------------- DDP codebook sync


def _ddp_worker(rank: int, world: int, port: int, x: torch.Tensor, rows: torch.Tensor, out: dict) -> None:
    import os

    import torch.distributed as dist

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        q = Quantizer(QuantizerSpec(dim=4, codebook_size=8, kmeans_init=False, dead_code_threshold=0, decay=0.5))
        assert q.sync  # decided at construction: a process group with 2 ranks
        q.set_codebook(rows)
        q.train()
        q(x.chunk(world, dim=1)[rank])  # every rank calls forward (the all-reduce would hang otherwise)
        out[rank] = q.codebook.clone()
    finally:
        dist.destroy_process_group()


def test_ddp_sync_matches_one_process_on_the_whole_batch():
    """Two gloo ranks, each with half the batch, end with the codebook one process gets from all of it."""
    import torch.multiprocessing as mp

    x = torch.randn(1, 64, 4, generator=torch.Generator().manual_seed(0))
    rows = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    single = Quantizer(QuantizerSpec(dim=4, codebook_size=8, kmeans_init=False, dead_code_threshold=0, decay=0.5))
    assert not single.sync
    single.set_codebook(rows)
    single.train()
    single(x)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as m:
        out = m.dict()
        mp.spawn(_ddp_worker, args=(2, port, x, rows, out), nprocs=2, join=True)
        got = dict(out)
    torch.testing.assert_close(got[0], got[1])
    torch.testing.assert_close(got[0], single.codebook, rtol=1e-5, atol=1e-6)
