"""Generation from a checkpoint: the hook the benchmark harness uses (``mmdata:CKPT``).

    gen = load_for_generation("runs/stage2")
    gen.generate([[img1], [img2]], ["What colour is the square?", "How many objects?"], max_new_tokens=16)

Prompts come without ``<image>``; :meth:`Generator.generate` applies the chat template, puts one
image at the start of the user turn (the first of each inner list; an empty list means a text-only
prompt), left-pads the batch and decodes greedily with the KV cache.

:meth:`Generator.choose` scores a closed answer set instead: each option's text appended to the
prompt, the option with the highest mean log-probability per token wins (multiple choice by
likelihood, as lmms-eval's ``multiple_choice`` output type does). Small models that know the answer
but not yet the reply format (a letter, in the question's language) are measured by what they know.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mmdata.model import chat


class Generator:
    def __init__(self, vlm, config: dict, device: torch.device) -> None:
        self.vlm, self.config, self.device = vlm, config, device
        self.tokenizer = vlm.tokenizer

    @property
    def name(self) -> str:
        return f"{self.config['preset']['name']}-stage{self.config['stage']}-step{self.config['step']}"

    def encode(self, images: list[list], prompts: list[str], continuations: list[str] | None = None) -> dict:
        """Left-padded prompt batches; with ``continuations``, each prompt is followed by its answer
        text and ``n_cont`` holds the answer's token count."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} image lists for {len(prompts)} prompts")
        tok, n_vis = self.tokenizer, self.vlm.num_visual_tokens
        seqs, pix, rows, n_cont = [], [], [], []
        for k, (imgs, prompt) in enumerate(zip(images, prompts, strict=True)):
            with_image = bool(imgs)
            pieces = chat.render(chat.prompt_turns(prompt, with_image), generation_prompt=True)
            ids, _ = chat.encode(tok, pieces, n_vis)
            if continuations is not None:
                cont = tok.encode(continuations[k])
                n_cont.append(len(cont))
                ids = ids + cont
            seqs.append(ids)
            if with_image:
                pix.append(self.vlm.vision.transform(imgs[0]))
                rows.append(k)
        width = max(map(len, seqs))
        input_ids = torch.full((len(seqs), width), tok.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for k, ids in enumerate(seqs):  # left padding
            input_ids[k, width - len(ids) :] = torch.tensor(ids)
            attention[k, width - len(ids) :] = 1
        out = {"input_ids": input_ids, "attention_mask": attention}
        if pix:
            out["pixel_values"] = torch.stack(pix)
            out["image_row"] = torch.tensor(rows)
        if continuations is not None:
            out["n_cont"] = torch.tensor(n_cont)
        return {k: v.to(self.device) for k, v in out.items()}

    @torch.no_grad()
    def generate(self, images: list[list], prompts: list[str], max_new_tokens: int = 16) -> list[str]:
        if not prompts:
            return []
        batch = self.encode(images, prompts)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with autocast:
            out = self.vlm.generate(batch["input_ids"], batch["attention_mask"], batch.get("pixel_values"), batch.get("image_row"),
                                    max_new_tokens=max_new_tokens)  # fmt: skip
        texts = []
        for row in out.tolist():
            if self.tokenizer.eos_id in row:
                row = row[: row.index(self.tokenizer.eos_id)]
            texts.append(self.tokenizer.decode(row).strip())
        return texts

    @torch.no_grad()
    def choose(self, images: list[list], prompts: list[str], choices: list[dict[str, str]]) -> list[str]:
        """For each prompt, the key of the answer text in ``choices`` (``{letter: text}``) that the
        model finds most likely after the prompt: mean log-probability per answer token."""
        if len(choices) != len(prompts):
            raise ValueError(f"{len(choices)} choice sets for {len(prompts)} prompts")
        flat = [(k, key, text) for k, opts in enumerate(choices) for key, text in sorted(opts.items())]
        if not flat:
            return [""] * len(prompts)
        batch = self.encode([images[k] for k, _, _ in flat], [prompts[k] for k, _, _ in flat],
                            continuations=[text for _, _, text in flat])  # fmt: skip
        n_cont = batch.pop("n_cont")
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with autocast:
            logits = self.vlm.token_logits(batch["input_ids"], batch["attention_mask"], batch.get("pixel_values"), batch.get("image_row"))
        width = max(int(n_cont.max()), 1)  # answers sit at the right end of each (left-padded) row
        targets = batch["input_ids"][:, -width:]
        logp = torch.log_softmax(logits[:, -width - 1 : -1], dim=-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        best: dict[int, tuple[float, str]] = {}
        for r, (k, key, _) in enumerate(flat):
            n = int(n_cont[r])
            score = float(logp[r, -n:].mean()) if n else float("-inf")
            if k not in best or score > best[k][0]:
                best[k] = (score, key)
        return [best[k][1] if k in best else "" for k in range(len(prompts))]


def load_for_generation(ckpt_dir: str | Path, device: str | torch.device | None = None) -> Generator:
    """Load a trained checkpoint for batched greedy generation (see module docstring)."""
    from mmdata.model.checkpoint import load_vlm

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vlm, cfg = load_vlm(ckpt_dir)
    vlm.to(dev).eval()
    return Generator(vlm, cfg, dev)
