"""VLM assembly: vision encoder → visual path → LLM. The visual path (:mod:`mmdata.model.visual`) is
either a projector (→ Parrot MoE) or a discrete visual tokenizer whose codes are new LLM vocabulary
rows (:mod:`mmdata.model.discrete`); the VLM only uses their common interface.

Visual tokens are spliced where the chat template put the ``<image>`` placeholder runs (one run per
image, in row-major order, i.e. in the order the batch lists its images). A discrete model also fills
``<image-codes>`` runs (in-context image decompression) with the image's code tokens, as inputs and as
targets over the joint vocabulary. Packed rows (several samples per row, told apart by
``segment_ids``) get a block-diagonal causal attention mask, so no sample attends to another.
Training computes the loss as a *sum* over supervised tokens plus the token count, so the trainer can
normalise over the whole global batch (exact under DDP and gradient accumulation).

Generation and answer scoring build the same input embeddings. The MoE routes each image on its
prompt's tokens (Parrot): the routing context is the prompt only — never generated tokens or a scored
answer — so every candidate answer of a question sees the same visual prefix. Generation hands the
embeddings to HF ``generate`` with a KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mmdata.errors import MmdataError
from mmdata.model.chat import IGNORE, IMAGE_TOKEN_ID
from mmdata.model.llm import LayerAffine, load_llm, segment_attention_mask
from mmdata.model.tokenizer import TextTokenizer
from mmdata.model.vision import VisionEncoder, load_clip_vision, read_image_stats
from mmdata.model.visual import VisualTokens, build_visual


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
        with torch.random.fork_rng(devices=[]):  # new modules are initialised from the preset seed
            torch.manual_seed(preset.train.seed)
            self.visual = build_visual(preset, self.vision, llm, weights=weights)
        self.llm_affine: LayerAffine | None = None  # TEAL's per-layer scale and bias (bias-norm tuning)
        self._affine_hooks: list = []
        self.stage = 1
        self.trained_modules: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------ properties

    @property
    def stage(self) -> int:
        return self.visual.stage

    @stage.setter
    def stage(self, value: int) -> None:
        self.visual.stage = int(value)

    @property
    def num_visual_tokens(self) -> int:
        return self.visual.num_tokens

    @property
    def num_code_tokens(self) -> int | None:
        """Length of an image's code sequence (discrete models; None: no decompression task)."""
        return self.visual.num_codes

    @property
    def use_moe(self) -> bool:
        """Whether the visual path routes on the prompt now (a Parrot MoE, from stage 2 on)."""
        return self.visual.routed

    def lr_key(self, name: str) -> str:
        """The learning-rate key (``projector`` / ``moe`` / ``llm``) of parameter ``name``."""
        head, _, rest = name.partition(".")
        if head == "visual":
            return self.visual.lr_key(rest)
        return "llm" if head == "llm_affine" else head

    def add_layer_affine(self) -> LayerAffine:
        """Insert TEAL's per-layer scale and bias (identity) once; later calls return the same one."""
        if self.llm_affine is None:
            dev = self.llm.get_input_embeddings().weight.device
            self.llm_affine = LayerAffine(self.llm).to(dev)
            self._affine_hooks = self.llm_affine.attach(self.llm)
        return self.llm_affine

    def train(self, mode: bool = True):
        super().train(mode)
        if not any(p.requires_grad for p in self.vision.parameters()):
            self.vision.eval()  # a frozen encoder always runs in inference mode
        return self

    # ------------------------------------------------------------------------------- embedding

    def visual_tokens(self, pixel_values, text=None, mask=None):
        """(I, 3, S, S) → visual tokens (I, V, d) and router probabilities (I, E) or None."""
        out = self.visual(pixel_values, self.vision, text, mask)
        return out.embeds, out.router_probs

    def encode_images(self, pixel_values, image_row, input_ids, context_mask, segment_ids=None, image_segment=None) -> VisualTokens:
        """The visual tokens of I images; image ``i`` belongs to row ``image_row[i]`` (and, in packed
        rows, to segment ``image_segment[i]``) and is routed on that row's ``context_mask`` tokens."""
        text = mask = None
        if self.visual.routed:
            text = self.llm.get_input_embeddings()(input_ids[image_row].clamp_min(0))
            mask = context_mask[image_row]
            if segment_ids is not None:
                mask = mask & (segment_ids[image_row] == image_segment[:, None])
        return self.visual(pixel_values, self.vision, text, mask)

    def splice(self, input_ids, visual: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with each ``<image>`` run overwritten by its image's tokens (row-major)."""
        embeds = self.llm.get_input_embeddings()(input_ids.clamp_min(0))  # placeholders look up id 0, then get overwritten
        img_mask = input_ids == IMAGE_TOKEN_ID
        n_vis = 0 if visual is None else visual.shape[0] * visual.shape[1]
        if int(img_mask.sum()) != n_vis:
            raise ValueError(f"{int(img_mask.sum())} image placeholders for {n_vis} visual tokens")
        if visual is None:
            return embeds
        return embeds.masked_scatter(img_mask[..., None], visual.to(embeds.dtype))

    def embed(self, input_ids, segment_ids, prompt_mask, pixel_values=None, image_row=None, image_segment=None):
        """Token embeddings with the visual tokens spliced in; also the router probabilities."""
        embeds, vis = self._embed(input_ids, segment_ids, prompt_mask, pixel_values, image_row, image_segment)
        return embeds, vis.router_probs if vis is not None else None

    def _embed(self, input_ids, segment_ids, prompt_mask, pixel_values=None, image_row=None, image_segment=None):
        """``embed`` plus the images' :class:`VisualTokens` (None for a text-only batch)."""
        n_img = 0 if pixel_values is None else pixel_values.shape[0]
        if n_img:
            vis = self.encode_images(pixel_values, image_row, input_ids, prompt_mask, segment_ids, image_segment)
            return self.splice(input_ids, vis.embeds), vis
        embeds = self.splice(input_ids, None)
        if self.training and any(p.requires_grad for p in self.visual.parameters()):
            # text-only batch while training the visual path: run it on one blank image, so every
            # rank's graph has the same parameters (DDP) — its output enters the loss times zero
            s = self.vision.image_size
            px = torch.zeros(1, 3, s, s, device=embeds.device, dtype=embeds.dtype)
            ctx = torch.zeros(1, input_ids.shape[1], dtype=torch.bool, device=embeds.device)
            out = self.encode_images(px, torch.zeros(1, dtype=torch.long, device=embeds.device), input_ids[:1], ctx)
            zero = out.embeds.sum() * 0 + (out.router_probs.sum() * 0 if out.router_probs is not None else 0)
            embeds = embeds + zero.to(embeds.dtype)
        return embeds, None

    def attention_mask(self, segment_ids) -> torch.Tensor | None:
        """The block-diagonal causal mask of a packed batch; None when every row holds one sample
        (the decoder's own causal mask is the same thing then)."""
        if int(segment_ids.max()) <= 1:
            return None
        dtype = self.llm.get_input_embeddings().weight.dtype
        return segment_attention_mask(segment_ids, self.llm.config._attn_implementation, dtype)

    # --------------------------------------------------------------------------------- training

    def hidden_states(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The decoder's last hidden states (B, T, d) for a training batch, the (shifted) labels over
        the joint vocabulary and the router probabilities."""
        embeds, vis = self._embed(
            batch["input_ids"], batch["segment_ids"], batch["prompt_mask"],
            batch.get("pixel_values"), batch.get("image_row"), batch.get("image_segment"),
        )  # fmt: skip
        embeds, labels = self.visual.splice_codes(embeds, batch["labels"], batch["input_ids"], batch["segment_ids"], batch.get("image_row"),
                                                  batch.get("image_segment"), vis.codes if vis is not None else None)  # fmt: skip
        mask = self.attention_mask(batch["segment_ids"])
        hidden = self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=mask, position_ids=batch["position_ids"], use_cache=False).last_hidden_state
        return hidden, labels, vis.router_probs if vis is not None else None

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the joint vocabulary: the text tokens, then the visual path's own (if any)."""
        logits = self.llm.get_output_embeddings()(hidden)
        extra = self.visual.extra_logits(hidden)
        return logits if extra is None else torch.cat([logits, extra], dim=-1)

    def forward(self, batch: dict) -> dict:
        """Loss *sum* over supervised tokens, their count, and the router probabilities."""
        hidden, labels, probs = self.hidden_states(batch)
        sel = labels != IGNORE
        loss_sum = F.cross_entropy(self.logits(hidden[sel]).float(), labels[sel], reduction="sum")
        return {"loss_sum": loss_sum, "tokens": sel.sum(), "router_probs": probs}

    # ------------------------------------------------------------------------------- generation

    def prompt_visuals(self, input_ids, attention_mask, pixel_values=None, image_row=None, context_mask=None) -> VisualTokens | None:
        """The visual tokens of left-padded prompt rows; each image is routed on its row's
        ``context_mask`` tokens (default: every real, non-image token, i.e. the whole prompt)."""
        if pixel_values is None or pixel_values.shape[0] == 0:
            return None
        if context_mask is None:
            context_mask = attention_mask.bool() & (input_ids != IMAGE_TOKEN_ID)
        return self.encode_images(pixel_values, image_row, input_ids, context_mask.bool() & (input_ids != IMAGE_TOKEN_ID))

    def _prompt_embeds(self, input_ids, attention_mask, pixel_values, image_row, context_mask=None, visual=None):
        if visual is None:
            vis = self.prompt_visuals(input_ids, attention_mask, pixel_values, image_row, context_mask)
            visual = vis.embeds if vis is not None else None
        return self.splice(input_ids, visual)

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
    def reply_logprobs(self, input_ids, attention_mask, visual, rows: list[int], replies: list[list[int]]) -> list[torch.Tensor]:
        """Per reply, the log-probability of each of its tokens after prompt row ``rows[i]`` of the
        left-padded prompts: each prompt runs once and its KV cache is shared by all its replies
        (positions continue from the prompt's last real token, as one concatenated sequence has them)."""
        dec, head = self.llm.get_decoder(), self.llm.get_output_embeddings()
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = dec(inputs_embeds=self.splice(input_ids, visual), attention_mask=attention_mask, position_ids=position_ids,
                  use_cache=True)  # fmt: skip
        first = torch.log_softmax(head(out.last_hidden_state[:, -1]).float(), dim=-1)
        width = max(map(len, replies)) - 1
        rest = None
        if width > 0:  # every reply but its last token continues the shared prefix (right-padded)
            idx = torch.tensor(rows, dtype=torch.long, device=input_ids.device)
            cache = out.cache
            cache.reorder_cache(idx)
            cont = torch.full((len(replies), width), self.tokenizer.pad_id, dtype=torch.long, device=input_ids.device)
            cmask = torch.zeros_like(cont)
            for i, r in enumerate(replies):
                cont[i, : len(r) - 1] = torch.tensor(r[:-1], dtype=torch.long)
                cmask[i, : len(r) - 1] = 1
            pmask = attention_mask[idx]
            pos = pmask.long().sum(-1, keepdim=True) + torch.arange(width, device=input_ids.device)
            hidden = dec(inputs_embeds=self.splice(cont, None), attention_mask=torch.cat([pmask, cmask], dim=1),
                         position_ids=pos, cache=cache, use_cache=True).last_hidden_state  # fmt: skip
            rest = torch.log_softmax(head(hidden).float(), dim=-1)
        lps = []
        for i, r in enumerate(replies):
            lp = [first[rows[i], r[0]]]
            lp += [rest[i, j - 1, r[j]] for j in range(1, len(r))] if rest is not None else []
            lps.append(torch.stack(lp))
        return lps

    @torch.no_grad()
    def token_logits(self, input_ids, attention_mask, pixel_values=None, image_row=None, *, context_mask=None, visual=None,
                     last: int | None = None):  # fmt: skip
        """Next-token logits (text vocabulary) at every position of left-padded sequences (positions
        counted from each row's first real token, as :meth:`generate` does), or at the ``last``
        positions only: the hook for scoring answers. ``context_mask`` limits the MoE's routing
        context (pass the prompt, not the scored answer); ``visual`` (I, V, d) supplies precomputed
        visual tokens instead of ``pixel_values``."""
        embeds = self._prompt_embeds(input_ids, attention_mask, pixel_values, image_row, context_mask, visual)
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        hidden = self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                                        use_cache=False).last_hidden_state  # fmt: skip
        if last is not None:
            hidden = hidden[:, -last:]
        return self.llm.get_output_embeddings()(hidden).float()


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
