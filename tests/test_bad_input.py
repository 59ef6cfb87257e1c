"""Bad input gets one clear line and exit status 2 — through the real command line, never a traceback.

Each case writes the broken input (a recipe, a preset, a spec, a template, a benchmark TSV) or gives
bad arguments, runs ``mmdata`` in-process, and checks: exit 2, exactly one line on stderr, the
expected words, no Python traceback, and nothing written where the output would have gone.
"""

from __future__ import annotations

import math

import pytest
import yaml

from mmdata.cli import main

GOOD_RECIPE = {"name": "r", "seed": 0, "sources": [{"dataset": "vqav2", "path": "sources/vqav2"}], "balance": {"size": 20}}


def run(args, capsys) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.err


def one_line_error(code: int, err: str, words: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert words in lines[0], lines[0]


# ------------------------------------------------------------------------------------------ recipes


def _recipe_text(tmp_path, text: str):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


RECIPE_TEXT_CASES = [
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nsources: []\n", "duplicate key 'sources' (first defined on line 2)"),
    ("name: r\nname: s\nsources: [{dataset: vqav2, path: sources/vqav2}]\n", "duplicate key 'name'"),
    ("name: r\nsources:\n  - {dataset: vqav2, dataset: gqa, path: x}\n", "duplicate key 'dataset'"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nbalance: {size: 5, size: 6}\n", "duplicate key 'size'"),
    ("name: r\n  bad indent: 1\n", "invalid YAML"),
    ("name: [unclosed\n", "invalid YAML"),
    ("- just\n- a list\n", "must be a YAML mapping, got list"),
    ("", "must be a YAML mapping, got nothing"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nseed: -1\n", "field 'seed': Input should be greater than or equal to 0"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nseed: 1e30\n", "field 'seed': Input should be a valid integer"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nseed: 1.5\n", "field 'seed': Input should be a valid integer"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nseed: true\n", "field 'seed': Input should be a valid integer"),
    ("name: r\nsources: [{dataset: vqav2, path: sources/vqav2}]\nseed: 99999999999999999999\n", "field 'seed'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {strategy: tuned, weights: {vqav2: .nan}}\n", "must be a finite number"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {strategy: tuned, weights: {vqav2: .inf}}\n", "must be a finite number"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {strategy: tuned, weights: {vqav2: 0}}\n", "Input should be greater than 0"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {strategy: tuned, weights: {vqav2: -2}}\n", "Input should be greater than 0"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {size: 10000000000}\n", "items need about"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {size: 1e10}\n", "field 'balance.size'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {size: 0}\n", "field 'balance.size'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nbalance: {cap: 1.5}\n", "field 'balance.cap'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\ntemplates: {inverted_ratio: .nan}\n", "field 'templates.inverted_ratio'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\ntemplates: {inverted_ratio_by_task: {rec: 2}}\n", "field 'templates.inverted_ratio_by_task.rec'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nmultiturn: {threshold: 1.5}\n", "field 'multiturn.threshold'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nmultiturn: {max_turns: 100000}\n", "field 'multiturn.max_turns'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nimages: {missing: ignore}\n", "field 'images.missing'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nimages: {max_missing: 2}\n", "field 'images.max_missing'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nexclude: [gqa]\n", "exclude names datasets not in sources"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\nexclude: [vqav2]\n", "exclude leaves no source"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\noutput: {formats: [parquet, xml]}\n", "field 'output.formats[1]'"),
    ("name: ''\nsources: [{dataset: vqav2, path: x}]\n", "field 'name'"),
    ("name: r\nsources: [{dataset: vqav2, path: x, max_turns: 0}]\n", "field 'sources[0].max_turns'"),
    ("name: r\nsources: [{dataset: vqav2, path: x, dedup: fuzzy}]\n", "field 'sources[0].dedup'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\ndecontaminate_by: [caption]\n", "field 'decontaminate_by[0]'"),
    ("name: r\nsources: [{dataset: vqav2, path: x}]\n? [a, b]\n: 1\n", "mapping key must be a scalar"),
]


@pytest.mark.parametrize(("text", "words"), RECIPE_TEXT_CASES)
def test_bad_recipe_files(tmp_path, capsys, text, words):
    p = _recipe_text(tmp_path, text)
    code, err = run(["build", p, "--out", tmp_path / "mix"], capsys)
    one_line_error(code, err, words)
    assert str(p) in err and not (tmp_path / "mix").exists()


SET_CASES = [
    ("seed=-1", "--set seed=-1: field 'seed'"),
    ("seed", "--set expects key.path=value"),
    ("=3", "empty key"),
    ("balance..size=3", "empty key"),
    ("sources.7.path=x", "no list item '7' at sources.7"),
    ("name.sub=x", "name is not a mapping or list"),
    ("balance.strategy=uniform", "field 'balance.strategy'"),
    ("balance.weights={vqav2: .nan}", "must be a finite number"),
    ("colour=red", "field 'colour': unknown key"),
    ("sources.0.dataset=vqa2", "unknown dataset 'vqa2'"),
    ("sources.0.languages=[xx]", "unknown language 'xx'"),
    ("sources.0.task=vqa", "unknown task 'vqa'"),
]


@pytest.mark.parametrize(("item", "words"), SET_CASES)
def test_bad_set_overrides(tmp_path, capsys, item, words):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(GOOD_RECIPE))
    code, err = run(["build", p, "--out", tmp_path / "mix", "--set", item], capsys)
    one_line_error(code, err, words)


# ------------------------------------------------------------------------------------------ presets

PRESET_CASES = [
    ("train.seed=-3", "field 'train.seed'"),
    ("train.seed=1e30", "field 'train.seed'"),
    ("moe.alpha=.nan", "must be a finite number"),
    ("train.stage2.lr.llm=.inf", "must be a finite number"),
    ("train.stage2.lr.llm=-1", "field 'train.stage2.lr.llm'"),
    ("projector.name=q-former", "unknown projector 'q-former'"),
    ("vision.arch.patch_size=7", "image_size must be a multiple of patch_size"),
    ("train.precision=fp8", "field 'train.precision'"),
    ("train.stage1.steps=0", "field 'train.stage1.steps'"),
    ("train.stage1.lr.vision=1e-4", "field 'train.stage1.lr.vision': 'vision' is frozen in this stage"),
    ("nope=1", "field 'nope': unknown key"),
]


@pytest.mark.parametrize(("item", "words"), PRESET_CASES)
def test_bad_preset_overrides_for_train(tmp_path, capsys, item, words):
    code, err = run(["train", "--preset", "tiny-cpu", "--stage", "1", "--out", tmp_path / "ck", "--set", item, "--dry-run"], capsys)
    one_line_error(code, err, words)
    assert not (tmp_path / "ck").exists()


def test_duplicate_key_in_a_preset_file(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text("name: x\nname: y\n")
    code, err = run(["train", "--preset", p, "--stage", "1", "--out", tmp_path / "ck"], capsys)
    one_line_error(code, err, "duplicate key 'name'")


# -------------------------------------------------------------------------------------------- specs

SPEC_BASE = "name: s\nrecipe: honeybee\nmodel: tiny-cpu\narms: {a: {}}\nbudget: {stage1: 2, stage2: 2}\n"
SPEC_CASES = [
    (SPEC_BASE + "seeds: [-1]\n", "field 'seeds[0]'"),
    (SPEC_BASE + "seeds: []\n", "field 'seeds'"),
    (SPEC_BASE + "bench: {scoring: vibes}\n", "field 'bench.scoring'"),
    (SPEC_BASE + "bench: {per_language: 0}\n", "field 'bench.per_language'"),
    (SPEC_BASE + "metrics: [iq]\n", "unknown metric 'iq'"),
    (SPEC_BASE + "findings: [{better: a, worse: b}]\n", "finding names arm 'b'"),
    (SPEC_BASE + "world: {size: huge}\n", "field 'world.size'"),
    (SPEC_BASE + "arms: {}\n", "duplicate key 'arms'"),
    (SPEC_BASE.replace("budget: {stage1: 2, stage2: 2}", "budget: {stage1: 2}"), "field 'budget.stage2': required key is missing"),
]


@pytest.mark.parametrize(("text", "words"), SPEC_CASES)
def test_bad_ablation_specs(tmp_path, capsys, text, words):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    code, err = run(["ablate", p, "--out", tmp_path / "out"], capsys)
    one_line_error(code, err, words)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------- arguments

ARG_CASES = [
    (["world", "--out", "{t}/w", "--size", "huge"], "'huge' is not one of 'tiny', 'small', 'full'"),
    (["world", "--out", "{t}/w", "--seed", "-1"], "--seed"),
    (["world", "--out", "{t}/w", "--image-size", "8"], "--image-size"),
    (["world", "--out", "{t}/w", "--image-size", "big"], "--image-size"),
    (["world"], "Missing option '--out'"),
    (["build", "honeybee", "--out", "{t}/m", "--engine", "spark"], "'spark' is not one of 'local', 'ray'"),
    (["build", "honeybee", "--out", "{t}/m"], "needs a data root"),
    (["build", "no-such-recipe", "--out", "{t}/m"], "unknown recipe 'no-such-recipe'"),
    (["build", "{t}/missing.yaml", "--out", "{t}/m"], "recipe file not found"),
    (["bench", "run", "{t}", "--model", "oracle", "--out", "{t}/r", "--limit", "-1"], "--limit"),
    (["bench", "run", "{t}", "--model", "oracle", "--out", "{t}/r", "--batch-size", "0"], "--batch-size"),
    (["bench", "run", "{t}", "--model", "gpt:9", "--out", "{t}/r"], "no .tsv files in this folder"),
    (["bench", "make", "--world", "{t}", "--out", "{t}/b", "--per-language", "0"], "--per-language"),
    (["leaderboard", "--format", "xml"], "'xml' is not one of 'md', 'html'"),
    (["leaderboard", "--db", "{t}/none.duckdb"], "leaderboard"),
    (["train", "--preset", "tiny-cpu", "--stage", "3", "--out", "{t}/c"], "--stage"),
    (["train", "--preset", "no-such-model", "--stage", "1", "--out", "{t}/c"], "unknown model 'no-such-model'"),
    (["ablate", "no-such-suite", "--out", "{t}/a"], "unknown suite 'no-such-suite'"),
    (["ablate", "honeybee-multiturn-tiny", "--out", "{t}/a", "--seeds", "0"], "--seeds"),
    (["ablate", "honeybee-multiturn-tiny", "--out", "{t}/a", "--only", "nope", "--dry-run"], "unknown arm(s) ['nope']"),
    (["tokenizer", "train", "--kind", "vqgan", "--out", "{t}/k"], "'vqgan' is not one of"),
    (["tokenizer", "train", "--kind", "vqvae", "--stacked", "9", "--out", "{t}/k"], "--stacked"),
    (["cache", "gc", "--older-than", "soon"], "--older-than expects an age"),
    (["cache", "gc", "--keep", "lots"], "--keep expects a size"),
    (["cache", "ls", "--kind", "nope"], "'nope' is not one of"),
    (["list", "planets"], "'planets' is not one of"),
    (["query", "{t}", "select 1"], "not a mixture directory"),
    (["sources", "read", "vqa2", "{t}"], "unknown source 'vqa2'"),
    (["sources", "read", "vqav2", "{t}/missing"], "source path does not exist"),
    (["sources", "read", "vqav2", "{t}", "--format", "csv"], "'csv' is not one of 'jsonl', 'table'"),
    (["-v", "-q", "list", "models"], "-v and -q contradict each other"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["world", "--out", "{t}/w", "--colour", "red"], "No such option: --colour"),
]


@pytest.mark.parametrize(("args", "words"), ARG_CASES, ids=[" ".join(a)[:60] for a, _ in ARG_CASES])
def test_bad_arguments(tmp_path, capsys, args, words):
    code, err = run([a.replace("{t}", str(tmp_path)) for a in args], capsys)
    one_line_error(code, err, words)


# ---------------------------------------------------------------------------------------- templates

TEMPLATE_CASES = [
    ("user: '{{ question'\nassistant: x", "Jinja syntax error"),
    ("user: '{% if question %}open'\nassistant: x", "Jinja syntax error"),
    ("user: '{{ nope }}'\nassistant: x", "'nope' is undefined"),
    ("user: '{{ record_id }}'\nassistant: x", "'record_id' is undefined"),
    ("user: \"{{ 'a' * 10**9 }}\"\nassistant: x", "more than 100,000 characters"),
    ("user: '{{ question.__class__ }}'\nassistant: x", "template"),
    ("user: 3\nassistant: x", "expected str"),
    ("assistant: x", "missing required key"),
    ("user: x\nassistant: y\ncolour: red", "unknown key(s)"),
]


@pytest.mark.parametrize(("body", "words"), TEMPLATE_CASES)
def test_bad_templates(tiny_world, tmp_path, capsys, body, words):
    import shutil

    from mmdata.recipe.templates import default_dir

    tdir = tmp_path / "templates"
    shutil.copytree(default_dir(), tdir)
    entry = "\n".join("    " + line for line in body.splitlines())
    (tdir / "coarse" / "vqa_open.yaml").write_text(f"task: vqa_open\nlanguage: en\ntemplates:\n  - id: coarse/vqa_open\n    inverted: false\n{entry}\n")
    r = tmp_path / "r.yaml"
    r.write_text(yaml.safe_dump({**GOOD_RECIPE, "root": str(tiny_world), "templates": {"granularity": "coarse"}}))
    code, err = run(["build", r, "--out", tmp_path / "mix", "--templates", tdir], capsys)
    one_line_error(code, err, words)
    assert not (tmp_path / "mix").exists()


# ------------------------------------------------------------------------------------------- TSVs

TSV_HEAD = "index\tquestion\tA\tB\tanswer\tcategory\timage_path\n"
TSV_CASES = [
    (TSV_HEAD + "1\tWhat?\tx\ty\tC\tcolour\tx.png\n", "answer"),
    (TSV_HEAD + "one\tWhat?\tx\ty\tA\tcolour\tx.png\n", "index"),
    ("question\tA\tB\tanswer\timage_path\n" + "What?\tx\ty\tA\tx.png\n", "index"),
    (TSV_HEAD + "1\tWhat?\tx\ty\tA\tcolour\tx.png\n1\tWhat?\tx\ty\tA\tcolour\tx.png\n", "index"),
    (TSV_HEAD + "1\tWhat?\t\t\tA\tcolour\tx.png\n", "option"),
    ("index\tquestion\tA\tB\tanswer\n1\tWhat?\tx\ty\tA\n", "image"),
    ("", "empty"),
]


@pytest.mark.parametrize(("text", "words"), TSV_CASES)
def test_bad_benchmark_tsvs(tmp_path, capsys, text, words):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    f = tmp_path / "MMMB_en.tsv"
    f.write_text(text)
    code, err = run(["bench", "audit", f], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "MMMB_en.tsv" in err
    assert words.lower() in err.lower()


def test_case_count():
    """The malformed-input cases of this file (the project keeps ≥150 across all its suites)."""
    n = len(RECIPE_TEXT_CASES) + len(SET_CASES) + len(PRESET_CASES) + 1 + len(SPEC_CASES) + len(ARG_CASES) + len(TEMPLATE_CASES) + len(TSV_CASES)
    assert n >= 100 and not math.isnan(n)
