"""Questions about a scene, derived from its scene graph, in a language-neutral form.

:func:`make_qa` builds a :class:`QA` for one of the fifteen categories (see
:data:`mmdata.world.lexicon.CATEGORIES`): which objects it is about, the slots its template needs, the
answer as a typed value (``("colour", "red")``, ``("count", 3)``, ``("yesno", True)`` …) and, for
multiple choice, plausible distractors of the same type. :func:`question`, :func:`answer` and
:func:`options` render it in any of the six languages. ``form="open"`` gives the VQA-style question
used by training sources; ``form="mc"`` the four-option benchmark question (three for background).

Multiple-choice distractors never give the answer away: they come from the gold's own answer space
(:func:`answer_domain`) and are drawn the same way whatever the gold value — colours from colours
(colours in the scene first), shapes from shapes, backgrounds from the three backgrounds, counts are
always the same four numbers (0–3; total_count 2–5), objects from the scene's other objects and then
absent ones. With ``make_qa(..., want=v)`` the benchmark asks for a question whose answer is ``v``, so it
can balance gold answers within a category; open-form questions (training data) are unchanged.

Category definitions (the ground truth each answer is computed from):

=================  =======================================================================
colour             colour of an object identified by shape (and size)
shape              shape of an object identified by colour (and size)
count              number of objects of a shape (may be 0)
size               open: small or large; mc: which listed object is large
position           corner of the image an object is in (objects near a centre line are skipped)
spatial_relation   open: is A left of/right of/above/below B (yes/no); mc: where A is relative to B
existence          open: is there a <colour> <shape> (yes/no); mc: which listed object is present
ocr                the word rendered in the image
comparison         open: more <shape1> than <shape2>? (yes/no); mc: the most frequent shape
background         background colour
colour_count       number of objects of a colour
total_count        number of objects
same_colour        open: do A and B share a colour (yes/no); mc: which object shares A's colour
closest            open: shape of the object nearest to A; mc: which listed object is nearest to A
extreme            colour of the leftmost object
=================  =======================================================================
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from mmdata.world import grammar
from mmdata.world.grammar import Ref
from mmdata.world.lexicon import BACKGROUNDS, COLOURS, QUADRANTS, RELATIONS, SHAPES, lexicon, word
from mmdata.world.scene import OCR_WORDS, Obj, Scene

Value = tuple  # (kind, value)


@dataclass
class QA:
    category: str
    form: str  # "open" | "mc"
    refs: dict[str, Ref] = field(default_factory=dict)  # obj, obj2
    extra: dict = field(default_factory=dict)  # shape, shape2, colour, rel, word
    answer: Value = ("", None)
    distractors: list[Value] = field(default_factory=list)
    objects: tuple[int, ...] = ()

    def key(self) -> tuple:
        """Identity of the question's content, so an image never gets the same question twice.

        Symmetric questions ("is A left of B" / "is B right of A", "same colour", "more X than Y")
        key on the unordered set they are about, since they ask the same thing.
        """
        if self.category in ("spatial_relation", "same_colour"):
            return (self.category, self.form, frozenset(self.objects))
        if self.category == "comparison" and self.form == "open":
            return (self.category, self.form, frozenset((self.extra["shape"], self.extra["shape2"])))
        return (self.category, self.form, tuple(sorted(self.refs.items())), tuple(sorted(self.extra.items())))


# ------------------------------------------------------------------------------------ references


def unique_ref(scene: Scene, obj: Obj, *, use_shape: bool = True, use_colour: bool = True, use_size: bool = True) -> Ref | None:
    """The shortest reference that picks out ``obj`` among the scene's objects, or None."""
    others = [o for o in scene.objects if o.id != obj.id]
    options = []
    base_shape = obj.shape if use_shape else None
    if use_shape:
        options.append(Ref(obj.shape))
    if use_colour:
        options.append(Ref(base_shape, obj.colour))
    if use_size:
        options.append(Ref(base_shape, None, obj.size))
    if use_colour and use_size:
        options.append(Ref(base_shape, obj.colour, obj.size))
    for ref in options:
        if not any(_matches(ref, o) for o in others):
            return ref
    return None


