"""``kmeans``: TEAL's off-the-shelf tokenizer — k-means over frozen vision-encoder features.

Every patch token of ``feature_layer`` (the same features the projectors read) is assigned to the
nearest of ``codebook_size`` centroids; the vocabulary size is the ablation knob (TEAL grew its audio
vocabulary from 1,024 to 8,192). Fitting is one training-mode call of a ``frozen`` quantizer with
k-means initialisation (the library's batched Lloyd, ``train.kmeans_iters`` iterations) on at most
``train.max_samples`` patch vectors (a seeded subsample; distances are samples × K floats), so the
same features and seed give the same codebook and the same codes. Reported MSE / PSNR compare each
patch feature with its centroid.
"""

from __future__ import annotations

import torch

from mmdata.model.tokenizers.base import Tokenizer


class KMeansTokenizer(Tokenizer):
    kind = "kmeans"
    space = "features"

    @property
    def num_positions(self) -> int:
        return self.dims.num_patches

    def select(self, features):
        return features[:, 1:]  # patch tokens; the CLS is not a position

    def prequant(self, x):
        return x

    def fit(self, patches: torch.Tensor, seed: int) -> None:
        """Fit the codebook on (M, P, F) patch features (all images of the training set)."""
        flat = patches.reshape(-1, patches.shape[-1]).float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if flat.shape[0] > self.cfg.train.max_samples:
                flat = flat[torch.randperm(flat.shape[0])[: self.cfg.train.max_samples]]
            self.quantizer.fit_kmeans(flat)

    @torch.no_grad()
    def reconstruct(self, x):
        codes = self.encode(x)
        return x, self.quantizer.decode(codes), codes
