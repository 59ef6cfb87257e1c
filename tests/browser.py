"""Headless Chromium screenshots for HTML-report tests (Debian's chromium; `make browser` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat


def chromium() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def screenshot(page: Path, tmp: Path, size=(1200, 900), mode: str = "L") -> Image.Image:
    """Render ``page`` and return the screenshot (grey scale unless ``mode="RGB"``); fails (never skips)
    when chromium is missing, unless ``MMDATA_SKIP_BROWSER=1``."""
    exe = chromium()
    if exe is None:
        if os.environ.get("MMDATA_SKIP_BROWSER") == "1":
            pytest.skip("MMDATA_SKIP_BROWSER=1")
        pytest.fail("chromium is not installed: run `make browser` (or set MMDATA_SKIP_BROWSER=1)")
    shot = tmp / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}",
           page.as_uri()]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    return Image.open(shot).convert(mode)


def assert_not_blank(im: Image.Image) -> None:
    assert ImageStat.Stat(im).stddev[0] > 10  # text, tables, charts
    assert min(im.getextrema()) < 80  # dark text is present
