"""Discrete visual tokenizers (issue 6), one concept per file:

``base`` what every tokenizer shares (dimensions, quantizer, files) · ``vqvae`` conv VQ-VAE with stacked
quantization · ``unicode`` UniCode's codebook modes (frozen-llm, dual, language-driven) · ``seed``
causal Q-Former codes · ``kmeans`` TEAL's k-means over frozen features · ``decompress`` the in-context
image-decompression task · ``train`` training, metrics and the on-the-fly cache · ``cli`` ``mmdata
tokenizer train | encode | decompress-data``.

The quantizer core is :mod:`mmdata.model.quantizer`; the path from codes into the LLM is
:mod:`mmdata.model.discrete`.
"""

from __future__ import annotations


def build_tokenizer(cfg, dims, **kw):
    """The architecture for a ``discrete`` config and backbone dimensions (untrained weights)."""
    from mmdata.model.tokenizers.kmeans import KMeansTokenizer
    from mmdata.model.tokenizers.seed import SEEDTokenizer
    from mmdata.model.tokenizers.vqvae import VQVAE

    kinds = {"vqvae": VQVAE, "seed": SEEDTokenizer, "kmeans": KMeansTokenizer}
    cls = kinds[cfg.kind]  # the config validated the name
    return cls(cfg, dims, **kw) if kw else cls(cfg, dims)


__all__ = ["build_tokenizer"]
