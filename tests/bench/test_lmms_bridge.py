"""The lmms-eval bridge: lmms-eval's own evaluator on the synthetic MMMB gives mmdata's numbers.

lmms-eval is the optional extra ``mmdata[lmms]`` (installed by ``make install`` with ``--no-deps``). This
test never installs anything; it fails (it is not skipped) when lmms-eval is missing, because CI installs it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import tomllib

import pyarrow.parquet as pq
import pytest

from mmdata.bench import models
from mmdata.bench.run import run_benchmark
from mmdata.schema import LANGUAGES

from .conftest import ROOT

MESSY = [
    "{L}", "The answer is ({L}).", "答案是{L}", "{T}", "Ответ: {L}", "الإجابة هي {L}", "I cannot tell from this image.",
    "Doğru cevap {L}'dir.", "A resposta correta é a {L}.",
]  # fmt: skip


class Messy:
    """A scripted model with realistic, multilingual, sometimes unusable outputs."""

    uses_rows = True

    def __init__(self, seed: int) -> None:
        self.rand = models.RandomModel(seed)
        self.name = f"messy:{seed}"

    def generate(self, images, prompts, rows=()):
        letters = self.rand.generate(images, prompts, rows)
        return [MESSY[(r.index + len(r.language)) % len(MESSY)].format(L=x, T=r.options[x]) for r, x in zip(rows, letters, strict=True)]


@pytest.fixture(autouse=True)
def _restore_pillow_truncation_flag():
    """Importing lmms_eval.api.task sets PIL's LOAD_TRUNCATED_IMAGES = True process-wide; put it back so
    other tests (source validation of truncated JPEGs) see Pillow's default."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    yield
    ImageFile.LOAD_TRUNCATED_IMAGES = before


@pytest.fixture(scope="module")
def lmms_eval():
    if importlib.util.find_spec("lmms_eval") is None:
        pytest.fail("lmms-eval is not installed: `make install` installs the mmdata[lmms] extra (lmms-eval --no-deps)")
    from mmdata.bench import lmms_bridge

    names = {ep.name for ep in importlib.metadata.entry_points(group="lmms_eval.models")}
    if "mmdata" not in names:  # the editable install predates the entry point: register at run time
        lmms_bridge.register_runtime()
    import lmms_eval

    return lmms_eval


def test_entry_point_declared_and_found_by_lmms_eval(tmp_path, monkeypatch):
    """pyproject declares the entry point; lmms-eval's own registry finds it through importlib.metadata
    (a dist-info with exactly that declaration stands in for the installed package)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = meta["project"]["entry-points"]["lmms_eval.models"]
    assert eps == {"mmdata": "mmdata.bench.lmms_bridge:manifests"}
    assert "lmms" in meta["project"]["optional-dependencies"]
    if importlib.util.find_spec("lmms_eval") is None:
        pytest.fail("lmms-eval is not installed: `make install` installs the mmdata[lmms] extra")
    dist = tmp_path / "site" / "mmdata_ep_probe-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmdata-ep-probe\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[lmms_eval.models]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from lmms_eval.api.model import lmms
    from lmms_eval.models.registry_v2 import ModelRegistryV2

    registry = ModelRegistryV2()
    registry.load_entrypoint_manifests(overwrite=True)
    klass = registry.get_model_class("mmdata")
    assert issubclass(klass, lmms) and klass.is_simple
    assert klass.__module__ == "mmdata.bench.lmms_bridge"
    m = klass(spec="constant:C", batch_size=2)
    assert m.model.name == "constant:C"


@pytest.mark.parametrize("spec", ["random:3", "messy:4"])
def test_lmms_eval_scores_equal_mmdata_scores(lmms_eval, bench, tmp_path, monkeypatch, spec):
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    from mmdata.bench.lmms_bridge import export_parquet

    monkeypatch.setitem(models.REGISTRY, "messy", lambda arg, s: Messy(int(arg)))
    tasks = tmp_path / "tasks"
    shutil.copytree(ROOT / "benchmarks" / "lmms_eval", tasks, ignore=shutil.ignore_patterns("data", "__pycache__"))
    n = export_parquet(bench / "mmmb", tasks / "mmdata_mmmb" / "data" / "test.parquet", limit=12)
    assert n == 6 * 12

    out = simple_evaluate(model="mmdata", model_args=f"spec={spec},batch_size=5", tasks=["mmdata_mmmb", "mmdata_mmmb_all"],
                          task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
                          log_samples=True, bootstrap_iters=0)  # fmt: skip
    assert out is not None and "results" in out, "lmms-eval returned no results (it logs errors and carries on)"
    res = out["results"]

    ours = run_benchmark(bench / "mmmb", spec, tmp_path / "run", limit=12, db=None)
    s = ours.scores
    for lang in LANGUAGES:
        assert res[f"mmdata_mmmb_{lang}"]["accuracy,none"] == pytest.approx(s["overall"][lang], abs=1e-6), lang
        assert res[f"mmdata_mmmb_{lang}"]["extraction_failures,none"] == s["extraction_failures"][lang]
    assert res["mmdata_mmmb"]["accuracy,none"] == pytest.approx(s["mean"], abs=1e-6)  # macro over languages
    assert res["mmdata_mmmb_all"]["lang_macro,none"] == pytest.approx(s["mean"], abs=1e-6)
    if spec.startswith("messy"):
        assert sum(s["extraction_failures"].values()) > 0  # the comparison covers failures too

    # the same predictions on both sides
    t = pq.read_table(tmp_path / "run" / "predictions.parquet").to_pydict()
    ours_out = {(lang, i): o for lang, i, o in zip(t["language"], t["index"], t["output"], strict=True)}
    theirs = {}
    for lang in LANGUAGES:
        for sample in out["samples"][f"mmdata_mmmb_{lang}"]:
            theirs[(lang, sample["doc"]["index"])] = sample["resps"][0][0]
    assert theirs == ours_out
    assert importlib.util.find_spec("torchvision") is None  # nothing pulled in behind our back
