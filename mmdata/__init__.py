"""mmdata: multimodal instruction mixtures, multilingual benchmarks and dataset ablations, offline.

The package is organised by stage of the data flow (see DESIGN §1):
``world`` (synthetic data) → ``sources`` (adapters) → ``recipe`` (mixture builder) → ``model`` (trainer)
→ ``bench`` (harness) → ``ablate`` (experiments). ``schema`` holds the Arrow contracts between stages.
"""

__version__ = "0.1.0"

import os as _os

# Allocators. polars' jemalloc keeps freed pages for a second (a background thread returns them
# after that) instead of at once: a build frees and allocates gigabytes of short-lived buffers, and
# returning each one made every new buffer fault its pages in again (a warm build of the full world:
# 1.07M → 0.33M page faults, 3.4 → 1.8 s of system time, 6.7 → 5.7 s; cold peaks 986 / 1,081 MiB for the
# 1× / 2× world, within the 1.5 GiB bound; reports/perf.md). Arrow uses the system allocator
# (mimalloc: +0.8 s, more system time). Read once, when polars and pyarrow load, hence here, before
# any of mmdata imports them; a value already set is kept.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000")
_os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
