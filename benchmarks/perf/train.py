"""Trainer throughput and overhead (stage 2), plus the GPU tables when a GPU is present.

    .venv/bin/python benchmarks/perf/train.py [--preset tiny-cpu] [--steps 60] [--reps 15]

CPU and GPU:
  * fwd/bwd timings on identical pre-collated stage-2 batches, interleaved call by call and taken as
    the best of ``--reps`` repeats per batch (robust to other processes on a shared machine), then
    averaged over the batches:
      ours       VLM.forward (frozen vision, projector, MoE, splice, LLM, loss) + backward
      raw LLM    the same HF causal LM, forward + backward with ``labels`` on a batch of the same
                 shape (placeholder ids replaced by a real id), i.e. what a text-only step costs
      raw stack  the same modules called directly with no glue: vision (no grad) → projector → MoE
                 → index-put into the embeddings → HF LM with ``labels``
    The overhead ratio is ours / raw LLM and (whole trainer step) / raw LLM: everything a multimodal
    step does beyond a bare text-only fwd+bwd of the same LLM (target ≤ 1.15× on CPU); ours / raw
    stack isolates the glue (splicing, masks, routing context).
  * trainer tokens/s, samples/s and data-wait fraction from ``mmdata.model.train.train`` itself
    (AdamW, clipping, logging, worker data loading included), median over log windows after the first.
GPU only (skipped with "not run: no GPU available" otherwise):
  * ``small-gpu`` stage-2 MFU (dense bf16 peak, H200/H100 989 TFLOP/s) and data-wait fraction;
  * Honeybee Table 8's s/step column: step time for linear (M=256), resampler and C-Abs at
    M = 64 / 144 / 256 with the small-gpu backbones (stage 1, global batch 256 as in pre-training).

Backbones are randomly initialised from the preset's architecture and saved as local folders, so no
stage 0 is needed (throughput does not depend on the weights); data is a fixture mixture written
from a synthetic world (``mmdata.model.fixtures``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch


def random_backbones(preset, root: Path, world: Path) -> Path:
    """Random vision + LLM folders for ``preset``'s architectures, with a BPE trained on world text."""
    from transformers import CLIPVisionModel

    from mmdata.model.llm import build_llm, llm_hf_config
    from mmdata.model.stage0 import world_scenes, world_text
    from mmdata.model.tokenizer import TextTokenizer, save_bpe, train_bpe
    from mmdata.model.vision import vision_hf_config

    torch.manual_seed(0)
    CLIPVisionModel(vision_hf_config(preset.vision.arch)).save_pretrained(root / "vision")
    caps, docs = world_text(world_scenes(world), 0)
    save_bpe(train_bpe([*docs, *(c for cs in caps for c in cs)], preset.stage0.vocab_size), root / "tok")
    tok = TextTokenizer.load(root / "tok")
    lm = build_llm(llm_hf_config(preset.llm.arch, tok.vocab_size, bos=tok.bos_id, eos=tok.eos_id, pad=tok.pad_id))
    lm.save_pretrained(root / "llm")
    tok.save(root / "llm")
    return root


def local_variant(preset, root: Path, projector: dict | None = None):
    """The same preset pointing at local folders (the user path), optionally with another projector."""
    from mmdata.model.config import preset_from_dict

    d = preset.to_dict()
    if projector is not None:
        d["projector"] = projector
    d["vision"] = {"source": "local", "path": str(root / "vision"), "feature_layer": d["vision"]["feature_layer"], "keep_cls": d["vision"]["keep_cls"]}
    d["llm"] = {"source": "local", "path": str(root / "llm")}
    d.pop("stage0")
    return preset_from_dict(d)


def fwd_bwd(vlm, batches, device, autocast, reps: int) -> dict:
    """Seconds per batch (best of ``reps``, mean over batches) for ours / raw LLM / raw stack."""
    from mmdata.model.chat import IMAGE_TOKEN_ID
    from mmdata.model.train import to_device

    batches = [to_device(b, device) for b in batches]
    llm = vlm.llm
    table = llm.get_input_embeddings()

    def hf_labels(b):  # HF shifts internally: label at t is the token at t (unshifted)
        lab = torch.full_like(b["labels"], -100)
        lab[:, 1:] = b["labels"][:, :-1]
        return lab

    def ours(b):
        with autocast:
            out = vlm(b)
        (out["loss_sum"] / out["tokens"]).backward()

    def raw_llm(b):
        ids = b["input_ids"].clamp_min(0)
        with autocast:
            loss = llm(input_ids=ids, labels=hf_labels(b), position_ids=b["position_ids"], use_cache=False).loss
        loss.backward()

    def raw_stack(b):
        with autocast:
            with torch.no_grad():
                cls, patches = vlm.vision.clip(pixel_values=b["pixel_values"], output_hidden_states=True).hidden_states[vlm.vision.feature_layer].split([1, vlm.vision.num_patches], 1)
            path = vlm.visual  # the projector path (this script measures projector presets)
            if path.keep_cls:
                vis, cls_tok = path.projector(patches, cls[:, 0])
                vis = torch.cat([cls_tok[:, None], vis], 1)
            else:
                vis = path.projector(patches)
            emb = table(b["input_ids"].clamp_min(0))
            if vlm.use_moe:
                vis, _ = path.moe(vis, emb[b["image_row"]], b["prompt_mask"][b["image_row"]])
            emb = emb.index_put((b["input_ids"] == IMAGE_TOKEN_ID).nonzero(as_tuple=True), vis.reshape(-1, vis.shape[-1]).to(emb.dtype))
            loss = llm(inputs_embeds=emb, labels=hf_labels(b), position_ids=b["position_ids"], use_cache=False).loss
        loss.backward()

    fns = {"ours": ours, "raw LLM": raw_llm, "raw stack": raw_stack}
    best = {(name, i): float("inf") for name in fns for i in range(len(batches))}
    for r in range(reps + 1):
        for i, b in enumerate(batches):
            for name, fn in fns.items():
                vlm.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                fn(b)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if r:  # the first round is warm-up
                    best[name, i] = min(best[name, i], time.perf_counter() - t)
    return {name: statistics.mean(best[name, i] for i in range(len(batches))) for name in fns}


