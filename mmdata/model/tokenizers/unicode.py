"""UniCode (Zheng et al., ECCV 2024): a visual codebook unified with the LLM's vocabulary.

No public code exists; this follows the paper. Code ``k`` of the tokenizer corresponds to LLM
vocabulary row ``llm_offset + k`` and lives in the LLM's input-embedding space (the codebook width is
the LLM width). Every mode starts from those rows; they differ in what may change the codebook:

``frozen-llm``
    The codebook *is* the LLM's rows and never changes; only the encoder and decoder learn to use it.
``dual``
    The codebook is one tensor shared with the LLM's embedding rows, updated in both directions in
    alternation: every step by the tokenizer's gradient (the image side), every ``language_every``
    steps by the LLM's own causal-LM gradient on world text (the language side), with the LLM's rows
    kept equal to it. A tensor that the LLM's optimiser owns can only move by gradient, so there is no
    EMA and no dead-code revival (either would write image features straight into LLM rows); the
    LLM's embeddings change.
``language-driven``
    The codebook is an EMA of image features (with dead-code revival), and every ``language_every``
    steps it moves toward the LLM's rows, ``C' = λ·C + (1 − λ)·C_LLM`` (``language_lambda``), EMA
    statistics included so the next EMA step does not undo it. Nothing flows back: the LLM's rows are
    only read and stay bit-identical.

The in-context image decompression task lives in :mod:`mmdata.model.tokenizers.decompress`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def llm_rows(llm, cfg) -> torch.Tensor:
    """The (K, d) slice of the LLM's input embeddings that the codebook is tied to (a view)."""
    table = llm.get_input_embeddings().weight
    k, off = cfg.codebook_size, cfg.llm_offset
    if off + k > table.shape[0]:
        raise ValueError(f"LLM rows {off}…{off + k - 1} exceed the vocabulary ({table.shape[0]})")
    return table[off : off + k]


class LanguageLink:
    """Drives a quantizer's codebook by the LLM according to ``codebook_mode`` (see module docstring)."""

    def __init__(self, cfg, quantizer, llm, *, lm_windows: torch.Tensor | None = None, generator=None) -> None:
        self.cfg, self.q, self.llm = cfg, quantizer, llm
        self.mode, self.every, self.lam = cfg.codebook_mode, cfg.train.language_every, cfg.train.language_lambda
        llm.requires_grad_(False)
        llm.eval()
        self.target = llm_rows(llm, cfg)  # read-only unless the mode is dual
        self.origin = self.target.detach().clone()  # the LLM's rows before training
        quantizer.set_codebook(self.target)
        self.start = self.distance()
        self.updates: list[tuple[int, float, float]] = []  # (step, distance before, after): language-side updates
        self.lm_losses: list[float] = []
        self.windows, self.generator = lm_windows, generator
        self.opt = None
        if self.mode == "dual":
            if lm_windows is None:
                raise ValueError("codebook mode 'dual' needs LLM text batches")
            self.opt = torch.optim.Adam(quantizer.codebook_parameters(), lr=cfg.train.lr)

    @torch.no_grad()
    def distance(self) -> float:
        """Mean distance between code k and the LLM's original row offset + k, relative to the mean
        row norm (0: the codebook is the LLM's vocabulary slice)."""
        c, t = self.q.codebook.float(), self.origin.float()
        return float((c - t).norm(dim=-1).mean() / t.norm(dim=-1).mean().clamp_min(1e-12))

    def after_step(self, step: int) -> None:
        self.sync_llm()  # dual: the image-side step moved the shared rows
        if step % self.every:
            return
        before = self.distance()
        if self.mode == "language-driven":
            self.q.lerp_codebook(self.target, 1.0 - self.lam)
        elif self.mode == "dual":
            self._lm_step()
        self.updates.append((step, before, self.distance()))

    def _lm_step(self) -> None:
        """One causal-LM gradient step on the shared rows (the rest of the LLM frozen)."""
        table = self.llm.get_input_embeddings().weight.detach()
        off, k = self.cfg.llm_offset, self.cfg.codebook_size
        ids = self.windows[torch.randint(len(self.windows), (8,), generator=self.generator)]
        full = torch.cat([table[:off], self.q.codebook, table[off + k :]])
        loss = self.llm(inputs_embeds=F.embedding(ids, full), labels=ids, use_cache=False).loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.lm_losses.append(float(loss.detach()))
        self.sync_llm()

    @torch.no_grad()
    def sync_llm(self) -> None:
        """dual: the LLM's rows are the shared codebook."""
        if self.mode == "dual":
            self.target.copy_(self.q.codebook)

    def summary(self) -> dict:
        out = {"llm_distance_start": self.start, "llm_distance": self.distance(), "language_updates": len(self.updates)}
        if self.updates and self.mode == "language-driven":
            out["language_updates_moved_closer"] = sum(after < before for _, before, after in self.updates)
        if self.lm_losses:
            out["lm_loss_first"], out["lm_loss_last"] = self.lm_losses[0], self.lm_losses[-1]
        return out
