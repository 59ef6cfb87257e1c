"""Stage 0 (world presets only): backbones for a world that has no pretrained weights.

1. a byte-level BPE tokenizer trained with ``tokenizers`` on world text in all six languages;
2. CLIP-style contrastive pretraining of the vision encoder on world images and their captions
   (symmetric InfoNCE with a learned temperature; a small CLIP text tower that is then discarded),
   with scene-graph supervision beside it (:class:`SceneHeads`, also discarded): captions alone let
   the encoder tell a batch's images apart by colours and background and ignore shapes and counts,
   which a real pretrained CLIP does see (shapes stay weak at the tiny scale even so: measured in
   ``reports/ablations/tiny-config.md``);
3. causal-LM pretraining of the Llama on world text (captions, descriptions, questions and answers).

The world is the one the preset names (``stage0.world_size`` / ``world_seed``), generated on demand
into the cache. Only training-pool scenes are used, never the held-out benchmark space. The output
(``tokenizer/``, ``vision/``, ``llm/`` as save_pretrained folders, plus ``stage0.json``) is cached
under ``cache_dir("stage0", <hash>)``, the hash covering the architectures, the stage-0 recipe and
this module's version, so every ablation arm and every repeated run reuses it.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import orjson
import torch
import torch.nn.functional as F
from PIL import Image

from mmdata.io import atomic_write_bytes, dumps_json
from mmdata.model.llm import build_world_llm, quiet_hf
from mmdata.model.tokenizer import TextTokenizer, save_bpe, train_bpe
from mmdata.model.vision import ImageTransform, vision_hf_config
from mmdata.schema import LANGUAGES

STAGE0_VERSION = "2"  # 2: scene-graph supervision beside the contrastive loss


def stage0_inputs(preset) -> dict:
    """What stage 0 depends on: the backbone architectures, the stage-0 recipe, this module's version
    and the content key of the world it trains on (so a changed world generator retrains it)."""
    from mmdata.world.generate import world_inputs

    s0 = preset.stage0
    return {"v": STAGE0_VERSION, "vision": preset.vision.arch.model_dump(), "llm": preset.llm.arch.model_dump(),
            "stage0": s0.model_dump(), "world": world_inputs(s0.world_size, s0.world_seed, s0.world_image_size)}  # fmt: skip


def stage0_key(preset) -> str:
    from mmdata import cache

    return cache.key_of("stage0", stage0_inputs(preset))


def world_for(s0) -> Path:
    """The stage-0 world, from the content cache (generated on first use)."""
    from mmdata.world.generate import cached_world

    return cached_world(s0.world_size, s0.world_seed, s0.world_image_size)


def _image_path(world: Path, scene) -> Path:
    pool, ident = scene.pool, int(scene.scene_id.split("-")[1])
    from mmdata.world.pools import BOOK_ID0, COCO_ID0, VG_ID0, coco_2017

    if pool == "coco":
        return world / "images/coco" / coco_2017(COCO_ID0 + ident)
    if pool == "vg":
        return world / f"images/vg/VG_100K/{VG_ID0 + ident}.jpg"
    return world / f"images/ocr/{BOOK_ID0 + ident * 7919}.jpg"


def world_scenes(world: Path) -> list:
    from mmdata.world.scene import Scene

    out = []
    for f in sorted((world / "scenes").glob("*.jsonl")):
        for line in f.read_bytes().splitlines():
            if line:
                s = Scene.from_json(orjson.loads(line))
                out.append((s, _image_path(world, s)))
    return out


def text_scenes(s0) -> list:
    """``stage0.lm.text_scenes`` scenes drawn as the world draws COCO's, on their own random streams, for
    the LM's documents only (no image path)."""
    from mmdata.world.scene import make_scene, rng_for

    size = s0.world_image_size
    return [(make_scene(rng_for(s0.world_seed, "stage0-text", i), f"text-{i}", "coco", size, size), None) for i in range(s0.lm.text_scenes)]


