"""The synthetic MMMB: aligned six-language multiple-choice questions on the world's held-out scenes.

``mmdata bench make --world DIR --out BENCHDIR [--per-language N]`` writes::

    BENCHDIR/benchmark.json             the manifest: world seed, counts, categories, languages,
                                        prompt version, sha256 of every file
    BENCHDIR/mmmb/MMMB_<suffix>.tsv     one file per language (suffix en, cn, pt, ar, tr, ru), vanilla
    BENCHDIR/mmbench/MMBench_<suffix>.tsv  the same questions with MMBench's circular copies

Every question exists in all six languages with the same ``index``, the same image and the same
option order (so the same answer letter): option order is shuffled once per item with a seeded rng.
Categories cycle through the world's fifteen (:data:`mmdata.world.lexicon.CATEGORIES`), so they are
balanced; a scene that cannot support the current category is skipped. Circular copies rotate the
options by k = 1…3 places (``index + k·1,000,000``; the image column references the base row).
The same world and arguments give byte-identical files. The spec is ``mmdata/presets/benchmarks/mmmb-synthetic.yaml``.
"""

from __future__ import annotations

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
from mmdata.world.qa import make_qa, options, question
from mmdata.world.render import encode, render
from mmdata.world.scene import rng_for

NAME = "mmmb-synthetic"
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
_MAX_SKIPS = 2000  # consecutive scenes that cannot support a category before giving up


def _aligned_items(world_dir: Path, seed: int, per_language: int):
    """Yield (k, category, {lang: (question, [4 options in final order])}, answer letter, scene)."""
    k = skips = 0
    for i, scene in enumerate(heldout_scenes(world_dir, per_language * 100)):
        if k == per_language:
            return
        cat = CATEGORIES[k % len(CATEGORIES)]
        rng = rng_for(seed, f"bench/{cat}", i)
        qa = make_qa(cat, scene, rng, form="mc")
        texts = None
        if qa is not None:
            texts = {lang: (question(qa, lang), options(qa, lang)) for lang in LANGUAGES}
            if any(len(o) != 4 or len({fold(x) for x in o}) != 4 for _, o in texts.values()):
                texts = None  # options must be four distinct strings in every language
        if texts is None:
            skips += 1
            if skips > _MAX_SKIPS:
                raise MmdataError(f"the held-out scenes cannot support category {cat!r}", file=world_dir)
            continue
        skips = 0
        perm = [0, 1, 2, 3]
        rng.shuffle(perm)  # once per item: every language gets the same order and answer letter
        answer = LETTERS[perm.index(0)]
        yield k, cat, {lang: (q, [o[p] for p in perm]) for lang, (q, o) in texts.items()}, answer, scene
        k += 1
    raise MmdataError(f"the held-out scene space ran out after {k} items", file=world_dir)


def rotate(item: Item, r: int) -> Item:
    """Circular copy ``r``: option contents move ``r`` places (pass 1: A = old D, B = old A, …)."""
    letters = list(item.options)
    n = len(letters)
    texts = [item.options[x] for x in letters]
    opts = {letters[j]: texts[(j - r) % n] for j in range(n)}
    answer = letters[(letters.index(item.answer) + r) % n]
    return Item(item.index + r * CIRCULAR_STRIDE, item.question, opts, answer, item.language, item.hint, item.category,
                item.l2_category, item.split, item.image, None, item.image_key, item.group, dict(item.extra), item.source)  # fmt: skip


def make_benchmark(world_dir: str | Path, out: str | Path, per_language: int = 2000, *, progress: bool = False) -> dict:
    """Write the synthetic MMMB (vanilla and circular sets) under ``out``; return the manifest."""
    world_dir, out = Path(world_dir), Path(out)
    if per_language < 1:
        raise MmdataError(f"--per-language must be at least 1, got {per_language}")
    info = world_info(world_dir)
    seed = info["seed"]
    per_lang: dict[str, list[Item]] = {lang: [] for lang in LANGUAGES}
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"rendering {per_language} aligned questions", total=per_language)
        for k, cat, texts, answer, scene in _aligned_items(world_dir, seed, per_language):
            png = encode(render(scene), "png")
            for lang, (q, opts) in texts.items():
                per_lang[lang].append(Item(k, q, dict(zip(LETTERS, opts, strict=True)), answer, lang, "", cat,
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
        "spec": "mmdata/presets/benchmarks/mmmb-synthetic.yaml",
        "world": {"seed": seed, "size": info.get("size"), "image_size": info.get("image_size"), "stream": "heldout"},
        "per_language": per_language,
        "languages": list(LANGUAGES),
        "file_suffix": {lang: LANGUAGE_FILE_SUFFIX[lang] for lang in LANGUAGES},
        "categories": {c: {"l2": L2_CATEGORY[c], "items_per_language": counts[c]} for c in CATEGORIES},
        "spatial_categories": list(SPATIAL),
        "options": 4,
        "sets": {
            "mmmb": {"scoring": "vanilla", "rows_per_language": per_language},
            "mmbench": {"scoring": "circular", "rotations": 4, "rows_per_language": 4 * per_language},
        },
        "prompt_version": PROMPT_VERSION,
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
        "generator": {"mmdata": __version__, "command": f"mmdata bench make --world WORLD --out BENCHDIR --per-language {per_language}"},
    }
    with atomic_dir(out) as tmp:
        for name, data in files.items():
            p = tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        (tmp / "benchmark.json").write_bytes(dumps_json(manifest))
    return manifest
