"""Is the tiny LLM's failure to look things up a bug, or how small transformers learn? A synthetic
associative-recall task (key–value token pairs, then every key again in a random order; the loss and
the accuracy are on the values only) trains either the ``tiny-cpu`` Llama exactly as built for the
world (``llama``: HF ``LlamaForCausalLM``, RoPE, SDPA) or a plain PyTorch pre-norm transformer of the
same width, depth, heads and MLP size with learned positions (``reference``). If the two learn alike,
the Llama stack is not what stops the lookup (``lm_lookup.py``).

    .venv/bin/python benchmarks/science/recall_sanity.py llama|reference STEPS [--lr 1e-3] [--pairs 4]
        [--values 8] [--keys 990] [--batch 16] [--init STD] [--arch "{hidden_size: 384, layers: 4, …}"]

Defaults: lr 1e-3, 4 pairs, values drawn from 8 tokens, keys from 990 (6 for the world's six shapes),
batch 16 (stage 2's), the Llama's initial-weight std at transformers' 0.02, the ``tiny-cpu`` LLM's
``llm.arch`` (``--arch`` replaces it, for both models), seed 0. Prints the
accuracy a model reaches without any lookup (a value drawn from the pairs not yet asked), then the
held-out value accuracy (64 fresh sequences) every 250 steps. About 0.03 s per step on two cores.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from torch import nn

VOCAB = 2048


class Reference(nn.Module):
    """A minimal causal transformer: token + learned position embeddings, pre-norm blocks, linear head."""

    def __init__(self, arch, max_len: int = 64) -> None:
        super().__init__()
        d = arch.hidden_size
        self.emb, self.pos = nn.Embedding(VOCAB, d), nn.Embedding(max_len, d)
        layer = nn.TransformerEncoderLayer(d, arch.heads, arch.intermediate, 0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, arch.layers, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, VOCAB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        return self.head(self.norm(self.blocks(self.emb(x) + self.pos(torch.arange(t)), mask=mask, is_causal=True)))


def main(kind: str, steps: int, lr: float, pairs: int, values: int, keys: int, batch_size: int, init: float | None, arch: str | None, embed_init: float | None = None) -> None:
    from mmdata.model.config import load_preset
    from mmdata.model.llm import build_world_llm

    torch.set_num_threads(2)
    torch.manual_seed(0)
    sets = [*([f"llm.arch={arch}"] if arch else []), *([f"llm.arch.init_std={init}"] if init is not None else []),
            *([f"llm.arch.embed_init={embed_init}"] if embed_init is not None else [])]  # fmt: skip
    spec = load_preset("tiny-cpu", sets=sets).llm.arch
    if kind == "llama":  # built as stage 0 builds the world's LLM (the reference ignores the init scales)
        hf = build_world_llm(spec, VOCAB, bos=1, eos=2, pad=0)
        model, logits_of = hf, lambda x: hf(input_ids=x).logits
    else:
        model = Reference(spec)
        logits_of = model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    rng = random.Random(0)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, scored = [], []
        for _ in range(n):
            ks = rng.sample(range(10, 10 + keys), pairs)
            vals = [rng.randrange(1000, 1000 + values) for _ in ks]
            seq, mask = [1, *(t for kv in zip(ks, vals, strict=True) for t in kv)], [False] * (1 + 2 * pairs)
            for i in rng.sample(range(pairs), pairs):
                seq += [ks[i], vals[i]]
                mask += [False, True]
            xs.append(seq)
            scored.append(mask)
        x = torch.tensor(xs)
        return x, x.masked_fill(~torch.tensor(scored), -100)

    # what a model that never looks a key up can reach: a value drawn from the pairs not yet asked
    sim = random.Random(1)
    guess = []
    for _ in range(2000):
        vals = [sim.randrange(values) for _ in range(pairs)]
        order = sim.sample(range(pairs), pairs)
        guess += [sum(vals[j] == vals[i] for j in order[k:]) / (pairs - k) for k, i in enumerate(order)]
    print(f"without lookup (a value of the pairs not yet asked): {100 * sum(guess) / len(guess):.1f} %", flush=True)
    t0 = time.time()
    for step in range(steps):
        x, labels = batch(batch_size)
        logits = logits_of(x)[:, :-1]
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 250 == 0:
            with torch.no_grad():
                x, labels = batch(64)
                pred, gold = logits_of(x)[:, :-1].argmax(-1), labels[:, 1:]
                acc = ((pred == gold) & (gold != -100)).sum().item() / (gold != -100).sum().item()
            print(f"step {step + 1:>6}  loss {loss.item():.3f}  value accuracy {100 * acc:5.1f} %  {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("kind", choices=["llama", "reference"])
    cli.add_argument("steps", type=int)
    cli.add_argument("--lr", type=float, default=1e-3)
    cli.add_argument("--pairs", type=int, default=4)
    cli.add_argument("--values", type=int, default=8)
    cli.add_argument("--keys", type=int, default=990)
    cli.add_argument("--batch", type=int, default=16)
    cli.add_argument("--init", type=float, default=None, help="the Llama's initial-weight std (transformers: 0.02)")
    cli.add_argument("--embed-init", type=float, default=None, help="the Llama's input-embedding std")
    cli.add_argument("--arch", default=None, help="a YAML mapping that replaces tiny-cpu's llm.arch")
    a = cli.parse_args()
    main(a.kind, a.steps, a.lr, a.pairs, a.values, a.keys, a.batch, a.init, a.arch, a.embed_init)
