"""The benchmark harness: VLMEvalKit-style TSV benchmarks, the synthetic MMMB, prompts, answer extraction,
vanilla and CircularEval scoring, resumable runs, the DuckDB leaderboard and the lmms-eval bridge.

One concept per file: :mod:`~mmdata.bench.tsv` (load/write), :mod:`~mmdata.bench.make` (synthetic MMMB),
:mod:`~mmdata.bench.prompts`, :mod:`~mmdata.bench.extract`, :mod:`~mmdata.bench.circular`,
:mod:`~mmdata.bench.score`, :mod:`~mmdata.bench.models`, :mod:`~mmdata.bench.run`,
:mod:`~mmdata.bench.leaderboard`, :mod:`~mmdata.bench.lmms_bridge`. The names below are imported on
first use, so ``mmdata --help`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "EXTRACTOR_VERSION": "extract", "extract": "extract",
    "PROMPT_VERSION": "prompts", "build_prompt": "prompts",
    "Benchmark": "tsv", "Item": "tsv", "load_benchmark": "tsv", "write_tsv": "tsv",
    "make_benchmark": "make", "run_benchmark": "run", "resolve_model": "models",
}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(name)
    mod = importlib.import_module(f"mmdata.bench.{_EXPORTS[name]}")
    return getattr(mod, "resolve" if name == "resolve_model" else name)
