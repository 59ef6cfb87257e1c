"""RefCOCO refs pickles: loaded with no globals at all, so a hostile pickle runs nothing; convert-refs.

A hostile pickle is one that, loaded by ``pickle.load``, would create a file (through ``os.system``,
``builtins.open`` or importing a module with side effects). Every route mmdata offers to read refs —
the adapter, ``convert_refs`` and the ``mmdata sources convert-refs`` command — must refuse it with
one line naming the file, and the file it would create must never appear.
"""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.errors import MmdataError
from mmdata.sources import read_table
from mmdata.sources.plain_pickle import loads_plain
from mmdata.sources.refcoco import convert_refs
from tests.sources.py2pickle import as_py2, dumps_py2
from tests.sources.samples import SAMPLES, write_sample


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmdata.cli", *args], capture_output=True, text=True)


class _System:
    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


class _Open:
    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):
        return (builtins.open, (str(self.flag), "w"))


def _importing(module: str) -> bytes:
    """Protocol 2, as Python 2 writes a global: ``GLOBAL 'module\\nname'`` then ``REDUCE``."""
    return b"\x80\x02]q\x00(c" + module.encode() + b"\nrun\nq\x01)Rq\x02e."


def hostile_pickles(flag: Path) -> dict[str, bytes]:
    refs = SAMPLES["refcoco"]().files["refs(unc).json"]
    out = {}
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        out[f"os.system-p{proto}"] = pickle.dumps([*refs, _System(flag)], protocol=proto)
        out[f"builtins.open-p{proto}"] = pickle.dumps([_Open(flag), *refs], protocol=proto)
    out["import-side-effect"] = _importing("mmdata_evil_probe")
    return out


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module that would create the flag file if it were ever imported."""
    flag = tmp_path / "pwned"
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "mmdata_evil_probe.py").write_text(f"open({str(flag)!r}, 'w').close()\ndef run(): pass\n")
    monkeypatch.syspath_prepend(str(mod_dir))
    return flag


def test_the_hostile_pickles_really_are_hostile(tmp_path, evil_module):
    """Guard: loaded the ordinary way, each of them does create the flag (so the tests below can fail)."""
    flag = evil_module
    for name, data in hostile_pickles(flag).items():
        pickle.loads(data)
        assert flag.exists(), name
        flag.unlink()
    sys.modules.pop("mmdata_evil_probe", None)


def test_hostile_refs_pickle_is_refused_by_the_adapter_and_nothing_runs(tmp_path, evil_module):
    flag = evil_module
    for name, data in hostile_pickles(flag).items():
        sample = SAMPLES["refcoco"]()
        del sample.files["refs(unc).json"]
        sample.files["refs(unc).p"] = data
        root = tmp_path / name
        root.mkdir()
        write_sample(root, sample)
        with pytest.raises(MmdataError) as info:
            read_table("refcoco", root)
        msg = str(info.value)
        assert "\n" not in msg and msg.startswith(str(root / "refs(unc).p")), (name, msg)
        assert "refused" in msg and "nothing in the file is run" in msg, (name, msg)
        assert not flag.exists(), name
        assert "mmdata_evil_probe" not in sys.modules, name


def test_hostile_pickle_through_convert_refs_writes_nothing(tmp_path, evil_module):
    flag = evil_module
    good = dumps_py2(as_py2(SAMPLES["refcocog"]().files["refs(umd).json"]))
    for name, data in hostile_pickles(flag).items():
        root = tmp_path / name
        root.mkdir()
        (root / "refs(google).p").write_bytes(data)
        (root / "refs(umd).p").write_bytes(good)  # a good pickle beside it is not converted either
        with pytest.raises(MmdataError, match=r"refs\(google\)\.p: pickle refers to"):
            convert_refs(root)
        assert sorted(p.name for p in root.iterdir()) == ["refs(google).p", "refs(umd).p"], name
        assert not flag.exists(), name


def test_hostile_pickle_through_the_cli(tmp_path):
    flag = tmp_path / "pwned"
    (tmp_path / "refs(unc).p").write_bytes(hostile_pickles(flag)["os.system-p2"])
    r = cli("sources", "convert-refs", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert "refs(unc).p" in line and "posix.system" in line and "refused" in line
    assert not flag.exists() and not (tmp_path / "refs(unc).json").exists()


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (pickle.dumps({1, 2}, protocol=4), "holds a set"),
        (pickle.dumps(bytearray(b"x"), protocol=5), "holds a bytearray"),
        (b"\x80\x02]q\x00h\x00a.", "contains itself"),  # a list that holds itself (memo get)
        (b"\x80\x02]q\x00(K\x01", "not a readable pickle"),  # truncated
        (b"\x80\x02K\x01Q.", "refused"),  # a persistent id
        (b"garbage", "not a readable pickle"),
    ],
)
def test_other_non_plain_pickles_are_one_line_errors(payload, text):
    with pytest.raises(MmdataError) as info:
        loads_plain(payload, file="refs(unc).p")
    assert text in str(info.value) and "\n" not in str(info.value)


def test_plain_data_loads_from_every_protocol():
    obj = [{"a": [1, 2.5, None, True, False], "b": ("x", -(2**70))}, "é", {}, []]
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        assert loads_plain(pickle.dumps(obj, protocol=proto), file="x.p") == obj


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=48))
def test_random_bytes_load_plain_data_or_raise_one_line(data):
    try:
        obj = loads_plain(b"\x80\x02" + data, file="x.p")
    except MmdataError as e:
        assert "\n" not in str(e)
        return
    stack = [obj]
    while stack:
        v = stack.pop()
        assert isinstance(v, str | int | float | bool | list | tuple | dict | type(None))
        if isinstance(v, list | tuple):
            stack += list(v)
        elif isinstance(v, dict):
            stack += list(v) + list(v.values())


# ---- convert-refs ------------------------------------------------------------------------------------


def _refs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "refcoco"
    root.mkdir()
    (root / "refs(unc).p").write_bytes(dumps_py2(as_py2(SAMPLES["refcoco"]().files["refs(unc).json"])))
    return root


def test_convert_refs_cli_writes_once_and_refuses_to_clobber(tmp_path):
    root = _refs_dir(tmp_path)
    target = root / "refs(unc).json"
    r = cli("sources", "convert-refs", str(root))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("written: ") and target.is_file()
    first = target.read_bytes()
    mtime = target.stat().st_mtime_ns
    r = cli("sources", "convert-refs", str(root))
    assert r.returncode == 0 and r.stdout.startswith("unchanged: ") and target.stat().st_mtime_ns == mtime
    target.write_text("[]")
    r = cli("sources", "convert-refs", str(root))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--overwrite" in r.stderr
    assert target.read_text() == "[]"
    r = cli("sources", "convert-refs", str(root), "--overwrite")
    assert r.returncode == 0 and r.stdout.startswith("overwritten: ") and target.read_bytes() == first
    assert sorted(p.name for p in root.iterdir()) == ["refs(unc).json", "refs(unc).p"]  # no temporary files left


def test_convert_refs_needs_a_pickle(tmp_path):
    with pytest.raises(MmdataError, match=r"no refs\(<splitBy>\)\.p"):
        convert_refs(tmp_path)
    with pytest.raises(MmdataError, match="expected a directory"):
        convert_refs(tmp_path / "missing")
