"""The ``mmdata`` command. Each stage registers its own commands from ``mmdata/<stage>/cli.py``;
heavy imports (torch, transformers) happen inside commands, so ``mmdata --help`` stays fast.

Errors: any :class:`~mmdata.errors.MmdataError` is printed as one line on stderr and the process exits
with status 2. Set ``MMDATA_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from mmdata.errors import MmdataError

app = typer.Typer(
    name="mmdata",
    help="Build multimodal instruction mixtures, score multilingual benchmarks, run dataset ablations — offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from mmdata.ablate.cli import register as ablate_cli
    from mmdata.bench.cli import register as bench_cli
    from mmdata.demo import register as demo_cli
    from mmdata.model.cli import register as model_cli
    from mmdata.recipe.cli import register as recipe_cli
    from mmdata.sources.cli import register as sources_cli
    from mmdata.world.cli import register as world_cli

    for reg in (demo_cli, world_cli, sources_cli, recipe_cli, bench_cli, model_cli, ablate_cli):
        reg(app)


_register()


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        app(args=argv, prog_name="mmdata")
    except MmdataError as e:
        if os.environ.get("MMDATA_DEBUG"):
            raise
        print(f"mmdata: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("mmdata: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