def _matches(ref: Ref, o: Obj) -> bool:
    return (
        (ref.shape is None or ref.shape == o.shape)
        and (ref.colour is None or ref.colour == o.colour)
        and (ref.size is None or ref.size == o.size)
    )


def quadrant(scene: Scene, o: Obj, margin: float = 0.12) -> str | None:
    dx, dy = o.cx - scene.width / 2, o.cy - scene.height / 2
    if abs(dx) < margin * scene.width or abs(dy) < margin * scene.height:
        return None
    return ("top" if dy < 0 else "bottom") + "_" + ("left" if dx < 0 else "right")


def relation(a: Obj, b: Obj, ratio: float = 2.0) -> str | None:
    """The dominant spatial relation of a to b, when one axis clearly dominates."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dx) >= ratio * abs(dy) and abs(dx) >= 4:
        return "left_of" if dx < 0 else "right_of"
    if abs(dy) >= ratio * abs(dx) and abs(dy) >= 4:
        return "above" if dy < 0 else "below"
    return None


OPPOSITE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}


def _dist(a: Obj, b: Obj) -> float:
    return math.hypot(a.cx - b.cx, a.cy - b.cy)


# ------------------------------------------------------------------------- multiple-choice answers

COUNT_DOMAIN = (0, 1, 2, 3)  # count and colour_count: the benchmark's gold answers, and so its options
TOTAL_DOMAIN = (2, 3, 4, 5)  # total_count: scenes hold two to five objects

_DOMAINS = {
    "colour": COLOURS, "extreme": COLOURS, "shape": SHAPES, "comparison": SHAPES,
    "count": COUNT_DOMAIN, "colour_count": COUNT_DOMAIN, "total_count": TOTAL_DOMAIN,
    "position": QUADRANTS, "spatial_relation": RELATIONS, "background": BACKGROUNDS, "ocr": OCR_WORDS,
    # object answers ("the red star") are balanced over the object's shape; colours follow by symmetry
    "size": SHAPES, "existence": SHAPES, "same_colour": SHAPES, "closest": SHAPES,
}  # fmt: skip


def answer_domain(category: str) -> tuple:
    """The values a benchmark balances ``category``'s gold answers over: ``make_qa(..., want=v)``
    asks for a question whose answer is ``v`` (for object answers: an object of shape ``v``)."""
    return _DOMAINS[category]


def n_options(category: str) -> int:
    """Options of a multiple-choice question: four, except background (there are three backgrounds)."""
    return len(BACKGROUNDS) if category == "background" else 4


def _count_options(n: int, rng: random.Random) -> list[Value]:
    """Open-form distractors (wrong annotator answers in VQA data): the nearest integers."""
    pool = [k for k in range(0, 8) if k != n]
    pool.sort(key=lambda k: (abs(k - n), rng.random()))
    return [("count", k) for k in pool[:3]]


def _number_options(n: int, domain: tuple[int, ...], rng: random.Random) -> list[Value]:
    """MC distractors for a count: the rest of ``domain`` (so every gold sits among the same four
    numbers); a count outside it (training data only) gets three random numbers around the domain."""
    if n in domain and len(domain) == 4:
        return [("count", k) for k in domain if k != n]
    pool = [k for k in range(0, max(max(domain), n) + 2) if k != n]
    return [("count", k) for k in rng.sample(pool, 3)]


def _same_type(domain, gold, rng: random.Random, prefer=(), k: int = 3) -> list:
    """``k`` distractors from ``domain`` minus ``gold``: values the scene shows (``prefer``, so they are
    plausible) first, then uniformly from the rest. Every value of the domain is treated alike, so when
    golds are balanced no option text is right more often than another."""
    near = [v for v in dict.fromkeys(prefer) if v != gold and v in domain]
    picked = rng.sample(near, min(k, len(near)))
    rest = [v for v in domain if v != gold and v not in picked]
    return picked + rng.sample(rest, k - len(picked))


def _object_options(gold: Ref, present: list[Ref], scene: Scene, rng: random.Random, k: int = 3) -> list[Ref]:
    """Object distractors: a random sample of the scene's other objects, then absent (shape, colour)s."""
    pool = [r for r in dict.fromkeys(present) if r != gold]
    picked = rng.sample(pool, min(k, len(pool)))
    for r in _absent_refs(scene, rng, 2 * k):
        if len(picked) == k:
            break
        if r != gold and r not in picked:
            picked.append(r)
    return picked


