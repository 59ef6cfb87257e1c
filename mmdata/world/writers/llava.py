"""LLaVA-Instruct writers: the English set (coco pool, conversation / detail / reasoning entries that
share image ids, as the real file does) and Parrot-style translated sets ``llava_instruct_<lang>``.

Conversations are built from scene questions with full-sentence answers in the target language;
detailed descriptions list every object and its corner. Non-English sets use disjoint image subsets
(Parrot partitioned ShareGPT4V per language at random).
"""

from __future__ import annotations

from mmdata.world.grammar import Ref, background_slots, fill, noun_phrase
from mmdata.world.lexicon import CATEGORIES, QUADRANTS, lexicon
from mmdata.world.qa import answer_sentence, n_variants, quadrant, question, unique_ref
from mmdata.world.scene import Scene
from mmdata.world.writers import Ctx, Output, pick_qas, record

ROLE = {"human": "user", "gpt": "assistant"}


def conversation(scene: Scene, lang: str, rng, n_turns: int) -> list[dict]:
    cats = tuple(c for c in CATEGORIES if c != "ocr" or scene.text is not None)
    turns = []
    for k, qa in enumerate(pick_qas(scene, rng, cats, n_turns)):
        q = question(qa, lang, rng.randrange(n_variants(qa.category, lang)))
        if k == 0:
            q = f"<image>\n{q}" if rng.random() < 0.5 else f"{q}\n<image>"
        turns += [{"from": "human", "value": q}, {"from": "gpt", "value": answer_sentence(qa, lang)}]
    return turns


def detail(scene: Scene, lang: str, rng) -> list[dict]:
    lex = lexicon(lang)
    d = lex["detail"]
    parts = [fill(d["intro"], lang, {"n": str(len(scene.objects)), **background_slots(lang, scene.background)})]
    for o in scene.objects:
        q = quadrant(scene, o, margin=0.0) or QUADRANTS[0]
        a_obj = noun_phrase(lang, Ref(o.shape, o.colour, o.size), "indef")
        parts.append(fill(d["object"], lang, {"a_obj": a_obj, "quad_loc": lex["quadrants"][q]["loc"]}))
    if scene.text is not None:
        parts.append(fill(d["text"], lang, {"word": scene.text.word}))
    sep = "" if lang == "zh" else " "
    prompt = rng.choice(lex["describe"])
    return [{"from": "human", "value": f"<image>\n{prompt}"}, {"from": "gpt", "value": sep.join(parts)}]


def reasoning(scene: Scene, rng) -> list[dict] | None:
    """English multi-step questions (LLaVA's "complex reasoning" subset, in our own words)."""
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        ref = unique_ref(scene, o)
        if ref is None:
            continue
        n = len(scene.objects)
        if rng.random() < 0.5:
            q = f"If {noun_phrase('en', ref, 'def')} were taken away, how many objects would remain?"
            a = f"There are {n} objects now, so {n - 1} would remain once {noun_phrase('en', ref, 'def')} is removed."
        else:
            same = sum(x.colour == o.colour for x in scene.objects) - 1
            q = f"How many other objects share the colour of {noun_phrase('en', ref, 'def')}?"
            a = f"{noun_phrase('en', ref, 'def').capitalize()} is {o.colour}; {same} other object{'s' if same != 1 else ''} in the image {'are' if same != 1 else 'is'} {o.colour} too."
        return [{"from": "human", "value": f"<image>\n{q}"}, {"from": "gpt", "value": a}]
    return None


def _truth(name, lang, rid, image, conv, scene_id) -> dict:
    turns = [{"role": ROLE[t["from"]], "content": t["value"]} for t in conv]
    return record(name, "v_inst", language=lang, record_id=rid, image_id=image["path"],
                  image=image, turns=turns, _meta={"scene": scene_id})  # fmt: skip


def build_en(ctx: Ctx) -> Output:
    name = "llava_instruct"
    entries, truth, seen = [], [], {}
    subsets: list[list] = [[], [], []]
    for img in ctx.coco:
        rng = ctx.rng(name, img.index)
        if rng.random() >= ctx.cfg.llava_share:
            continue
        subsets[0].append((img, conversation(img.scene, "en", rng, rng.randint(2, 4))))
        if rng.random() < 0.5:
            subsets[1].append((img, detail(img.scene, "en", rng)))
        if rng.random() < 0.5 and (r := reasoning(img.scene, rng)):
            subsets[2].append((img, r))
    for img, conv in (x for sub in subsets for x in sub):
        iid = f"{img.image_id:012d}"
        entries.append({"id": iid, "image": f"{iid}.jpg", "conversations": conv})
        k = seen.get(iid, 0)
        seen[iid] = k + 1
        if ctx.keep_truth:
            truth.append(_truth(name, "en", iid if k == 0 else f"{iid}#{k}", img.ref(f"{iid}.jpg"), conv, img.scene.scene_id))
    return Output(name, {"llava_instruct_150k.json": entries}, "../../images/coco/train2017", len(entries), truth if ctx.keep_truth else None)


def build_multilingual(ctx: Ctx) -> list[Output]:
    order = list(range(len(ctx.coco)))
    ctx.rng("llava-multilingual-partition").shuffle(order)
    outs, start = [], 0
    for lang, count in ctx.cfg.multilingual.items():
        name = f"llava_instruct_{lang}"
        share = max(1, len(order) // len(ctx.cfg.multilingual))
        mine = order[start : start + share]
        start += share
        entries, truth = [], []
        for k in range(count):
            img = ctx.coco[mine[k % len(mine)]]
            rng = ctx.rng(name, k)
            conv = detail(img.scene, lang, rng) if rng.random() < 0.3 else conversation(img.scene, lang, rng, rng.randint(2, 3))
            rel = f"coco/train2017/{img.image_id:012d}.jpg"
            eid = f"{lang}_{k:06d}"
            entries.append({"id": eid, "image": rel, "conversations": conv})
            if ctx.keep_truth:
                truth.append(_truth(name, lang, eid, img.ref(rel), conv, img.scene.scene_id))
        outs.append(Output(name, {f"sharegpt4v_sft_{lang}.json": entries}, "../../images", count, truth if ctx.keep_truth else None))
    return outs
