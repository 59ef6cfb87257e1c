"""ScienceQA writer: ``problems.json`` + ``pid_splits.json``; diagram problems render their own pool
(``images/sqa/<split>/<pid>/image.png``), plus text-only problems."""

from __future__ import annotations

from mmdata.io import sha256_bytes
from mmdata.sources.base import extra_json
from mmdata.world.lexicon import COLOURS, SHAPES
from mmdata.world.pools import write_image
from mmdata.world.qa import answer, make_qa, options, question
from mmdata.world.render import encode, render
from mmdata.world.scene import make_scene
from mmdata.world.writers import Ctx, Output, record

IMAGE_CATEGORIES = ("count", "comparison", "colour", "shape", "total_count", "size")
LECTURES = {
    "count": "To count objects of one kind, look at each object once and keep a running total.",
    "comparison": "To find the most common shape, count each shape and compare the totals.",
    "colour": "Colour is a property you can observe by looking at an object.",
    "shape": "Shapes are named by their outline: a circle is round, a square has four equal sides.",
    "total_count": "Counting every object once gives the total number of objects.",
    "size": "Compare objects side by side to tell which one is bigger.",
    "mixing": "Mixing two primary colours of paint makes a secondary colour.",
    "sum": "Addition combines two numbers into a total.",
    "kinds": "Words can name colours, shapes or sizes.",
}
MIXES = {("red", "yellow"): "orange", ("blue", "yellow"): "green", ("red", "blue"): "purple"}


def _text_problem(rng, i):
    kind = ("mixing", "sum", "kinds")[i % 3]
    if kind == "mixing":
        (a, b), c = rng.choice(sorted(MIXES.items()))
        q = f"Which colour do you get when you mix {a} and {b} paint?"
        choices = [c, *rng.sample([x for x in COLOURS if x != c], 2)]
        sol = f"Mixing {a} and {b} makes {c}."
    elif kind == "sum":
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        q = f"What is {a} + {b}?"
        c = str(a + b)
        choices = [c, str(a + b + 1), str(max(0, a + b - 2))]
        sol = f"{a} plus {b} equals {c}."
    else:
        c = rng.choice(SHAPES)
        q = "Which word names a shape?"
        choices = [c, rng.choice(COLOURS), rng.choice(("small", "large"))]
        sol = f"{c.capitalize()} is the name of a shape."
    return kind, q, choices, c, sol


def build(ctx: Ctx) -> Output:
    name = "scienceqa"
    problems, splits, truth = {}, {"train": [], "val": [], "test": []}, []
    n_img, n_txt = ctx.cfg.sqa_images, ctx.cfg.sqa_text
    for i in range(n_img + n_txt):
        pid = str(i + 1)
        rng = ctx.rng(name, i)
        r = rng.random()
        split = "train" if r < 0.6 else ("val" if r < 0.8 else "test")
        image = None
        if i < n_img:
            scene = make_scene(rng, f"sqa-{i}", "sqa", ctx.image_size, ctx.image_size, text_prob=0.0)
            scene = scene.__class__(scene.scene_id, scene.pool, scene.width, scene.height, "white", scene.objects)
            qa = None
            for _ in range(10):
                qa = make_qa(rng.choice(IMAGE_CATEGORIES), scene, rng, "mc")
                if qa:
                    break
            if qa is None:
                continue
            k = rng.randint(2, 4)
            opts = options(qa, "en")[:k]
            correct = opts[0]
            rng.shuffle(opts)
            q, choices, ans_idx = question(qa, "en"), opts, opts.index(correct)
            kind, hint = qa.category, rng.choice(("Look at the picture.", "", "The picture shows some shapes."))
            sol = f"Look carefully at the picture. The answer is {answer(qa, 'en')}."
            data = encode(render(scene), "png")
            write_image(ctx.root / f"images/sqa/{split}/{pid}/image.png", data)
            image = {"path": f"{split}/{pid}/image.png", "sha256": sha256_bytes(data), "width": scene.width, "height": scene.height}
            meta = {"scene": scene.scene_id, "category": qa.category, "scene_json": scene.to_json()}
        else:
            kind, q, choices, correct, sol = _text_problem(rng, i)
            rng.shuffle(choices)
            ans_idx, hint, meta = choices.index(correct), "", {"category": kind}
        extra = {
            "lecture": LECTURES[kind],
            "solution": sol,
            "subject": "natural science" if kind != "sum" else "language science",
            "topic": "shapes" if image else kind,
            "category": kind.replace("_", " ").title(),
            "skill": f"Identify {kind.replace('_', ' ')}",
            "grade": f"grade{rng.randint(1, 4)}",
            "task": "closed choice",
        }
        problems[pid] = {
            "question": q,
            "choices": choices,
            "answer": ans_idx,
            "hint": hint,
            "image": "image.png" if image else None,
            "split": split,
            **extra,
        }
        splits[split].append(pid)
        if ctx.keep_truth:
            truth.append(
                record(
                    name,
                    "vqa_mc",
                    split=split,
                    record_id=pid,
                    image_id=pid if image else None,
                    image=image,
                    question=q,
                    choices=choices,
                    answer_idx=ans_idx,
                    answer=choices[ans_idx],
                    context=hint or None,
                    extra=extra_json(extra),
                    _meta=meta,
                )
            )
    files = {"problems.json": problems, "pid_splits.json": splits}
    return Output(name, files, "../../images/sqa", len(problems), truth if ctx.keep_truth else None)
