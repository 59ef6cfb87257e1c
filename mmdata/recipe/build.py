"""``mmdata build``: a recipe → a mixture directory (see docs/mixture.md).

The build is the list of stages in :mod:`mmdata.recipe.stages`, run in order over one
:class:`~mmdata.recipe.stages.BuildState`, each timed. Everything is written inside a temporary
directory that becomes ``--out`` only when the last stage has finished; an existing ``--out`` is
replaced only with ``overwrite`` and only if mmdata wrote it (:func:`mmdata.io.check_out`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from mmdata.io import atomic_dir, check_out
from mmdata.recipe.config import Recipe, load_recipe
from mmdata.recipe.engine import get_engine
from mmdata.recipe.stages import STAGES, BuildState
from mmdata.recipe.templates import TemplateBank


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def recipe_inputs(recipe: Recipe, base: Path, templates_dir: str | Path | None = None) -> list[Path]:
    """What a build reads (an output may never replace these or a folder holding them)."""
    from mmdata.recipe.ingest import image_root

    paths = []
    for s in recipe.active_sources:
        p = recipe.resolved_path(s.path, base)
        paths += [p, image_root(s, p)]
    paths += [recipe.resolved_path(p, base) for p in recipe.decontaminate]
    return paths + ([Path(templates_dir)] if templates_dir else [])


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, another OS)."""
    import ctypes

    try:  # the symbols this process already has (glibc's, on Linux); ctypes.util.find_library would run ldconfig
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def return_freed_memory() -> None:
    """Hand the memory a stage freed back to the system before the next stage allocates its own.

    Arrow (on the system allocator) and NumPy take their buffers from glibc's arenas, and glibc keeps
    what they free there. After group_dedup and balance on the 2× world that was about 200 MiB no
    live object used, and render's peak started from it: a cold build of the 2× world peaked at
    1,236 MiB in render; with this call, 1,062–1,221 MiB in four runs (1×: 955 MiB, in ingest;
    reports/perf.md). It costs about 0.02 s per warm build of the full world (the pages are faulted
    in again). A no-op where ``malloc_trim`` does not exist."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def build(
    recipe_spec: str | Path | Recipe,
    out: str | Path,
    *,
    base: Path | None = None,
    overrides: list[str] | None = None,
    engine: str = "local",
    progress: bool = False,
    templates_dir: str | Path | None = None,
    overwrite: bool = False,
    ray_address: str | None = None,
    jobs: int | None = None,
) -> BuildResult:
    """``jobs``: sources read at the same time on a cache miss, and parts merged or rendered at the
    same time on the local engine (default: 2, or 1 on a one-CPU machine)."""
    from rich.progress import Progress

    from mmdata import ui

    t_all = time.perf_counter()
    if isinstance(recipe_spec, Recipe):  # a validated recipe (the ablation runner); relative paths resolve against base
        if overrides:
            raise ValueError("overrides apply to recipe files; change a Recipe with recipe.with_(...)")
        recipe, base = recipe_spec, Path(base or ".").resolve()
    else:
        recipe, base = load_recipe(recipe_spec, overrides)
    TemplateBank.cached(templates_dir)  # load and validate every template before any work
    inputs = recipe_inputs(recipe, base, templates_dir)
    check_out(out, overwrite=overwrite, inputs=inputs)  # before any work: refuse early
    tdir = str(Path(templates_dir).resolve()) if templates_dir else None
    jobs = jobs or min(2, os.cpu_count() or 1)
    eng = get_engine(engine, address=ray_address, threads=jobs)
    try:
        with atomic_dir(out, overwrite=overwrite, inputs=inputs, kind="mixture") as tmp, \
                Progress(disable=not progress, transient=True, console=ui.console()) as bar:  # fmt: skip
            state = BuildState(recipe, base, tmp, eng, tdir, bar, jobs=jobs)
            try:
                for stage in STAGES:
                    t = time.perf_counter()
                    stage(state)
                    state.timings[stage.__name__] = time.perf_counter() - t
                    return_freed_memory()
            finally:
                state.settle(quiet=True)  # (write settled already) nothing still writing into tmp when it is removed
    finally:
        eng.close()
    state.timings["total"] = time.perf_counter() - t_all
    from mmdata.recipe.manifest import source_rows

    info = {"records": sum(i.n for i in state.ingested), "items": sum(state.n_items.values()), "sampled": state.stats.rows, "embedding": state.emb_stats,
            "ingest_cached": sum(i.from_cache for i in state.ingested), "engine": eng.name, "sources": source_rows(state),
            "parts": state.parts}  # fmt: skip
    import orjson

    manifest = orjson.loads((Path(out) / "manifest.json").read_bytes())
    return BuildResult(Path(out), manifest, state.timings, info)
