"""Ablation runner: end to end on the tiny world, interrupted and resumed without recomputing finished
steps, identical tables for identical seeds, the report in headless Chromium, malformed specs."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from mmdata.ablate.runner import read_journal, run_ablation
from mmdata.ablate.spec import load_spec, suite_names
from mmdata.errors import MmdataError
from mmdata.model.config import merge, models_dir
from tests.browser import assert_not_blank, screenshot

# a narrow tiny-cpu (as the model tests use) without the MoE, and very short stages: mechanics, not quality
PRESET = {
    "llm": {"arch": {"hidden_size": 96, "layers": 2, "intermediate": 256}},
    "moe": {"enabled": False},
    "stage0": {"clip": {"steps": 8, "batch_size": 16, "warmup": 2}, "lm": {"steps": 10, "batch_size": 8, "warmup": 2}},
    "train": {"num_workers": 0, "max_len": 128, "stage1": {"batch_size": 4}, "stage2": {"batch_size": 4}},
}


def write_spec(d, **over):
    preset = merge(yaml.safe_load((models_dir() / "tiny-cpu.yaml").read_text()), PRESET)
    preset["train"]["stage2"]["lr"] = {"projector": 5e-4, "llm": 5e-4}  # no MoE, so no MoE learning rate
    (d / "preset.yaml").write_text(yaml.safe_dump(preset))
    spec = {
        "name": "t-suite",
        "description": "test",
        "world": {"size": "tiny", "seed": 0},
        "recipe": "honeybee",
        "recipe_set": ["balance.size=40"],
        "stage1": {"recipe": "stage1-captions", "set": ["balance.size=20"]},
        "model": "preset.yaml",
        "bench": {"per_language": 3, "sets": ["mmmb"], "batch_size": 8},
        "arms": {"single": {"recipe": ["multiturn.max_turns=1"]}, "multi": {"recipe": ["multiturn.max_turns=10"]}},
        "seeds": [0],
        "budget": {"stage1": 2, "stage2": 3},
        "metrics": ["mean", "en", "mean_non_en"],
        "findings": [{"better": "multi", "worse": "single", "metric": "mean", "claim": "merging helps"}],
    }
    spec.update(over)
    p = d / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def ran(journal, kind=None):
    return [e for e in journal if e["event"] == "ran" and (kind is None or e["step"] == kind)]


def test_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch):
    import mmdata.model.train as train_mod

    spec = write_spec(tmp_path)
    real = train_mod.train
    calls = {"stage2": 0}

    def flaky(preset, stage, out, **kw):
        if stage == 2:
            calls["stage2"] += 1
            if calls["stage2"] == 2:
                raise KeyboardInterrupt("simulated kill during the second arm's stage 2")
        return real(preset, stage, out, **kw)

    monkeypatch.setattr(train_mod, "train", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(spec, tmp_path / "out", leaderboard=tmp_path / "lb.duckdb", log=lambda m: None)
    first = read_journal(tmp_path / "out/steps.jsonl")
    assert {e["step"] for e in ran(first)} >= {"world", "bench", "mixture", "stage0-checkpoint", "stage1", "stage2", "eval"}
    assert not (tmp_path / "out/report.md").exists()
    monkeypatch.setattr(train_mod, "train", real)
    res = run_ablation(spec, tmp_path / "out", leaderboard=tmp_path / "lb.duckdb", log=lambda m: None)
    journal = read_journal(tmp_path / "out/steps.jsonl")
    second = journal[len(first):]
    keys_first = {(e["step"], e["key"]) for e in ran(first)}
    # nothing that finished in the first run ran again; only the interrupted arm's stage 2 and eval did
    assert not {(e["step"], e["key"]) for e in ran(second)} & keys_first
    assert sorted(e["step"] for e in ran(second)) == ["eval", "stage2"]
    assert len(ran(journal, "stage1")) == 1  # one stage-1 checkpoint shared by both arms
    assert len(ran(journal, "stage0-checkpoint")) == 1
    # results: duckdb rows for both arms and a report with the table and the finding
    rows = res["rows"]
    assert {r["arm"] for r in rows} == {"single", "multi"} and {"mean", "en", "zh"} <= {r["metric"] for r in rows}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    import duckdb

    con = duckdb.connect(str(tmp_path / "out/results.duckdb"))
    n = con.execute("select count(*) from results where suite = 't-suite'").fetchall()[0][0]
    con.close()
    assert n == len(rows)
    md = (tmp_path / "out/report.md").read_text()
    assert "| arm |" in md and "merging helps" in md and "multi − single" in md
    # a third run reuses everything
    third = run_ablation(spec, tmp_path / "out", leaderboard=tmp_path / "lb.duckdb", log=lambda m: None)
    assert not ran(read_journal(tmp_path / "out/steps.jsonl")[len(journal):])
    # every completed invocation stays in the report: the one that computed the steps, then the no-op
    runs = read_journal(tmp_path / "out/runs.jsonl")
    assert [r["ran"] > 0 for r in runs] == [True, False] and third["meta"]["ran"] == 0 and third["meta"]["cached"] > 0
    assert all(" cores · bf16 units: " in r["machine"] for r in runs)  # results depend on the CPU's kernels: say which
    assert "| 2 | `" in (tmp_path / "out/report.md").read_text()
    # --report-only: the spec's new discussion appears, nothing is looked up, run or logged as a run
    from mmdata.ablate.runner import rerender

    spec.write_text(spec.read_text() + "notes: Merging did not matter here.\n")
    n_steps = len(read_journal(tmp_path / "out/steps.jsonl"))
    rerender(spec, tmp_path / "out")
    md = (tmp_path / "out/report.md").read_text()
    assert "## Discussion" in md and "Merging did not matter here." in md and "merging helps" in md
    assert len(read_journal(tmp_path / "out/runs.jsonl")) == 2 and len(read_journal(tmp_path / "out/steps.jsonl")) == n_steps
    with pytest.raises(MmdataError, match="no finished ablation here"):
        rerender(spec, tmp_path / "empty")
    # the report renders in a browser
    im = screenshot(tmp_path / "out/report.html", tmp_path)
    assert_not_blank(im)
    assert "<table>" in (tmp_path / "out/report.html").read_text()


def test_same_seeds_give_identical_tables(tmp_path):
    from mmdata import cache

    bench = {"per_language": 3, "sets": ["mmmb"], "batch_size": 8, "scoring": "choice"}  # the likelihood scorer
    spec = write_spec(tmp_path, arms={"single": {"recipe": ["multiturn.max_turns=1"]}}, findings=[], bench=bench)
    a = run_ablation(spec, tmp_path / "a", leaderboard=None, log=lambda m: None)
    for kind in ("bench", "mixture", "stage1", "stage2", "eval"):  # recompute every step but the world and stage 0
        shutil.rmtree(cache.root() / kind, ignore_errors=True)
    b = run_ablation(spec, tmp_path / "b", leaderboard=None, log=lambda m: None)
    assert ran(read_journal(tmp_path / "b/steps.jsonl"), "stage2")
    assert [(r["arm"], r["metric"], r["value"]) for r in a["rows"]] == [(r["arm"], r["metric"], r["value"]) for r in b["rows"]]
    strip = lambda s: s.split("## Run")[0]  # noqa: E731
    assert strip((tmp_path / "a/report.md").read_text()) == strip((tmp_path / "b/report.md").read_text())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"findings": [{"better": "nope", "worse": "single"}]}, "finding names arm 'nope'"),
        ({"metrics": ["accuracy"]}, "unknown metric 'accuracy'"),
        ({"budget": {"stage1": 2}}, "field 'budget.stage2': required key is missing"),
        ({"arms": {}}, "field 'arms': Dictionary should have at least 1 item"),
        ({"colour": 1}, "field 'colour': unknown key"),
        ({"world": None}, "give either world"),
    ],
)
def test_malformed_specs(tmp_path, change, expected):
    spec = write_spec(tmp_path, **change)
    with pytest.raises(MmdataError) as e:
        load_spec(spec)
    assert expected in str(e.value) and "spec.yaml" in str(e.value)


def test_unknown_arm_and_spec_name(tmp_path):
    spec = write_spec(tmp_path)
    with pytest.raises(MmdataError, match="unknown arm"):
        run_ablation(spec, tmp_path / "o", only=["triple"])
    with pytest.raises(MmdataError, match="unknown suite 'no-such-suite'; shipped: .*honeybee-multiturn-tiny"):
        load_spec("no-such-suite")


def test_shipped_suites_load_and_their_presets_validate():
    from mmdata.ablate.runner import _preset
    from mmdata.recipe.config import load_recipe

    names = suite_names()
    assert {"honeybee-balancing-tiny", "honeybee-templates-tiny", "honeybee-multiturn-tiny", "honeybee-datasets-tiny",
            "honeybee-projectors-tiny", "parrot-moe-tiny", "unicode-codebook-tiny"} <= set(names)  # fmt: skip
    assert {n.removesuffix("-tiny") for n in names if n.endswith("-tiny")} == {n.removesuffix("-gpu") for n in names if n.endswith("-gpu")}
    for n in names:
        spec, base = load_spec(n)
        for arm in spec.arms.values():
            _preset(spec, base, arm.model, 0)
            load_recipe(spec.recipe, [*spec.recipe_set, *arm.recipe, "root=/nonexistent"])
    assert json.dumps(names)


def test_tiny_suites_stand_on_one_frozen_configuration():
    """Issue 12: one tiny configuration serves every suite. Each shipped -tiny suite names the base and
    gives none of the keys that fix the configuration (world, model overrides, benchmark, seeds,
    budget), so those come from bases/tiny.yaml alone; an arm may change only what it ablates."""
    from mmdata.config import find_preset, preset_path, read_mapping

    frozen = ("world", "model_set", "bench", "seeds", "budget")
    base = read_mapping(preset_path("suites", "x").parent / "bases" / "tiny.yaml", what="suite base").data
    tiny = [n for n in suite_names() if n.endswith("-tiny")]
    assert len(tiny) == 7
    for n in tiny:
        raw = read_mapping(find_preset("suites", n)[0], what="ablation spec").data
        assert raw.get("base") == "tiny", n
        assert not set(frozen) & set(raw), (n, set(frozen) & set(raw))
        spec, _ = load_spec(n)
        assert spec.budget.model_dump() == base["budget"] and spec.seeds == base["seeds"], n
        assert spec.bench.scoring.value == base["bench"]["scoring"] and spec.model_set == base["model_set"], n


def test_stage0_is_keyed_by_the_whole_architecture():
    """Projector (or tokenizer) arms must not share a stage-0 checkpoint: stage 1 only starts from a
    checkpoint of the same architecture."""
    from mmdata.ablate.runner import _preset, stage0_inputs
    from mmdata.cache import key_of

    keys = {}
    for name in ("honeybee-projectors-tiny", "unicode-codebook-tiny", "honeybee-multiturn-tiny"):
        spec, base = load_spec(name)
        for arm_name, arm in spec.arms.items():
            keys[(name, arm_name)] = key_of("stage0-checkpoint", stage0_inputs(_preset(spec, base, arm.model, 0)))
    proj = [k for (n, _), k in keys.items() if n == "honeybee-projectors-tiny"]
    disc = [k for (n, _), k in keys.items() if n == "unicode-codebook-tiny"]
    multi = {k for (n, _), k in keys.items() if n == "honeybee-multiturn-tiny"}
    assert len(set(proj)) == len(proj) and len(set(disc)) == len(disc)  # one per architecture
    assert len(multi) == 1  # data-only arms share it


# ----------------------------------------------------------------------------------- --jobs N


def _leaderboard(db, cache_root):
    """Every leaderboard run in recording order, as what must not depend on --jobs: the run's columns
    without its id, time and checkpoint fingerprint (its training log holds timings), the checkpoint's
    path relative to the cache, and its language scores and per-question outcomes."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("select * from runs order by recorded_at").fetchall()
        cols = [d[0] for d in con.description]
        out = []
        for r in runs:
            row = dict(zip(cols, r, strict=True))
            scores = json.loads(row.pop("scores_json"))
            for k in ("model", "model_fingerprint"):
                scores.pop(k)
            rid = row.pop("run_id")
            row.pop("recorded_at"), row.pop("model_fingerprint")
            row["model"] = row["model"].replace(str(cache_root), "CACHE")
            langs = con.execute("select language, metric, value, lo, hi, n_items, failures from language_scores where run_id = ? "
                                "order by language, metric", [rid]).fetchall()  # fmt: skip
            outcomes = con.execute("select language, unit, correct from outcomes where run_id = ? order by language, unit", [rid]).fetchall()
            out.append((row, scores, langs, outcomes))
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def jobs_runs(tmp_path_factory):
    """The same two-arm spec run with --jobs 1 and --jobs 2, each on a fresh cache of its own, with
    one torch thread everywhere (the preset's ``threads`` for --jobs 1; cpu_count // jobs for the
    workers, with cpu_count pinned to 2 so the test means the same on any machine)."""
    from mmdata.ablate import runner as runner_mod

    d = tmp_path_factory.mktemp("jobs")
    spec = write_spec(d, model_set=["train.threads=1"])
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(d / "hf-home"))
        mp.setenv("MPLCONFIGDIR", str(d / "mpl"))
        mp.setattr(runner_mod.os, "cpu_count", lambda: 2)
        for jobs in (1, 2):
            mp.setenv("MMDATA_CACHE", str(d / f"cache-{jobs}"))
            logs = []
            res = run_ablation(spec, d / f"out-{jobs}", leaderboard=d / f"lb-{jobs}.duckdb", log=logs.append, jobs=jobs)
            runs[jobs] = {"res": res, "logs": logs, "out": d / f"out-{jobs}", "cache": d / f"cache-{jobs}", "lb": d / f"lb-{jobs}.duckdb"}
    return {"spec": spec, **runs}


