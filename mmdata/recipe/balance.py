"""Balancing (DESIGN §4, Honeybee Table 5a): how many items each dataset contributes.

With N_d items in dataset d (after merge and dedup), T the tasks and D_t the datasets of task t:

==============  =============================================
per-dataset     p_d = 1 / |D|
per-task        p_d = 1 / (|T| · |D_t|)
per-sample      p_d ∝ min(N_d, cap)                (cap 100k by default)
tuned           p_d = w_d / Σ w                    (explicit weights)
==============  =============================================

The target size defaults to Σ min(N_d, cap). Quotas are ``size · p_d`` rounded by largest remainder
(ties broken by dataset name), so the realised shares are the formula's up to one item — the
expectation of Honeybee's per-sample categorical draw, without its variance. Inside a dataset items
are drawn without replacement from a seeded permutation; once a dataset is exhausted a new
permutation starts (sampling with replacement across epochs). ``epochs = quota / N_d``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from mmdata.errors import MmdataError


def shares(strategy: str, n_items: dict[str, int], tasks: dict[str, str], *, cap: int, weights: dict[str, float]) -> dict[str, float]:
    live = [d for d in sorted(n_items) if n_items[d] > 0]
    if not live:
        raise MmdataError("no items left to sample: every source is empty after filtering and dedup")
    if strategy == "per-dataset":
        raw = {d: 1.0 for d in live}
    elif strategy == "per-task":
        by_task: dict[str, list[str]] = {}
        for d in live:
            by_task.setdefault(tasks[d], []).append(d)
        raw = {d: 1.0 / (len(by_task) * len(by_task[tasks[d]])) for d in live}
    elif strategy == "per-sample":
        raw = {d: float(min(n_items[d], cap)) for d in live}
    elif strategy == "tuned":
        raw = {d: float(weights.get(d, 0.0)) for d in live}
    else:
        raise MmdataError(f"unknown balancing strategy {strategy!r}")
    total = sum(raw.values())
    if total <= 0:
        raise MmdataError("all balancing weights are zero for the sources that have items")
    return {d: raw.get(d, 0.0) / total for d in sorted(n_items)}


def quotas(p: dict[str, float], size: int) -> dict[str, int]:
    """Largest-remainder rounding of ``size · p`` (sums exactly to ``size``)."""
    exact = {d: size * w for d, w in p.items()}
    base = {d: int(np.floor(v)) for d, v in exact.items()}
    rest = size - sum(base.values())
    order = sorted(exact, key=lambda d: (-(exact[d] - base[d]), d))
    for d in order[:rest]:
        base[d] += 1
    return base


def _rng(seed: int, dataset: str) -> np.random.Generator:
    h = int.from_bytes(hashlib.sha256(f"{seed}/{dataset}".encode()).digest()[:8], "little")
    return np.random.default_rng(h)


def sample(n: int, quota: int, seed: int, dataset: str) -> np.ndarray:
    """``quota`` item indices from ``range(n)``: successive seeded permutations (epochs)."""
    if quota == 0 or n == 0:
        return np.zeros(0, np.int64)
    rng = _rng(seed, dataset)
    parts, left = [], quota
    while left > 0:
        perm = rng.permutation(n)
        parts.append(perm[:left])
        left -= len(parts[-1])
    return np.concatenate(parts).astype(np.int64)


def default_size(n_items: dict[str, int], cap: int) -> int:
    return int(sum(min(n, cap) for n in n_items.values()))
