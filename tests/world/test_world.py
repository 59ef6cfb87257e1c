"""The synthetic world: determinism, size imbalance, planted duplicates, held-out space, lexicon."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from mmdata.errors import MmdataError
from mmdata.world import grammar
from mmdata.world.generate import SOURCE_NAMES, generate
from mmdata.world.heldout import heldout_scenes, training_signatures
from mmdata.world.lexicon import CATEGORIES, lexicon
from mmdata.world.qa import answer, answer_sentence, make_qa, n_options, options, question
from mmdata.world.scene import make_scene, rng_for

LANGS = ("en", "zh", "pt", "ar", "tr", "ru")


def tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("w") / "world"
    generate(d, "tiny", 0)
    return d


def test_same_seed_gives_identical_files_and_other_seed_differs(tiny, tmp_path):
    again = tmp_path / "again"
    generate(again, "tiny", 0)
    a, b = tree_hashes(tiny), tree_hashes(again)
    assert a == b
    assert any(k.endswith(".png") for k in a) and any(k.endswith(".jpg") for k in a)
    other = tmp_path / "other"
    generate(other, "tiny", 1)
    c = tree_hashes(other)
    assert c != a
    shared = [k for k in a if k in c and not a[k].startswith("link:")]
    assert sum(a[k] != c[k] for k in shared) > len(shared) // 2


def test_manifest_and_layout(tiny):
    info = json.loads((tiny / "world.json").read_text())
    assert info["seed"] == 0 and info["size"] == "tiny" and info["image_size"] == 64
    assert set(info["counts"]) == set(SOURCE_NAMES)
    assert info["software"]["mmdata"]
    for name in SOURCE_NAMES:
        assert (tiny / "sources" / name).is_dir(), name
    # pools are shared: the same coco image backs VQAv2 (2014 name) and LLaVA (2017 name)
    a = tiny / "sources/vqav2/images/train2014/COCO_train2014_000000100000.jpg"
    b = tiny / "sources/llava_instruct/images/000000100000.jpg"
    assert a.read_bytes() == b.read_bytes()
    with Image.open(b) as im:
        assert im.size == (64, 64)
    # refs are JSON, never pickle
    assert (tiny / "sources/refcoco/refs(unc).json").is_file()
    assert not list((tiny / "sources").rglob("*.p"))


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_size_imbalance_at_least_50x(size, tmp_path):
    if size == "tiny":
        counts = generate(tmp_path / "w", size, 0).counts
    else:  # small takes a few seconds; its config is what matters for the demo
        counts = generate(tmp_path / "w", size, 3).counts
    assert max(counts.values()) >= 50 * min(counts.values()), counts


def test_planted_duplicates_are_paraphrases_with_the_same_answer(tiny):
    from mmdata.sources import read_table

    groups = [json.loads(x) for x in (tiny / "duplicates.jsonl").read_text().splitlines()]
    assert len(groups) >= 5
    tables = {n: read_table(n, tiny / "sources" / n) for n in {g["dataset"] for g in groups}}
    for g in groups:
        t = tables[g["dataset"]].to_pydict()
        idx = {rid: i for i, rid in enumerate(t["record_id"])}
        rows = [idx[r] for r in g["record_ids"]]
        assert len({t["question"][i] for i in rows}) == len(rows)  # different wording
        assert {t["answer"][i] for i in rows} == {g["answer"]}
        assert {t["image_id"][i] for i in rows} == {g["image_id"]}


def test_heldout_scenes_are_disjoint_from_training(tiny):
    train = training_signatures(tiny)
    held = list(heldout_scenes(tiny, 200))
    assert len(held) == 200
    assert not {s.signature() for s in held} & train
    assert all(s.scene_id.startswith("heldout-") for s in held)
    # deterministic
    assert [s.signature() for s in heldout_scenes(tiny, 20)] == [s.signature() for s in held[:20]]


def test_unknown_size_is_a_clear_error(tmp_path):
    with pytest.raises(MmdataError, match="unknown world size 'huge'"):
        generate(tmp_path / "x", "huge", 0)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("lang", LANGS)
def test_every_category_renders_in_every_language(lang):
    lex = lexicon(lang)
    assert set(lex["questions"]) == set(CATEGORIES)
    seen = set()
    for i in range(150):
        scene = make_scene(rng_for(7, "lex", i), f"s{i}", "coco")
        for cat in CATEGORIES:
            for form in ("open", "mc"):
                qa = make_qa(cat, scene, rng_for(7, cat, i), form)
                if qa is None:
                    continue
                seen.add((cat, form))
                for v in range(len(lex["questions"][cat]["open"])):
                    q = question(qa, lang, v)
                    assert "{" not in q and q.strip() == q
                assert answer(qa, lang) and answer_sentence(qa, lang)
                if form == "mc":
                    opts = options(qa, lang)
                    assert len(opts) == n_options(cat) and len(set(opts)) == len(opts), (cat, opts)
    assert len(seen) == 2 * len(CATEGORIES)


def test_grammar_agreement_examples():
    r = grammar.Ref("star", "red", "large")
    assert grammar.noun_phrase("pt", r) == "a estrela vermelha grande"
    assert grammar.noun_phrase("pt", r, "de") == "da estrela vermelha grande"
    assert grammar.noun_phrase("ru", r) == "большая красная звезда"
    assert grammar.noun_phrase("ru", grammar.Ref("square", "blue"), "gen") == "синего квадрата"
    assert grammar.noun_phrase("ar", r) == "النجمة الحمراء الكبيرة"
    assert grammar.noun_phrase("tr", grammar.Ref("square", "blue"), "gen") == "mavi karenin"
    assert grammar.noun_phrase("zh", r, "indef") == "一个红色的大星形"
    assert grammar.ru_adj("синий", "f") == "синяя" and grammar.ru_adj("большой", "gen_pl") == "больших"
    assert grammar.capitalise("ikon", "tr") == "İkon"


def test_mc_questions_can_be_asked_for_every_answer_of_their_domain():
    """``want=`` picks the gold answer (the benchmark balances on it); distractors stay in the gold's space."""
    from mmdata.world.qa import answer_domain

    scenes = [make_scene(rng_for(3, "want", i), f"w{i}", "heldout") for i in range(1500)]
    for cat in CATEGORIES:
        for want in answer_domain(cat):
            qa = next((q for i, s in enumerate(scenes) if (q := make_qa(cat, s, rng_for(3, cat, i), "mc", want=want))), None)
            assert qa is not None, (cat, want)
            kind, value = qa.answer
            got = value.shape if kind == "np" else value
            assert got == want, (cat, want, qa.answer)
            assert len(qa.distractors) == n_options(cat) - 1 and all(d[0] == kind for d in qa.distractors)
            assert qa.answer not in qa.distractors
    with pytest.raises(ValueError, match="multiple-choice"):
        make_qa("colour", scenes[0], rng_for(3, "x", 0), "open", want="red")
