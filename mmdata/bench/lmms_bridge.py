"""The lmms-eval bridge (optional extra ``mmdata[lmms]``; lmms-eval 0.7.3 installed with ``--no-deps``).

Two directions:

* **mmdata models inside lmms-eval.** The entry point ``lmms_eval.models: mmdata`` returns a
  ``ModelManifest`` for :class:`MmdataLmms`, a "simple" lmms model wrapping any mmdata adapter:
  ``python -m lmms_eval --model mmdata --model_args spec=random:3 …``. From Python, or when the entry point
  is not installed, :func:`register_runtime` registers the same manifest.
* **The synthetic MMMB as lmms-eval tasks.** ``benchmarks/lmms_eval/mmdata_mmmb/`` holds task YAMLs —
  ``mmdata_mmmb_<lang>`` per language (generative MC: ``output_type: generate_until``, because lmms-eval
  0.7.x's ``multiple_choice`` path is broken), ``mmdata_mmmb_all`` (every language in one task, with a
  macro average over languages) and the group ``mmdata_mmmb`` (macro mean over the six subtasks). Their
  ``utils.py`` re-exports the task functions below, which use mmdata's own prompts and extractor, so the
  numbers equal ``mmdata bench run`` on the same predictions. The data file is written by
  :func:`export_parquet` (``mmdata bench export-lmms BENCHDIR/mmmb``).

Nothing here imports lmms-eval at module load except through :class:`MmdataLmms`, which is built on
first access (this module is imported whenever lmms-eval scans its entry points).
"""

from __future__ import annotations

import io
from pathlib import Path

from mmdata.bench.extract import extract
from mmdata.bench.prompts import format_prompt
from mmdata.bench.tsv import Item, load_benchmark
from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes
from mmdata.schema import LANGUAGES

MODEL_ID = "mmdata"
CLASS_PATH = "mmdata.bench.lmms_bridge.MmdataLmms"


# ------------------------------------------------------------------------------------------- data


def export_parquet(bench: str | Path, out: str | Path, *, limit: int | None = None) -> int:
    """Write a (vanilla) benchmark as the parquet file the lmms-eval task YAMLs read; returns rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    b = load_benchmark(bench).limit(limit)
    if b.circular:
        raise MmdataError("the lmms-eval tasks are vanilla MMMB-style; export a folder without circular copies", file=bench)
    letters = sorted({k for it in b.items for k in it.options})
    cols: dict[str, list] = {c: [] for c in ("index", "language", "question", "hint", *letters, "answer", "category",
                                               "l2_category", "image")}  # fmt: skip
    for it in b.items:
        cols["index"].append(it.index)
        cols["language"].append(it.language)
        cols["question"].append(it.question)
        cols["hint"].append(it.hint)
        for k in letters:
            cols[k].append(it.options.get(k, ""))
        cols["answer"].append(it.answer)
        cols["category"].append(it.category)
        cols["l2_category"].append(it.l2_category)
        cols["image"].append(it.image if it.image is not None else it.image_path.read_bytes() if it.image_path else b"")
    types = {"index": pa.int64(), "image": pa.binary()}
    table = pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in cols.items()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(out, buf.getvalue())
    return len(b.items)


def doc_options(doc: dict) -> dict[str, str]:
    return {k: doc[k] for k in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if doc.get(k)}


def doc_to_item(doc: dict) -> Item:
    """A benchmark row from an lmms-eval doc (scripted adapters such as the oracle read it)."""
    return Item(int(doc["index"]), doc["question"], doc_options(doc), doc["answer"], doc["language"], doc.get("hint") or "",
                doc.get("category") or "", doc.get("l2_category") or "")  # fmt: skip


# ------------------------------------------------------------------------------------ task hooks


def doc_to_visual(doc: dict) -> list:
    from PIL import Image

    data = doc.get("image")
    return [Image.open(io.BytesIO(data))] if data else []


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    return format_prompt(doc["question"], doc_options(doc), doc["language"], doc.get("hint") or "")


def process_results(doc: dict, results: list) -> dict:
    """Per doc: accuracy (0/1) and extraction failure (0/1). Thread-safe (lmms-eval uses a pool)."""
    output = results[0] if results else ""
    ex = extract(output if isinstance(output, str) else str(output), doc_options(doc), language=doc["language"],
                 question=doc["question"])  # fmt: skip
    return {"accuracy": float(ex.letter == doc["answer"]), "extraction_failures": float(ex.failed)}


def process_results_all(doc: dict, results: list) -> dict:
    """As :func:`process_results`, plus the record ``lang_macro`` aggregates over languages."""
    r = process_results(doc, results)
    return {**r, "lang_macro": {"language": doc["language"], "correct": r["accuracy"]}}


def agg_sum(items: list) -> float:
    return float(sum(items))


def agg_lang_macro(items: list[dict]) -> float:
    """Accuracy averaged over languages (each language weighs the same, whatever its size)."""
    per: dict[str, list[float]] = {}
    for r in items:
        per.setdefault(r["language"], []).append(r["correct"])
    return sum(sum(v) / len(v) for v in per.values()) / len(per) if per else 0.0


def _filter(lang: str):
    def f(dataset):
        return dataset.filter(lambda d: d["language"] == lang)

    f.__name__ = f"filter_{lang}"
    return f


filter_en, filter_zh, filter_pt, filter_ar, filter_tr, filter_ru = (_filter(lang) for lang in LANGUAGES)


# ------------------------------------------------------------------------------------------ model


def manifests():
    """Entry-point payload for ``lmms_eval.models``."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)]


def register_runtime() -> None:
    """Register the model with lmms-eval at run time (when the entry point is not installed)."""
    from lmms_eval.models import MODEL_REGISTRY_V2

    for m in manifests():
        MODEL_REGISTRY_V2.register_manifest(m, overwrite=True)


def _build_class():
    from lmms_eval.api.model import lmms

    from mmdata.bench import models as bench_models

    class MmdataLmms(lmms):
        """Any mmdata model adapter as an lmms-eval "simple" model: ``--model_args spec=random:3``."""

        is_simple = True

        def __init__(self, spec: str = "oracle", batch_size: int = 8, **kwargs) -> None:
            super().__init__()
            self.model = bench_models.resolve(str(spec))
            self.batch_size_per_gpu = max(1, int(batch_size or 1))

        def generate_until(self, requests) -> list[str]:
            rows, images, prompts = [], [], []
            for req in requests:
                ctx, _gen_kwargs, to_visual, doc_id, task, split = req.args
                doc = self.task_dict[task][split][doc_id]
                rows.append(doc_to_item(doc))
                images.append(to_visual(doc) or [])
                prompts.append(ctx)
            out: list[str] = []
            for s in range(0, len(prompts), self.batch_size_per_gpu):
                e = s + self.batch_size_per_gpu
                out += bench_models.generate(self.model, images[s:e], prompts[s:e], rows[s:e])
            return out

        def loglikelihood(self, requests):
            raise NotImplementedError("the mmdata bridge serves generate_until tasks only")

        def generate_until_multi_round(self, requests):
            raise NotImplementedError("mmdata models answer single-round questions")

    MmdataLmms.__module__ = __name__
    MmdataLmms.__qualname__ = "MmdataLmms"
    return MmdataLmms


_CLASS = None


def __getattr__(name: str):
    global _CLASS
    if name == "MmdataLmms":
        if _CLASS is None:
            _CLASS = _build_class()
        return _CLASS
    raise AttributeError(name)
