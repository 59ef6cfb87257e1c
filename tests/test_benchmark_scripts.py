"""The runnable benchmark scripts: none may shadow an installed package. A script run as
``python benchmarks/perf/X.py`` puts its own folder first on ``sys.path``, so a file named like a
library (``tokenizers.py``) would replace that library for everything the script imports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_DIRS = [ROOT / "benchmarks" / "perf"]


@pytest.mark.parametrize("script", sorted(p for d in SCRIPT_DIRS for p in d.glob("*.py")), ids=lambda p: p.name)
def test_script_name_shadows_no_installed_module(script, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() not in {script.parent, ROOT}])
    name = script.stem
    assert name not in sys.stdlib_module_names, f"{script} shadows the standard library module {name!r}"
    assert importlib.util.find_spec(name) is None, f"{script} shadows the installed module {name!r}"
