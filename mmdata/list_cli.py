"""``mmdata list recipes|models|suites|benchmarks|sources``: what ships with mmdata."""

from __future__ import annotations

from typing import Literal

import typer

What = Literal["recipes", "models", "suites", "benchmarks", "sources"]


def rows(what: str) -> list[dict]:
    from mmdata.config import preset_names, preset_path, read_mapping

    if what == "sources":
        from mmdata import sources as src

        return [{"name": n, "task": src.get(n).task, "language": src.get(n).language, "layout": src.get(n).layout} for n in src.names()]
    out = []
    for name in preset_names(what):
        data = read_mapping(preset_path(what, name)).data
        desc = data.get("description") or data.get("paper") or data.get("source") or ""
        out.append({"name": name, "description": " ".join(str(desc).split())[:160], "path": str(preset_path(what, name))})
    return out


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        what: What = typer.Argument(..., help="recipes | models | suites | benchmarks | sources"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
    ) -> None:
        """List the shipped recipes, model presets, ablation suites, benchmark specs or source adapters.

        Example: mmdata list suites
        """
        from mmdata import ui

        r = rows(what)
        if as_json:
            ui.emit_json(r)
            return
        from rich.table import Table

        cols = [c for c in r[0] if c != "path"] if r else ["name"]
        t = Table(*cols, title=f"mmdata {what}", title_justify="left")
        for row in r:
            t.add_row(*[str(row[c]) for c in cols])
        ui.console(stderr=False).print(t)
