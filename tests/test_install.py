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
    installed.pop("pip", None)  # the installer itself, as the venv was created with it
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


def test_presets_and_templates_are_found_from_an_installed_wheel(tmp_path):
    """Shipped presets (recipes, models, suites, benchmarks) and templates travel inside the wheel and
    are found through importlib.resources, not through the repository checkout."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(root)],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))],
                   check=True, capture_output=True)  # fmt: skip
    code = (
        "import mmdata, json\n"
        "from mmdata.config import preset_names\n"
        "from mmdata.model.config import load_preset\n"
        "from mmdata.ablate.spec import load_spec\n"
        "from mmdata.recipe.config import load_recipe\n"
        "from mmdata.recipe.templates import TemplateBank\n"
        "load_preset('tiny-cpu'); load_spec('honeybee-multiturn-tiny'); load_recipe('honeybee', ['root=/tmp'])\n"
        "print(json.dumps({'file': mmdata.__file__, 'kinds': {k: preset_names(k) for k in ('recipes', 'models', 'suites', 'benchmarks')},"
        " 'templates': len(TemplateBank.load().all())}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin",
                         "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    import json

    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(site))  # the wheel's copy, not the checkout
    assert "tiny-cpu" in info["kinds"]["models"] and "honeybee" in info["kinds"]["recipes"]
    assert "honeybee-multiturn-tiny" in info["kinds"]["suites"] and "mmmb-synthetic" in info["kinds"]["benchmarks"]
    assert info["templates"] > 50
