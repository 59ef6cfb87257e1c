"""UniCode's codebook modes on the tiny world: the language-driven update, and codebook health.

Health floor: language-driven training must keep at least ``USAGE_FLOOR`` = 50 % of the codebook in
use over the world's images. A codebook that uses fewer than half of its K entries wastes more than
one bit of every code (log2 K − log2 used > 1), i.e. it has lost half its vocabulary; the collapse
UniCode reports for the dual scheme shows up here as roughly 20 % usage (and frozen LLM rows as
well below half), while EMA updates with dead-code revival keep about 90 % (the test budget: 150
steps of batch 16, K = 256, D = 2, 2 880 code assignments for 256 codes).
"""

from __future__ import annotations

from tests.tokenizers.conftest import USAGE_FLOOR


def test_language_driven_moves_the_codebook_toward_the_llm_and_leaves_the_llm_alone(modes):
    ld, control = modes["language-driven"], modes["control"]
    assert ld["language_updates"] == 15  # every 10 of 150 steps
    assert ld["language_updates_moved_closer"] == ld["language_updates"]  # each update: the distance falls
    assert ld["llm_distance"] < 0.8 * control["llm_distance"]  # and over training it stays much closer than without
    assert control["language_updates"] == 0
    assert modes["llm_identical"] and ld["llm_rows_identical"]  # no update flows back: bit-identical embeddings


def test_frozen_llm_codebook_is_the_llm_rows_and_dual_changes_them(modes):
    assert modes["frozen-llm"]["llm_distance"] == 0.0 and modes["frozen-llm"]["llm_rows_identical"]
    dual = modes["dual"]
    assert modes["dual_llm_changed"] and not dual["llm_rows_identical"]  # both directions: the LLM's rows moved
    assert dual["lm_loss_first"] > 0 and dual["language_updates"] == 15


def test_codebook_health_language_driven_beats_dual_and_the_floor(modes, capsys):
    usage = {m: modes[m]["usage_pct"] for m in ("frozen-llm", "dual", "language-driven")}
    with capsys.disabled():
        print("\ncodebook usage % (tiny world, K=256, D=2, 150 steps): " + ", ".join(f"{m} {u:.1f}" for m, u in usage.items())
              + f" | floor {USAGE_FLOOR:.0f}")  # fmt: skip
    assert usage["language-driven"] > usage["dual"]
    assert usage["language-driven"] >= USAGE_FLOOR
    for m in usage:  # every mode reports the full set of health figures
        assert {"usage_pct", "perplexity", "dead_codes", "recon_mse", "psnr"} <= set(modes[m])
    assert modes["language-driven"]["perplexity"] > modes["dual"]["perplexity"]
