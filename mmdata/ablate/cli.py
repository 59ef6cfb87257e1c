"""``mmdata ablate``: run an ablation spec (or a shipped suite) end to end."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("ablate")
    def ablate_cmd(
        spec: str = typer.Argument(..., help="Ablation spec YAML, or a shipped suite name (see `mmdata list suites`)."),
        out: Path = typer.Option(..., "--out", help="Directory for results.duckdb, report.md/html, steps.jsonl (re-running resumes)."),
        set_: list[str] = typer.Option([], "--set", help="Override a spec key: key.path=value (repeatable), e.g. budget.stage2=600."),
        seeds: int | None = typer.Option(None, "--seeds", min=1, help="Use the first K seeds of the spec (or 0..K-1 if it lists fewer)."),
        only: list[str] = typer.Option([], "--only", help="Run only these arms (repeatable)."),
        leaderboard: Path = typer.Option(Path("reports/leaderboard.duckdb"), "--leaderboard", help="Also append every evaluation here."),
        jobs: int = typer.Option(1, "--jobs", min=1, help="Run up to N arm × seed pipelines at once, each in its own process with cpu_count // N torch threads."),
        report_only: bool = typer.Option(False, "--report-only", help="Only re-render DIR's reports from its stored results (e.g. after editing the spec's notes)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved spec and every step with its cache state; run nothing."),
    ) -> None:
        """Build, train and score every arm × seed of an ablation; cached and resumable.

        Example: mmdata ablate honeybee-multiturn-tiny --out runs/multiturn --seeds 1 --only single-turn --only mt-exact

        --jobs 2 on a 2-core machine runs two pipelines side by side, one torch thread each; rows.json and the cache entries are those of --jobs 1.
        """
        from mmdata import ui
        from mmdata.ablate.runner import plan, rerender, run_ablation

        if dry_run:
            ui.emit_json(plan(spec, out, overrides=set_, seeds=seeds, only=only or None))
            return
        if report_only:
            rerender(spec, out, overrides=set_)
            typer.echo((out / "report.md").read_text())
            ui.log.info(f"report: {out / 'report.html'}  (re-rendered from {out / 'rows.json'})")
            return
        with ui.log_beside(out, f"ablate {spec}"):
            res = run_ablation(spec, out, overrides=set_, seeds=seeds, only=only or None, leaderboard=leaderboard, log=ui.log.info, jobs=jobs)
            typer.echo((out / "report.md").read_text())
            ui.log.info(f"report: {out / 'report.html'}  ({res['meta']['ran']} steps run, {res['meta']['cached']} reused)")