def test_jobs_gives_the_rows_of_a_sequential_run(jobs_runs):
    one, two = jobs_runs[1], jobs_runs[2]
    assert (one["out"] / "rows.json").read_bytes() == (two["out"] / "rows.json").read_bytes()
    assert {r["arm"] for r in two["res"]["rows"]} == {"single", "multi"}
    # the same steps ran once each (the stage-1 checkpoint both arms share included), under the same keys;
    # a mixture's key holds its world's file listing (times), which differs between the two caches
    steps = lambda j: sorted((e["step"], e["key"] if e["step"] != "mixture" else "") for e in ran(read_journal(jobs_runs[j]["out"] / "steps.jsonl")))  # noqa: E731
    assert steps(1) == steps(2)
    assert len(ran(read_journal(two["out"] / "steps.jsonl"), "stage1")) == 1
    for line in (two["out"] / "steps.jsonl").read_bytes().splitlines():  # whole lines, from two processes
        json.loads(line)
    # progress: each pipeline's start and finish, tagged as in a sequential run
    for tag in ("[1/2] multi · seed 0", "[2/2] single · seed 0"):  # the spec's arms in order (safe_dump sorts them)
        assert any(m.startswith(f"{tag}: started") for m in two["logs"]) and any(m.startswith(f"{tag}: done") for m in two["logs"])
        assert f"{tag}: stage 2" in two["logs"] and f"{tag}: stage 2" in one["logs"]
    strip = lambda s: s.split("## Run")[0]  # noqa: E731
    assert strip((one["out"] / "report.md").read_text()) == strip((two["out"] / "report.md").read_text())


