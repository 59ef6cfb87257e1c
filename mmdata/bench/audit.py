"""Blind baselines: how much of a multiple-choice benchmark can be answered without the image.

``mmdata bench audit BENCH [--train MIXTURE] [--json]`` runs, per category and overall, baselines that
never see the image, and prints them next to chance. They learn from the items whose circular group
(``g_index``; the ``index`` for plain rows) is even and are scored on the odd ones, so the rotations
of one MMBench question never straddle the split. Every language is pooled (texts differ by language,
so text-keyed priors stay per language; digits are shared).

=================  =================================================================================
option prior       how often each option text is the gold answer when it is offered, per category;
                   pick the option with the highest smoothed rate (unseen texts rate 1/4)
question prior     the gold-answer distribution given the exact question text (backing off to the
                   category's gold distribution); pick the option it makes most likely
letter prior       the most frequent gold letter of the category
train answers      (``--train``) how often each option text is a whole assistant turn in the training
                   mixture; pick the most frequent. Learns nothing from the benchmark
=================  =================================================================================

Ties are scored by their expectation (a k-way tie that includes the gold counts 1/k), so a baseline
that knows nothing scores chance exactly, not chance plus the luck of a tie-break rule. Chance is the
mean of 1/(number of options) over the scored rows. Scores are vanilla (per row), also for circular sets.

Any VLMEvalKit-style TSV (a file or a folder of them, the real MMMB included) can be audited: only the
text columns are used. A benchmark without shortcuts keeps every baseline near chance.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mmdata.bench.extract import fold
from mmdata.bench.tsv import Benchmark, Item, load_benchmark
from mmdata.errors import MmdataError
from mmdata.schema import LANGUAGES

BASELINES = ("option_prior", "question_prior", "letter_prior", "train_prior")
LABELS = {"option_prior": "option prior", "question_prior": "question prior", "letter_prior": "letter prior",
          "train_prior": "train answers"}  # fmt: skip
SPLIT = "learn on even circular groups (g_index), score the odd ones; all languages pooled"
_NONE = "(none)"


@dataclass(frozen=True)
class Row:
    """Blind accuracies of one slice of the scored (odd) half; ``train_prior`` is None without --train."""

    n: int
    chance: float
    option_prior: float
    question_prior: float
    letter_prior: float
    train_prior: float | None

    @property
    def worst(self) -> float:
        """The strongest blind baseline's excess over chance."""
        vals = [getattr(self, b) for b in BASELINES if getattr(self, b) is not None]
        return max(vals) - self.chance


@dataclass
class Audit:
    benchmark: str
    n_learn: int
    mixture: str | None
    mixture_answers: int | None  # assistant turns counted in the mixture
    overall: Row
    categories: dict[str, Row]
    languages: dict[str, Row]

    def to_json(self) -> dict:
        def row(r: Row) -> dict:
            return {k: (None if v is None else round(v, 6) if isinstance(v, float) else v) for k, v in asdict(r).items()}

        return {
            "kind": "mmdata-bench-audit",
            "benchmark": self.benchmark,
            "split": SPLIT,
            "n_learn": self.n_learn,
            "mixture": self.mixture,
            "mixture_answers": self.mixture_answers,
            "overall": row(self.overall) | {"worst_excess": round(self.overall.worst, 6)},
            "categories": {c: row(r) | {"worst_excess": round(r.worst, 6)} for c, r in self.categories.items()},
            "languages": {lang: row(r) for lang, r in self.languages.items()},
        }


def _credit(scores: Sequence[float], gold: int) -> float:
    """Expected accuracy of picking an argmax uniformly at random."""
    top = max(scores)
    winners = [i for i, s in enumerate(scores) if s == top]
    return 1.0 / len(winners) if gold in winners else 0.0


def _cat(it: Item) -> str:
    return it.category or _NONE


def _texts(it: Item) -> tuple[list[str], int]:
    letters = list(it.options)
    return [fold(it.options[k]) for k in letters], letters.index(it.answer)


# ------------------------------------------------------------------------------------- baselines


def _option_prior(learn: list[Item]) -> Callable[[Item], float]:
    gold: Counter = Counter()
    seen: Counter = Counter()
    for it in learn:
        texts, g = _texts(it)
        for j, t in enumerate(texts):
            seen[(_cat(it), t)] += 1
            gold[(_cat(it), t)] += j == g

    def score(it: Item) -> float:
        texts, g = _texts(it)
        c = _cat(it)
        return _credit([(gold[(c, t)] + 1) / (seen[(c, t)] + 4) for t in texts], g)

    return score


def _question_prior(learn: list[Item]) -> Callable[[Item], float]:
    by_q: dict[tuple, Counter] = defaultdict(Counter)
    by_cat: dict[str, Counter] = defaultdict(Counter)
    for it in learn:
        texts, g = _texts(it)
        by_q[(_cat(it), fold(it.question))][texts[g]] += 1
        by_cat[_cat(it)][texts[g]] += 1

    def score(it: Item) -> float:
        texts, g = _texts(it)
        q, c = by_q.get((_cat(it), fold(it.question)), Counter()), by_cat[_cat(it)]
        return _credit([(q[t], c[t]) for t in texts], g)  # the question first, its category breaks ties

    return score


