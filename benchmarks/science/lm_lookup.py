"""Can the tiny LLM look an object up in text? Trains the LLM exactly as stage 0 does (world documents:
caption, description, questions with sentence answers, in six languages) and, at checkpoints, asks 150
colour questions about held-out scenes given their English description ("The image has a white
background and shows 3 objects. A large yellow star is … What colour is the square?"). Each of the
eight colour sentences ("The square is red.") is scored by log-probability; prints how often the
right one wins (chance 12.5 %) and how often the winner is a colour the description mentions.

    .venv/bin/python benchmarks/science/lm_lookup.py STAGE0_DIR WORLD_DIR STEPS [world|world-fresh|colour|colour-whole|colour-fresh] [LR] [ARCH]

STAGE0_DIR is a stage-0 cache entry (for its tokenizer); WORLD_DIR the small world it was built on.
``colour`` trains on focused documents instead: each training scene's English description followed by
colour questions with their answer sentences (three documents per scene), the skill being asked;
packed into 128-token windows as stage 0 packs its documents, so a window often holds questions
whose description it cut off. ``colour-whole`` gives each document its own row (padded, no loss on the
padding) and asks about each object at most once, so every answer must be looked up. ``colour-fresh``
(``world-fresh``) is ``colour`` (``world``) on new scenes drawn as the world draws COCO's (``FRESH`` in the environment: how many,
default 60,000), not on the world's 1,900 training scenes, so that a long run reads each document about
once and cannot fit the answers by remembering the scenes.
``EMBED_INIT`` and ``INIT`` in the environment set ``llm.arch.embed_init`` and ``llm.arch.init_std``
(the LLM's initial input-embedding and weight scales). ARCH replaces the tiny-cpu LLM's ``llm.arch`` (a YAML mapping, e.g. ``"{hidden_size: 192, layers: 6,
heads: 4, kv_heads: 4, intermediate: 512, max_position: 512}"``).
About 0.13 s per step and 6 s per checkpoint on two idle cores.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import torch

from mmdata.model.config import load_preset
from mmdata.model.llm import build_world_llm
from mmdata.model.stage0 import _cosine, world_scenes, world_text
from mmdata.model.tokenizer import TextTokenizer
from mmdata.world.lexicon import COLOURS
from mmdata.world.qa import answer_sentence as sentence
from mmdata.world.qa import make_qa, question
from mmdata.world.scene import make_scene, rng_for
from mmdata.world.writers.llava import detail

MARKS = {250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000}


def colour_docs(scenes: list, distinct: bool = False) -> list[str]:
    """Per scene, three documents: its English description, then up to four colour questions with answers
    (``distinct``: each object asked about at most once, so no answer can be copied from an earlier one)."""
    rng = random.Random(7)
    docs = []
    for scene, _ in scenes:
        for _ in range(3):
            lines, asked = [detail(scene, "en", rng)[1]["value"]], set()
            for _ in range(4):
                qa = make_qa("colour", scene, rng)
                if qa is not None and not (distinct and qa.objects in asked):
                    asked.add(qa.objects)
                    lines.append(question(qa, "en") + " " + sentence(qa, "en"))
            docs.append("\n".join(lines))
    rng.shuffle(docs)
    return docs


def main(stage0: str, world: str, steps: int, docs_kind: str = "world", lr: float = 3e-3, arch: str | None = None) -> None:
    torch.set_num_threads(2)
    tok = TextTokenizer.load(Path(stage0) / "tokenizer")
    init = [f"llm.arch.{k}={os.environ[v]}" for k, v in (("init_std", "INIT"), ("embed_init", "EMBED_INIT")) if os.environ.get(v)]
    p = load_preset("tiny-cpu", sets=["stage0.world_size=small", *([f"llm.arch={arch}"] if arch else []), *init])
    scenes = world_scenes(Path(world))
    rng, qrng = random.Random(0), random.Random(1)
    tests = []
    for scene, _ in scenes[-300:]:
        qa = make_qa("colour", scene, qrng)
        if qa is not None and len(tests) < 150:
            desc = detail(scene, "en", qrng)[1]["value"]
            tests.append((desc + "\n" + question(qa, "en") + " ", qa, {o.colour for o in scene.objects}))

    def score() -> tuple[float, float]:
        lm.eval()
        right = mentioned = 0
        with torch.no_grad():
            for ctx, qa, present in tests:
                ids = [tok.bos_id, *tok.encode(ctx)]
                lps = []
                for c in COLOURS:
                    a = tok.encode(sentence(type(qa)(**{**qa.__dict__, "answer": ("colour", c)}), "en"))
                    logp = lm(input_ids=torch.tensor([ids + a])).logits.log_softmax(-1)[0, len(ids) - 1 : -1]
                    lps.append(logp.gather(-1, torch.tensor(a)[:, None]).sum().item())
                best = COLOURS[max(range(len(COLOURS)), key=lps.__getitem__)]
                right += best == qa.answer[1]
                mentioned += best in present
        lm.train()
        return 100 * right / len(tests), 100 * mentioned / len(tests)

    if os.environ.get("SCORE_ONLY"):  # score STAGE0_DIR's own LLM, as stage 0 trained it
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(Path(stage0) / "llm")
        right, mentioned = score()
        print(f"stage 0's LLM  right {right:5.1f} %  (chance 12.5)  a colour the description mentions {mentioned:5.1f} %")
        return
    train = scenes[:-300]  # the last 300 scenes are held out for the questions
    whole = docs_kind.endswith("-whole")
    if docs_kind.endswith("-fresh"):
        n = int(os.environ.get("FRESH", "60000"))
        train = [(make_scene(rng_for(7, "lm-lookup", i), f"fresh-{i}", "coco"), None) for i in range(n)]
    docs = colour_docs(train, distinct=whole) if docs_kind.startswith("colour") else world_text(train, 0)[1]
    torch.manual_seed(1)
    lm = build_world_llm(p.llm.arch, tok.vocab_size, bos=tok.bos_id, eos=tok.eos_id, pad=tok.pad_id)
    seq = p.stage0.lm.seq_len
    if whole:  # one document per row, padded (pad tokens carry no loss): every answer has its description
        rows = [[tok.bos_id, *tok.encode(d), tok.eos_id][:seq] for d in docs]
        data = torch.tensor([r + [tok.pad_id] * (seq - len(r)) for r in rows])
    else:  # stage 0's packing: the documents concatenated and cut into windows of seq_len
        stream: list[int] = []
        for d in docs:
            stream += [tok.bos_id, *tok.encode(d), tok.eos_id]
        data = torch.tensor(stream[: len(stream) // seq * seq]).view(-1, seq)
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * _cosine(step, steps, 20)
        x = data[[rng.randrange(len(data)) for _ in range(p.stage0.lm.batch_size)]]
        loss = lm(input_ids=x, labels=x.masked_fill(x == tok.pad_id, -100), use_cache=False).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
        if step + 1 in MARKS or step + 1 == steps:
            right, mentioned = score()
            print(f"step {step + 1:>5}  loss {loss.item():.3f}  right {right:5.1f} %  (chance 12.5)  "
                  f"a colour the description mentions {mentioned:5.1f} %  {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5], *(float(x) for x in sys.argv[5:6]), *sys.argv[6:7])
