"""Stage semantics in one place (Prismatic's ``freeze_backbones(stage)``).

=========  ==============================  ======================================================
stage      trained                         notes
=========  ==============================  ======================================================
0          (world only) vision, LLM        CLIP contrastive + causal LM pretraining, :mod:`stage0`
1          the visual path's stage-1 part  vision + LLM frozen; projector path: the projector (the
                                           MoE is bypassed and frozen); discrete path: its
                                           projections (the new vocabulary rows stay as
                                           initialised, as in TEAL's stage 1)
2          visual path, LLM                vision frozen (unless ``train.stage2.lr`` gives
                                           ``vision`` a rate: projector presets only); projector
                                           path: projector + MoE; discrete path: projections +
                                           vocabulary rows
=========  ==============================  ======================================================

Which parameters of the visual path a stage trains is the path's own rule
(:meth:`~mmdata.model.visual.VisualPath.trainable`); a discrete path's tokenizer never trains here
(``mmdata tokenizer train`` trains it once).

``llm_tuning: bias-norm`` (TEAL's stage 2) keeps the LLM frozen except its biases and normalisation
weights, and inserts TEAL's learnable scale and bias per decoder layer
(:class:`~mmdata.model.llm.LayerAffine`, identity when inserted), which train too; ``full`` (the
default) trains every LLM parameter and leaves inserted scales and biases, if a checkpoint has them,
frozen.

Learning-rate keys (``train.stageN.lr``): ``projector`` and ``moe`` (the visual path says which of its
parameters is which), ``llm`` (the LLM and its inserted scales and biases), and in stage 2, optionally,
``vision`` (the vision encoder, tuned end to end with the rest).
"""

from __future__ import annotations

TRAINABLE: dict[int, tuple[str, ...]] = {1: ("projector",), 2: ("projector", "moe", "llm")}
OPTIONAL: dict[int, tuple[str, ...]] = {1: (), 2: ("vision",)}  # trained only when given a learning rate
ORDER = ("vision", "projector", "moe", "llm")  # the optimizer's groups, in this order
LLM_TUNING = ("full", "bias-norm")


def is_bias_or_norm(name: str, module) -> bool:
    """A bias, or a parameter of a normalisation layer (LayerNorm, RMSNorm, …, by class name)."""
    return name.endswith("bias") or "norm" in type(module).__name__.lower()


def set_stage(model, stage: int, llm_tuning: str = "full", vision: bool = False) -> list[str]:
    """Freeze everything, then unfreeze what ``stage`` trains (``vision``: the vision encoder too, stage 2
    only); returns the learning-rate keys trained.

    Also records the stage on the model (the MoE runs only from stage 2 on) and keeps frozen
    modules in eval mode, so a frozen encoder never changes behaviour between stages.
    """
    if stage not in TRAINABLE:
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    if llm_tuning not in LLM_TUNING:
        raise ValueError(f"llm_tuning must be one of {LLM_TUNING}, got {llm_tuning!r}")
    if vision and "vision" not in OPTIONAL[stage]:
        raise ValueError(f"the vision encoder is frozen in stage {stage}")
    model.stage = stage
    for p in model.parameters():
        p.requires_grad_(False)
    visual = dict(model.visual.named_parameters())
    for name in model.visual.trainable(stage):
        visual[name].requires_grad_(True)
    if stage >= 2:
        if llm_tuning == "bias-norm":
            model.add_layer_affine()
            for mod in model.llm.modules():
                for name, p in mod.named_parameters(recurse=False):
                    p.requires_grad_(is_bias_or_norm(name, mod))
            for p in model.llm_affine.parameters():
                p.requires_grad_(True)
        else:
            for p in model.llm.parameters():
                p.requires_grad_(True)
        if vision:
            for p in model.vision.parameters():
                p.requires_grad_(True)
    trained = sorted({model.lr_key(n) for n, p in model.named_parameters() if p.requires_grad}, key=ORDER.index)
    model.trained_modules = tuple(trained)
    return trained
