"""``mmdata demo``: the main job on the embedded default.

1. write the ``small`` synthetic world and read every source back through its adapter (a table);
2. run a short ablation from a shipped tiny suite — by default ``honeybee-datasets-tiny``'s full
   mixture against the same mixture without its open-ended VQA sources, one seed, on the suites'
   frozen configuration with a shorter budget (``DEMO_SET``): build both mixtures, train the tiny
   model's stages 0–2, score both on the synthetic MMMB with the shuffled-image control, and print
   the report: each arm's scores and image-use gap, and the paired difference between the arms (the
   paper's finding) with its bootstrap CI and minimum detectable effect.

Every step is cached under ``MMDATA_CACHE`` (default ``~/.cache/mmdata``), so a second demo is quick.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer


def run_demo(out: Path, size: str = "small", seed: int = 0) -> dict:
    import orjson
    from rich.console import Console
    from rich.table import Table

    from mmdata import sources as src
    from mmdata.world.generate import SOURCE_NAMES, cached_world

    con = Console()
    t0 = time.perf_counter()
    world = cached_world(size, seed, progress=True)  # the content cache's copy (generated on first use)
    counts = orjson.loads((world / "world.json").read_bytes())["counts"]
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
        if n != counts[name]:
            raise SystemExit(f"{name}: adapter read {n} records but the world wrote {counts[name]}")
    con.print(table)
    con.print(f"total {sum(summary.values()):,} records in {time.perf_counter() - t0:.1f}s")
    return summary


DEMO_SUITE = "honeybee-datasets-tiny"
DEMO_ARMS = ["all", "no-vqa-open"]
# The frozen configuration (suites/bases/tiny.yaml) cut to fit 5 minutes on 2 cores from an empty
# cache: a shorter stage 0 and stage 2, 100 questions per language. The suites' own runs use the
# frozen budgets; this is the same pipeline, smaller.
DEMO_STAGE0_CLIP_STEPS = 300
DEMO_SET = ["budget.stage2=300", "bench.per_language=100"]


def demo_overrides(suite: str) -> list[str]:
    """``--set`` overrides for the demo's run of ``suite``: ``DEMO_SET`` and the suite's model
    overrides with stage 0's CLIP steps at ``DEMO_STAGE0_CLIP_STEPS``."""
    import yaml

    from mmdata.ablate.spec import load_spec

    spec, _ = load_spec(suite)
    model_set = [s for s in spec.model_set if not s.startswith("stage0.clip.steps=")]
    model_set.append(f"stage0.clip.steps={DEMO_STAGE0_CLIP_STEPS}")
    return [*DEMO_SET, "model_set=" + yaml.safe_dump(model_set, default_flow_style=True, width=10_000).strip()]


def run_demo_ablation(out: Path, suite: str = DEMO_SUITE, arms: list[str] | None = None, seeds: int = 1) -> dict:
    from rich.console import Console

    from mmdata.ablate.runner import run_ablation

    con = Console()
    t0 = time.perf_counter()
    res = run_ablation(suite, out / "ablation", overrides=demo_overrides(suite), seeds=seeds, only=arms or DEMO_ARMS,
                       leaderboard=out / "leaderboard.duckdb", log=lambda m: con.print(f"[dim]{m}[/dim]"))  # fmt: skip
    con.print((out / "ablation" / "report.md").read_text())
    con.print(f"[bold]ablation[/bold] {suite} ({', '.join(arms or DEMO_ARMS)}; {seeds} seed) in {time.perf_counter() - t0:.0f}s")
    con.print(f"report: {(out / 'ablation' / 'report.html').resolve()}")
    return res


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("demo-out"), "--out", help="Working directory for the demo."),
        size: str = typer.Option("small", "--size"),
        seed: int = typer.Option(0, "--seed"),
        suite: str = typer.Option(DEMO_SUITE, "--suite", help="Shipped ablation suite to run after the world."),
        arms: list[str] = typer.Option([], "--arm", help="Arms of the suite to run (default: two arms)."),
        skip_ablation: bool = typer.Option(False, "--skip-ablation", help="Only write the world and read the sources."),
    ) -> None:
        """Run the main job on the embedded default: world → sources → a short tiny ablation.

        Example: mmdata demo --out demo-out
        """
        run_demo(out, size, seed)
        if not skip_ablation:
            run_demo_ablation(out, suite, arms or None)
