"""The ``mmdata`` command. Each stage registers its own commands from ``mmdata/<stage>/cli.py``;
heavy imports (torch, transformers) happen inside commands, so ``mmdata --help`` stays fast.

Conventions: ``mmdata --version``; ``-v`` / ``-q`` before the command; ``--json`` summaries on the
commands scripts read; ``--dry-run`` on ``build``, ``train`` and ``ablate``; shell completion
(``mmdata --install-completion``); fixed choices and ranges checked by the parser.

Errors: a :class:`~mmdata.errors.MmdataError` or a usage mistake is printed as one line on stderr
and the process exits with status 2. Set ``MMDATA_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from mmdata import __version__
from mmdata.errors import MmdataError

app = typer.Typer(
    name="mmdata",
    help="Build multimodal instruction mixtures, score multilingual benchmarks, run dataset ablations — offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mmdata {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show debug messages."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only warnings and errors; no progress bars."),
) -> None:
    """Build multimodal instruction mixtures, score multilingual benchmarks, run dataset ablations — offline.

    Example: mmdata world --out world && mmdata build honeybee --set root=world --out mix
    """
    from mmdata import ui

    if verbose and quiet:
        raise MmdataError("-v and -q contradict each other; give one")
    ui.set_verbosity(1 if verbose else -1 if quiet else 0)


def _register() -> None:
    from mmdata.ablate.cli import register as ablate_cli
    from mmdata.bench.cli import register as bench_cli
    from mmdata.cache_cli import register as cache_cli
    from mmdata.demo import register as demo_cli
    from mmdata.list_cli import register as list_cli
    from mmdata.model.cli import register as model_cli
    from mmdata.recipe.cli import register as recipe_cli
    from mmdata.sources.cli import register as sources_cli
    from mmdata.world.cli import register as world_cli

    for reg in (demo_cli, world_cli, sources_cli, recipe_cli, bench_cli, model_cli, ablate_cli, cache_cli, list_cli):
        reg(app)


_register()


# typer carries its own copy of click; its exception classes are reached through the public ones
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        app(args=argv, prog_name="mmdata", standalone_mode=False)
    except MmdataError as e:
        if os.environ.get("MMDATA_DEBUG"):
            raise
        print(f"mmdata: error: {e}", file=sys.stderr)
        sys.exit(2)
    except _UsageError as e:  # unknown option, bad choice, out-of-range number, missing argument
        if type(e).__name__ == "NoArgsIsHelpError":  # `mmdata` or `mmdata bench` alone: help was shown
            sys.exit(0)
        where = e.ctx.command_path if e.ctx is not None else "mmdata"
        print(f"{where}: error: {_one_line(e.format_message())} (see {where} --help)", file=sys.stderr)
        sys.exit(2)
    except _ClickError as e:
        print(f"mmdata: error: {_one_line(e.format_message())}", file=sys.stderr)
        sys.exit(e.exit_code or 2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("mmdata: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