def test_jobs_second_run_recomputes_nothing(jobs_runs, monkeypatch):
    from mmdata.ablate import runner as runner_mod

    two = jobs_runs[2]
    monkeypatch.setenv("MMDATA_CACHE", str(two["cache"]))
    monkeypatch.setattr(runner_mod.os, "cpu_count", lambda: 2)
    before = read_journal(two["out"] / "steps.jsonl")
    rows_before = (two["out"] / "rows.json").read_bytes()
    n_runs = len(_leaderboard(two["lb"], two["cache"]))
    res = run_ablation(jobs_runs["spec"], two["out"], leaderboard=two["lb"], log=lambda m: None, jobs=2)
    again = read_journal(two["out"] / "steps.jsonl")[len(before) :]
    assert again and all(e["event"] == "cached" for e in again)
    assert {e["step"] for e in again} == {"world", "bench", "mixture", "stage0-checkpoint", "stage1", "stage2", "eval"}
    assert res["meta"]["ran"] == 0 and res["meta"]["cached"] == len(again)
    assert (two["out"] / "rows.json").read_bytes() == rows_before
    assert len(_leaderboard(two["lb"], two["cache"])) == n_runs  # a cached evaluation is not recorded again
    assert [r["ran"] > 0 for r in read_journal(two["out"] / "runs.jsonl")] == [True, False]


