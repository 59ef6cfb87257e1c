"""The VQ-VAE tokenizer: stacked quantization reconstructs better as D grows, on a fixed budget."""

from __future__ import annotations

import pytest

from mmdata.model.tokenizers.train import train_tokenizer
from tests.tokenizers.conftest import discrete_preset

# fixed budget for every D: 16 codes, 8×8 positions, 200 steps of batch 16, same seed and architecture;
# a small codebook makes quantization (not the autoencoder) the bottleneck
BUDGET = {"codebook_mode": "none", "codebook_size": 16, "downsample": 8, "train": {"steps": 200}}


@pytest.fixture(scope="module")
def by_depth(context):
    out = {}
    for d in (1, 2, 4):
        cfg = discrete_preset({"discrete": {**BUDGET, "stacked": d}}).discrete
        out[d] = train_tokenizer(cfg, context, log=lambda *_: None)
    return out


def test_reconstruction_improves_as_d_grows(by_depth):
    mse = {d: m["recon_mse"] for d, (_, m) in by_depth.items()}
    assert mse[1] > mse[2] > mse[4], mse
    assert mse[4] < 0.85 * mse[1]
    psnr = [by_depth[d][1]["psnr"] for d in (1, 2, 4)]
    assert psnr == sorted(psnr)


def test_codes_shape_and_metrics(by_depth, context):
    tok, m = by_depth[2]
    assert m["positions"] == 64 and m["stacked"] == 2 and m["space"] == "pixels"
    assert m["loss_last"] < 0.5 * m["loss_first"]  # it learns
    assert 0 < m["usage_pct"] <= 100 and m["dead_codes"] == 16 - m["used_codes"] and m["perplexity"] > 1
    assert m["train_seconds"] < 120
    from mmdata.model.tokenizers.train import load_pixels

    x = load_pixels(context.images[:3], context.vision.transform)
    codes = tok.encode(x)
    assert codes.shape == (3, 64, 2) and int(codes.max()) < 16
    target, rec, _ = tok.reconstruct(x)
    assert target.shape == rec.shape == (3, 3, 64, 64) and float(rec.min()) >= 0 and float(rec.max()) <= 1
