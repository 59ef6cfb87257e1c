"""Noun phrases, agreement and case for the world's six languages.

Templates in the lexicon are filled with *slots*: ``{obj}`` (the definite phrase for object A),
``{obj_gen}`` (its genitive/oblique form), ``{a_obj}`` (indefinite), ``{shape_c}`` (a shape in the
form used after "how many"), ``{small}``/``{large}`` agreeing with A, and so on. This module computes
every slot a language's templates may use; each slot also exists capitalised (``{Obj}``).

Language notes (rules we implement, not a general grammar):

* en — articles the/a/an; order size-colour-noun.
* zh — no inflection; "红色的大圆形"; indefinite adds "一个".
* pt — gender m/f on nouns; adjectives follow the noun and agree; contractions do/da, ao/à.
* ar — gender m/f; definiteness is "ال" on the noun and each adjective; adjectives follow the noun.
* tr — adjectives invariant; nouns carry genitive/dative suffixes (listed in the lexicon);
  indefinite "bir" before the noun; Turkish-aware capitalisation (i → İ).
* ru — adjectives derived from the masculine nominative by rule (gender, gen/dat/prep/ins, gen. pl.).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmdata.world.lexicon import lexicon, word


@dataclass(frozen=True)
class Ref:
    """A language-neutral reference to an object: its shape (None = "object") plus optional attributes."""

    shape: str | None
    colour: str | None = None
    size: str | None = None


# ----------------------------------------------------------------------------------------- ru


_VELAR = set("гкх")
_SIBILANT = set("жшщч")


def ru_adj(m_nom: str, form: str) -> str:
    """Russian adjective form from its masculine nominative (м.р. им.п.).

    ``form`` ∈ m, f, n, m_gen, f_gen, m_dat, f_dat, m_prep, m_ins, gen_pl.
    """
    if form == "m":
        return m_nom
    stem, end = m_nom[:-2], m_nom[-2:]
    last = stem[-1] if stem else ""
    soft = end == "ий" and last not in _VELAR | _SIBILANT  # синий
    hush = end == "ий" and last in _SIBILANT  # хороший-type
    i_after = last in _VELAR | _SIBILANT  # ы → и after these letters
    table = {
        "f": "яя" if soft else "ая",
        "n": "ее" if soft or hush else "ое",
        "m_gen": "его" if soft or hush else "ого",
        "f_gen": "ей" if soft or hush else "ой",
        "m_dat": "ему" if soft or hush else "ому",
        "f_dat": "ей" if soft or hush else "ой",
        "m_prep": "ем" if soft or hush else "ом",
        "m_ins": "им" if soft or i_after else "ым",
        "gen_pl": "их" if soft or i_after else "ых",
    }
    return stem + table[form]


def _ru_case(g: str, case: str) -> str:
    # adjective form key for a noun of gender g in case ('nom', 'gen', 'dat')
    if case == "nom":
        return {"m": "m", "f": "f", "n": "n"}[g]
    return f"{'f' if g == 'f' else 'm'}_{case}"


# ------------------------------------------------------------------------------------- helpers


def capitalise(text: str, lang: str) -> str:
    if not text:
        return text
    first = text[0]
    if lang == "tr":
        first = {"i": "İ", "ı": "I"}.get(first, first.upper())
    else:
        first = first.upper()
    return first + text[1:]


def _noun(lex: dict, ref: Ref) -> dict:
    return lex["shapes"][ref.shape] if ref.shape else lex["object"]


def gender(lang: str, ref: Ref | None) -> str:
    if ref is None:
        return "m"
    return _noun(lexicon(lang), ref).get("g", "m")


def adjective(lang: str, kind: str, key: str, g: str = "m", case: str = "nom") -> str:
    """A colour or size adjective agreeing with gender ``g`` (and, in Russian, case)."""
    lex = lexicon(lang)
    forms = lex["colours" if kind == "colour" else "sizes"][key]
    if lang == "ru":
        return ru_adj(forms, _ru_case(g, case))
    if lang in ("pt", "ar"):
        return word(forms, g)
    return word(forms)


def noun_phrase(lang: str, ref: Ref, form: str = "def") -> str:
    """``form`` ∈ def, indef, bare, gen, dat, de (pt "do/da"), a (pt "ao/à")."""
    lex = lexicon(lang)
    n = _noun(lex, ref)
    g = n.get("g", "m")
    if lang == "en":
        words = [w for w in (ref.size, ref.colour and lex["colours"][ref.colour], n["sg"]) if w]
        core = " ".join(words)
        if form == "bare":
            return core
        if form == "indef":
            return ("an " if core[0] in "aeiou" else "a ") + core
        return "the " + core
    if lang == "zh":
        size = lex["sizes"][ref.size] if ref.size else ""
        core = (lex["colours"][ref.colour] + "的" if ref.colour else "") + size + n["sg"]
        return "一个" + core if form == "indef" else core
    if lang == "pt":
        adjs = [adjective("pt", k, v, g) for k, v in (("colour", ref.colour), ("size", ref.size)) if v]
        core = " ".join([n["sg"], *adjs])
        art = {
            "def": {"m": "o", "f": "a"},
            "gen": {"m": "o", "f": "a"},
            "dat": {"m": "ao", "f": "à"},
            "indef": {"m": "um", "f": "uma"},
            "de": {"m": "do", "f": "da"},
            "a": {"m": "ao", "f": "à"},
        }.get(form)
        return core if art is None else f"{art[g]} {core}"
    if lang == "ar":
        adjs = [adjective("ar", k, v, g) for k, v in (("colour", ref.colour), ("size", ref.size)) if v]
        words = [n["sg"], *adjs]
        if form in ("indef", "bare"):
            return " ".join(words)
        return " ".join("ال" + w for w in words)
    if lang == "tr":
        adjs = [lex["sizes"][ref.size]] if ref.size else []
        adjs += [lex["colours"][ref.colour]] if ref.colour else []
        head = {"gen": n["gen"], "dat": n["dat"]}.get(form, n["sg"])
        if form == "indef":
            return " ".join([*adjs, "bir", head])
        return " ".join([*adjs, head])
    if lang == "ru":
        case = {"gen": "gen", "dat": "dat", "de": "gen"}.get(form, "nom")
        adjs = [adjective("ru", k, v, g, case) for k, v in (("size", ref.size), ("colour", ref.colour)) if v]
        head = {"nom": n["sg"], "gen": n["gen"], "dat": n["dat"]}[case]
        return " ".join([*adjs, head])
    raise ValueError(lang)


def object_slots(lang: str, ref: Ref, name: str = "obj") -> dict[str, str]:
    """All slots for one object reference: ``obj``, ``obj_gen``, ``obj_dat``, ``obj_de``, ``obj_a``, ``a_obj``."""
    s = {
        name: noun_phrase(lang, ref, "def"),
        f"{name}_gen": noun_phrase(lang, ref, "gen" if lang in ("tr", "ru") else "def"),
        f"{name}_dat": noun_phrase(lang, ref, "dat" if lang in ("tr", "ru") else "def"),
        f"{name}_de": noun_phrase(lang, ref, "de" if lang == "pt" else "def"),
        f"{name}_a": noun_phrase(lang, ref, "a" if lang == "pt" else "def"),
        f"a_{name}": noun_phrase(lang, ref, "indef"),
        f"{name}_bare": noun_phrase(lang, ref, "bare"),
    }
    if name == "obj":
        g = gender(lang, ref)
        s["small"] = adjective(lang, "size", "small", g)
        s["large"] = adjective(lang, "size", "large", g)
    return s


def shape_count_slots(lang: str, shape: str, suffix: str = "") -> dict[str, str]:
    lex = lexicon(lang)
    n = lex["shapes"][shape]
    form = {"en": "pl", "pt": "pl", "ru": "gen_pl"}.get(lang, "sg")
    s = {f"shape_c{suffix}": n[form]}
    if lang == "ar":
        s[f"shape_pl_def{suffix}"] = "ال" + n["pl"]
    if lang == "pt" and not suffix:
        s["how_many"] = "Quantas" if n.get("g") == "f" else "Quantos"
    return s


def colour_count_slots(lang: str, colour: str) -> dict[str, str]:
    lex = lexicon(lang)
    forms = lex["colours"][colour]
    if lang == "pt":
        return {"colour_c": forms["mpl"]}
    if lang == "ru":
        return {"colour_c": ru_adj(forms, "gen_pl")}
    s = {"colour_c": word(forms)}
    if lang == "ar":
        s["colour_c_def"] = "ال" + word(forms)
    return s


def background_slots(lang: str, bg: str) -> dict[str, str]:
    lex = lexicon(lang)
    forms = lex["colours"][bg]
    s = {"bg": word(forms)}
    if lang == "ar":
        s["bg_f"] = word(forms, "f")
    if lang == "ru":
        s["bg_prep"] = ru_adj(forms, "m_prep")
        s["bg_ins"] = ru_adj(forms, "m_ins")
    return s


def join_list(lang: str, items: list[str]) -> str:
    lex = lexicon(lang)
    if len(items) == 1:
        return items[0]
    return lex["list_sep"].join(items[:-1]) + lex["list_and"] + items[-1]


def with_capitals(lang: str, slots: dict[str, str]) -> dict[str, str]:
    out = dict(slots)
    for k, v in slots.items():
        if isinstance(v, str):
            out[k[0].upper() + k[1:]] = capitalise(v, lang)
    return out


def fill(template: str, lang: str, slots: dict[str, str]) -> str:
    """Fill a lexicon template; a slot the template needs but the caller lacks is a bug (KeyError)."""
    return template.format(**with_capitals(lang, slots))