def world_text(scenes: list, seed: int) -> tuple[list[list[str]], list[str]]:
    """Per-scene captions (all languages and templates) and LM documents in all six languages."""
    from mmdata.world.lexicon import lexicon
    from mmdata.world.writers.captions import caption
    from mmdata.world.writers.llava import conversation, detail

    rng = random.Random(f"mmdata/stage0/{seed}")
    captions, docs = [], []
    for scene, _ in scenes:
        caps = []
        for lang in LANGUAGES:
            n = len(lexicon(lang)["captions"])
            caps += [caption(scene, lang, t, rng) for t in range(n)]
            conv = conversation(scene, lang, rng, 4)
            qa = [t["value"].replace("<image>", "").strip() for t in conv]
            desc = detail(scene, lang, rng)[1]["value"]
            docs.append("\n".join([caps[-1], desc, *(f"{q} {a}" for q, a in zip(qa[::2], qa[1::2], strict=True))]))
        captions.append(caps)
    return captions, docs


MAX_COUNT = 8  # object counts above this share the last class
MAX_OBJECTS = 8  # objects per scene with object-level targets (the world draws at most 5)


def scene_labels(scene, image_size: int, patch_size: int) -> dict[str, np.ndarray]:
    """One scene's targets for :class:`SceneHeads`: per patch (row-major, as the ViT orders them) the
    shape and the colour of the object covering most of the patch — at least a quarter of it — or 0
    (none); per object (up to :data:`MAX_OBJECTS`; -100 for absent ones) its shape, colour and size,
    and its pooling weights over the patches (each patch's share of the object's pixels); the
    background, the object count and the written word (0: none; -100 where a label does not apply:
    a book cover's title is not one of the scene words)."""
    from PIL import Image as PILImage

    from mmdata.world.lexicon import SHAPES, SIZES
    from mmdata.world.render import RGB, object_mask
    from mmdata.world.scene import OCR_WORDS

    colours = tuple(RGB)
    mask = object_mask(scene)
    if mask.size != (image_size, image_size):
        mask = mask.resize((image_size, image_size), PILImage.NEAREST)
    g = image_size // patch_size
    m = np.asarray(mask)[: g * patch_size, : g * patch_size].reshape(g, patch_size, g, patch_size).transpose(0, 2, 1, 3).reshape(g * g, -1)
    shape, colour = np.zeros(g * g, np.int64), np.zeros(g * g, np.int64)
    obj = {k: np.full(MAX_OBJECTS, -100, np.int64) for k in ("obj_shape", "obj_colour", "obj_size")}
    weights = np.zeros((MAX_OBJECTS, g * g), np.float32)
    if scene.objects:
        share = np.stack([(m == k + 1).mean(1) for k in range(len(scene.objects))], 1)  # (patches, objects)
        best, covered = share.argmax(1), share.max(1) >= 0.25
        for k, o in enumerate(scene.objects):
            hit = covered & (best == k)
            shape[hit], colour[hit] = SHAPES.index(o.shape) + 1, colours.index(o.colour) + 1
            if k < MAX_OBJECTS and share[:, k].sum() > 0:
                weights[k] = share[:, k] / share[:, k].sum()
                obj["obj_shape"][k], obj["obj_colour"][k] = SHAPES.index(o.shape), colours.index(o.colour)
                obj["obj_size"][k] = SIZES.index(o.size)
    word = -100 if scene.book is not None else (OCR_WORDS.index(scene.text.word) + 1 if scene.text else 0)
    return {"shape": shape, "colour": colour, "background": np.int64(colours.index(scene.background)),
            "count": np.int64(min(len(scene.objects), MAX_COUNT)), "word": np.int64(word), "obj_weights": weights, **obj}  # fmt: skip


class SceneHeads(torch.nn.Module):
    """Linear read-outs of the scene graph from the layer the projector reads: each patch token → the
    shape and colour of its object; each object's patches, pooled by its pixel shares → its shape,
    colour and size (a patch inside a large object is a flat colour whatever the shape: the shape is
    in the object's patches together); the CLS token → background, object count, written word.
    Trained with the contrastive loss in stage 0 and discarded with the text tower."""

    def __init__(self, hidden: int) -> None:
        from mmdata.world.lexicon import SHAPES, SIZES
        from mmdata.world.render import RGB
        from mmdata.world.scene import OCR_WORDS

        super().__init__()
        lin = torch.nn.Linear
        self.shape, self.colour = lin(hidden, len(SHAPES) + 1), lin(hidden, len(RGB) + 1)
        self.obj_shape, self.obj_colour, self.obj_size = lin(hidden, len(SHAPES)), lin(hidden, len(RGB)), lin(hidden, len(SIZES))
        self.background, self.count, self.word = lin(hidden, len(RGB)), lin(hidden, MAX_COUNT + 1), lin(hidden, len(OCR_WORDS) + 1)

    def forward(self, feats: torch.Tensor, y: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """feats (B, 1 + N, D) of the feature layer; ``y`` stacked :func:`scene_labels` → the mean of the
        eight cross-entropies and each head's accuracy (patch heads: on object patches only)."""
        cls, patches = feats[:, 0], feats[:, 1:]
        pooled = torch.einsum("bon,bnd->bod", y["obj_weights"].to(patches.dtype), patches)
        out = {"shape": self.shape(patches), "colour": self.colour(patches), "obj_shape": self.obj_shape(pooled),
               "obj_colour": self.obj_colour(pooled), "obj_size": self.obj_size(pooled), "background": self.background(cls),
               "count": self.count(cls), "word": self.word(cls)}  # fmt: skip
        losses, acc = [], {}
        for k, logits in out.items():
            t = y[k]
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), t.reshape(-1), ignore_index=-100))
            keep = (t > 0) if k in ("shape", "colour") else (t != -100)
            acc[k] = float((logits.argmax(-1) == t)[keep].float().mean()) if bool(keep.any()) else float("nan")
        return torch.stack(losses).mean(), acc


