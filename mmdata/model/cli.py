"""``mmdata train``: one stage of the reference model stack (see :mod:`mmdata.model.train`); also
registers ``mmdata tokenizer …`` (:mod:`mmdata.model.tokenizers.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    from mmdata.model.tokenizers.cli import register as tokenizer_cli

    tokenizer_cli(app)

    @app.command("train")
    def train_cmd(
        preset: str = typer.Option(..., "--preset", help="Model preset name (see `mmdata list models`) or a YAML path."),
        stage: int = typer.Option(..., "--stage", min=0, max=2, help="0: world backbones; 1: projector alignment; 2: instruction tuning."),
        mixture: Path | None = typer.Option(None, "--mixture", help="Mixture directory (stages 1 and 2)."),
        out: Path = typer.Option(..., "--out", help="Checkpoint directory; re-running on it resumes."),
        init: Path | None = typer.Option(None, "--init", help="Start from this checkpoint (e.g. stage 1 for stage 2)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset key: key.path=value (repeatable), e.g. train.stage2.lr.llm=1e-4."),
        max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Schedule length (default: the preset's)."),
        stop_at: int | None = typer.Option(None, "--stop-at", min=1, help="Stop after this step, resumable."),
        workers: int | None = typer.Option(None, "--workers", min=0, help="Data-loader worker processes (default: preset)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out (an mmdata checkpoint) instead of resuming."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved preset and what would run (resume or fresh); train nothing."),
    ) -> None:
        """Train one stage of the reference model stack. Under torchrun: DDP, or FSDP with `parallel: fsdp`.

        Example: mmdata train --preset tiny-cpu --stage 2 --mixture mix --init ckpt1 --out ckpt2 --set train.stage2.steps=600
        """
        from mmdata import ui
        from mmdata.model.config import load_preset

        p = load_preset(preset, sets=set_)
        if dry_run:
            from mmdata.model.train import plan

            ui.emit_json(plan(p, stage, out, mixture=mixture, init=init, max_steps=max_steps, overwrite=overwrite))
            return
        from mmdata.model.train import train

        with ui.log_beside(out, f"train --preset {preset} --stage {stage}"):
            train(p, stage, out, mixture=mixture, init=init, max_steps=max_steps, stop_at=stop_at, overwrite=overwrite,
                  num_workers=workers, log=ui.log.info)  # fmt: skip
