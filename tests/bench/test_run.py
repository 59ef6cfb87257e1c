"""Resumable runs: a killed run resumes with zero recomputed predictions and identical scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq

from mmdata.bench import models
from mmdata.bench.prompts import PROMPT_VERSION
from mmdata.bench.run import JOURNAL, PREDICTIONS, PredictionStore, run_benchmark
from mmdata.bench.tsv import load_benchmark, write_tsv

from .conftest import ROOT, cli


class Counting:
    """Wraps a model and records every (language, index) it is asked about."""

    uses_rows = True

    def __init__(self, spec: str) -> None:
        self.inner = models.resolve(spec)
        self.name = self.inner.name
        self.seen: list[tuple[str, int]] = []

    def generate(self, images, prompts, rows=()):
        self.seen += [(r.language, r.index) for r in rows]
        return models.generate(self.inner, images, prompts, rows)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from mmdata.bench import models
    from mmdata.bench.run import run_benchmark

    class KilledAtBatch3:
        uses_rows = True
        def __init__(self):
            self.inner = models.resolve("random:5")
            self.name = self.inner.name
            self.calls = 0
        def generate(self, images, prompts, rows=()):
            self.calls += 1
            if self.calls == 4:  # three batches done; die mid-run without any cleanup
                os.kill(os.getpid(), signal.SIGKILL)
            return models.generate(self.inner, images, prompts, rows)

    run_benchmark(sys.argv[1], KilledAtBatch3(), sys.argv[2], batch_size=10, db=None)
""")


def test_killed_run_resumes_without_recomputing(bench, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", KILLER, str(bench / "mmmb"), str(out)], env=env, capture_output=True, text=True)
    assert r.returncode == -9, r.stderr  # really killed
    assert not (out / "scores.json").exists()
    journal = (out / JOURNAL).read_bytes().splitlines()
    assert len(journal) == 30  # three finished batches of ten, durable although the process never cleaned up

    model = Counting("random:5")
    res = run_benchmark(bench / "mmmb", model, out, batch_size=10, db=None)
    total = 6 * 30
    assert (res.reused, res.computed) == (30, total - 30)
    done_before = {(json.loads(x)["l"], json.loads(x)["i"]) for x in journal}
    assert len(model.seen) == total - 30 and not done_before & set(model.seen)  # zero recomputed
    assert not (out / JOURNAL).exists() and pq.read_table(out / PREDICTIONS).num_rows == total

    fresh = run_benchmark(bench / "mmmb", "random:5", tmp_path / "fresh", batch_size=7, db=None)
    assert res.scores == fresh.scores  # identical scores, whatever the batching or the kill
    assert (out / "scores.json").read_bytes() == (tmp_path / "fresh" / "scores.json").read_bytes()

    again = Counting("random:5")
    res2 = run_benchmark(bench / "mmmb", again, out, db=None)
    assert (res2.computed, res2.reused, again.seen) == (0, total, [])


def test_torn_journal_line_is_ignored(bench, tmp_path):
    b = load_benchmark(bench / "mmmb").limit(2)
    ref = run_benchmark(b, "oracle", tmp_path / "ref", db=None)
    (f, bname, c, lang, i, p), (sha, output, m) = next(iter(PredictionStore(tmp_path / "ref").rows.items()))
    out = tmp_path / "run"
    out.mkdir()
    line = json.dumps({"m": m, "f": f, "b": bname, "c": c, "l": lang, "i": i, "p": p, "s": sha, "o": output}).encode()
    (out / JOURNAL).write_bytes(line + b"\n" + b'{"m": "oracle", "f": "x", "b": "x", "l": "en", "i": 9')  # cut short by a kill
    model = Counting("oracle")
    res = run_benchmark(b, model, out, db=None)
    assert res.reused == 1 and len(model.seen) == len(b.items) - 1 and (lang, i) not in model.seen
    assert res.scores == ref.scores


def test_edited_benchmark_is_not_scored_with_stale_outputs(bench, tmp_path):
    b = load_benchmark(bench / "mmmb").limit(3)
    run_benchmark(b, "oracle", tmp_path / "run", db=None)
    first = b.items[0]
    first.options = {"A": first.options["B"], "B": first.options["A"], "C": first.options["C"], "D": first.options["D"]}
    first.answer = {"A": "B", "B": "A"}.get(first.answer, first.answer)
    model = Counting("oracle")
    res = run_benchmark(b, model, tmp_path / "run", db=None)
    assert model.seen == [(first.language, first.index)] and res.scores["overall"]["en"] == 1.0


def test_prompt_version_is_part_of_the_key(bench, tmp_path, monkeypatch):
    b = load_benchmark(bench / "mmmb").limit(2)
    run_benchmark(b, "constant:B", tmp_path / "run", db=None)
    monkeypatch.setattr("mmdata.bench.run.PROMPT_VERSION", "mmmb-v2-test")
    res = run_benchmark(b, "constant:B", tmp_path / "run", db=None)
    assert res.computed == len(b.items) and res.scores["prompt_version"] == "mmmb-v2-test"
    t = pq.read_table(tmp_path / "run" / PREDICTIONS).to_pydict()
    assert set(t["prompt_version"]) == {PROMPT_VERSION, "mmmb-v2-test"}


def test_limit_and_batch_size_and_cli(bench, tmp_path):
    db = tmp_path / "lb.duckdb"
    r = cli("bench", "run", bench / "mmbench", "--model", "random:2", "--out", tmp_path / "r", "--limit", "5",
            "--batch-size", "3", "--db", db)  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "r" / "scores.json").read_text())
    assert s["n_items"] == {lang: 20 for lang in s["overall"]}  # 5 groups × 4 rotations
    assert "random:2 on mmmb-synthetic/mmbench" in r.stderr and db.is_file()
    r = cli("bench", "run", bench / "mmbench", "--model", "random:2", "--out", tmp_path / "r", "--limit", "5", "--db", db)
    assert r.returncode == 0 and "0 generated, 120 reused" in r.stderr