def _cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def pretrain_clip(preset, scenes, captions, tok: TextTokenizer, out: Path, device, log) -> dict:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionModel

    s0, c = preset.stage0, preset.stage0.clip
    torch.manual_seed(s0.seed)
    vision = CLIPVisionModel(vision_hf_config(preset.vision.arch)).to(device)
    tcfg = CLIPTextConfig(vocab_size=tok.vocab_size, hidden_size=c.text_hidden, intermediate_size=4 * c.text_hidden,
                          num_hidden_layers=c.text_layers, num_attention_heads=c.text_heads, max_position_embeddings=c.max_len,
                          pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)  # fmt: skip
    text = CLIPTextModel(tcfg).to(device)
    v_proj = torch.nn.Linear(vision.config.hidden_size, c.projection_dim, bias=False).to(device)
    t_proj = torch.nn.Linear(c.text_hidden, c.projection_dim, bias=False).to(device)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    heads = SceneHeads(vision.config.hidden_size).to(device)
    params = [*vision.parameters(), *text.parameters(), *v_proj.parameters(), *t_proj.parameters(), logit_scale, *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=c.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    tf = ImageTransform(vision.config.image_size)
    images = torch.stack([tf(Image.open(p)) for _, p in scenes])
    cap_ids = [[tok.encode(x)[: c.max_len - 1] + [tok.eos_id] for x in caps] for caps in captions]
    per_scene = [scene_labels(sc, vision.config.image_size, vision.config.patch_size) for sc, _ in scenes]
    labels = {k: torch.from_numpy(np.stack([lab[k] for lab in per_scene])) for k in per_scene[0]}
    layer = preset.vision.feature_layer
    rng = random.Random(f"mmdata/stage0-clip/{s0.seed}")
    n, bs = len(scenes), min(c.batch_size, len(scenes))
    losses = []

    def step_batch(idx):
        ids = [rng.choice(cap_ids[i]) for i in idx]
        width = max(map(len, ids))
        x = torch.full((len(ids), width), tok.pad_id, dtype=torch.long)
        am = torch.zeros_like(x)
        for k, t in enumerate(ids):
            x[k, : len(t)] = torch.tensor(t)
            am[k, : len(t)] = 1
        x, am = x.to(device), am.to(device)
        eos = am.sum(1) - 1
        with _autocast(device):
            vout = vision(pixel_values=images[idx].to(device), output_hidden_states=c.scene_loss > 0)
            img = v_proj(vout.pooler_output)
            txt = t_proj(text(input_ids=x, attention_mask=am).last_hidden_state[torch.arange(len(idx), device=device), eos])
        img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
        logits = logit_scale.exp().clamp(max=100) * img @ txt.T
        y = torch.arange(len(idx), device=device)
        loss = (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2
        acc = {"retrieval_top1": float((logits.argmax(1) == y).float().mean())}
        if c.scene_loss > 0:
            scene, scene_acc = heads(vout.hidden_states[layer], {k: v[idx].to(device) for k, v in labels.items()})
            loss = loss + c.scene_loss * scene
            acc.update({f"scene_{k}": a for k, a in scene_acc.items()})
        return loss, acc

    t0 = time.perf_counter()
    for step in range(c.steps):
        for g in opt.param_groups:
            g["lr"] = c.lr * _cosine(step, c.steps, c.warmup)
        loss, _ = step_batch(rng.sample(range(n), bs))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == c.steps - 1:
            log(f"stage 0 clip  step {step + 1:>4}/{c.steps} | loss {loss.item():.4f}")
    with torch.no_grad():
        vision.eval()
        text.eval()
        _, acc = step_batch(rng.sample(range(n), bs))
    vision.save_pretrained(out)
    atomic_write_bytes(out / "preprocessor_config.json", dumps_json({"image_mean": list(tf.mean), "image_std": list(tf.std), "size": tf.size}))
    return {"loss_first": losses[0], "loss_last": losses[-1], **acc, "seconds": time.perf_counter() - t0, "images": n}


def pretrain_lm(preset, docs: list[str], tok: TextTokenizer, out: Path, device, log) -> dict:
    s0, c = preset.stage0, preset.stage0.lm
    torch.manual_seed(s0.seed + 1)
    lm = build_world_llm(preset.llm.arch, tok.vocab_size, bos=tok.bos_id, eos=tok.eos_id, pad=tok.pad_id).to(device)
    stream: list[int] = []
    for d in docs:
        stream += [tok.bos_id, *tok.encode(d), tok.eos_id]
    n_win = max(1, len(stream) // c.seq_len)
    data = torch.tensor((stream * (1 + c.seq_len // max(1, len(stream))))[: n_win * c.seq_len]).view(n_win, c.seq_len)
    opt = torch.optim.AdamW(lm.parameters(), lr=c.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    rng = random.Random(f"mmdata/stage0-lm/{s0.seed}")
    losses = []
    t0 = time.perf_counter()
    for step in range(c.steps):
        for g in opt.param_groups:
            g["lr"] = c.lr * _cosine(step, c.steps, c.warmup)
        x = data[[rng.randrange(n_win) for _ in range(c.batch_size)]].to(device)
        with _autocast(device):
            loss = lm(input_ids=x, labels=x, use_cache=False).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == c.steps - 1:
            log(f"stage 0 lm    step {step + 1:>4}/{c.steps} | loss {loss.item():.4f}")
    lm.save_pretrained(out)
    return {"loss_first": losses[0], "loss_last": losses[-1], "seconds": time.perf_counter() - t0, "tokens": len(stream)}


def _autocast(device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def run_stage0(preset, *, log=print, device: torch.device | None = None) -> Path:
    """Backbones for a world preset, from the content cache (trained on first use); returns the
    entry directory (``tokenizer/``, ``vision/``, ``llm/``, ``stage0.json``)."""
    from mmdata import cache

    entry = cache.run("stage0", stage0_inputs(preset), lambda tmp: _train_stage0(preset, tmp, device, log), label="stage 0 backbones")
    log(f"stage 0: {'reusing cached backbones' if entry.hit else 'done in ' + format(entry.seconds, '.1f') + 's →'} {entry.path}")
    return entry.path


def _train_stage0(preset, tmp: Path, device, log) -> None:
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    quiet_hf()
    s0 = preset.stage0
    t0 = time.perf_counter()
    world = world_for(s0)
    scenes = world_scenes(world)
    captions, docs = world_text(scenes, s0.seed)
    log(f"stage 0: {len(scenes)} world scenes, {sum(map(len, captions))} captions, {len(docs)} documents in {len(LANGUAGES)} languages")
    bpe = train_bpe([*docs, *(t for caps in captions for t in caps)], s0.vocab_size)
    save_bpe(bpe, tmp / "tokenizer")
    tok = TextTokenizer.load(tmp / "tokenizer")
    clip = pretrain_clip(preset, scenes, captions, tok, tmp / "vision", device, log)
    if s0.lm.text_scenes:
        log(f"stage 0: drawing {s0.lm.text_scenes} text-only scenes for the LM")
        docs = docs + world_text(text_scenes(s0), s0.seed + 1)[1]
        log(f"stage 0: {len(docs)} LM documents in all")
    lm = pretrain_lm(preset, docs, tok, tmp / "llm", device, log)
    tok.save(tmp / "llm")  # the LLM folder is a complete HF model directory (weights + tokenizer)
    summary = {"key": stage0_key(preset), "version": STAGE0_VERSION, "world": world.parent.name, "vocab_size": tok.vocab_size,
               "clip": clip, "lm": lm, "seconds": time.perf_counter() - t0, "device": device.type}  # fmt: skip
    atomic_write_bytes(tmp / "stage0.json", dumps_json(summary))
