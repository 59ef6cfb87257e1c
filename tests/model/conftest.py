"""Shared fixtures for the model tests (the tiny world comes from tests/conftest.py): two fixture mixtures, a fast test preset and
its stage-0 backbones, each built once per session (the stage-0 cache lives in the session's
``MMDATA_CACHE``, the same directory every test sees through the autouse fixture in tests/conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

from mmdata.model.config import load_preset, merge, models_dir

# tiny-cpu with a narrower LLM, a shorter stage 0, batch 8 and per-step logging, so the whole folder
# stays within its time budget on 2 busy cores; the tests check mechanics and learning, not quality
TEST_OVERRIDES = {
    "llm": {"arch": {"hidden_size": 128, "layers": 2, "intermediate": 384}},
    "stage0": {"clip": {"steps": 40, "batch_size": 32, "warmup": 5}, "lm": {"steps": 100, "batch_size": 8, "warmup": 8}},
    "train": {"num_workers": 0, "log_every": 1, "max_len": 128, "stage1": {"batch_size": 8}, "stage2": {"batch_size": 8}},
}


def write_preset(path: Path, overrides: dict | None = None, delete: tuple[str, ...] = ()) -> Path:
    """The test preset (tiny-cpu + TEST_OVERRIDES + ``overrides``), minus dotted keys in ``delete``."""
    data = yaml.safe_load((models_dir() / "tiny-cpu.yaml").read_text())
    data = merge(merge(data, TEST_OVERRIDES), overrides or {})
    for key in delete:
        *parents, last = key.split(".")
        node = data
        for k in parents:
            node = node[k]
        del node[last]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads stall whenever another
    process holds a core (steps become seconds long); one thread is as fast and stays predictable."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "mmdata-cache"
    old = os.environ.get("MMDATA_CACHE")
    os.environ["MMDATA_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("MMDATA_CACHE", None)
    else:
        os.environ["MMDATA_CACHE"] = old


@pytest.fixture(scope="session")
def mixtures(tiny_world, tmp_path_factory):
    from mmdata.model.fixtures import write_fixture_mixture

    d = tmp_path_factory.mktemp("model-mixtures")
    return {"caption": write_fixture_mixture(tiny_world, d / "caption", "caption"),
            "instruct": write_fixture_mixture(tiny_world, d / "instruct", "instruct")}  # fmt: skip


@pytest.fixture(scope="session")
def preset_file(tmp_path_factory):
    return write_preset(tmp_path_factory.mktemp("model-presets") / "tiny-test.yaml")


@pytest.fixture(scope="session")
def preset(preset_file):
    return load_preset(preset_file)


@pytest.fixture(scope="session")
def stage0(preset, session_cache):
    """Stage-0 backbones (tokenizer, CLIP, LM) for the test preset: trained once per session."""
    from mmdata.model.stage0 import run_stage0

    return run_stage0(preset, log=lambda *_: None)


@pytest.fixture(scope="session")
def vlm_factory(preset, stage0):
    from mmdata.model.vlm import Backbones, build_vlm

    def make(p=None):
        return build_vlm(p or preset, Backbones(stage0 / "vision", stage0 / "llm", stage0 / "tokenizer"))

    return make