def _other(values, exclude, rng: random.Random, k: int = 3) -> list:
    pool = [v for v in values if v not in exclude]
    return rng.sample(pool, k)


def _absent_refs(scene: Scene, rng: random.Random, k: int, with_size: bool = False) -> list[Ref]:
    present = {(o.shape, o.colour) for o in scene.objects}
    out, seen = [], set()
    while len(out) < k:
        s, c = rng.choice(SHAPES), rng.choice(COLOURS)
        if (s, c) in present or (s, c) in seen:
            continue
        seen.add((s, c))
        out.append(Ref(s, c, rng.choice(("small", "large")) if with_size else None))
    return out


# ----------------------------------------------------------------------------------- generators


def make_qa(category: str, scene: Scene, rng: random.Random, form: str = "open", want=None) -> QA | None:
    """A question of ``category`` about ``scene``, or None when the scene cannot support one.

    ``want`` (multiple choice only) asks for a question whose answer is that value of
    :func:`answer_domain`; None when the scene has no such question. The benchmark cycles it so that
    gold answers are balanced within each category.
    """
    if want is not None and form != "mc":
        raise ValueError("want= is for multiple-choice questions")
    return _GENERATORS[category](scene, rng, form, want)


def _colour(scene, rng, form, want):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        if want is not None and o.colour != want:
            continue
        ref = unique_ref(scene, o, use_colour=False)
        if ref:
            if form == "mc":
                d = _same_type(COLOURS, o.colour, rng, [x.colour for x in scene.objects if x.id != o.id])
            else:
                d = _other(COLOURS, {o.colour}, rng)
            return QA("colour", form, {"obj": ref}, {}, ("colour", o.colour), [("colour", c) for c in d], (o.id,))
    return None


def _shape(scene, rng, form, want):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        if want is not None and o.shape != want:
            continue
        ref = unique_ref(scene, o, use_shape=False)
        if ref:
            if form == "mc":
                d = _same_type(SHAPES, o.shape, rng, [x.shape for x in scene.objects if x.id != o.id])
            else:
                d = _other(SHAPES, {o.shape}, rng)
            return QA("shape", form, {"obj": ref}, {}, ("shape", o.shape), [("shape", s) for s in d], (o.id,))
    return None


def _count(scene, rng, form, want):
    if want is None:
        present = sorted({o.shape for o in scene.objects})
        shape = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(SHAPES)
    else:
        shapes = [s for s in SHAPES if sum(o.shape == s for o in scene.objects) == want]
        if not shapes:
            return None
        shape = rng.choice(shapes)
    n = sum(o.shape == shape for o in scene.objects)
    ids = tuple(o.id for o in scene.objects if o.shape == shape)
    d = _number_options(n, COUNT_DOMAIN, rng) if form == "mc" else _count_options(n, rng)
    return QA("count", form, {}, {"shape": shape}, ("count", n), d, ids)


