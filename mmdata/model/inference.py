"""Generation from a checkpoint: the hook the benchmark harness uses (``mmdata:CKPT``).

    gen = load_for_generation("runs/stage2")
    gen.generate([[img1], [img2]], ["What colour is the square?", "How many objects?"], max_new_tokens=16)

Prompts come without ``<image>``; :meth:`Generator.generate` applies the chat template, puts one
``<image>`` per image at the start of the user turn (as the builder renders training rows; an empty
list means a text-only prompt), left-pads the batch and decodes greedily with the KV cache.

:meth:`Generator.choose` answers a closed question by likelihood instead, scoring the reply that
training taught for the prompt's format (multiple choice by likelihood, as lmms-eval's
``multiple_choice`` output type does). The rule (:class:`ChoiceScoring`, ``auto`` by default):

* **letter** — when the prompt lists the options as lettered lines (``A. text``: how every
  ``vqa_mc`` training template and the benchmark prompt show them), training taught a bare letter
  after ``ASSISTANT:`` (``answer_letter``, then ``</s>``). Each option is scored by the
  log-probability of the reply ``KEY</s>``;
* **text** — otherwise (an open question, as VQA training teaches it: the answer text, then
  ``</s>``), each option by the mean log-probability per token of the reply ``TEXT</s>``
  (length-normalised, so long options are not penalised for their length).

Every option of a question is scored on the same prefix: the prompt's token ids, and visual tokens
computed once per question with the MoE routed on the prompt tokens only (never on a candidate
answer); the prompt runs through the LLM once and its KV cache is shared by the options' replies
(the test checks this against one unpadded sequence per option). Continuations are tokenized as
training tokenizes an answer piece (on its own, after the ``ASSISTANT: `` piece).
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

import torch

from mmdata.model import chat


class ChoiceScoring(enum.StrEnum):
    """Which reply :meth:`Generator.choose` scores (see the module docstring)."""

    AUTO = "auto"  # letter when the prompt lists lettered options, else text
    LETTER = "letter"  # the option key, then </s>: log-probability
    TEXT = "text"  # the option text, then </s>: mean log-probability per token


def lists_options(prompt: str, options: dict[str, str]) -> bool:
    """Whether ``prompt`` shows every option as a lettered line ``KEY. text`` (the taught MC format)."""
    return all(re.search(rf"(?m)^{re.escape(k)}\. ", prompt) for k in options)


class Generator:
    def __init__(self, vlm, config: dict, device: torch.device) -> None:
        self.vlm, self.config, self.device = vlm, config, device
        self.tokenizer = vlm.tokenizer

    @property
    def name(self) -> str:
        return f"{self.config['preset']['name']}-stage{self.config['stage']}-step{self.config['step']}"

    def prompt_ids(self, n_images: int, prompt: str) -> list[int]:
        """Token ids of a single-turn prompt up to (and including) the assistant prefix."""
        pieces = chat.render(chat.prompt_turns(prompt, n_images), generation_prompt=True)
        return chat.encode(self.tokenizer, pieces, self.vlm.num_visual_tokens)[0]

    def encode(self, images: list[list], prompts: list[str]) -> dict:
        """Left-padded prompt batches: ``input_ids``, ``attention_mask`` and, when any prompt has
        images, ``pixel_values`` with ``image_row`` (every image of row 0, then of row 1, …)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} image lists for {len(prompts)} prompts")
        seqs = [self.prompt_ids(len(imgs), prompt) for imgs, prompt in zip(images, prompts, strict=True)]
        out = self._pad(seqs)
        pix = [self.vlm.vision.transform(im) for imgs in images for im in imgs]
        if pix:
            out["pixel_values"] = torch.stack(pix).to(self.device)
            out["image_row"] = torch.tensor([k for k, imgs in enumerate(images) for _ in imgs], device=self.device)
        return out

    def _pad(self, seqs: list[list[int]]) -> dict:
        width = max(map(len, seqs))
        input_ids = torch.full((len(seqs), width), self.tokenizer.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for k, ids in enumerate(seqs):  # left padding
            input_ids[k, width - len(ids) :] = torch.tensor(ids)
            attention[k, width - len(ids) :] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention.to(self.device)}

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    @torch.no_grad()
    def generate(self, images: list[list], prompts: list[str], max_new_tokens: int = 16) -> list[str]:
        if not prompts:
            return []
        batch = self.encode(images, prompts)
        with self._autocast():
            out = self.vlm.generate(batch["input_ids"], batch["attention_mask"], batch.get("pixel_values"), batch.get("image_row"),
                                    max_new_tokens=max_new_tokens)  # fmt: skip
        texts = []
        for row in out.tolist():
            if self.tokenizer.eos_id in row:
                row = row[: row.index(self.tokenizer.eos_id)]
            texts.append(self.tokenizer.decode(row).strip())
        return texts

    def rule(self, prompt: str, options: dict[str, str], scoring: ChoiceScoring | str = ChoiceScoring.AUTO) -> ChoiceScoring:
        """The scoring rule ``choose`` applies to one question (``LETTER`` or ``TEXT``)."""
        scoring = ChoiceScoring(scoring)
        if scoring is ChoiceScoring.AUTO:
            return ChoiceScoring.LETTER if lists_options(prompt, options) else ChoiceScoring.TEXT
        return scoring

    def reply_ids(self, key: str, text: str, rule: ChoiceScoring) -> list[int]:
        """The scored reply of one option: its key or its text, then ``</s>`` (as training ends an answer)."""
        return self.tokenizer.encode(key if rule is ChoiceScoring.LETTER else text) + [self.tokenizer.eos_id]

    @torch.no_grad()
    def option_scores(self, images: list[list], prompts: list[str], choices: list[dict[str, str]],
                      scoring: ChoiceScoring | str = ChoiceScoring.AUTO) -> list[dict[str, float]]:  # fmt: skip
        """Per question, each option key's score under :meth:`rule` (higher is more likely)."""
        if len(choices) != len(prompts):
            raise ValueError(f"{len(choices)} choice sets for {len(prompts)} prompts")
        if not prompts:
            return []
        q = self.encode(images, prompts)
        with self._autocast():  # visual tokens once per question, routed on the prompt only
            vis = self.vlm.prompt_visuals(q["input_ids"], q["attention_mask"], q.get("pixel_values"), q.get("image_row"))
        flat, rows, replies, rules = [], [], [], []
        for k, opts in enumerate(choices):
            rule = self.rule(prompts[k], opts, scoring)
            for key, text in sorted(opts.items()):
                flat.append((k, key))
                rows.append(k)
                replies.append(self.reply_ids(key, text, rule))
                rules.append(rule)
        scores: list[dict[str, float]] = [{} for _ in prompts]
        if not replies:
            return scores
        with self._autocast():  # the prompt once per question, its KV cache shared by the options
            lps = self.vlm.reply_logprobs(q["input_ids"], q["attention_mask"], vis.embeds if vis is not None else None, rows, replies)
        for (k, key), lp, rule in zip(flat, lps, rules, strict=True):
            scores[k][key] = float(lp.sum() if rule is ChoiceScoring.LETTER else lp.mean())
        return scores

    def choose(self, images: list[list], prompts: list[str], choices: list[dict[str, str]],
               scoring: ChoiceScoring | str = ChoiceScoring.AUTO) -> list[str]:  # fmt: skip
        """For each prompt, the key of the option in ``choices`` (``{letter: text}``) whose reply the
        model finds most likely (rule: module docstring; ties go to the first key in sorted order);
        ``""`` for a question without options."""
        scores = self.option_scores(images, prompts, choices, scoring)
        return [max(sorted(s), key=s.__getitem__) if s else "" for s in scores]


def load_for_generation(ckpt_dir: str | Path, device: str | torch.device | None = None) -> Generator:
    """Load a trained checkpoint for batched greedy generation (see module docstring)."""
    from mmdata.model.checkpoint import load_vlm

    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vlm, cfg = load_vlm(ckpt_dir)
    vlm.to(dev).eval()
    return Generator(vlm, cfg, dev)
