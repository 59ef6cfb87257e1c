"""The language model: any transformers causal LM; a Llama built from a small config for the world.

Real models load from a local directory with ``local_files_only=True``; nothing is ever fetched from
a hub. Attention is SDPA. Training calls the decoder (``get_decoder()``) and the LM head separately so
logits are computed only at supervised positions.

Two pieces sit beside the HF model:

* :func:`segment_attention_mask` — the block-diagonal causal mask of a packed batch (each sample
  attends only to itself), passed to the decoder as a 4D mask so attention never crosses samples
  whatever the LLM class or transformers version does with ``position_ids``;
* :class:`LayerAffine` — TEAL's bias-norm tuning inserts a learnable scale and bias per decoder layer:
  each layer's output ``h`` becomes ``s ⊙ h + b`` (``s = 1``, ``b = 0`` when inserted, so the model is
  unchanged until trained). The parameters live in the VLM (``llm_affine.<layer>.scale|bias``) and act
  through forward hooks, so the HF model's own parameter names never change.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def llm_hf_config(arch, vocab_size: int, *, bos: int, eos: int, pad: int):
    from transformers import LlamaConfig

    init = {"initializer_range": arch.init_std} if arch.init_std is not None else {}
    return LlamaConfig(
        **init,
        vocab_size=vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        max_position_embeddings=arch.max_position,
        rope_theta=arch.rope_theta,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )


def build_llm(config):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)


def build_world_llm(arch, vocab_size: int, *, bos: int, eos: int, pad: int):
    """A freshly initialised Llama for the world (stage 0 pretrains it), with ``arch``'s initial-weight
    scales: ``init_std`` for every weight (via the config), ``embed_init`` for the input embeddings."""
    lm = build_llm(llm_hf_config(arch, vocab_size, bos=bos, eos=eos, pad=pad))
    if arch.embed_init is not None:
        nn.init.normal_(lm.get_input_embeddings().weight, std=arch.embed_init)
    return lm


def load_llm(path: str | Path, *, weights: bool = True):
    """A causal LM from a local directory (weights, or the config only)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    quiet_hf()
    if weights:
        return AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32, attn_implementation="sdpa")
    return build_llm(AutoConfig.from_pretrained(path, local_files_only=True))


def quiet_hf() -> None:
    """No transformers progress bars (loading / writing shards) in our logs."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def segment_attention_mask(segment_ids: torch.Tensor, attn_implementation: str, dtype: torch.dtype) -> torch.Tensor:
    """``segment_ids`` (B, T) → a (B, 1, T, T) mask where token ``i`` sees token ``j`` iff ``j ≤ i``
    and both belong to the same segment (padding, segment 0, only sees padding, so no row is empty).
    Boolean for SDPA (``True`` = attend), additive (0 / dtype min) for eager attention."""
    t = segment_ids.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = (segment_ids[:, :, None] == segment_ids[:, None, :]) & causal
    if attn_implementation == "sdpa":
        return allowed[:, None]
    zero = torch.zeros((), dtype=dtype, device=segment_ids.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)[:, None]


class Affine(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * self.scale.to(h.dtype) + self.bias.to(h.dtype)


class LayerAffine(nn.ModuleList):
    """One :class:`Affine` per decoder layer of ``llm`` (TEAL's inserted bias and scale), applied to
    the layer's output by forward hooks installed with :meth:`attach`."""

    def __init__(self, llm) -> None:
        layers = llm.get_decoder().layers
        d = llm.get_input_embeddings().embedding_dim
        super().__init__(Affine(d) for _ in layers)

    def attach(self, llm) -> list:
        """Install the hooks on ``llm``'s decoder layers; returns their handles."""

        def hook(affine):
            def apply(_module, _args, out):
                if isinstance(out, tuple):  # some decoder layers return (hidden, extras…)
                    return (affine(out[0]), *out[1:])
                return affine(out)

            return apply

        return [layer.register_forward_hook(hook(a)) for layer, a in zip(llm.get_decoder().layers, self, strict=True)]
