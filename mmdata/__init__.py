"""mmdata: multimodal instruction mixtures, multilingual benchmarks and dataset ablations, offline.

The package is organised by stage of the data flow (see DESIGN §1):
``world`` (synthetic data) → ``sources`` (adapters) → ``recipe`` (mixture builder) → ``model`` (trainer)
→ ``bench`` (harness) → ``ablate`` (experiments). ``schema`` holds the Arrow contracts between stages.
"""

__version__ = "0.1.0"
