"""VLM assembly: vision encoder → projector → [Parrot MoE] → LLM, or, with ``visual: discrete``,
image → discrete visual tokenizer → new LLM vocabulary rows (:mod:`mmdata.model.discrete`).

Visual tokens are spliced where the chat template put the ``<image>`` placeholder run (one image
per sample, in batch order). A discrete model also fills ``<image-codes>`` runs (in-context image
decompression) with the image's code tokens, as inputs and as targets over the joint vocabulary. Training computes the loss as a *sum* over supervised tokens plus the
token count, so the trainer can normalise over the whole global batch (exact under DDP and gradient
accumulation). Generation builds the same input embeddings and hands them to HF ``generate`` with a
KV cache; the MoE runs once, at prefill, with every prompt token as routing context (Parrot).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mmdata.errors import MmdataError
from mmdata.model.chat import CODES_TOKEN_ID, IGNORE, IMAGE_TOKEN_ID
from mmdata.model.llm import load_llm
from mmdata.model.moe import ParrotMoE
from mmdata.model.projectors import build_projector
from mmdata.model.tokenizer import TextTokenizer
from mmdata.model.vision import VisionEncoder, load_clip_vision, read_image_stats


@dataclass(frozen=True)
class Backbones:
    """Local directories the stack is built from (stage-0 output, a user's checkpoints, or a VLM
    checkpoint's config-only folders with ``weights=False``)."""

    vision: Path
    llm: Path
    tokenizer: Path
    weights: bool = True


class VLM(nn.Module):
    def __init__(self, preset, clip, llm, tokenizer: TextTokenizer, mean=None, std=None, *, weights: bool = True) -> None:
        super().__init__()
        self.preset = preset
        kw = {} if mean is None else {"mean": mean, "std": std}
        self.vision = VisionEncoder(clip, preset.vision.feature_layer, **kw)
        self.llm = llm
        self.tokenizer = tokenizer
        self.keep_cls = preset.vision.keep_cls
        self.discrete = preset.is_discrete
        d = llm.get_input_embeddings().embedding_dim
        with torch.random.fork_rng(devices=[]):  # new modules are initialised from the preset seed
            torch.manual_seed(preset.train.seed)
            if self.discrete:  # the visual path takes the projector's slot (and its stage rules)
                from mmdata.model.discrete import build_discrete

                self.projector = build_discrete(preset, self.vision, llm, weights=weights)
            else:
                self.projector = build_projector(preset.projector, self.vision.hidden_size, d, self.vision.num_patches, self.keep_cls)
            m = preset.moe
            self.moe = ParrotMoE(d, m.experts, m.intermediate, m.alpha, m.residual) if m.enabled else None
        self.stage = 1
        self.trained_modules: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------ properties

    @property
    def num_visual_tokens(self) -> int:
        return self.projector.num_tokens + int(self.keep_cls and not self.discrete)

    @property
    def num_code_tokens(self) -> int | None:
        """Length of an image's code sequence (discrete models; None: no decompression task)."""
        return self.projector.num_codes if self.discrete else None

    @property
    def use_moe(self) -> bool:
        return self.moe is not None and self.stage >= 2

    def train(self, mode: bool = True):
        super().train(mode)
        if not any(p.requires_grad for p in self.vision.parameters()):
            self.vision.eval()  # a frozen encoder always runs in inference mode
        return self

    # ------------------------------------------------------------------------------- embedding

    def visual_tokens(self, pixel_values, text=None, mask=None):
        """(I, 3, S, S) → visual tokens (I, V, d) and router probabilities (I, E) or None."""
        if self.discrete:
            return self.projector(pixel_values, self.vision)[0], None
        frozen = not any(p.requires_grad for p in self.vision.parameters())
        ctx = torch.no_grad() if frozen else contextlib.nullcontext()
        with ctx:
            cls, patches = self.vision(pixel_values)
        if self.keep_cls:
            vis, cls_tok = self.projector(patches, cls)
            vis = torch.cat([cls_tok[:, None], vis], dim=1)
        else:
            vis = self.projector(patches)
        probs = None
        if self.use_moe:
            vis, probs = self.moe(vis, text, mask)
        return vis, probs

    def embed(self, input_ids, segment_ids, prompt_mask, pixel_values=None, image_row=None, image_segment=None):
        """Token embeddings with the visual tokens spliced in; also the router probabilities."""
        embeds, probs, _ = self._embed(input_ids, segment_ids, prompt_mask, pixel_values, image_row, image_segment)
        return embeds, probs

    def _embed(self, input_ids, segment_ids, prompt_mask, pixel_values=None, image_row=None, image_segment=None):
        """``embed`` plus the images' codes (discrete models; else None)."""
        table = self.llm.get_input_embeddings()
        img_mask = input_ids == IMAGE_TOKEN_ID
        embeds = table(input_ids.clamp_min(0))  # placeholders look up id 0, then get overwritten
        n_img = 0 if pixel_values is None else pixel_values.shape[0]
        trains_visual = self.training and any(p.requires_grad for p in self.projector.parameters())
        if n_img == 0 and not trains_visual:
            return embeds, None, None
        if n_img == 0:  # text-only batch while training the projector: keep every rank's graph the same
            s = self.vision.image_size
            px = torch.zeros(1, 3, s, s, device=embeds.device, dtype=embeds.dtype)
            text, mask = embeds[:1], torch.zeros_like(img_mask[:1])
            vis, probs = self.visual_tokens(px, text, mask)
            zero = vis.sum() * 0 + (probs.sum() * 0 if probs is not None else 0)
            if self.discrete:  # the output rows too (DDP expects a gradient for every trained parameter)
                zero = zero + self.projector.head.sum() * 0
            return embeds + zero.to(embeds.dtype), None, None
        codes = None
        if self.discrete:
            vis, codes = self.projector(pixel_values, self.vision)
            probs = None
        else:
            text = embeds[image_row]
            mask = prompt_mask[image_row] & (segment_ids[image_row] == image_segment[:, None])
            vis, probs = self.visual_tokens(pixel_values, text, mask)
        if int(img_mask.sum()) != vis.shape[0] * vis.shape[1]:
            raise ValueError(f"{int(img_mask.sum())} image placeholders for {vis.shape[0]}×{vis.shape[1]} visual tokens")
        embeds = embeds.masked_scatter(img_mask[..., None], vis.to(embeds.dtype))
        return embeds, probs, codes

    def _splice_codes(self, embeds, labels, input_ids, segment_ids, image_row, image_segment, codes):
        """Fill each ``<image-codes>`` run with its image's codes (position-major, D per position):
        code-token embeddings as inputs and visual-token ids ``V + code`` as the shifted targets."""
        run = input_ids == CODES_TOKEN_ID
        if not bool(run.any()):
            return embeds, labels
        if codes is None:
            raise ValueError("code placeholders in a batch without images (or in a projector model)")
        rows = self.projector.rows().to(embeds.dtype)
        labels = labels.clone()
        taken = 0
        for i in range(codes.shape[0]):
            r, s = int(image_row[i]), int(image_segment[i])
            pos = torch.nonzero(run[r] & (segment_ids[r] == s)).squeeze(1)
            if pos.numel() == 0:
                continue
            flat = codes[i].reshape(-1)
            if pos.numel() != flat.numel():
                raise ValueError(f"{pos.numel()} code placeholders for an image with {flat.numel()} codes")
            embeds = embeds.index_put((torch.full_like(pos, r), pos), rows[flat])
            labels[r, pos - 1] = self.projector.text_vocab + flat
            taken += pos.numel()
        if taken != int(run.sum()):
            raise ValueError(f"{int(run.sum()) - taken} code placeholders belong to no image")
        return embeds, labels

    # --------------------------------------------------------------------------------- training

    def forward(self, batch: dict) -> dict:
        """Loss *sum* over supervised tokens, their count, and the router probabilities."""
        embeds, probs, codes = self._embed(
            batch["input_ids"], batch["segment_ids"], batch["prompt_mask"],
            batch.get("pixel_values"), batch.get("image_row"), batch.get("image_segment"),
        )  # fmt: skip
        labels = batch["labels"]
        if self.discrete:
            embeds, labels = self._splice_codes(embeds, labels, batch["input_ids"], batch["segment_ids"], batch.get("image_row"),
                                                batch.get("image_segment"), codes)  # fmt: skip
        hidden = self.llm.get_decoder()(inputs_embeds=embeds, position_ids=batch["position_ids"], use_cache=False).last_hidden_state
        sel = labels != IGNORE
        logits = self.llm.get_output_embeddings()(hidden[sel])
        if self.discrete:  # the joint vocabulary: text tokens, then the K visual tokens
            logits = torch.cat([logits, self.projector.code_logits(hidden[sel])], dim=-1)
        loss_sum = F.cross_entropy(logits.float(), labels[sel], reduction="sum")
        return {"loss_sum": loss_sum, "tokens": sel.sum(), "router_probs": probs}

    # ------------------------------------------------------------------------------- generation

    def _prompt_embeds(self, input_ids, attention_mask, pixel_values, image_row):
        prompt_mask = attention_mask.bool() & (input_ids != IMAGE_TOKEN_ID)
        img_seg = None if image_row is None else torch.ones_like(image_row)
        embeds, _ = self.embed(input_ids, attention_mask.long(), prompt_mask, pixel_values, image_row, img_seg)
        return embeds

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, pixel_values=None, image_row=None, max_new_tokens: int = 16):
        """Greedy decoding with the KV cache; ``input_ids`` are left-padded prompts."""
        embeds = self._prompt_embeds(input_ids, attention_mask, pixel_values, image_row)
        tok = self.tokenizer
        return self.llm.generate(
            inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
            do_sample=False, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id,
        )  # fmt: skip

    @torch.no_grad()
    def token_logits(self, input_ids, attention_mask, pixel_values=None, image_row=None):
        """Next-token logits at every position of left-padded sequences (positions counted from
        each row's first real token, as :meth:`generate` does): the hook for scoring answers."""
        embeds = self._prompt_embeds(input_ids, attention_mask, pixel_values, image_row)
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.llm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids).logits.float()


