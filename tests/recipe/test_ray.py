"""The Ray engine: a private local instance on loopback with 0700 files, or an existing cluster given by
``RAY_ADDRESS``; either way the mixture's content hash equals the local engine's."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from mmdata.recipe.build import build

from .helpers import write_recipe

SECTIONS = {"multiturn": {"max_turns": 4, "dedup": "exact"}, "templates": {"diversity": "multi", "inverted_ratio": 0.3},
            "balance": {"strategy": "per-task", "size": 900}}  # fmt: skip


@pytest.fixture
def short_tmp(tmp_path, monkeypatch):
    """Ray's socket paths must stay under 108 bytes: a short link in /tmp pointing into tmp_path."""
    (tmp_path / "ray").mkdir()
    link = tempfile.mktemp(prefix="mmray", dir="/tmp")
    os.symlink(tmp_path / "ray", link)
    monkeypatch.setenv("MMDATA_RAY_TMP", link)
    monkeypatch.setenv("HOME", str(tmp_path))  # Ray's token file goes to ~/.ray
    yield Path(link)
    os.unlink(link)


def _listening() -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def test_local_ray_binds_loopback_keeps_files_private_and_matches_local(tiny_world, tmp_path, short_tmp):
    from mmdata.recipe.engine import RayEngine

    r = write_recipe(tmp_path / "r.yaml", tiny_world, **SECTIONS)
    local = build(r, tmp_path / "local", engine="local")
    before = _listening()
    eng = RayEngine()
    try:
        opened = _listening() - before
        assert opened, "Ray opened no listening socket"
        assert {ip for ip, _ in opened} <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, f"Ray listens beyond loopback: {sorted(opened)}"
        [tmp] = list(short_tmp.iterdir())
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o700
        assert eng.cpus == (os.cpu_count() or 1)  # not capped at 2
    finally:
        eng.close()
    assert not list(short_tmp.iterdir())  # its files are removed on close
    ray = build(r, tmp_path / "ray-out", engine="ray")
    assert ray.stats["engine"] == "ray" and ray.manifest["content_hash"] == local.manifest["content_hash"]


def test_build_joins_an_existing_cluster_through_ray_address(tiny_world, tmp_path, short_tmp):
    """A separate head started with ``ray start``; the build joins it through RAY_ADDRESS and takes its CPU count."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    temp = short_tmp / "head"
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # a loopback head
    # token authentication stays on: the head and this driver share the token in ~/.ray (HOME is tmp_path)
    subprocess.run([ray_bin, "get-auth-token", "--generate"], capture_output=True, env=env, timeout=60, check=True)
    started = subprocess.run([ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", "0", "--num-cpus", "3",
                              "--include-dashboard", "false", "--temp-dir", str(temp), "--disable-usage-stats"],
                             capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        address = (temp / "ray_current_cluster").read_text().strip()
        assert address.startswith("127.0.0.1:")
        r = write_recipe(tmp_path / "r.yaml", tiny_world, **SECTIONS)
        # a fresh driver process, as a user's `mmdata build --engine ray` would be (Ray reads its settings once per process)
        driver = (
            "import json, sys\n"
            "from mmdata.recipe.engine import RayEngine\n"
            "from mmdata.recipe.build import build\n"
            "eng = RayEngine(); cpus = eng.cpus; eng.close()\n"
            "res = build(sys.argv[1], sys.argv[2], engine='ray')\n"
            "print(json.dumps({'cpus': cpus, 'hash': res.manifest['content_hash'], 'engine': res.stats['engine']}))\n"
        )
        ran = subprocess.run([sys.executable, "-c", driver, str(r), str(tmp_path / "ray-out")], capture_output=True,
                             text=True, env={**env, "RAY_ADDRESS": address}, timeout=600)  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        got = json.loads(ran.stdout.strip().splitlines()[-1])
        assert got["cpus"] == 3 and got["engine"] == "ray"  # the cluster's CPUs, not this machine's
        local = build(r, tmp_path / "local", engine="local")
        assert got["hash"] == local.manifest["content_hash"]
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
