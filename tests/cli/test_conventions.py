"""The command line conventions users expect: --version, --dry-run, list, --json, -v/-q with a log
file beside each output, shell completion, an example in every --help, checked choices and ranges."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mmdata import __version__
from mmdata.cli import app, main

ROOT = Path(__file__).resolve().parents[2]


def run(args, capsys) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _commands() -> list[list[str]]:
    """Every leaf command's path, from the typer app."""
    import typer.main

    group = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(group, [])
    return out


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"mmdata {__version__}"


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_every_help_has_an_example(path, capsys):
    code, out, _ = run([*path, "--help"], capsys)
    assert code == 0 and "Example:" in out, f"mmdata {' '.join(path)} --help has no example"


def test_list_presets(capsys):
    for what, name in (("recipes", "honeybee"), ("models", "tiny-cpu"), ("suites", "honeybee-multiturn-tiny"),
                       ("benchmarks", "mmmb-synthetic"), ("sources", "vqav2")):  # fmt: skip
        code, out, _ = run(["list", what, "--json"], capsys)
        assert code == 0 and name in {r["name"] for r in json.loads(out)}
    code, out, _ = run(["list", "models"], capsys)
    assert code == 0 and "tiny-cpu" in out


def test_choices_and_ranges_are_checked_by_the_parser(capsys):
    for args, words in ((["leaderboard", "--format", "xml"], "'xml' is not one of"),
                        (["bench", "run", ".", "--model", "oracle", "--out", "o", "--limit", "-1"], "--limit"),
                        (["world", "--out", "w", "--size", "medium"], "'medium' is not one of")):  # fmt: skip
        code, _, err = run(args, capsys)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_build_dry_run_writes_nothing_and_json_summary(tiny_world, tmp_path, capsys):
    from tests.recipe.helpers import write_recipe

    r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "coco_captions"], balance={"size": 30})
    code, out, _ = run(["build", r, "--out", tmp_path / "m", "--dry-run", "--json"], capsys)
    plan = json.loads(out)
    assert code == 0 and plan["recipe"]["name"] == "test" and {s["ingest"] for s in plan["sources"]} == {"will read"}
    assert plan["out"]["state"] == "absent" and not (tmp_path / "m").exists() and not (tmp_path / "m.log").exists()
    code, out, _ = run(["build", r, "--out", tmp_path / "m", "--print-config"], capsys)
    assert code == 0 and "name: test" in out and not (tmp_path / "m").exists()
    code, out, _ = run(["build", r, "--out", tmp_path / "m", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["items"] == 30 and len(summary["content_hash"]) == 64 and {s["dataset"] for s in summary["sources"]} == {"vqav2", "coco_captions"}
    code, out, _ = run(["build", r, "--out", tmp_path / "m2", "--dry-run", "--json"], capsys)
    assert {s["ingest"] for s in json.loads(out)["sources"]} == {"cached"}  # the first build filled the ingest cache


def test_verbosity_and_the_log_beside_the_output(tiny_world, tmp_path, capsys):
    from tests.recipe.helpers import write_recipe

    r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2"], balance={"size": 10})
    code, _, err_q = run(["-q", "build", r, "--out", tmp_path / "q"], capsys)
    assert code == 0 and "built" not in err_q  # quiet: no summary, no table
    code, _, err_v = run(["-v", "build", r, "--out", tmp_path / "v"], capsys)
    assert code == 0 and "build summary" in err_v and "built" in err_v  # verbose: debug lines too
    code, _, err = run(["build", r, "--out", tmp_path / "n"], capsys)
    assert code == 0 and "built" in err and "build summary" not in err
    log = (tmp_path / "n.log").read_text()
    assert "mmdata build" in log and "build summary" in log  # the log keeps debug lines whatever the verbosity


def test_query_leaderboard_and_bench_run_json(tiny_world, tmp_path, capsys):
    from mmdata.bench.make import make_benchmark

    bench = tmp_path / "bench"
    make_benchmark(tiny_world, bench, 12)
    db = tmp_path / "lb.duckdb"
    code, out, _ = run(["bench", "run", bench / "mmmb", "--model", "random:1", "--out", tmp_path / "run", "--db", db, "--json"], capsys)
    s = json.loads(out)
    assert code == 0 and s["model"] == "random:1" and 0 <= s["mean"] <= 1 and s["computed"] == 72
    code, out, _ = run(["leaderboard", "--db", db, "--json"], capsys)
    board = json.loads(out)
    assert code == 0 and any(e["model"] == "random:1" for es in board["ranked"].values() for e in es)


def test_ablate_and_train_dry_run(tmp_path, capsys):
    code, out, _ = run(["ablate", "honeybee-multiturn-tiny", "--out", tmp_path / "a", "--dry-run", "--only", "single-turn", "--seeds", "1"], capsys)
    plan = json.loads(out)
    assert code == 0 and plan["arms"] == ["single-turn"] and plan["seeds"] == [0] and not (tmp_path / "a").exists()
    code, out, _ = run(["train", "--preset", "tiny-cpu", "--stage", "1", "--out", tmp_path / "c", "--dry-run", "--set", "train.seed=4"], capsys)
    plan = json.loads(out)
    assert code == 0 and plan["preset"]["train"]["seed"] == 4 and plan["mode"] == "fresh" and not (tmp_path / "c").exists()


def test_shell_completion_is_available():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SHELL": "/bin/bash"}
    cli = f"{shlex.quote(sys.executable)} -m mmdata.cli"
    # --show-completion names the shell it runs under (typer asks the process tree, not $SHELL or an
    # argument): run it from bash, so the result does not depend on what started the test run
    # ("; exit" keeps bash as the parent rather than exec'ing the command)
    r = subprocess.run(["bash", "-c", f"{cli} --show-completion; exit $?"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and "complete" in r.stdout and "_MMDATA_COMPLETE" in r.stdout, r.stderr
    # and the protocol that script speaks completes our commands
    r = subprocess.run([sys.executable, "-m", "mmdata.cli"], capture_output=True, text=True, cwd=ROOT,
                       env={**env, "COMP_WORDS": "mmdata bu", "COMP_CWORD": "1", "_MMDATA_COMPLETE": "complete_bash"})  # fmt: skip
    assert r.returncode == 0 and r.stdout.split() == ["build"], (r.stdout, r.stderr)
