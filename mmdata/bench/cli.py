"""``mmdata bench make|run|audit|export-lmms`` and ``mmdata leaderboard``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Literal

import typer

from mmdata.bench.control import ControlName
from mmdata.errors import MmdataError


def _load_judge(spec: str):
    """``package.module:function`` → the callable."""
    mod, _, fn = spec.partition(":")
    if not mod or not fn:
        raise MmdataError(f"--judge expects MODULE:FUNCTION, got {spec!r}")
    try:
        judge = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise MmdataError(f"--judge {spec!r} cannot be imported ({e})") from None
    if not callable(judge):
        raise MmdataError(f"--judge {spec!r} is not callable")
    return judge


BoardFormat = Literal["md", "html"]


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Multilingual benchmarks: synthetic MMMB, scoring runs, blind-baseline audits, lmms-eval export.",
                        no_args_is_help=True)  # fmt: skip
    app.add_typer(bench, name="bench")

    @bench.command("make")
    def make_cmd(
        world: Path = typer.Option(..., "--world", help="World directory written by `mmdata world`."),
        out: Path = typer.Option(..., "--out", help="Benchmark directory to write (atomically; an existing one needs --overwrite)."),
        per_language: int = typer.Option(2000, "--per-language", min=1, help="Aligned questions per language."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
    ) -> None:
        """Write the synthetic MMMB (six aligned languages, 15 categories) and its circular MMBench-style set.

        Example: mmdata bench make --world world --out bench --per-language 2000
        """
        from mmdata import ui
        from mmdata.bench.make import make_benchmark
        from mmdata.io import check_out

        check_out(out, overwrite=overwrite, inputs=[world])
        m = make_benchmark(world, out, per_language, progress=not ui.quiet(), overwrite=overwrite)
        ui.log.info(f"wrote {m['name']} to {out}: {per_language} questions × {len(m['languages'])} languages "
                    f"(mmmb/: vanilla, mmbench/: circular, one rotation per option), prompt {m['prompt_version']}")  # fmt: skip

    @bench.command("run")
    def run_cmd(
        benchmark: Path = typer.Argument(..., help="A benchmark .tsv file or a folder of them (e.g. BENCHDIR/mmmb)."),
        model: str = typer.Option(..., "--model", help="oracle | random:SEED | constant:LETTER | hf:DIR | mmdata:CKPT | mmdata-choice:CKPT"),
        out: Path = typer.Option(..., "--out", help="Run directory: predictions.parquet, scores.json (re-running resumes)."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="First N questions per language (a partial run, never ranked)."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Questions per model call."),
        db: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--db", help="Leaderboard DuckDB file to append to."),
        judge: str | None = typer.Option(None, "--judge", help="Optional extraction fallback MODULE:FUNCTION (off by default)."),
        control: ControlName | None = typer.Option(None, "--control", help="Also score an image-use control: 'shuffled' swaps each "
                                               "image for another of the same category (records shuffled_mean and the gap)."),
        allow_partial: bool = typer.Option(False, "--allow-partial", help="Score a checkpoint whose training has not finished."),
        as_json: bool = typer.Option(False, "--json", help="Print scores.json's summary as JSON on standard output."),
    ) -> None:
        """Score a model on a benchmark (resumable) and append the result to the leaderboard.

        Example: mmdata bench run bench/mmmb --model mmdata-choice:ckpt2 --out runs/ckpt2 --control shuffled
        """
        from mmdata import ui
        from mmdata.bench.run import run_benchmark

        fn = _load_judge(judge) if judge else None
        with ui.log_beside(out, f"bench run --model {model}"):
            res = run_benchmark(benchmark, model, out, limit=limit, batch_size=batch_size, db=db, judge=fn,
                                judge_name=judge, progress=not ui.quiet(), control=control, allow_partial=allow_partial)  # fmt: skip
        s = res.scores
        if as_json:
            keys = ("model", "benchmark", "model_fingerprint", "mean", "mean_non_en", "overall", "consistency", "shuffled_mean",
                    "image_use_gap", "chance_mean", "limit", "control", "prompt_version", "extractor_version")  # fmt: skip
            ui.emit_json({k: s.get(k) for k in keys} | {"computed": res.computed, "reused": res.reused, "scores": str(out / "scores.json")})
            return
        langs = " ".join(f"{k} {100 * v:.1f}" for k, v in s["overall"].items())
        non_en = "–" if s["mean_non_en"] is None else f"{100 * s['mean_non_en']:.1f}"
        gap = "" if s.get("image_use_gap") is None else (
            f" | shuffled {100 * s['shuffled_mean']:.1f}, image-use gap {100 * s['image_use_gap']:+.1f}")
        ui.log.info(f"{s['model']} on {s['benchmark']}: mean {100 * s['mean']:.1f} (non-en {non_en}){gap} | {langs} | "
                    f"{res.computed} generated, {res.reused} reused | {out / 'scores.json'}")  # fmt: skip

    @bench.command("audit")
    def audit_cmd(
        benchmark: Path = typer.Argument(..., help="A benchmark .tsv file or a folder of them (real MMMB too)."),
        train: Path | None = typer.Option(None, "--train", help="A mixture directory: also score its answer prior."),
        as_json: bool = typer.Option(False, "--json", help="Print the audit as JSON instead of a table."),
    ) -> None:
        """Blind baselines per category (option-text, question and letter priors; a mixture's answer prior) beside chance.

        Example: mmdata bench audit bench/mmmb --train mix
        """
        from mmdata import ui
        from mmdata.bench.audit import audit_benchmark, render_table

        a = audit_benchmark(benchmark, train)
        if as_json:
            ui.emit_json(a.to_json())
        else:
            ui.console(stderr=False).print(render_table(a))

    @bench.command("export-lmms")
    def export_cmd(
        benchmark: Path = typer.Argument(..., help="A vanilla benchmark folder, e.g. BENCHDIR/mmmb."),
        out: Path = typer.Option(Path("benchmarks/lmms_eval/mmdata_mmmb/data/test.parquet"), "--out",
                                 help="Parquet file the lmms-eval task YAMLs read."),  # fmt: skip
        limit: int | None = typer.Option(None, "--limit", min=1, help="First N questions per language."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    ) -> None:
        """Write a benchmark as the parquet file read by the lmms-eval tasks in benchmarks/lmms_eval/.

        Example: mmdata bench export-lmms bench/mmmb --overwrite
        """
        from mmdata import ui
        from mmdata.bench.lmms_bridge import export_parquet
        from mmdata.io import check_out

        check_out(out, overwrite=overwrite, inputs=[benchmark], directory=False)
        n = export_parquet(benchmark, out, limit=limit)
        ui.log.info(f"wrote {n} rows to {out}")

    @app.command("leaderboard")
    def leaderboard_cmd(
        db: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--db", help="Leaderboard DuckDB file."),
        fmt: BoardFormat = typer.Option("md", "--format", help="md | html"),
        out: Path | None = typer.Option(None, "--out", help="Write here instead of standard output."),
        compare: list[str] | None = typer.Option(None, "--compare", help="Two models to compare (give it twice)."),
        benchmark: str | None = typer.Option(None, "--benchmark", help="Only this benchmark."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
        as_json: bool = typer.Option(False, "--json", help="Print the ranked runs as JSON (for scripts)."),
    ) -> None:
        """Render the leaderboard: rankings, language × category heatmaps, a cross-model category view, comparisons.

        Example: mmdata leaderboard --format html --out leaderboard.html
        """
        from mmdata import ui
        from mmdata.bench.leaderboard import board_json, load_board, render_html, render_markdown
        from mmdata.io import atomic_write_bytes, check_out

        if compare and len(compare) != 2:
            raise MmdataError("--compare takes exactly two models (give the option twice)")
        if out is not None:
            check_out(out, overwrite=overwrite, inputs=[db], directory=False)
        board = load_board(db, compare=tuple(compare) if compare else None, benchmark=benchmark)
        if as_json:
            ui.emit_json(board_json(board))
            return
        text = render_markdown(board) if fmt == "md" else render_html(board)
        if out is None:
            typer.echo(text, nl=False)
        else:
            atomic_write_bytes(out, text.encode())
