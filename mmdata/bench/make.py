"""The synthetic MMMB: aligned six-language multiple-choice questions on the world's held-out scenes.

``mmdata bench make --world DIR --out BENCHDIR [--per-language N]`` writes::

    BENCHDIR/benchmark.json             the manifest: world seed, counts, categories, languages,
                                        prompt version, sha256 of every file
    BENCHDIR/mmmb/MMMB_<suffix>.tsv     one file per language (suffix en, cn, pt, ar, tr, ru), vanilla
    BENCHDIR/mmbench/MMBench_<suffix>.tsv  the same questions with MMBench's circular copies

Every question exists in all six languages with the same ``index``, the same image and the same
option order (so the same answer letter). Categories cycle through the world's fifteen
(:data:`mmdata.world.lexicon.CATEGORIES`). The benchmark is built to need the image (``mmdata bench
audit`` measures it):

- **distractors of the gold's own type**, drawn the same way for every value (:mod:`mmdata.world.qa`):
  colours from colours, shapes from shapes, backgrounds from the three backgrounds (so background
  questions have three options), counts from a fixed range of four numbers (0–3; total_count 2–5), so
  a numeric gold sits among the same four numbers whatever its value;
- **balanced gold answers**: within a category the gold value (a colour, a count, a corner, the
  answer object's shape …, see :func:`~mmdata.world.qa.answer_domain`) cycles through its whole range in
  seeded blocks, as does the gold's option position; even and odd items are balanced separately, so a
  prior learned on one half says nothing about the other;
- **never a fixed option order**: distractors are shuffled per item and the gold goes to its planned
  position.

Held-out scenes are read in order and each serves the lowest pending item whose category and gold
value it supports (:func:`_aligned_items`). Circular copies rotate the options by k = 1…n−1 places
(``index + k·1,000,000``; the image column references the base row).
The same world and arguments give byte-identical files. The spec is ``mmdata/presets/benchmarks/mmmb-synthetic.yaml``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from mmdata import __version__
from mmdata.bench.extract import fold
from mmdata.bench.prompts import PROMPT_VERSION
from mmdata.bench.tsv import CIRCULAR_STRIDE, LANGUAGE_FILE_SUFFIX, Item, tsv_bytes
from mmdata.errors import MmdataError
from mmdata.io import atomic_dir, dumps_json, sha256_bytes
from mmdata.schema import LANGUAGES
from mmdata.world.heldout import heldout_scenes, world_info
from mmdata.world.lexicon import CATEGORIES
from mmdata.world.qa import answer_domain, make_qa, n_options, options, question
from mmdata.world.render import encode, render
from mmdata.world.scene import rng_for

NAME = "mmmb-synthetic"
VERSION = 2  # benchmarks/mmmb-synthetic.yaml `version`; 2: same-type symmetric distractors, balanced golds
LETTERS = "ABCD"
SPLIT = "dev"
L2_CATEGORY = {
    "colour": "attribute", "shape": "attribute", "size": "attribute", "background": "attribute",
    "count": "counting", "colour_count": "counting", "total_count": "counting", "comparison": "counting",
    "position": "spatial", "spatial_relation": "spatial", "closest": "spatial", "extreme": "spatial",
    "existence": "recognition", "same_colour": "recognition",
    "ocr": "reading",
}  # fmt: skip
SPATIAL = tuple(c for c in CATEGORIES if L2_CATEGORY[c] == "spatial")
BALANCE = ("gold answers and gold positions cycle through their whole range in seeded blocks within each "
           "category, separately for even and odd items; distractors come from the gold's own answer space")
_MAX_IDLE = 20000  # consecutive held-out scenes that serve no pending item before giving up


@dataclass(frozen=True)
class Slot:
    """Item ``k`` of the benchmark: its category, the gold answer it must have (``want``, see
    :func:`mmdata.world.qa.answer_domain`) and the option position the gold answer goes to."""

    k: int
    category: str
    want: object
    gold_pos: int


def _balanced(seed: int, stream: str, values: tuple, j: int):
    """The ``j``-th value of a sequence that visits every value once per block, in a seeded order per block."""
    block = list(values)
    rng_for(seed, stream, j // len(values)).shuffle(block)
    return block[j % len(values)]


def plan(seed: int, per_language: int) -> list[Slot]:
    """Categories cycle through the fifteen; within a category, gold answers and gold positions each
    cycle through their whole range in seeded blocks, so both are balanced (exactly, per full block)."""
    slots = []
    for k in range(per_language):
        cat, j = CATEGORIES[k % len(CATEGORIES)], k // len(CATEGORIES)
        # odd and even items of a category are balanced on their own (j's parity is the index's parity
        # within a category): each half of an even/odd split is balanced by itself, so the halves are
        # independent and a prior learned on one half neither helps nor hurts on the other
        half, i = j % 2, j // 2
        want = _balanced(seed, f"bench/answers/{cat}/{half}", answer_domain(cat), i)
        pos = _balanced(seed, f"bench/positions/{cat}/{half}", tuple(range(n_options(cat))), i)
        slots.append(Slot(k, cat, want, pos))
    return slots


def _aligned_items(world_dir: Path, seed: int, per_language: int):
    """Yield (slot, {lang: (question, options in final order)}, answer letter, scene) in slot order.

    Held-out scenes are read in order; each goes to the lowest pending slot it can serve (one question
    per scene), so rare answers (a count of 3, one OCR word) simply wait for a scene that shows them.
    """
    slots = plan(seed, per_language)
    pending: dict[tuple, deque[Slot]] = {}
    for s in slots:
        pending.setdefault((s.category, s.want), deque()).append(s)
    done: dict[int, tuple] = {}
    idle = 0
    for i, scene in enumerate(heldout_scenes(world_dir, per_language * 200)):
        if len(done) == per_language:
            break
        for key in sorted((k for k, q in pending.items() if q), key=lambda k: pending[k][0].k):
            slot = pending[key][0]
            rng = rng_for(seed, f"bench/{slot.category}", i)
            qa = make_qa(slot.category, scene, rng, form="mc", want=slot.want)
            if qa is None:
                continue
            texts = {lang: (question(qa, lang), options(qa, lang)) for lang in LANGUAGES}
            n = n_options(slot.category)
            if any(len(o) != n or len({fold(x) for x in o}) != n for _, o in texts.values()):
                continue  # options must be distinct strings in every language
            order = list(range(1, n))
            rng.shuffle(order)  # distractors in a random order; the gold goes to its planned position
            order.insert(slot.gold_pos, 0)
            aligned = {lang: (q, [o[p] for p in order]) for lang, (q, o) in texts.items()}
            done[slot.k] = (aligned, LETTERS[slot.gold_pos], scene)
            pending[key].popleft()
            idle = 0
            break
        else:
            idle += 1
            if idle > _MAX_IDLE:
                cat, want = min((k for k, q in pending.items() if q), key=lambda k: pending[k][0].k)
                raise MmdataError(f"the held-out scenes cannot support category {cat!r} with answer {want!r}", file=world_dir)
    if len(done) < per_language:
        raise MmdataError(f"the held-out scene space ran out after {len(done)} items", file=world_dir)
    for s in slots:
        aligned, letter, scene = done[s.k]
        yield s, aligned, letter, scene


def rotate(item: Item, r: int) -> Item:
    """Circular copy ``r``: option contents move ``r`` places (pass 1: A = old D, B = old A, …)."""
    letters = list(item.options)
    n = len(letters)
    texts = [item.options[x] for x in letters]
    opts = {letters[j]: texts[(j - r) % n] for j in range(n)}
    answer = letters[(letters.index(item.answer) + r) % n]
    return Item(item.index + r * CIRCULAR_STRIDE, item.question, opts, answer, item.language, item.hint, item.category,
                item.l2_category, item.split, item.image, None, item.image_key, item.group, dict(item.extra), item.source)  # fmt: skip


def make_benchmark(world_dir: str | Path, out: str | Path, per_language: int = 2000, *, progress: bool = False,
                   overwrite: bool = False) -> dict:  # fmt: skip
    """Write the synthetic MMMB (vanilla and circular sets) under ``out``; return the manifest."""
    world_dir, out = Path(world_dir), Path(out)
    if per_language < 1:
        raise MmdataError(f"--per-language must be at least 1, got {per_language}")
    info = world_info(world_dir)
    seed = info["seed"]
    per_lang: dict[str, list[Item]] = {lang: [] for lang in LANGUAGES}
    from rich.progress import Progress

    from mmdata import ui

    with Progress(disable=not progress, transient=True, console=ui.console()) as bar:
        task = bar.add_task(f"rendering {per_language} aligned questions", total=per_language)
        for slot, texts, answer, scene in _aligned_items(world_dir, seed, per_language):
            png = encode(render(scene), "png")
            k, cat = slot.k, slot.category
            for lang, (q, opts) in texts.items():
                per_lang[lang].append(Item(k, q, dict(zip(LETTERS[: len(opts)], opts, strict=True)), answer, lang, "", cat,
                                           L2_CATEGORY[cat], SPLIT, png, None, f"img{k}", k))  # fmt: skip
            bar.advance(task)
    files: dict[str, bytes] = {}
    for lang, items in per_lang.items():
        sfx = LANGUAGE_FILE_SUFFIX[lang]
        files[f"mmmb/MMMB_{sfx}.tsv"] = tsv_bytes(items)
        circ = [rotate(it, r) for it in items for r in range(len(it.options))]
        files[f"mmbench/MMBench_{sfx}.tsv"] = tsv_bytes(circ)
    counts = {c: sum(it.category == c for it in per_lang["en"]) for c in CATEGORIES}
    manifest = {
        "kind": "mmdata-benchmark",
        "name": NAME,
        "version": VERSION,
        "spec": "mmdata/presets/benchmarks/mmmb-synthetic.yaml",
        "world": {"seed": seed, "size": info.get("size"), "image_size": info.get("image_size"), "stream": "heldout"},
        "per_language": per_language,
        "languages": list(LANGUAGES),
        "file_suffix": {lang: LANGUAGE_FILE_SUFFIX[lang] for lang in LANGUAGES},
        "categories": {c: {"l2": L2_CATEGORY[c], "items_per_language": counts[c], "options": n_options(c),
                           "answers": [str(v) for v in answer_domain(c)]} for c in CATEGORIES},  # fmt: skip
        "spatial_categories": list(SPATIAL),
        "options": 4,
        "balance": BALANCE,
        "sets": {
            "mmmb": {"scoring": "vanilla", "rows_per_language": per_language},
            "mmbench": {"scoring": "circular", "rotations": "one per option",
                        "rows_per_language": len(files["mmbench/MMBench_en.tsv"].splitlines()) - 1},
        },
        "prompt_version": PROMPT_VERSION,
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
        "generator": {"mmdata": __version__, "command": f"mmdata bench make --world WORLD --out BENCHDIR --per-language {per_language}"},
    }
    with atomic_dir(out, overwrite=overwrite, inputs=[world_dir], kind="benchmark") as tmp:
        for name, data in files.items():
            p = tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        (tmp / "benchmark.json").write_bytes(dumps_json(manifest))
    return manifest