def _size(scene, rng, form, want):
    objs = list(scene.objects)
    rng.shuffle(objs)
    if form == "open":
        for o in objs:
            ref = unique_ref(scene, o, use_size=False)
            if ref:
                return QA("size", form, {"obj": ref}, {}, ("size", o.size), [("size", "small" if o.size == "large" else "large")], (o.id,))
        return None
    for target in (o for o in objs if o.size == "large" and (want is None or o.shape == want)):
        ans = Ref(target.shape, target.colour)
        if sum(_matches(ans, o) for o in scene.objects) != 1:
            continue
        small = [Ref(o.shape, o.colour) for o in objs if o.size == "small"]
        small = [r for r in small if not any(_matches(r, o) and o.size == "large" for o in scene.objects)]
        d = _object_options(ans, small, scene, rng)
        return QA("size", form, {}, {}, ("np", ans), [("np", r) for r in d], (target.id,))
    return None


def _position(scene, rng, form, want):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        q = quadrant(scene, o)
        if want is not None and q != want:
            continue
        ref = unique_ref(scene, o)
        if q and ref:
            return QA("position", form, {"obj": ref}, {}, ("quadrant", q), [("quadrant", x) for x in QUADRANTS if x != q], (o.id,))
    return None


def _pairs(scene, rng):
    pairs = [(a, b) for a in scene.objects for b in scene.objects if a.id != b.id]
    rng.shuffle(pairs)
    return pairs


def _spatial(scene, rng, form, want):
    for a, b in _pairs(scene, rng):
        rel = relation(a, b)
        if want is not None and rel != want:
            continue
        ra, rb = unique_ref(scene, a), unique_ref(scene, b)
        if not (rel and ra and rb):
            continue
        if form == "mc":
            return QA("spatial_relation", form, {"obj": ra, "obj2": rb}, {}, ("relation", rel),
                      [("relation", r) for r in RELATIONS if r != rel], (a.id, b.id))  # fmt: skip
        truth = rng.random() < 0.5
        asked = rel if truth else OPPOSITE[rel]
        return QA("spatial_relation", form, {"obj": ra, "obj2": rb}, {"rel": asked}, ("yesno", truth), [("yesno", not truth)], (a.id, b.id))
    return None


def _existence(scene, rng, form, want):
    if form == "open":
        if scene.objects and rng.random() < 0.5:
            o = rng.choice(scene.objects)
            return QA("existence", form, {"obj": Ref(o.shape, o.colour)}, {}, ("yesno", True), [("yesno", False)], (o.id,))
        ref = _absent_refs(scene, rng, 1)[0]
        return QA("existence", form, {"obj": ref}, {}, ("yesno", False), [("yesno", True)], ())
    cands = [o for o in scene.objects if want is None or o.shape == want]
    if not cands:
        return None
    o = rng.choice(cands)
    return QA("existence", form, {}, {}, ("np", Ref(o.shape, o.colour)), [("np", r) for r in _absent_refs(scene, rng, 3)], (o.id,))


def _ocr(scene, rng, form, want):
    if scene.text is None or (want is not None and scene.text.word != want):
        return None
    w = scene.text.word
    return QA("ocr", form, {}, {}, ("word", w), [("word", x) for x in _other(OCR_WORDS, {w}, rng)], ())


def _comparison(scene, rng, form, want):
    counts = {s: sum(o.shape == s for o in scene.objects) for s in SHAPES}
    if form == "open":
        present = [s for s in SHAPES if counts[s]]
        if not present:
            return None
        s1 = rng.choice(present)
        s2 = rng.choice([s for s in SHAPES if s != s1 and counts[s] != counts[s1]] or [None])
        if s2 is None:
            return None
        truth = counts[s1] > counts[s2]
        return QA("comparison", form, {}, {"shape": s1, "shape2": s2}, ("yesno", truth), [("yesno", not truth)], ())
    best = max(counts.values())
    top = [s for s in SHAPES if counts[s] == best]
    if best < 2 or len(top) != 1 or (want is not None and top[0] != want):
        return None
    d = _same_type(SHAPES, top[0], rng, [s for s in SHAPES if counts[s]])
    return QA("comparison", form, {}, {}, ("shape", top[0]), [("shape", s) for s in d], ())


