"""Reference model stack (DESIGN §6): vision encoder → projector → [Parrot MoE] → LLM, or discrete
visual tokens in the LLM vocabulary, and the two-stage trainer. One file per component:

``config`` presets · ``registry`` projector names · ``vision`` · ``projectors/`` · ``moe`` · ``llm`` ·
``quantizer`` the VQ core · ``tokenizers/`` discrete visual tokenizers · ``visual`` the visual-path
interface and the projector path · ``discrete`` the discrete path (codes → vocabulary rows) · ``vlm``
assembly · ``chat`` the chat template · ``tokenizer`` · ``stage0`` world backbones ·
``data`` mixture loader · ``stages`` freezing · ``train`` the loop · ``checkpoint`` · ``metrics`` ·
``inference`` the harness hook · ``cli`` ``mmdata train`` and ``mmdata tokenizer``.

Heavy imports (torch, transformers) happen inside these modules, never here.
"""

from __future__ import annotations


def load_for_generation(ckpt_dir, device=None):
    """A trained checkpoint as an object with ``generate(images, prompts, max_new_tokens=16)``."""
    from mmdata.model.inference import load_for_generation as _load

    return _load(ckpt_dir, device)


__all__ = ["load_for_generation"]
