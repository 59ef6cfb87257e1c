"""Stage semantics in one place (Prismatic's ``freeze_backbones(stage)``).

=========  ==============================  ======================================================
stage      trained                         notes
=========  ==============================  ======================================================
0          (world only) vision, LLM        CLIP contrastive + causal LM pretraining, :mod:`stage0`
1          projector                       vision + LLM frozen; the MoE is bypassed and frozen
2          projector, MoE, LLM             vision frozen
=========  ==============================  ======================================================

With ``visual: discrete`` the ``projector`` slot holds the discrete visual path
(:class:`~mmdata.model.discrete.DiscreteVisual`). Its tokenizer is never trained here (``mmdata
tokenizer train`` trains it once); in stage 1 only its projections learn and the new vocabulary
rows (input embeddings and output rows) stay as initialised, as in TEAL's stage 1; stage 2 trains
all of it.

``llm_tuning: bias-norm`` (TEAL's stage 2) keeps the LLM frozen except its biases and normalisation
weights; ``full`` (the default) trains every LLM parameter.
"""

from __future__ import annotations

TRAINABLE: dict[int, tuple[str, ...]] = {1: ("projector",), 2: ("projector", "moe", "llm")}
LLM_TUNING = ("full", "bias-norm")


def is_bias_or_norm(name: str, module) -> bool:
    """A bias, or a parameter of a normalisation layer (LayerNorm, RMSNorm, …, by class name)."""
    return name.endswith("bias") or "norm" in type(module).__name__.lower()


def set_stage(model, stage: int, llm_tuning: str = "full") -> list[str]:
    """Freeze everything, then unfreeze the modules ``stage`` trains; returns their names.

    Also records the stage on the model (the MoE runs only from stage 2 on) and keeps frozen
    modules in eval mode, so a frozen encoder never changes behaviour between stages.
    """
    if stage not in TRAINABLE:
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    if llm_tuning not in LLM_TUNING:
        raise ValueError(f"llm_tuning must be one of {LLM_TUNING}, got {llm_tuning!r}")
    model.stage = stage
    trained = [m for m in TRAINABLE[stage] if getattr(model, m, None) is not None]
    for p in model.parameters():
        p.requires_grad_(False)
    for name in trained:
        for p in getattr(model, name).parameters():
            p.requires_grad_(True)
    visual = getattr(model, "projector", None)
    if getattr(visual, "discrete", False):
        for p in visual.tokenizer.parameters():
            p.requires_grad_(False)
        if stage == 1:
            for p in visual.vocabulary_rows():
                p.requires_grad_(False)
    if "llm" in trained and llm_tuning == "bias-norm":
        for mod in model.llm.modules():
            for name, p in mod.named_parameters(recurse=False):
                p.requires_grad_(is_bias_or_norm(name, mod))
    model.trained_modules = tuple(trained)
    return trained