def _background(scene, rng, form, want):
    bg = scene.background
    if want is not None and bg != want:
        return None
    others = [b for b in BACKGROUNDS if b != bg]
    if form == "open":
        others.append(rng.choice(COLOURS))  # wrong annotator answers may name an object's colour
    return QA("background", form, {}, {}, ("colour", bg), [("colour", c) for c in others], ())


def _colour_count(scene, rng, form, want):
    if want is None:
        present = sorted({o.colour for o in scene.objects})
        colour = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(COLOURS)
    else:
        colours = [c for c in COLOURS if sum(o.colour == c for o in scene.objects) == want]
        if not colours:
            return None
        colour = rng.choice(colours)
    n = sum(o.colour == colour for o in scene.objects)
    d = _number_options(n, COUNT_DOMAIN, rng) if form == "mc" else _count_options(n, rng)
    return QA("colour_count", form, {}, {"colour": colour}, ("count", n), d,
              tuple(o.id for o in scene.objects if o.colour == colour))  # fmt: skip


def _total_count(scene, rng, form, want):
    n = len(scene.objects)
    if want is not None and n != want:
        return None
    d = _number_options(n, TOTAL_DOMAIN, rng) if form == "mc" else _count_options(n, rng)
    return QA("total_count", form, {}, {}, ("count", n), d, tuple(o.id for o in scene.objects))


def _same_colour(scene, rng, form, want):
    if form == "open":
        for a, b in _pairs(scene, rng):
            ra, rb = unique_ref(scene, a, use_colour=False), unique_ref(scene, b, use_colour=False)
            if ra and rb and ra != rb:
                truth = a.colour == b.colour
                return QA("same_colour", form, {"obj": ra, "obj2": rb}, {}, ("yesno", truth), [("yesno", not truth)], (a.id, b.id))
        return None
    for a, b in _pairs(scene, rng):
        if a.colour != b.colour or (want is not None and b.shape != want):
            continue
        if sum(o.colour == a.colour for o in scene.objects) != 2:
            continue
        ra = unique_ref(scene, a, use_colour=False)
        rb = unique_ref(scene, b, use_colour=False)
        if not (ra and rb):
            continue
        present = [unique_ref(scene, o, use_colour=False) for o in scene.objects if o.colour != a.colour]
        present = [d for d in present if d and d != rb]
        picked = rng.sample(present, min(3, len(present)))
        absent = [s for s in SHAPES if not any(o.shape == s for o in scene.objects)]  # shapes nobody has
        if len(absent) < 3 - len(picked):
            continue
        picked += [Ref(s) for s in rng.sample(absent, 3 - len(picked))]
        return QA("same_colour", form, {"obj": ra}, {}, ("np", rb), [("np", d) for d in picked], (a.id, b.id))
    return None


def _closest(scene, rng, form, want):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for a in objs:
        others = sorted((o for o in scene.objects if o.id != a.id), key=lambda o: _dist(a, o))
        if len(others) < 2 or _dist(a, others[1]) - _dist(a, others[0]) < 4:
            continue
        ra = unique_ref(scene, a)
        if not ra:
            continue
        b = others[0]
        if form == "open":
            return QA("closest", form, {"obj": ra}, {}, ("shape", b.shape), [("shape", s) for s in _other(SHAPES, {b.shape}, rng)], (a.id, b.id))
        rb = Ref(b.shape, b.colour)
        if (want is not None and b.shape != want) or sum(_matches(rb, o) for o in scene.objects) != 1:
            continue
        present = [Ref(o.shape, o.colour) for o in others[1:]]
        present = [d for d in present if d != Ref(a.shape, a.colour)]
        d = _object_options(rb, present, scene, rng)
        return QA("closest", form, {"obj": ra}, {}, ("np", rb), [("np", r) for r in d], (a.id, b.id))
    return None


