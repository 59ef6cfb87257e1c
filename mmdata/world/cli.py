"""``mmdata world``: write the synthetic world."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from mmdata.world.sizes import SizeName


def register(app: typer.Typer) -> None:
    @app.command("world")
    def world_cmd(
        out: Path = typer.Option(..., "--out", help="Directory to write (atomically; an existing one needs --overwrite)."),
        size: SizeName = typer.Option("tiny", "--size", help="tiny (tests) | small (demo) | full (≥1M records, benchmarks)"),
        seed: int = typer.Option(0, "--seed", min=0, help="Random seed; same seed and size give byte-identical files."),
        image_size: int = typer.Option(64, "--image-size", min=16, max=1024, help="Rendered image side in pixels."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
        scale: int = typer.Option(1, "--scale", min=1, max=64, help="Multiply every pool and source count of --size (e.g. 2: twice the full world)."),
    ) -> None:
        """Write the deterministic synthetic multimodal world in the real datasets' native formats.

        Example: mmdata world --out world --size small --seed 0
        """
        from mmdata import ui
        from mmdata.io import check_out
        from mmdata.world.generate import generate

        check_out(out, overwrite=overwrite)
        t0 = time.perf_counter()
        with ui.log_beside(out, f"world --size {size} --seed {seed}" + (f" --scale {scale}" if scale != 1 else "")):
            res = generate(out, size, seed, image_size, progress=not ui.quiet(), overwrite=overwrite, scale=scale)
            total = sum(res.counts.values())
            ui.log.info(f"wrote {size} world (seed {seed}) to {out}: {total:,} records in {time.perf_counter() - t0:.1f}s")
