"""Questions about a scene, derived from its scene graph, in a language-neutral form.

:func:`make_qa` builds a :class:`QA` for one of the fifteen categories (see
:data:`mmdata.world.lexicon.CATEGORIES`): which objects it is about, the slots its template needs, the
answer as a typed value (``("colour", "red")``, ``("count", 3)``, ``("yesno", True)`` …) and, for
multiple choice, plausible distractors of the same type. :func:`question`, :func:`answer` and
:func:`options` render it in any of the six languages. ``form="open"`` gives the VQA-style question
used by training sources; ``form="mc"`` the four-option benchmark question.

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


def _count_options(n: int, rng: random.Random) -> list[Value]:
    pool = [k for k in range(0, 8) if k != n]
    pool.sort(key=lambda k: (abs(k - n), rng.random()))
    return [("count", k) for k in pool[:3]]


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


def make_qa(category: str, scene: Scene, rng: random.Random, form: str = "open") -> QA | None:
    """A question of ``category`` about ``scene``, or None when the scene cannot support one."""
    fn = _GENERATORS[category]
    return fn(scene, rng, form)


def _colour(scene, rng, form):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        ref = unique_ref(scene, o, use_colour=False)
        if ref:
            return QA("colour", form, {"obj": ref}, {}, ("colour", o.colour), [("colour", c) for c in _other(COLOURS, {o.colour}, rng)], (o.id,))
    return None


def _shape(scene, rng, form):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        ref = unique_ref(scene, o, use_shape=False)
        if ref:
            return QA("shape", form, {"obj": ref}, {}, ("shape", o.shape), [("shape", s) for s in _other(SHAPES, {o.shape}, rng)], (o.id,))
    return None


def _count(scene, rng, form):
    present = sorted({o.shape for o in scene.objects})
    shape = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(SHAPES)
    n = sum(o.shape == shape for o in scene.objects)
    ids = tuple(o.id for o in scene.objects if o.shape == shape)
    return QA("count", form, {}, {"shape": shape}, ("count", n), _count_options(n, rng), ids)


def _size(scene, rng, form):
    objs = list(scene.objects)
    rng.shuffle(objs)
    if form == "open":
        for o in objs:
            ref = unique_ref(scene, o, use_size=False)
            if ref:
                return QA("size", form, {"obj": ref}, {}, ("size", o.size), [("size", "small" if o.size == "large" else "large")], (o.id,))
        return None
    large = [o for o in objs if o.size == "large"]
    if not large:
        return None
    target = large[0]
    ans = Ref(target.shape, target.colour)
    if sum(_matches(ans, o) for o in scene.objects) != 1:
        return None
    small = [Ref(o.shape, o.colour) for o in objs if o.size == "small"]
    small = [r for r in dict.fromkeys(small) if not any(_matches(r, o) and o.size == "large" for o in scene.objects)]
    distract = small[:3]
    distract += [r for r in _absent_refs(scene, rng, 6) if r != ans and r not in distract][: 3 - len(distract)]
    return QA("size", form, {}, {}, ("np", ans), [("np", r) for r in distract], (target.id,))


def _position(scene, rng, form):
    objs = list(scene.objects)
    rng.shuffle(objs)
    for o in objs:
        q = quadrant(scene, o)
        ref = unique_ref(scene, o)
        if q and ref:
            return QA("position", form, {"obj": ref}, {}, ("quadrant", q), [("quadrant", x) for x in QUADRANTS if x != q], (o.id,))
    return None


def _pairs(scene, rng):
    pairs = [(a, b) for a in scene.objects for b in scene.objects if a.id != b.id]
    rng.shuffle(pairs)
    return pairs


def _spatial(scene, rng, form):
    for a, b in _pairs(scene, rng):
        rel = relation(a, b)
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


def _existence(scene, rng, form):
    if form == "open":
        if scene.objects and rng.random() < 0.5:
            o = rng.choice(scene.objects)
            return QA("existence", form, {"obj": Ref(o.shape, o.colour)}, {}, ("yesno", True), [("yesno", False)], (o.id,))
        ref = _absent_refs(scene, rng, 1)[0]
        return QA("existence", form, {"obj": ref}, {}, ("yesno", False), [("yesno", True)], ())
    if not scene.objects:
        return None
    o = rng.choice(scene.objects)
    return QA("existence", form, {}, {}, ("np", Ref(o.shape, o.colour)), [("np", r) for r in _absent_refs(scene, rng, 3)], (o.id,))


def _ocr(scene, rng, form):
    if scene.text is None:
        return None
    w = scene.text.word
    return QA("ocr", form, {}, {}, ("word", w), [("word", x) for x in _other(OCR_WORDS, {w}, rng)], ())


def _comparison(scene, rng, form):
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
    if best < 2 or len(top) != 1:
        return None
    return QA("comparison", form, {}, {}, ("shape", top[0]), [("shape", s) for s in _other(SHAPES, {top[0]}, rng)], ())


def _background(scene, rng, form):
    bg = scene.background
    others = [b for b in BACKGROUNDS if b != bg] + [rng.choice(COLOURS)]
    return QA("background", form, {}, {}, ("colour", bg), [("colour", c) for c in others], ())


def _colour_count(scene, rng, form):
    present = sorted({o.colour for o in scene.objects})
    colour = rng.choice(present) if present and rng.random() < 0.8 else rng.choice(COLOURS)
    n = sum(o.colour == colour for o in scene.objects)
    return QA("colour_count", form, {}, {"colour": colour}, ("count", n), _count_options(n, rng),
              tuple(o.id for o in scene.objects if o.colour == colour))  # fmt: skip


def _total_count(scene, rng, form):
    n = len(scene.objects)
    return QA("total_count", form, {}, {}, ("count", n), _count_options(n, rng), tuple(o.id for o in scene.objects))


def _same_colour(scene, rng, form):
    if form == "open":
        for a, b in _pairs(scene, rng):
            ra, rb = unique_ref(scene, a, use_colour=False), unique_ref(scene, b, use_colour=False)
            if ra and rb and ra != rb:
                truth = a.colour == b.colour
                return QA("same_colour", form, {"obj": ra, "obj2": rb}, {}, ("yesno", truth), [("yesno", not truth)], (a.id, b.id))
        return None
    for a, b in _pairs(scene, rng):
        if a.colour != b.colour:
            continue
        if sum(o.colour == a.colour for o in scene.objects) != 2:
            continue
        ra = unique_ref(scene, a, use_colour=False)
        rb = unique_ref(scene, b, use_colour=False)
        if not (ra and rb):
            continue
        distract = [unique_ref(scene, o, use_colour=False) for o in scene.objects if o.colour != a.colour]
        distract = [d for d in distract if d and d != rb]
        shapes_used = {a.shape, b.shape, *(d.shape for d in distract)}
        distract += [Ref(s) for s in SHAPES if s not in shapes_used]
        return QA("same_colour", form, {"obj": ra}, {}, ("np", rb), [("np", d) for d in distract[:3]], (a.id, b.id))
    return None


def _closest(scene, rng, form):
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
        distract = [Ref(o.shape, o.colour) for o in others[1:]]
        distract = [d for d in dict.fromkeys(distract) if d != rb and d != Ref(a.shape, a.colour)]
        distract += [r for r in _absent_refs(scene, rng, 6) if r != rb and r not in distract]
        return QA("closest", form, {"obj": ra}, {}, ("np", rb), [("np", d) for d in distract[:3]], (a.id, b.id))
    return None


def _extreme(scene, rng, form):
    objs = sorted(scene.objects, key=lambda o: o.cx)
    if len(objs) < 2 or objs[1].cx - objs[0].cx < 4:
        return None
    o = objs[0]
    return QA("extreme", form, {}, {}, ("colour", o.colour), [("colour", c) for c in _other(COLOURS, {o.colour}, rng)], (o.id,))


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
