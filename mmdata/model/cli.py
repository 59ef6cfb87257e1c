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
        preset: str = typer.Option(..., "--preset", help="Preset name (models/NAME.yaml) or a YAML path."),
        stage: int = typer.Option(..., "--stage", help="0: world backbones; 1: projector alignment; 2: instruction tuning."),
        mixture: Path | None = typer.Option(None, "--mixture", help="Mixture directory (stages 1 and 2)."),
        out: Path = typer.Option(..., "--out", help="Checkpoint directory; re-running on it resumes."),
        init: Path | None = typer.Option(None, "--init", help="Start from this checkpoint (e.g. stage 1 for stage 2)."),
        max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Schedule length (default: the preset's)."),
        stop_at: int | None = typer.Option(None, "--stop-at", min=1, help="Stop after this step, resumable."),
        workers: int | None = typer.Option(None, "--workers", min=0, help="Data-loader worker processes (default: preset)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out instead of resuming."),
    ) -> None:
        """Train one stage of the reference model stack. Under torchrun: DDP, or FSDP with `parallel: fsdp`."""
        from mmdata.model.train import train

        train(preset, stage, out, mixture=mixture, init=init, max_steps=max_steps, stop_at=stop_at, overwrite=overwrite, num_workers=workers)
