"""``mmdata world``: write the synthetic world."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("world")
    def world_cmd(
        out: Path = typer.Option(..., "--out", help="Directory to write (replaced atomically)."),
        size: str = typer.Option("tiny", "--size", help="tiny | small | full"),
        seed: int = typer.Option(0, "--seed", help="Random seed; same seed and size give byte-identical files."),
        image_size: int = typer.Option(64, "--image-size", help="Rendered image side in pixels."),
    ) -> None:
        """Write the deterministic synthetic multimodal world in the real datasets' native formats."""
        from rich.console import Console

        from mmdata.world.generate import generate

        t0 = time.perf_counter()
        res = generate(out, size, seed, image_size, progress=True)
        dt = time.perf_counter() - t0
        total = sum(res.counts.values())
        Console(stderr=True).print(f"wrote {size} world (seed {seed}) to {out}: {total:,} records in {dt:.1f}s")
