"""``mmdata build``, ``mmdata templates check``, ``mmdata dedup inspect``, ``mmdata query``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build_cmd(
        recipe: str = typer.Argument(..., help="Recipe YAML file, or a preset name (e.g. honeybee)."),
        out: Path = typer.Option(..., "--out", help="Mixture directory (written atomically)."),
        set_: list[str] = typer.Option([], "--set", help="Override a recipe key: key.path=value (repeatable)."),
        engine: str = typer.Option("local", "--engine", help="local | ray"),
        templates: Path | None = typer.Option(None, "--templates", help="Template directory (default: the bundled one)."),
    ) -> None:
        """Build an instruction-tuning mixture from a recipe."""
        from rich.console import Console

        from mmdata.recipe.build import build

        r = build(recipe, out, overrides=set_, engine=engine, progress=True, templates_dir=templates)
        m = r.manifest
        con = Console(stderr=True)
        con.print(f"built {m['n_items']:,} items from {r.stats['records']:,} records into {out} "
                  f"({r.timings['total']:.1f}s, engine {engine}); content_hash {m['content_hash'][:16]}…")  # fmt: skip

    tpl = typer.Typer(help="Instruction templates.", no_args_is_help=True)
    app.add_typer(tpl, name="templates")

    @tpl.command("check")
    def check_cmd(
        directory: Path | None = typer.Option(None, "--dir", help="Template directory (default: the bundled one)."),
    ) -> None:
        """Render every template against sample Records of its task; fail on any error."""
        from rich.console import Console

        from mmdata.recipe.check import check_templates

        n, counts = check_templates(directory)
        Console().print(f"{n} templates OK — " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

    dd = typer.Typer(help="Dedup audit.", no_args_is_help=True)
    app.add_typer(dd, name="dedup")

    @dd.command("inspect")
    def inspect_cmd(
        mixture: Path = typer.Argument(..., help="Mixture directory."),
        near: float = typer.Option(..., "--near", help="Show pairs with similarity close to this threshold."),
        width: float = typer.Option(0.03, "--width"),
        limit: int = typer.Option(20, "--limit"),
    ) -> None:
        """Show within-image pairs near a similarity threshold (and whether they were dropped)."""
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
        sql: str = typer.Argument(..., help="SQL over the table `items` (also `dedup`, `sampling`)."),
        limit: int = typer.Option(50, "--limit", help="Rows to print."),
    ) -> None:
        """Run DuckDB SQL over a mixture."""
        from rich.console import Console
        from rich.table import Table

        from mmdata.recipe.query import query

        res = query(mixture, sql)
        t = Table(*res.column_names)
        for row in res.slice(0, limit).to_pylist():
            t.add_row(*[str(v)[:80] for v in row.values()])
        Console().print(t)
        if res.num_rows > limit:
            Console(stderr=True).print(f"({res.num_rows - limit} more rows)")


def _texts(mixture: Path, ids: set[str]) -> dict[str, str]:
    """Question/answer or phrase text of the given record ids, from the mixture's sources (best effort)."""
    if not ids:
        return {}
    import orjson

    from mmdata.io import cache_dir

    man = orjson.loads((mixture / "manifest.json").read_bytes())
    out: dict[str, str] = {}
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for src in man["sources"].values():
        f = cache_dir("ingest") / f"{src['fingerprint']}.parquet"
        if not f.exists():
            continue
        t = pq.read_table(f, columns=["record_id", "question", "answer", "phrase", "caption"])
        t = t.filter(pc.is_in(t.column("record_id"), value_set=__import__("pyarrow").array(sorted(ids))))
        for r in t.to_pylist():
            out[r["record_id"]] = " / ".join(str(r[k]) for k in ("question", "answer", "phrase", "caption") if r[k])
    return out
