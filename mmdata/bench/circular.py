"""CircularEval (MMBench): a question is stored once per rotation of its options; the group counts
only if every rotation is answered correctly.

Rows carry their group in :attr:`~mmdata.bench.tsv.Item.group` (the explicit ``g_index`` column, else
``index mod 1,000,000``). An extraction failure in any rotation makes the group wrong: without a judge
there is nothing else to resolve it, and it is never replaced by a guess. A random guesser on four
options therefore scores (1/4)^4 = 1/256 instead of 1/4.
"""

from __future__ import annotations

import numpy as np


def circular_outcomes(groups: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group results from per-row ones: (sorted group ids, all-rotations-correct, rotations per group)."""
    ids, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    wrong = np.bincount(inverse, weights=~correct.astype(bool), minlength=len(ids))
    return ids, wrong == 0, sizes


def expected_random(n_options: int = 4) -> float:
    """A uniform guesser's expected CircularEval accuracy: every one of n rotations right."""
    return (1 / n_options) ** n_options
