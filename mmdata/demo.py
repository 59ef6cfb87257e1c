"""``mmdata demo``: the main job on the embedded default.

Today: write the ``small`` world, read every source through its adapter, print a summary table.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer


def run_demo(out: Path, size: str = "small", seed: int = 0) -> dict:
    from rich.console import Console
    from rich.table import Table

    from mmdata import sources as src
    from mmdata.world.generate import SOURCE_NAMES, generate

    con = Console()
    t0 = time.perf_counter()
    world = out / "world"
    res = generate(world, size, seed, progress=True)
    con.print(f"[bold]world[/bold] {size} (seed {seed}) → {world}  ({time.perf_counter() - t0:.1f}s)")
    table = Table("source", "task", "language", "records", "images", "quarantined", "read s", title="sources read through their adapters")
    summary = {}
    for name in SOURCE_NAMES:
        t = time.perf_counter()
        rep = src.ReadReport()
        n, imgs = 0, set()
        for b in src.read(name, world / "sources" / name, report=rep):
            n += b.num_rows
            imgs.update(x["sha256"] for x in b.column("image").to_pylist() if x)
        a = src.get(name)
        table.add_row(name, a.task, a.language, f"{n:,}", f"{len(imgs):,}", str(len(rep.quarantined)), f"{time.perf_counter() - t:.2f}")
        summary[name] = n
        if n != res.counts[name]:
            raise SystemExit(f"{name}: adapter read {n} records but the world wrote {res.counts[name]}")
    con.print(table)
    con.print(f"total {sum(summary.values()):,} records in {time.perf_counter() - t0:.1f}s")
    return summary


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("demo-out"), "--out", help="Working directory for the demo."),
        size: str = typer.Option("small", "--size"),
        seed: int = typer.Option(0, "--seed"),
    ) -> None:
        """Run the main job on the embedded default (the synthetic world)."""
        run_demo(out, size, seed)
