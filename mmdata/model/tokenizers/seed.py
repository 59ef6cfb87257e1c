"""``seed``: SEED-style causal Q-Former codes (Ge et al. 2023), minimal.

``queries`` learnable queries attend causally to one another (query ``i`` sees queries ``≤ i``, so the
code sequence is 1-D and left-to-right like text) and cross-attend to the frozen vision encoder's
tokens (CLS + patches of ``feature_layer``). Their outputs are projected down to a small code width
(32 by default), vector-quantized (EMA codebook, k-means init, dead-code revival), and a small causal
decoder maps the codes back to the Q-Former output.

Training loss (one stage; SEED trains its Q-Former first, then the codebook):

* reconstruction of the (detached) Q-Former output from the codes: ``1 − cos`` + MSE;
* the quantizer's commitment loss;
* image-embedding distillation: the last query (which has seen every query) predicts the encoder's
  CLS token (cosine) — SEED-2's ``distill_image`` target, and what keeps the Q-Former from
  collapsing to an easy-to-quantize constant;
* optionally (``train.contrastive > 0``) an image-text InfoNCE between the last query and the
  caption's mean frozen-LLM input embedding (SEED stage 1's contrastive alignment).

Reported MSE / PSNR are in feature space: the decoder's reconstruction against the Q-Former output,
PSNR with the target's dynamic range as peak.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmdata.model.tokenizers.base import Tokenizer


def causal_mask(n: int, device=None) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)  # True = masked (future queries)


class QFormerBlock(nn.Module):
    """Pre-norm: causal self-attention among queries, cross-attention to the image, MLP."""

    def __init__(self, width: int, heads: int, cross: bool = True) -> None:
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(width, heads, batch_first=True) if cross else None
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, q, image=None):
        h = self.n1(q)
        q = q + self.self_attn(h, h, h, attn_mask=causal_mask(q.shape[1], q.device), need_weights=False)[0]
        if self.cross_attn is not None:
            q = q + self.cross_attn(self.n2(q), image, image, need_weights=False)[0]
        return q + self.mlp(self.n3(q))


class SEEDTokenizer(Tokenizer):
    kind = "seed"
    space = "features"

    def __init__(self, cfg, dims) -> None:
        super().__init__(cfg, dims)
        w, q = dims.feature_dim, self.quantizer.input_dim
        self.queries = nn.Parameter(torch.randn(cfg.queries, w) * 0.02)
        self.blocks = nn.ModuleList([QFormerBlock(w, cfg.qformer_heads) for _ in range(cfg.qformer_layers)])
        self.norm = nn.LayerNorm(w)
        self.down = nn.Linear(w, q)  # encode_task_layer: to the small code width
        self.up = nn.Linear(q, w)  # decode_task_layer
        self.decoder = QFormerBlock(w, cfg.qformer_heads, cross=False)
        self.out = nn.Linear(w, w)
        self.distill = nn.Linear(w, w)  # last query → the encoder's CLS
        self.text_proj = nn.Linear(dims.llm_dim, w, bias=False)  # contrastive: caption embedding → query space
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07)

    @property
    def num_positions(self) -> int:
        return self.cfg.queries

    def qformer(self, feats):
        q = self.queries.expand(feats.shape[0], -1, -1)
        for blk in self.blocks:
            q = blk(q, feats)
        return self.norm(q)

    def prequant(self, feats):
        return self.down(self.qformer(feats))

    def _decode(self, vectors):
        return self.out(self.decoder(self.up(vectors)))

    def loss(self, feats, extra=None):
        qf = self.qformer(feats)
        qv = self.quantizer(self.down(qf))
        rec = self._decode(qv.vectors)
        target = qf.detach()
        recon = (1 - F.cosine_similarity(rec, target, dim=-1)).mean() + F.mse_loss(rec, target)
        distill = (1 - F.cosine_similarity(self.distill(qf[:, -1]), feats[:, 0].detach(), dim=-1)).mean()
        loss = recon + qv.loss + distill
        parts = {"recon": float(recon.detach()), "commit": float(qv.loss.detach()), "distill": float(distill.detach())}
        text = (extra or {}).get("text")
        if text is not None and self.cfg.train.contrastive > 0:
            img = F.normalize(qf[:, -1], dim=-1)
            txt = F.normalize(self.text_proj(text), dim=-1)
            logits = self.logit_scale.exp().clamp(max=100) * img @ txt.T
            y = torch.arange(len(img), device=img.device)
            itc = (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2
            loss = loss + self.cfg.train.contrastive * itc
            parts["contrastive"] = float(itc.detach())
        return loss, parts

    @torch.no_grad()
    def reconstruct(self, feats):
        qf = self.qformer(feats)
        codes = self.encode(feats)
        return qf, self._decode(self.quantizer.decode(codes)), codes
