"""What a user sees: verbosity, the consoles, JSON summaries, and the log file beside each output.

``mmdata -v CMD`` shows debug messages, ``-q`` only warnings and errors (and no progress bars). Every
command that writes an output also writes its messages, at debug level, to ``OUT.log`` next to it
(:func:`log_beside`), so a long run leaves a record even when its terminal is gone. Library code
logs through :data:`log` (the ``mmdata`` logger) instead of printing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("mmdata")
_state = {"verbosity": 0}
WIDTH = 140  # rich's width when stderr is not a terminal (logs, CI), so tables stay readable


def set_verbosity(v: int) -> None:
    """-1 quiet, 0 normal, 1 verbose (debug)."""
    _state["verbosity"] = v
    log.setLevel(logging.DEBUG)
    level = logging.WARNING if v < 0 else logging.DEBUG if v > 0 else logging.INFO
    for h in log.handlers:
        if getattr(h, "_mmdata_console", False):
            h.setLevel(level)
    if not any(getattr(h, "_mmdata_console", False) for h in log.handlers):
        h = _ConsoleHandler()
        h.setLevel(level)
        log.addHandler(h)
    log.propagate = False


def quiet() -> bool:
    return _state["verbosity"] < 0


def console(stderr: bool = True):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else WIDTH, highlight=False)


class _ConsoleHandler(logging.Handler):
    _mmdata_console = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            if record.levelno >= logging.WARNING:
                msg = f"[yellow]{record.levelname.lower()}:[/yellow] {msg}"
            console().print(msg, markup=record.levelno >= logging.WARNING, soft_wrap=True)
        except Exception:
            self.handleError(record)


def emit_json(obj: Any) -> None:
    """A command's summary as JSON on standard output (``--json``), nothing else on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n")


def log_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".log")


@contextlib.contextmanager
def log_beside(out: str | Path | None, command: str = "") -> Iterator[Path | None]:
    """Copy every ``mmdata`` log message of the block (debug level) to ``OUT.log`` beside ``out``."""
    if out is None:
        yield None
        return
    path = log_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    h = logging.FileHandler(path, mode="a", encoding="utf-8")
    h.setLevel(logging.DEBUG)
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(h)
    if log.level == logging.NOTSET or log.level > logging.DEBUG:
        log.setLevel(logging.DEBUG)
    log.debug(f"mmdata {command}".strip() + f" (started {time.strftime('%Y-%m-%d %H:%M:%S')})")
    refused = False
    try:
        yield path
    except BaseException as e:
        from mmdata.errors import MmdataError

        refused = isinstance(e, MmdataError)
        log.debug(f"stopped: {type(e).__name__}: {e}")
        raise
    finally:
        log.removeHandler(h)
        h.close()
        if refused and not existed:  # bad input: the one-line error says it all; leave nothing behind
            path.unlink(missing_ok=True)