def test_jobs_records_the_same_leaderboard_rows(jobs_runs):
    one, two = jobs_runs[1], jobs_runs[2]
    a, b = _leaderboard(one["lb"], one["cache"]), _leaderboard(two["lb"], two["cache"])
    assert len(a) == 2 and a[0][2] and a[0][3]  # one run per arm, with language scores and outcomes
    assert a == b


def test_jobs_worker_error_is_the_sequential_one_line_error(tmp_path, capsys):
    """A pipeline failing in a worker stops the run with the error a sequential run gives (exit 2, one
    line), not the pool's traceback."""
    from mmdata.cli import main

    spec = write_spec(tmp_path, arms={"bad": {"recipe": ["multiturn.max_turns=many"]}}, seeds=[0, 1], findings=[])
    errors = []
    for jobs in ("1", "2"):
        with pytest.raises(SystemExit) as e:
            main(["ablate", str(spec), "--out", str(tmp_path / f"o{jobs}"), "--leaderboard", str(tmp_path / "lb.duckdb"), "--jobs", jobs])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
        assert err[-1].startswith("mmdata: error: ") and not any("Traceback" in x for x in err)
        errors.append(err[-1])
    assert errors[0] == errors[1] and "max_turns" in errors[0]
    assert not (tmp_path / "lb.duckdb").exists()


