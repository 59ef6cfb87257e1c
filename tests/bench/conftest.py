"""Shared fixtures: one tiny world and one small synthetic MMMB per test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, cwd=None, env=None):
    """Run the ``mmdata`` command in a subprocess (as a user would)."""
    return subprocess.run([sys.executable, "-m", "mmdata.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env)  # fmt: skip


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    from mmdata.world.generate import generate

    d = tmp_path_factory.mktemp("bench-world") / "w"
    generate(d, "tiny", 0)
    return d


@pytest.fixture(scope="session")
def bench(world, tmp_path_factory) -> Path:
    """A 30-questions-per-language synthetic MMMB (mmmb/ and mmbench/)."""
    from mmdata.bench.make import make_benchmark

    d = tmp_path_factory.mktemp("bench") / "b"
    make_benchmark(world, d, 30)
    return d


@pytest.fixture(scope="session")
def big_bench(world, tmp_path_factory) -> Path:
    """A 2,000-questions-per-language synthetic MMMB (the shipped size): balance and blind-baseline tests."""
    from mmdata.bench.make import make_benchmark

    d = tmp_path_factory.mktemp("big-bench") / "b"
    make_benchmark(world, d, 2000)
    return d
