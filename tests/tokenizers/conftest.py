"""Shared fixtures for the tokenizer tests: the discrete test preset (tiny-cpu-discrete with the model
tests' small backbones, so the session's stage-0 cache is shared with tests/model), its training
context, and the three UniCode codebook modes trained once per session."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import torch
import yaml

from mmdata.model.config import merge, models_dir, preset_from_dict
from tests.model import conftest as _model

TEST_OVERRIDES = _model.TEST_OVERRIDES
session_cache = _model.session_cache  # shared fixtures: one stage-0 cache per session, the fixture mixtures
mixtures = _model.mixtures

# the model tests' backbones and stage 0, a shorter tokenizer schedule (batch 16 learns fastest per
# second on 2 cores), short max_len: the tests check mechanics and directions, not quality
DISCRETE_OVERRIDES = {"discrete": {"train": {"steps": 150, "batch_size": 16, "lr": 3.0e-3}}}
USAGE_FLOOR = 50.0  # % of the codebook language-driven training must keep in use (see test_unicode)


def discrete_data(overrides: dict | None = None) -> dict:
    data = yaml.safe_load((models_dir() / "tiny-cpu-discrete.yaml").read_text())
    return merge(merge(merge(data, TEST_OVERRIDES), DISCRETE_OVERRIDES), overrides or {})


def discrete_preset(overrides: dict | None = None, file: str | None = None):
    return preset_from_dict(discrete_data(overrides), file=file)


def write_discrete_preset(path: Path, overrides: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(discrete_data(overrides), sort_keys=False))
    return path


@contextlib.contextmanager
def single_thread():
    """One intra-op thread, as in tests/model: on a shared 2-core machine two OpenMP threads stall
    whenever another process holds a core."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def context(session_cache):
    """Stage-0 backbones of the test preset, the stage-0 world's 90 training images, captions, text."""
    from mmdata.model.tokenizers.train import preset_context

    with single_thread():  # session fixtures are set up before the package's autouse fixture
        return preset_context(discrete_preset(), log=lambda *_: None)


@pytest.fixture(scope="session")
def modes(context, session_cache):
    """frozen-llm, dual and language-driven trained on the tiny world (same budget), plus a
    language-driven control without language updates; each cached where the model would look for
    it. The LLM's embedding matrix is checked around the runs that must not touch it; dual gets its
    own copy of the LLM, whose rows it trains."""
    with single_thread():
        return _train_modes(context)


def _train_modes(context) -> dict:
    from mmdata.model.tokenizers.train import ensure_tokenizer, read_metrics

    llm = context.llm
    before = llm.get_input_embeddings().weight.detach().clone()
    out = {}
    for name, over in (("frozen-llm", {}), ("language-driven", {}), ("control", {"train": {"language_every": 100_000}})):
        mode = "language-driven" if name == "control" else name
        preset = discrete_preset({"discrete": {"codebook_mode": mode, **over}})
        out[name] = read_metrics(ensure_tokenizer(preset, context=context, log=lambda *_: None))
    out["llm_identical"] = torch.equal(llm.get_input_embeddings().weight, before)
    dual_ctx = copy.copy(context)
    dual_ctx.llm = copy.deepcopy(llm)
    out["dual"] = read_metrics(ensure_tokenizer(discrete_preset({"discrete": {"codebook_mode": "dual"}}), context=dual_ctx, log=lambda *_: None))
    out["dual_llm_changed"] = not torch.equal(dual_ctx.llm.get_input_embeddings().weight, before)
    return out
