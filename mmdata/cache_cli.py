"""``mmdata cache ls | du | gc``: see and trim the content cache (:mod:`mmdata.cache`)."""

from __future__ import annotations

import json
import re
import time

import typer

from mmdata.cache import CacheKind
from mmdata.errors import MmdataError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}
_SPANS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", text.lower())
    if not m:
        raise MmdataError(f"--keep expects a size such as 500M or 20G, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).replace("i", "")])


def parse_age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not m:
        raise MmdataError(f"--older-than expects an age such as 12h or 30d, got {text!r}")
    return float(m.group(1)) * _SPANS[m.group(2)]


def register(app: typer.Typer) -> None:
    c = typer.Typer(help="The content cache: worlds, ingested sources, embeddings, stage 0, tokenizers, ablation steps.",
                    no_args_is_help=True)  # fmt: skip
    app.add_typer(c, name="cache")

    @c.command("ls")
    def ls_cmd(
        kind: CacheKind | None = typer.Option(None, "--kind", help="Only this kind."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
    ) -> None:
        """List cache entries, least recently used first.

        Example: mmdata cache ls --kind stage0
        """
        from mmdata import cache
        from mmdata.config import human_bytes

        rows = [{"kind": i.kind, "key": i.key, "bytes": i.bytes, "used": i.used, "label": i.label, "complete": i.complete,
                 "path": str(i.path)} for i in cache.entries(kind)]  # fmt: skip
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table("kind", "key", "size", "last used", "label", title=f"cache {cache.root()}", title_justify="left")
        for r in rows:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["used"]))
            t.add_row(r["kind"], r["key"][:12] + ("" if r["complete"] else " (unfinished)"), human_bytes(r["bytes"]), used, r["label"])
        Console().print(t)

    @c.command("du")
    def du_cmd() -> None:
        """Disk use of the cache by kind.

        Example: mmdata cache du
        """
        from mmdata import cache
        from mmdata.config import human_bytes

        by: dict[str, list[int]] = {}
        for i in cache.entries():
            acc = by.setdefault(i.kind, [0, 0])
            acc[0] += 1
            acc[1] += i.bytes
        for k, (n, b) in sorted(by.items()):
            typer.echo(f"{k:<20} {n:>6} entries {human_bytes(b):>12}")
        typer.echo(f"{'total':<20} {sum(n for n, _ in by.values()):>6} entries {human_bytes(sum(b for _, b in by.values())):>12}  ({cache.root()})")

    @c.command("gc")
    def gc_cmd(
        kind: CacheKind | None = typer.Option(None, "--kind", help="Only this kind."),
        older_than: str | None = typer.Option(None, "--older-than", help="Remove entries unused for this long (e.g. 30d, 12h)."),
        keep: str | None = typer.Option(None, "--keep", help="Then remove least recently used entries until at most this size remains (e.g. 20G)."),
        everything: bool = typer.Option(False, "--all", help="Remove every entry (of --kind)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be removed."),
    ) -> None:
        """Remove unfinished leftovers, and old or excess entries. Entries in use are kept.

        Example: mmdata cache gc --older-than 30d --keep 20G
        """
        from mmdata import cache
        from mmdata.config import human_bytes

        gone = cache.gc(kind=kind, older_than_s=parse_age(older_than) if older_than else None,
                        keep_bytes=parse_size(keep) if keep else None, everything=everything, dry_run=dry_run)  # fmt: skip
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"{verb} {len(gone)} entries ({human_bytes(sum(g.bytes for g in gone))})")
