"""mmdata: multimodal instruction mixtures, multilingual benchmarks and dataset ablations, offline.

The package is organised by stage of the data flow (see DESIGN §1):
``world`` (synthetic data) → ``sources`` (adapters) → ``recipe`` (mixture builder) → ``model`` (trainer)
→ ``bench`` (harness) → ``ablate`` (experiments). ``schema`` holds the Arrow contracts between stages.
"""

__version__ = "0.1.0"

import os as _os

# Allocators: hand freed memory back to the system at once, so a build's peak RSS is what it holds,
# not what polars' jemalloc and Arrow's pool kept from earlier stages (a cold build of the 2× full
# world: 1,697 → 1,457 MiB, same bytes, ~8 % more wall; reports/perf.md). Read once, when polars and
# pyarrow load, hence here, before any of mmdata imports them; a value already set is kept.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
