"""``mmdata bench make|run|audit|export-lmms`` and ``mmdata leaderboard``."""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

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


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Multilingual benchmarks: synthetic MMMB, scoring runs, lmms-eval export.", no_args_is_help=True)
    app.add_typer(bench, name="bench")

    @bench.command("make")
    def make_cmd(
        world: Path = typer.Option(..., "--world", help="World directory written by `mmdata world`."),
        out: Path = typer.Option(..., "--out", help="Benchmark directory to write (replaced atomically)."),
        per_language: int = typer.Option(2000, "--per-language", help="Aligned questions per language."),
    ) -> None:
        """Write the synthetic MMMB (six aligned languages, 15 categories) and its circular MMBench-style set."""
        from rich.console import Console

        from mmdata.bench.make import make_benchmark

        m = make_benchmark(world, out, per_language, progress=True)
        Console(stderr=True).print(
            f"wrote {m['name']} to {out}: {per_language} questions × {len(m['languages'])} languages "
            f"(mmmb/: vanilla, mmbench/: circular, one rotation per option), prompt {m['prompt_version']}"
        )

    @bench.command("run")
    def run_cmd(
        benchmark: Path = typer.Argument(..., help="A benchmark .tsv file or a folder of them (e.g. BENCHDIR/mmmb)."),
        model: str = typer.Option(..., "--model", help="oracle | random:SEED | constant:LETTER | hf:DIR | mmdata:CKPT"),
        out: Path = typer.Option(..., "--out", help="Run directory: predictions.parquet, scores.json."),
        limit: int | None = typer.Option(None, "--limit", help="First N questions per language."),
        batch_size: int = typer.Option(8, "--batch-size", help="Questions per model call."),
        db: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--db", help="Leaderboard DuckDB file to append to."),
        judge: str | None = typer.Option(None, "--judge", help="Optional extraction fallback MODULE:FUNCTION (off by default)."),
        control: str | None = typer.Option(None, "--control", help="Also score an image-use control: 'shuffled' swaps each "
                                           "image for another of the same category (records shuffled_mean and the gap)."),
        allow_partial: bool = typer.Option(False, "--allow-partial", help="Score a checkpoint whose training has not finished."),
    ) -> None:
        """Score a model on a benchmark (resumable) and append the result to the leaderboard."""
        from rich.console import Console

        from mmdata.bench.run import run_benchmark

        fn = _load_judge(judge) if judge else None
        res = run_benchmark(benchmark, model, out, limit=limit, batch_size=batch_size, db=db, judge=fn,
                            judge_name=judge, progress=True, control=control, allow_partial=allow_partial)  # fmt: skip
        s = res.scores
        langs = " ".join(f"{k} {100 * v:.1f}" for k, v in s["overall"].items())
        non_en = "–" if s["mean_non_en"] is None else f"{100 * s['mean_non_en']:.1f}"
        gap = "" if s.get("image_use_gap") is None else (
            f" | shuffled {100 * s['shuffled_mean']:.1f}, image-use gap {100 * s['image_use_gap']:+.1f}")
        Console(stderr=True).print(
            f"{s['model']} on {s['benchmark']}: mean {100 * s['mean']:.1f} (non-en {non_en}){gap} | {langs} | "
            f"{res.computed} generated, {res.reused} reused | {out / 'scores.json'}"
        )

    @bench.command("audit")
    def audit_cmd(
        benchmark: Path = typer.Argument(..., help="A benchmark .tsv file or a folder of them (real MMMB too)."),
        train: Path | None = typer.Option(None, "--train", help="A mixture directory: also score its answer prior."),
        as_json: bool = typer.Option(False, "--json", help="Print the audit as JSON instead of a table."),
    ) -> None:
        """Blind baselines per category (option-text, question and letter priors; a mixture's answer prior) beside chance."""
        from mmdata.bench.audit import audit_benchmark, render_table

        a = audit_benchmark(benchmark, train)
        if as_json:
            from mmdata.io import dumps_json

            typer.echo(dumps_json(a.to_json()).decode(), nl=False)
        else:
            import sys

            from rich.console import Console

            Console(width=None if sys.stdout.isatty() else 140).print(render_table(a))  # pipes get whole rows

    @bench.command("export-lmms")
    def export_cmd(
        benchmark: Path = typer.Argument(..., help="A vanilla benchmark folder, e.g. BENCHDIR/mmmb."),
        out: Path = typer.Option(Path("benchmarks/lmms_eval/mmdata_mmmb/data/test.parquet"), "--out",
                                 help="Parquet file the lmms-eval task YAMLs read."),  # fmt: skip
        limit: int | None = typer.Option(None, "--limit", help="First N questions per language."),
    ) -> None:
        """Write a benchmark as the parquet file read by the lmms-eval tasks in benchmarks/lmms_eval/."""
        from rich.console import Console

        from mmdata.bench.lmms_bridge import export_parquet

        n = export_parquet(benchmark, out, limit=limit)
        Console(stderr=True).print(f"wrote {n} rows to {out}")

    @app.command("leaderboard")
    def leaderboard_cmd(
        db: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--db", help="Leaderboard DuckDB file."),
        fmt: str = typer.Option("md", "--format", help="md | html"),
        out: Path | None = typer.Option(None, "--out", help="Write here instead of standard output."),
        compare: list[str] | None = typer.Option(None, "--compare", help="Two models to compare (give it twice)."),
        benchmark: str | None = typer.Option(None, "--benchmark", help="Only this benchmark."),
    ) -> None:
        """Render the leaderboard: rankings, language × category heatmaps, a two-model comparison."""
        from mmdata.bench.leaderboard import load_board, render_html, render_markdown
        from mmdata.io import atomic_write_bytes

        if fmt not in ("md", "html"):
            raise MmdataError(f"--format must be md or html, got {fmt!r}")
        if compare and len(compare) != 2:
            raise MmdataError("--compare takes exactly two models (give the option twice)")
        board = load_board(db, compare=tuple(compare) if compare else None, benchmark=benchmark)
        text = render_markdown(board) if fmt == "md" else render_html(board)
        if out is None:
            typer.echo(text, nl=False)
        else:
            atomic_write_bytes(out, text.encode())
