"""The language model: any transformers causal LM; a Llama built from a small config for the world.

Real models load from a local directory with ``local_files_only=True``; nothing is ever fetched from
a hub. Attention is SDPA. Training calls the decoder (``get_decoder()``) and the LM head separately so
logits are computed only at supervised positions.
"""

from __future__ import annotations

from pathlib import Path

import torch


def llm_hf_config(arch, vocab_size: int, *, bos: int, eos: int, pad: int):
    from transformers import LlamaConfig

    return LlamaConfig(
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
