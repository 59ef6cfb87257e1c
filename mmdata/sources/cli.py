"""``mmdata sources list|read|convert-refs``: inspect the adapter registry, read native data, convert refs pickles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer

ReadFormat = Literal["jsonl", "table"]


def register(app: typer.Typer) -> None:
    sources = typer.Typer(help="Source adapters: native dataset files → Records.", no_args_is_help=True)
    app.add_typer(sources, name="sources")

    @sources.command("list")
    def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table.")) -> None:
        """List registered adapters with their task, expected layout and the files and versions each accepts.

        Example: mmdata sources list
        """
        from rich.table import Table

        from mmdata import sources as src
        from mmdata import ui

        if as_json:
            ui.emit_json([{"name": n, "task": src.get(n).task, "language": src.get(n).language, "layout": src.get(n).layout,
                           "accepts": list(src.get(n).accepts)} for n in src.names()])  # fmt: skip
            return
        t = Table("name", "task", "language", "layout, then the files and versions it accepts", title="mmdata sources", show_lines=True)
        for n in src.names():
            a = src.get(n)
            t.add_row(n, a.task, a.language, "\n".join([a.layout, *(f"• {x}" for x in a.accepts)]))
        ui.console(stderr=False).print(t)

    @sources.command("convert-refs")
    def convert_refs_cmd(
        directory: Path = typer.Argument(..., help="A RefCOCO/RefCOCO+/RefCOCOg folder holding refs(<splitBy>).p."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing refs(<splitBy>).json that differs."),
    ) -> None:
        """Write refs(<splitBy>).json next to each refs(<splitBy>).p, loading the pickle with no globals (nothing runs).

        Example: mmdata sources convert-refs data/refcoco
        """
        from mmdata.sources.refcoco import convert_refs

        for c in convert_refs(directory, overwrite=overwrite):
            typer.echo(f"{c.status}: {c.target} (from {c.source.name})")

    @sources.command("read")
    def read_cmd(
        name: str = typer.Argument(..., help="Adapter name (exact), see `mmdata sources list`."),
        path: Path = typer.Argument(..., help="Dataset directory (or file) in its native layout."),
        limit: int = typer.Option(5, "--limit", min=0, help="Records to print (0 = all)."),
        images: Path | None = typer.Option(None, "--images", help="Image root (default PATH/images or PATH)."),
        validate: bool = typer.Option(False, "--validate", help="Decode every image; quarantine unreadable ones."),
        quarantine: Path | None = typer.Option(None, "--quarantine", help="Write set-aside records here (.jsonl)."),
        fmt: ReadFormat = typer.Option("jsonl", "--format", help="jsonl | table"),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --quarantine file."),
    ) -> None:
        """Read a source through its adapter and print Records.

        Example: mmdata sources read vqav2 world/sources/vqav2 --limit 3 --format table
        """
        from rich.console import Console

        from mmdata import sources as src
        from mmdata.io import check_out

        if quarantine is not None:
            check_out(quarantine, overwrite=overwrite, inputs=[path, images], directory=False, option="--quarantine")

        rep = src.ReadReport()
        rows = []
        for batch in src.read(name, path, images=images, limit=limit or None, validate=validate,
                              quarantine=quarantine, report=rep):  # fmt: skip
            rows += batch.to_pylist()
        err = Console(stderr=True)
        if fmt == "table":
            from rich.table import Table

            cols = ["record_id", "task", "language", "question", "answer", "phrase", "caption"]
            t = Table(*cols)
            for r in rows:
                t.add_row(*[str(r.get(c) or "")[:60] for c in cols])
            Console().print(t)
        else:
            for r in rows:
                typer.echo(json.dumps(r, ensure_ascii=False))
        err.print(f"{name}: {rep.records} record(s) read, {len(rep.quarantined)} quarantined; image root {rep.image_root}")
