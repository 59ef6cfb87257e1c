"""The install promise: transformers imports, torchvision is absent, the console script exists."""

import importlib.util
import shutil
import sys


def test_transformers_imports_and_torchvision_is_absent():
    import torch
    import transformers
    from transformers import PreTrainedModel  # fails when a CUDA-only torchvision is present

    assert PreTrainedModel is not None
    assert transformers.__version__
    assert torch.__version__.startswith("2.13.0")
    assert importlib.util.find_spec("torchvision") is None


def test_console_script_installed():
    assert shutil.which("mmdata", path=str(__import__("pathlib").Path(sys.executable).parent)) is not None


def _lock() -> dict[str, str]:
    from pathlib import Path

    pins = {}
    for line in (Path(__file__).resolve().parents[1] / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_every_installed_package_is_pinned_by_the_lock_file():
    """The environment is exactly the lock: every distribution installed (but mmdata itself) is listed
    with the version installed, so a fresh clone gets the same packages today and next month."""
    from importlib.metadata import distributions

    pins = _lock()
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in distributions()}
    installed.pop("mmdata", None)
    unpinned = sorted(n for n in installed if n not in pins)
    assert not unpinned, f"installed but not in requirements.lock: {unpinned}"
    differ = {n: (installed[n], pins[n]) for n in installed if installed[n] != pins[n]}
    assert not differ, f"installed version differs from the lock: {differ}"


def test_lock_keeps_lmms_eval_importable():
    # lmms-eval 0.7.3 imports filelock._api, which filelock 4.3 removed
    from packaging.version import Version

    pins = _lock()
    assert Version(pins["filelock"]) < Version("4.3") and pins["lmms-eval"] == "0.7.3"
    assert "torchvision" not in pins
