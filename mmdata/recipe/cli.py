"""``mmdata build``, ``mmdata templates check``, ``mmdata dedup inspect``, ``mmdata query``."""

from __future__ import annotations

from pathlib import Path

import typer

from mmdata.recipe.engine import EngineName


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build_cmd(
        recipe: str = typer.Argument(..., help="Recipe YAML file, or a shipped recipe name (see `mmdata list recipes`)."),
        out: Path = typer.Option(..., "--out", help="Mixture directory (written atomically; an existing one needs --overwrite)."),
        set_: list[str] = typer.Option([], "--set", help="Override a recipe key: key.path=value (repeatable)."),
        engine: EngineName = typer.Option("local", "--engine", help="local | ray"),
        ray_address: str | None = typer.Option(None, "--ray-address", help="Join this Ray cluster (default: $RAY_ADDRESS, else a local one)."),
        templates: Path | None = typer.Option(None, "--templates", help="Template directory (default: the bundled one)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it is an mmdata output."),
        jobs: int | None = typer.Option(None, "--jobs", min=1, help="Sources read, and parts merged or rendered, at the same time (default 2; 1 on one CPU)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved recipe, the sources and their cache hits; write nothing."),
        print_config: bool = typer.Option(False, "--print-config", help="Print the resolved recipe as YAML and exit."),
        as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON on standard output."),
    ) -> None:
        """Build an instruction-tuning mixture from a recipe.

        Example: mmdata build honeybee --set root=world --set balance.size=20000 --out mix
        """
        from mmdata import ui
        from mmdata.recipe.build import build

        if print_config or dry_run:
            plan = build_plan(recipe, set_, out, templates)
            if as_json:
                ui.emit_json(plan if dry_run else plan["recipe"])
            else:
                import yaml

                typer.echo(yaml.safe_dump(plan["recipe"] if print_config and not dry_run else plan, sort_keys=False, allow_unicode=True))
            return
        from mmdata.io import check_out
        from mmdata.recipe.build import recipe_inputs
        from mmdata.recipe.config import load_recipe

        r0, base = load_recipe(recipe, set_)
        check_out(out, overwrite=overwrite, inputs=recipe_inputs(r0, base, templates))  # refuse before any work or log
        with ui.log_beside(out, f"build {recipe}"):
            r = build(recipe, out, overrides=set_, engine=engine, progress=not ui.quiet(), templates_dir=templates, overwrite=overwrite,
                      ray_address=ray_address, jobs=jobs)  # fmt: skip
            m = r.manifest
            summary = {"out": str(out), "items": m["n_items"], "records": r.stats["records"], "content_hash": m["content_hash"],
                       "engine": engine, "seconds": round(r.timings["total"], 3),
                       "timings": {k: round(v, 3) for k, v in r.timings.items()}, "sources": r.stats["sources"]}  # fmt: skip
            ui.log.debug(f"build summary: {summary}")
            if as_json:
                ui.emit_json(summary)
            elif not ui.quiet():
                ui.console().print(sources_table(r.stats["sources"]))
            ui.log.info(f"built {m['n_items']:,} items from {r.stats['records']:,} records into {out} "
                        f"({r.timings['total']:.1f}s, engine {engine}); content_hash {m['content_hash'][:16]}…")  # fmt: skip

    tpl = typer.Typer(help="Instruction templates.", no_args_is_help=True)
    app.add_typer(tpl, name="templates")

    @tpl.command("check")
    def check_cmd(
        directory: Path | None = typer.Option(None, "--dir", help="Template directory (default: the bundled one)."),
    ) -> None:
        """Render every template against sample Records of its task; fail on any error.

        Example: mmdata templates check --dir my-templates
        """
        from rich.console import Console

        from mmdata.recipe.check import check_templates

        n, counts = check_templates(directory)
        Console().print(f"{n} templates OK — " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

    dd = typer.Typer(help="Dedup audit.", no_args_is_help=True)
    app.add_typer(dd, name="dedup")

    @dd.command("inspect")
    def inspect_cmd(
        mixture: Path = typer.Argument(..., help="Mixture directory."),
        near: float = typer.Option(..., "--near", min=-1.0, max=1.0, help="Show pairs with similarity close to this threshold."),
        width: float = typer.Option(0.03, "--width", min=0.0, max=2.0, help="Half-width of the similarity window."),
        limit: int = typer.Option(20, "--limit", min=1, help="Pairs to show."),
    ) -> None:
        """Show within-image pairs near a similarity threshold (and whether they were dropped).

        Example: mmdata dedup inspect mix --near 0.82
        """
        from rich.console import Console
        from rich.table import Table

        from mmdata.recipe.inspect import near_pairs

        df = near_pairs(mixture, near, width, limit)
        t = Table("similarity", "dropped", "dataset", "a", "b", title=f"pairs near {near}")
        ids = set(df["a_id"].to_list() + df["b_id"].to_list()) if df.height else set()
        text = _texts(mixture, ids)
        for r in df.iter_rows(named=True):
            t.add_row(f"{r['similarity']:.3f}", "yes" if r["dropped"] else "no", r["dataset"],
                      text.get(r["a_id"], r["a_id"]), text.get(r["b_id"], r["b_id"]))  # fmt: skip
        Console().print(t)

    @app.command("query")
    def query_cmd(
        mixture: Path = typer.Argument(..., help="Mixture directory."),
        sql: str = typer.Argument(..., help="A read-only SELECT over `items` (also `dedup`, `dedup_pairs`, `sampling`, `quarantine`)."),
        limit: int = typer.Option(50, "--limit", min=1, help="Rows to print."),
        as_json: bool = typer.Option(False, "--json", help="Print the rows (up to --limit) as JSON."),
    ) -> None:
        """Run read-only DuckDB SQL over a mixture (confined to its files).

        Example: mmdata query mix "select dataset, count(*) n from items group by 1 order by n desc"
        """
        from rich.table import Table

        from mmdata import ui
        from mmdata.recipe.query import query

        res = query(mixture, sql)
        rows = res.slice(0, limit).to_pylist()
        if as_json:
            ui.emit_json({"columns": res.column_names, "rows": rows, "total_rows": res.num_rows})
            return
        t = Table(*res.column_names)
        for row in rows:
            t.add_row(*[str(v)[:80] for v in row.values()])
        ui.console(stderr=False).print(t)
        if res.num_rows > limit:
            ui.log.info(f"({res.num_rows - limit} more rows)")


def _texts(mixture: Path, ids: set[str]) -> dict[str, str]:
    """Question/answer or phrase text of the given record ids, from the mixture's sources (best effort)."""
    if not ids:
        return {}
    import orjson

    from mmdata.cache import root as cache_root

    man = orjson.loads((mixture / "manifest.json").read_bytes())
    out: dict[str, str] = {}
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for src in man["sources"].values():
        f = cache_root() / "ingest" / src.get("ingest_key", "") / "records.parquet"
        if not src.get("ingest_key") or not f.exists():
            continue
        t = pq.read_table(f, columns=["record_id", "question", "answer", "phrase", "caption"])
        t = t.filter(pc.is_in(t.column("record_id"), value_set=__import__("pyarrow").array(sorted(ids))))
        for r in t.to_pylist():
            out[r["record_id"]] = " / ".join(str(r[k]) for k in ("question", "answer", "phrase", "caption") if r[k])
    return out


def sources_table(rows: list[dict]):
    """The build's per-source account: nothing a source lost goes unshown."""
    from rich.table import Table

    t = Table("source", "read", "set aside", "filtered", "kept", "dedup", "items", "sampled", "epochs", "share (target)",
              title="sources", title_justify="left")  # fmt: skip
    for r in rows:
        why = ", ".join(f"{k} {v:,}" for k, v in r["set_aside_by_reason"].items())
        aside = f"{r['set_aside']:,}" + (f" ({why})" if why else "")
        t.add_row(r["dataset"], f"{r['records_read']:,}", aside, f"{r['filtered'] + r['decontaminated']:,}", f"{r['records_in']:,}",
                  f"{r['dedup_dropped']:,}", f"{r['items']:,}", f"{r['sampled']:,}", f"{r['epochs']:.2f}",
                  f"{r['share']:.3f} ({r['target_share']:.3f})")  # fmt: skip
    return t


def build_plan(recipe: str, sets: list[str], out: Path, templates: Path | None) -> dict:
    """What ``build`` would do, without doing it: the resolved recipe, each source with its ingest
    cache hit or miss, the output check, the template directory."""
    from mmdata import cache
    from mmdata.io import owner_kind
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.ingest import source_inputs
    from mmdata.recipe.templates import TemplateBank, bank_digest

    r, base = load_recipe(recipe, sets)
    TemplateBank.cached(templates)
    sources = []
    for s in r.active_sources:
        path = r.resolved_path(s.path, base)
        hit = cache.lookup("ingest", source_inputs(s, path)) is not None
        sources.append({"dataset": s.dataset, "path": str(path), "ingest": "cached" if hit else "will read"})
    state = "absent" if not out.exists() else ("mmdata " + (owner_kind(out) or "?") if owner_kind(out) else "exists, not mmdata's")
    tdir, digest = bank_digest(templates)
    return {"recipe": r.model_dump(mode="json"), "sources": sources, "excluded": list(r.exclude), "out": {"path": str(out), "state": state},
            "templates": {"directory": tdir, "sha256": digest}, "writes": "nothing (dry run)"}  # fmt: skip