def test_benchmark_written_by_us_scores_like_the_original(bench, tmp_path):
    b = load_benchmark(bench / "mmbench")
    for lang in ("en", "ar"):
        write_tsv(tmp_path / "copy" / f"MMBench_{lang}.tsv", [it for it in b.items if it.language == lang])
    s1 = run_benchmark(tmp_path / "copy", "random:3", tmp_path / "a", db=None).scores
    sub = load_benchmark(bench / "mmbench")
    sub.items = [it for it in sub.items if it.language in ("en", "ar")]
    s2 = run_benchmark(sub, "random:3", tmp_path / "b", db=None).scores
    assert s1["overall"] == s2["overall"] and s1["consistency"] == s2["consistency"]


def always_b(question, options, output, language):
    """A judge for the test below: says B whenever the rules cannot tell."""
    return "B"


def test_judge_is_opt_in_and_recorded(bench, tmp_path):
    b = load_benchmark(bench / "mmmb").limit(4)
    plain = run_benchmark(b, "constant:Z", tmp_path / "a", db=None).scores  # Z is never an option
    assert plain["extraction_failures"] == dict.fromkeys(plain["overall"], 4)
    judged = run_benchmark(b, "constant:Z", tmp_path / "b", db=None, judge=always_b, judge_name="tests:always_b").scores
    assert judged["extraction_failures"] == dict.fromkeys(plain["overall"], 0)
    assert judged["extractor_version"] == "mmdata-extract-v1+judge:tests:always_b"
    share_b = sum(it.answer == "B" for it in b.items if it.language == "en") / 4
    assert judged["overall"]["en"] == share_b
    r = cli("bench", "run", bench / "mmmb", "--model", "constant:Z", "--out", tmp_path / "c", "--limit", "2",
            "--db", tmp_path / "lb.duckdb", "--judge", "tests.bench.test_run:always_b")  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "c" / "scores.json").read_text())
    assert s["extractor_version"].endswith("+judge:tests.bench.test_run:always_b")
    r = cli("bench", "run", bench / "mmmb", "--model", "oracle", "--out", tmp_path / "d", "--judge", "nope", "--db", tmp_path / "x.duckdb")
    assert r.returncode == 2 and "MODULE:FUNCTION" in r.stderr