def build_vlm(preset, backbones: Backbones) -> VLM:
    """Build the stack from local directories (the one path every model is loaded through). A
    discrete preset's tokenizer comes from ``discrete.tokenizer`` or is trained on the fly on the
    stage-0 world and cached (``weights=False``: a checkpoint's copy is loaded afterwards)."""
    fields = {"vision": "vision.path", "llm": "llm.path", "tokenizer": "llm.path"}
    for part, field in fields.items():
        d = Path(getattr(backbones, part))
        if not d.is_dir():
            raise MmdataError(f"{part} directory not found: {d}", file=preset.file, field=field)
        if not (d / ("tokenizer_config.json" if part == "tokenizer" else "config.json")).is_file():
            what = "tokenizer files" if part == "tokenizer" else "config.json"
            raise MmdataError(f"{part} directory {d} has no {what} (expected a save_pretrained folder)", file=preset.file, field=field)
    try:
        clip = load_clip_vision(backbones.vision, weights=backbones.weights)
        llm = load_llm(backbones.llm, weights=backbones.weights)
        tok = TextTokenizer.load(backbones.tokenizer)
    except (OSError, ValueError) as e:
        raise MmdataError(f"cannot load backbones: {' '.join(str(e).split())[:300]}", file=preset.file) from None
    mean, std = read_image_stats(backbones.vision)
    return VLM(preset, clip, llm, tok, mean, std, weights=backbones.weights)
