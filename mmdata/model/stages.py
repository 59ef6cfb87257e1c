"""Stage semantics in one place (Prismatic's ``freeze_backbones(stage)``).

=========  ==============================  ======================================================
stage      trained                         notes
=========  ==============================  ======================================================
0          (world only) vision, LLM        CLIP contrastive + causal LM pretraining, :mod:`stage0`
1          projector                       vision + LLM frozen; the MoE is bypassed and frozen
2          projector, MoE, LLM             vision frozen
=========  ==============================  ======================================================
"""

from __future__ import annotations

TRAINABLE: dict[int, tuple[str, ...]] = {1: ("projector",), 2: ("projector", "moe", "llm")}


def set_stage(model, stage: int) -> list[str]:
    """Freeze everything, then unfreeze the modules ``stage`` trains; returns their names.

    Also records the stage on the model (the MoE runs only from stage 2 on) and keeps frozen
    modules in eval mode, so a frozen encoder never changes behaviour between stages.
    """
    if stage not in TRAINABLE:
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    model.stage = stage
    trained = [m for m in TRAINABLE[stage] if getattr(model, m, None) is not None]
    for p in model.parameters():
        p.requires_grad_(False)
    for name in trained:
        for p in getattr(model, name).parameters():
            p.requires_grad_(True)
    model.trained_modules = tuple(trained)
    return trained
