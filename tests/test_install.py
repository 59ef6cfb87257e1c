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
