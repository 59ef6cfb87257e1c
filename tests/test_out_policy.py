"""Never destroy data: ``--out`` refuses what is there unless ``--overwrite``, and even then replaces
only an mmdata output — never the current directory, an input, or a folder holding one."""

from __future__ import annotations

import os
import stat

import pytest

from mmdata.cli import main
from mmdata.errors import MmdataError
from mmdata.io import OWNER, atomic_dir, check_out


def run_cli(args, capsys) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code or 0
    return code, capsys.readouterr().err


def test_check_out_rules(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(MmdataError, match="is a file, not a directory"):
        check_out(tmp_path / "file", overwrite=True)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(MmdataError, match="already exists and is not empty; pass --overwrite"):
        check_out(foreign, overwrite=False)
    with pytest.raises(MmdataError, match="holds files mmdata did not write"):
        check_out(foreign, overwrite=True)
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", overwrite=False)  # an empty directory is fine
    check_out(tmp_path / "absent", overwrite=False)
    ours = tmp_path / "ours"
    with atomic_dir(ours, kind="mixture") as t:
        (t / "x").write_text("1")
    assert (ours / OWNER).is_file()
    check_out(ours, overwrite=True)  # ours: may be replaced on request
    with pytest.raises(MmdataError, match="is an input of this command"):
        check_out(ours, overwrite=True, inputs=[ours])
    (ours / "sub").mkdir()
    with pytest.raises(MmdataError, match="holds an input of this command"):
        check_out(ours, overwrite=True, inputs=[ours / "sub"])
    monkeypatch.chdir(ours / "sub")
    with pytest.raises(MmdataError, match="current directory or holds it"):
        check_out(ours, overwrite=True)


def test_world_out_dot_is_refused_and_nothing_is_touched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.tex").write_text("years of work")
    code, err = run_cli(["world", "--out", ".", "--size", "tiny"], capsys)
    assert code == 2 and "already exists and is not empty" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli(["world", "--out", ".", "--size", "tiny", "--overwrite"], capsys)
    assert code == 2 and "current directory" in err
    assert (tmp_path / "thesis.tex").read_text() == "years of work" and sorted(os.listdir(tmp_path)) == ["thesis.tex"]


def test_world_overwrite_replaces_only_its_own_output(tmp_path, capsys):
    out = tmp_path / "w"
    assert run_cli(["world", "--out", str(out), "--size", "tiny"], capsys)[0] == 0
    code, err = run_cli(["world", "--out", str(out), "--size", "tiny"], capsys)
    assert code == 2 and "--overwrite" in err
    assert run_cli(["world", "--out", str(out), "--size", "tiny", "--seed", "1", "--overwrite"], capsys)[0] == 0
    assert '"seed": 1' in (out / "world.json").read_text()
    # the current directory is never replaced, even when it is an mmdata output
    os.chdir(out)
    try:
        code, err = run_cli(["world", "--out", ".", "--size", "tiny", "--overwrite"], capsys)
    finally:
        os.chdir(tmp_path)
    assert code == 2 and "current directory" in err and (out / "world.json").is_file()


def test_build_refuses_a_foreign_out_and_its_own_inputs(tiny_world, tmp_path, capsys):
    from tests.recipe.helpers import write_recipe

    r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "coco_captions"], balance={"size": 50})
    foreign = tmp_path / "mix"
    foreign.mkdir()
    (foreign / "data.csv").write_text("someone's data")
    for extra in ([], ["--overwrite"]):
        code, err = run_cli(["build", str(r), "--out", str(foreign), *extra], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1
    assert (foreign / "data.csv").read_text() == "someone's data"
    # the world a recipe reads is an mmdata output, but it is this build's input: never replaced
    code, err = run_cli(["build", str(r), "--out", str(tiny_world / "sources"), "--overwrite"], capsys)
    assert code == 2 and "input" in err and (tiny_world / "sources" / "vqav2").is_dir()


def test_tokenizer_outputs_refuse_existing_paths(tmp_path, capsys):
    out = tmp_path / "decomp"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, err = run_cli(["tokenizer", "decompress-data", "--images", str(tmp_path), "--out", str(out)], capsys)
    assert code == 2 and "already exists" in err and (out / "keep.txt").exists()


def test_files_follow_the_umask(tiny_world, tmp_path):
    """Outputs are written through temporary files; they still get the modes any new file gets."""
    from mmdata.io import atomic_write_bytes, atomic_write_json
    from mmdata.recipe.build import build
    from tests.recipe.helpers import write_recipe

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        atomic_write_json(tmp_path / "a.json", {"a": 1})
        r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "coco_captions"], balance={"size": 40},
                         output={"formats": ["parquet", "llava"]})  # fmt: skip
        mix = build(r, tmp_path / "mix").out
        paths = [tmp_path / "a.bin", tmp_path / "a.json", *[p for p in mix.rglob("*")]]
        for p in paths:
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode == (0o755 if p.is_dir() else 0o644), f"{p}: {oct(mode)}"
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "private.bin", b"x")
        assert stat.S_IMODE((tmp_path / "private.bin").stat().st_mode) == 0o600
    finally:
        os.umask(old)