def _extreme(scene, rng, form, want):
    objs = sorted(scene.objects, key=lambda o: o.cx)
    if len(objs) < 2 or objs[1].cx - objs[0].cx < 4:
        return None
    o = objs[0]
    if want is not None and o.colour != want:
        return None
    if form == "mc":
        d = _same_type(COLOURS, o.colour, rng, [x.colour for x in objs[1:]])
    else:
        d = _other(COLOURS, {o.colour}, rng)
    return QA("extreme", form, {}, {}, ("colour", o.colour), [("colour", c) for c in d], (o.id,))


_GENERATORS = {
    "colour": _colour,
    "shape": _shape,
    "count": _count,
    "size": _size,
    "position": _position,
    "spatial_relation": _spatial,
    "existence": _existence,
    "ocr": _ocr,
    "comparison": _comparison,
    "background": _background,
    "colour_count": _colour_count,
    "total_count": _total_count,
    "same_colour": _same_colour,
    "closest": _closest,
    "extreme": _extreme,
}


# ------------------------------------------------------------------------------------- rendering


def slots(qa: QA, lang: str) -> dict[str, str]:
    s: dict[str, str] = {}
    for name, ref in qa.refs.items():
        s.update(grammar.object_slots(lang, ref, name))
    ex = qa.extra
    if "shape" in ex:
        s.update(grammar.shape_count_slots(lang, ex["shape"]))
    if "shape2" in ex:
        s.update(grammar.shape_count_slots(lang, ex["shape2"], "2"))
    if "colour" in ex:
        s.update(grammar.colour_count_slots(lang, ex["colour"]))
    if "rel" in ex:
        s["rel"] = lexicon(lang)["relations"][ex["rel"]]["q"]
    return s


def n_variants(category: str, lang: str) -> int:
    return len(lexicon(lang)["questions"][category]["open"])


def question(qa: QA, lang: str, variant: int = 0) -> str:
    q = lexicon(lang)["questions"][qa.category]
    tmpl = q["mc"] if qa.form == "mc" else q["open"][variant % len(q["open"])]
    return grammar.fill(tmpl, lang, slots(qa, lang))


def value_text(v: Value, lang: str, agree: Ref | None = None) -> str:
    """Render a typed value; colour and size agree in gender with ``agree`` where the language needs it."""
    kind, val = v
    lex = lexicon(lang)
    g = grammar.gender(lang, agree)
    if kind == "colour":
        return grammar.adjective(lang, "colour", val, g)
    if kind == "size":
        return grammar.adjective(lang, "size", val, g)
    if kind == "shape":
        return lex["shapes"][val]["sg"]
    if kind == "count":
        return str(val)
    if kind == "yesno":
        return lex["yes"] if val else lex["no"]
    if kind == "quadrant":
        return lex["quadrants"][val]["base"]
    if kind == "relation":
        return lex["relations"][val]["base"]
    if kind == "word":
        return val
    if kind == "np":
        return grammar.noun_phrase(lang, val, "bare")
    raise ValueError(kind)


def answer(qa: QA, lang: str) -> str:
    agree = None
    if qa.answer[0] in ("colour", "size") and qa.category != "background":
        agree = qa.refs.get("obj", Ref(None))  # "What colour is the leftmost object?" agrees with "object"
    return value_text(qa.answer, lang, agree)


def answer_sentence(qa: QA, lang: str) -> str:
    """A full-sentence answer for conversations (LLaVA-style data)."""
    lex = lexicon(lang)
    tmpl = lex["answers"].get(qa.category) if qa.form == "open" else None
    if tmpl is None or (qa.category in ("colour", "size") and "obj" not in qa.refs):
        tmpl = lex["answers"]["default"]
    s = slots(qa, lang)
    s["answer"] = answer(qa, lang)
    return grammar.fill(tmpl, lang, s)


def options(qa: QA, lang: str) -> list[str]:
    """Answer plus distractors as strings (answer first; callers shuffle)."""
    return [value_text(v, lang) for v in [qa.answer, *qa.distractors]]


def colour_word(colour: str, lang: str) -> str:
    return word(lexicon(lang)["colours"][colour])
