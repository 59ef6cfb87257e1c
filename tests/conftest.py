"""Test-wide settings: offline always, caches inside the test's tmp dirs, quiet matplotlib."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets a private mmdata cache and HF cache, so tests never share state via ~/.cache."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MMDATA_CACHE", str(base / "mmdata-cache"))
    monkeypatch.setenv("HF_HOME", str(base / "hf-home"))
    monkeypatch.setenv("MPLCONFIGDIR", str(base / "mpl"))


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """The tiny synthetic world, written once per test session (read-only for tests)."""
    from mmdata.world.generate import generate

    d = tmp_path_factory.mktemp("tiny-world") / "world"
    generate(d, "tiny", 0)
    return d


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """The small synthetic world (≈48k records, ≈3 s to write), once per session."""
    from mmdata.world.generate import generate

    d = tmp_path_factory.mktemp("small-world") / "world"
    generate(d, "small", 0)
    return d
