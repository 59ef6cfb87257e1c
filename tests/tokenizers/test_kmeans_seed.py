"""TEAL's k-means tokenizer (stable codes, configurable vocabulary) and SEED's causal Q-Former codes."""

from __future__ import annotations

import pytest
import torch

from mmdata.model.tokenizers.train import encoder_features, load_pixels, train_tokenizer
from tests.tokenizers.conftest import discrete_preset

KMEANS = {"kind": "kmeans", "codebook_mode": "none", "stacked": 1}
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def patches(context):
    return encoder_features(context.vision, load_pixels(context.images, context.vision.transform))[:, 1:]


def test_kmeans_codes_are_stable_across_runs_with_the_same_seed(context, patches):
    cfg = discrete_preset({"discrete": {**KMEANS, "codebook_size": 64}}).discrete
    a, ma = train_tokenizer(cfg, context, **QUIET)
    b, mb = train_tokenizer(cfg, context, **QUIET)
    assert torch.equal(a.quantizer.codebook, b.quantizer.codebook)
    assert torch.equal(a.encode(patches), b.encode(patches))
    assert ma["recon_mse"] == mb["recon_mse"]
    other = discrete_preset({"discrete": {**KMEANS, "codebook_size": 64, "train": {"seed": 1}}}).discrete
    c, _ = train_tokenizer(other, context, **QUIET)
    assert not torch.equal(a.quantizer.codebook, c.quantizer.codebook)  # the seed matters


def test_kmeans_vocabulary_size_is_configurable(context, patches):
    small, ms = train_tokenizer(discrete_preset({"discrete": {**KMEANS, "codebook_size": 32}}).discrete, context, **QUIET)
    large, ml = train_tokenizer(discrete_preset({"discrete": {**KMEANS, "codebook_size": 512}}).discrete, context, **QUIET)
    assert small.quantizer.codebook.shape == (32, 128) and large.quantizer.codebook.shape == (512, 128)
    assert ml["recon_mse"] < ms["recon_mse"]  # more centroids, closer to the features
    assert ml["perplexity"] > ms["perplexity"]
    assert ms["steps"] == 0 and ms["space"] == "features" and ms["positions"] == 64
    assert small.encode(patches[:2]).shape == (2, 64, 1)


def test_seed_tokenizer_codes_are_causal_and_it_learns(context):
    cfg = discrete_preset({"discrete": {"kind": "seed", "codebook_mode": "none", "stacked": 2, "queries": 8,
                                        "train": {"steps": 80, "contrastive": 0.5}}}).discrete  # fmt: skip
    tok, m = train_tokenizer(cfg, context, **QUIET)
    assert m["positions"] == 8 and m["stacked"] == 2 and m["loss_last"] < m["loss_first"]
    feats = encoder_features(context.vision, load_pixels(context.images[:4], context.vision.transform))
    assert tok.encode(feats).shape == (4, 8, 2)
    # causal queries: perturbing query j changes no output before j
    with torch.no_grad():
        out = tok.qformer(feats)
        tok.queries[5] += 1.0
        moved = tok.qformer(feats)
    assert torch.equal(out[:, :5], moved[:, :5]) and not torch.allclose(out[:, 5:], moved[:, 5:])