def _append_many(path: str, who: int, n: int) -> None:
    from mmdata.io import append_line

    for i in range(n):
        append_line(path, json.dumps({"who": who, "i": i, "pad": "x" * (200 + 7 * (i % 50))}).encode() + b"\n")


def test_journal_appends_from_several_processes_stay_whole_lines(tmp_path):
    """steps.jsonl is appended by every --jobs worker: one write(2) per line on an O_APPEND descriptor."""
    import multiprocessing as mp

    path = tmp_path / "steps.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), who, 400)) for who in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert len(lines) == 1200
    for who in range(3):
        assert [e["i"] for e in lines if e["who"] == who] == list(range(400))
    with pytest.raises(ValueError):
        from mmdata.io import append_line

        append_line(path, b"two\nlines\n")


def test_each_scoring_rule_gets_its_harness_model(tmp_path, monkeypatch):
    """generate → free text; choice → likelihood with the auto rule (letter for the lettered benchmark
    prompt); text → likelihood of the option texts after the open question. Each keys its predictions apart."""
    import sys
    import types

    from mmdata.ablate.spec import Scoring
    from mmdata.bench.models import MmdataChoiceModel, MmdataModel, answer_method
    from mmdata.model import inference  # noqa: F401  (before mmdata.model is swapped below)

    monkeypatch.setitem(sys.modules, "mmdata.model", types.SimpleNamespace(load_for_generation=lambda path: object()))
    got = {s: Scoring(s).model(tmp_path) for s in ("generate", "choice", "text")}
    assert type(got["generate"]) is MmdataModel and answer_method(got["generate"]) == "generate"
    assert isinstance(got["choice"], MmdataChoiceModel) and got["choice"].scoring == "auto"
    assert got["text"].scoring == "text" and answer_method(got["text"]) == "choice-text-open-v1"


def test_demo_runs_a_finding_of_its_suite_on_the_frozen_configuration_cut_short():
    """`make demo` must end with a real measurement: its two arms are a paper finding of the suite (so
    the report prints their paired difference with its CI), and it differs from the frozen
    configuration only in budget, benchmark size and stage-0 CLIP steps."""
    from mmdata.demo import DEMO_ARMS, DEMO_STAGE0_CLIP_STEPS, DEMO_SUITE, demo_overrides

    frozen, _ = load_spec(DEMO_SUITE)
    demo, _ = load_spec(DEMO_SUITE, demo_overrides(DEMO_SUITE))
    assert any({f.better, f.worse} == set(DEMO_ARMS) for f in demo.findings)
    assert [s for s in demo.model_set if s not in frozen.model_set] == [f"stage0.clip.steps={DEMO_STAGE0_CLIP_STEPS}"]
    assert len(demo.model_set) == len(frozen.model_set)
    assert demo.budget.stage2 < frozen.budget.stage2 and demo.bench.per_language < frozen.bench.per_language
    assert (demo.recipe, demo.recipe_set, demo.world, demo.bench.scoring) == (frozen.recipe, frozen.recipe_set, frozen.world, frozen.bench.scoring)