def _letter_prior(learn: list[Item]) -> Callable[[Item], float]:
    by_cat: dict[str, Counter] = defaultdict(Counter)
    for it in learn:
        by_cat[_cat(it)][it.answer] += 1

    def score(it: Item) -> float:
        letters = list(it.options)
        return _credit([by_cat[_cat(it)][k] for k in letters], letters.index(it.answer))

    return score


def _train_prior(answers: Counter) -> Callable[[Item], float]:
    def score(it: Item) -> float:
        texts, g = _texts(it)
        return _credit([answers[t] for t in texts], g)

    return score


def mixture_answers(mixture: str | Path) -> Counter:
    """Folded assistant-turn texts of a mixture directory (``data/*.parquet``) and how often each occurs."""
    import duckdb

    d = Path(mixture)
    shards = sorted((d / "data").glob("*.parquet")) if d.is_dir() else []
    if not shards:
        raise MmdataError("not a mixture directory (no data/*.parquet); --train takes a directory written by `mmdata build`", file=d)
    files = ", ".join("'" + str(s).replace("'", "''") + "'" for s in shards)
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT t.content, count(*) FROM (SELECT unnest(turns) AS t FROM read_parquet([{files}])) "
            "WHERE t.role = 'assistant' GROUP BY 1"
        ).fetchall()
    except duckdb.Error as e:
        raise MmdataError(f"cannot read the mixture's turns: {str(e).splitlines()[0]}", file=d) from None
    finally:
        con.close()
    out: Counter = Counter()
    for text, n in rows:
        if text:
            out[fold(text)] += n
    return out


# ------------------------------------------------------------------------------------------ audit


def _row(items: list[Item], scorers: dict[str, Callable[[Item], float] | None]) -> Row:
    n = len(items)
    vals = {b: (None if f is None else sum(map(f, items)) / n) for b, f in scorers.items()}
    return Row(n, sum(1 / len(it.options) for it in items) / n, **vals)


def audit_benchmark(bench: str | Path | Benchmark, train: str | Path | None = None) -> Audit:
    """Blind baselines of ``bench`` (and of a training mixture's answer prior when ``train`` is given)."""
    b = bench if isinstance(bench, Benchmark) else load_benchmark(bench)
    learn = [it for it in b.items if it.group % 2 == 0]
    test = [it for it in b.items if it.group % 2 == 1]
    if not learn or not test:
        raise MmdataError("an audit needs items with both even and odd indices (g_index); this benchmark has "
                          f"{len(learn)} even and {len(test)} odd", file=b.path)  # fmt: skip
    answers = mixture_answers(train) if train is not None else None
    scorers = {"option_prior": _option_prior(learn), "question_prior": _question_prior(learn),
               "letter_prior": _letter_prior(learn), "train_prior": None if answers is None else _train_prior(answers)}  # fmt: skip
    cats: dict[str, list[Item]] = defaultdict(list)
    langs: dict[str, list[Item]] = defaultdict(list)
    for it in test:
        cats[_cat(it)].append(it)
        langs[it.language].append(it)
    return Audit(
        benchmark=b.name,
        n_learn=len(learn),
        mixture=None if train is None else str(train),
        mixture_answers=None if answers is None else sum(answers.values()),
        overall=_row(test, scorers),
        categories={c: _row(cats[c], scorers) for c in sorted(cats)},
        languages={lang: _row(langs[lang], scorers) for lang in LANGUAGES if lang in langs},
    )


def render_table(a: Audit):
    """A rich table: one row per category, then the overall row; cells are % and the excess over chance."""
    from rich.table import Table

    cols = [b for b in BASELINES if b != "train_prior" or a.mixture is not None]
    t = Table(title=f"blind baselines on {a.benchmark} ({a.overall.n} scored rows, {a.n_learn} learned from)",
              caption=SPLIT + ("" if a.mixture is None else f"; train answers from {a.mixture}"))  # fmt: skip
    t.add_column("category")
    t.add_column("n", justify="right")
    t.add_column("chance", justify="right")
    for c in cols:
        t.add_column(LABELS[c], justify="right")
    t.add_column("worst − chance", justify="right")

    def cells(r: Row) -> list[str]:
        out = [str(r.n), f"{100 * r.chance:.1f}"]
        for c in cols:
            v = getattr(r, c)
            out.append(f"{100 * v:.1f}")
        out.append(f"{100 * r.worst:+.1f}")
        return out

    for c, r in a.categories.items():
        t.add_row(c, *cells(r))
    t.add_section()
    t.add_row("overall", *cells(a.overall), style="bold")
    return t
