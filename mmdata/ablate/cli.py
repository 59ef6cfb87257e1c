"""``mmdata ablate``: run an ablation spec (or a shipped suite) end to end."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("ablate")
    def ablate_cmd(
        spec: str = typer.Argument(..., help="Ablation spec YAML, or a shipped suite name (see `mmdata ablate --list`)."),
        out: Path = typer.Option(..., "--out", help="Directory for results.duckdb, report.md/html, steps.jsonl."),
        seeds: int | None = typer.Option(None, "--seeds", help="Use the first K seeds of the spec (or 0..K-1 if it lists fewer)."),
        only: list[str] = typer.Option([], "--only", help="Run only these arms (repeatable)."),
        leaderboard: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--leaderboard", help="Also append every evaluation here."),
        report_only: bool = typer.Option(False, "--report-only", help="Only re-render DIR's reports from its stored results (e.g. after editing the spec's notes)."),
    ) -> None:
        """Build, train and score every arm × seed of an ablation; cached and resumable."""
        from rich.console import Console

        from mmdata.ablate.runner import rerender, run_ablation

        con = Console(stderr=True)
        if report_only:
            rerender(spec, out)
            Console().print((out / "report.md").read_text())
            con.print(f"report: {out / 'report.html'}  (re-rendered from {out / 'rows.json'})")
            return
        res = run_ablation(spec, out, seeds=seeds, only=only or None, leaderboard=leaderboard, log=lambda m: con.print(m))
        Console().print((out / "report.md").read_text())
        con.print(f"report: {out / 'report.html'}  ({res['meta']['ran']} steps run, {res['meta']['cached']} reused)")