def trainer_run(preset, mixture: Path, out: Path, stage: int, steps: int, log_every: int, workers: int | None = None) -> dict:
    from mmdata.model.config import merge, preset_from_dict
    from mmdata.model.train import train

    p = preset_from_dict(merge(preset.to_dict(), {"train": {"log_every": log_every, "save_every": 0}}))
    res = train(p, stage, out, mixture=mixture, max_steps=steps, overwrite=True, num_workers=workers, log=lambda *_: None)
    ms = res["metrics"][1:] or res["metrics"]  # drop the warm-up window
    med = {k: statistics.median(m[k] for m in ms) for k in ("tokens_per_s", "samples_per_s", "data_wait", "step_time")}
    mfus = [m["mfu"] for m in ms if m["mfu"] is not None]
    med["mfu"] = statistics.median(mfus) if mfus else None
    return med


def precision_table(preset, mix: Path, work: Path, steps: int, rounds: int = 2) -> None:
    """Trainer steps in fp32 and under bf16 autocast (``train.precision: bf16``), alternated ``rounds``
    times on the same data; the best step time of each precision and their ratio."""
    from mmdata.model.config import merge, preset_from_dict
    from mmdata.model.metrics import cpu_flags

    have = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_tile"})
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for prec in times:
            p = preset_from_dict(merge(preset.to_dict(), {"train": {"precision": prec}}))
            times[prec].append(trainer_run(p, mix, work / f"ckpt-{prec}", 2, steps, max(5, steps // 6))["step_time"])
    fp, bf = min(times["fp32"]), min(times["bf16"])
    print(f"\nCPU precision (trainer step, stage 2, best of {rounds} alternated runs; CPU bf16 units: {', '.join(have) or 'none'})")
    print("| precision | s/step | vs fp32 |")
    print("|---|---|---|")
    print(f"| fp32 | {fp:.4f} | 1.00× |")
    print(f"| bf16 autocast (eager attention) | {bf:.4f} | {fp / bf:.2f}× faster |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny-cpu")
    ap.add_argument("--gpu-preset", default="small-gpu")
    ap.add_argument("--steps", type=int, default=60, help="trainer steps (stage 2)")
    ap.add_argument("--reps", type=int, default=15, help="fwd/bwd repeats per batch")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from mmdata.model.config import load_preset
    from mmdata.model.data import Encoder, Mixture, MixtureStream
    from mmdata.model.fixtures import write_fixture_mixture
    from mmdata.model.llm import quiet_hf
    from mmdata.model.metrics import FlopCounter, measure_cpu_peak
    from mmdata.model.stages import set_stage
    from mmdata.model.train import autocast_for
    from mmdata.model.vlm import Backbones, build_vlm
    from mmdata.world.generate import generate

    quiet_hf()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mmdata-perf-"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dev_name = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    print(f"commit {commit} | device {dev_name} | torch {torch.__version__}")

    # ---- CPU and GPU: overhead and trainer throughput for --preset
    base = load_preset(args.preset)
    size = base.vision.arch.image_size
    world = work / f"world-tiny-{size}"
    if not (world / "world.json").is_file():
        generate(world, "tiny", 0, image_size=size)
    mix = work / "mix-instruct"
    if not mix.exists():
        write_fixture_mixture(world, mix, "instruct")
    root = random_backbones(base, work / f"backbones-{base.name}", world)
    preset = local_variant(base, root)
    vlm = build_vlm(preset, Backbones(root / "vision", root / "llm", root / "llm"))
    set_stage(vlm, 2)
    vlm.to(device).train()
    m = Mixture.open(mix)
    enc = Encoder(vlm.tokenizer, vlm.vision.transform, vlm.num_visual_tokens, preset.train.max_len, m.image_roots, str(mix))
    stream = MixtureStream(m, enc, preset.train.stage2.batch_size, vlm.tokenizer.pad_id)
    batches = [stream.batch(i) for i in range(args.batches)]
    autocast, precision = autocast_for(preset, device)
    t = fwd_bwd(vlm, batches, device, autocast, args.reps)
    tokens = statistics.mean(float(b["n_tokens"]) for b in batches)
    samples = preset.train.stage2.batch_size
    tr = trainer_run(preset, mix, work / "ckpt", 2, args.steps, max(5, args.steps // 6))
    print(f"\npreset {args.preset} (stage 2, batch {samples}, ≈{tokens:.0f} tokens/batch incl. {vlm.num_visual_tokens} visual/image, {precision})")
    print("| measurement | s/batch | tokens/s | vs raw LLM | vs raw stack |")
    print("|---|---|---|---|---|")
    for name in ("raw LLM", "raw stack", "ours"):
        s = t[name]
        print(f"| fwd+bwd {name} | {s:.4f} | {tokens / s:,.0f} | {s / t['raw LLM']:.3f}× | {s / t['raw stack']:.3f}× |")
    s = tr["step_time"]
    print(f"| trainer step (AdamW, clip, data, logging) | {s:.4f} | {tr['tokens_per_s']:,.0f} | {s / t['raw LLM']:.3f}× | {s / t['raw stack']:.3f}× |")
    mfu = "n/a (no CPU peak)" if tr["mfu"] is None else f"{100 * tr['mfu']:.1f}%"
    print(f"\ntrainer: {tr['tokens_per_s']:,.0f} tokens/s, {tr['samples_per_s']:,.1f} samples/s, data-wait {100 * tr['data_wait']:.1f}%, MFU {mfu}")
    print(f"overhead vs a raw fwd+bwd of the same HF LLM on the same batch: ours {t['ours'] / t['raw LLM']:.3f}×, "
          f"whole trainer step {tr['step_time'] / t['raw LLM']:.3f}× (target ≤ 1.15×; both include the vision, projector and MoE work)")
    print(f"glue only (ours vs the same modules called directly): {t['ours'] / t['raw stack']:.3f}×")
    if not cuda:
        fl = statistics.mean(FlopCounter(vlm)(b) for b in batches)
        peak = measure_cpu_peak()
        print(f"model FLOPs {fl / 1e9:.1f} G/batch; trainer {fl / tr['step_time'] / 1e9:.1f} GFLOP/s = "
              f"{100 * fl / tr['step_time'] / peak:.0f}% of this CPU's measured fp32 matmul rate ({peak / 1e9:.0f} GFLOP/s)")
        precision_table(preset, mix, work, args.steps)

    # ---- GPU only
    if not cuda:
        print(f"\n{args.gpu_preset} stage-2 MFU / data-wait and the projector × M table: not run: no GPU available")
        return
    gp = load_preset(args.gpu_preset)
    gsize = gp.vision.arch.image_size
    gworld = work / f"world-small-{gsize}"
    if not (gworld / "world.json").is_file():
        generate(gworld, "small", 0, image_size=gsize)
    gmix, gcap = work / "gmix-instruct", work / "gmix-caption"
    if not gmix.exists():
        write_fixture_mixture(gworld, gmix, "instruct")
        write_fixture_mixture(gworld, gcap, "caption")
    groot = random_backbones(gp, work / f"backbones-{gp.name}", gworld)
    g = local_variant(gp, groot)
    r = trainer_run(g, gmix, work / "gckpt", 2, args.steps, max(5, args.steps // 6))
    print(f"\n{args.gpu_preset} stage 2: {r['tokens_per_s']:,.0f} tokens/s, {r['samples_per_s']:,.1f} samples/s, "
          f"step {r['step_time']:.3f}s, data-wait {100 * r['data_wait']:.1f}%, MFU {100 * (r['mfu'] or 0):.1f}%")  # fmt: skip
    print("\nprojector × M, stage 1 (Honeybee Table 8 s/step; global batch 256)")
    print("| projector | M | s/step | tokens/s | MFU |")
    print("|---|---|---|---|---|")
    arms = [("linear", 256, {"name": "linear"})]
    for m_ in (64, 144, 256):
        arms.append(("resampler", m_, {"name": "resampler", "num_queries": m_, "hidden_size": 1024, "layers": 6, "heads": 16}))
    for m_ in (64, 144, 256):
        arms.append(("c-abs", m_, {"name": "c-abs", "num_queries": m_, "depth": 3, "hidden_size": 1024, "mlp_depth": 2}))
    for name, m_, proj in arms:
        arm = local_variant(gp, groot, projector=proj)
        r = trainer_run(arm, gcap, work / f"arm-{name}-{m_}", 1, max(10, args.steps // 3), 5)
        print(f"| {name} | {m_} | {r['step_time']:.3f} | {r['tokens_per_s']:,.0f} | {100 * (r['mfu'] or 0):.1f}% |")


if __name__ == "__main__":
    main()
