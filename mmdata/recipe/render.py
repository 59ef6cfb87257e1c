"""Render sampled items into Conversation rows (the mixture's training items), vectorised.

Randomness is counter-based: every draw is a hash of ``(seed, j, stream)`` where ``j`` is the item's
position in the mixture, so an item's template, inversion flag and option shuffle never depend on
which engine or partition renders it. One template is drawn per item and used for every turn
(Honeybee). Templates that compile to string concatenation (:mod:`mmdata.recipe.compiled`) render as
polars expressions over all their turns at once; the rest render through sandboxed Jinja row by row.
An item's image goes into its first user turn as the literal ``<image>`` (docs/mixture.md); native
conversations keep their text, with the placeholder moved there.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.recipe.compiled import compile_template, to_expr, variables
from mmdata.recipe.config import TemplatePolicy
from mmdata.recipe.templates import LETTERS, NATIVE_TASKS, REQUIRED, TemplateBank
from mmdata.schema import CONVERSATION_SCHEMA, TURN

IMAGE = "<image>"
RECORD_COLUMNS = ("record_id", "image", "images", "language", "question", "answer", "choices", "answer_idx", "bbox", "phrase",
                  "caption", "context", "turns")  # fmt: skip
OUT_SCHEMA = CONVERSATION_SCHEMA.append(pa.field("j", pa.int64(), nullable=False))
_TEXT = ("question", "answer", "context", "phrase", "caption")

_M1, _M2, _G = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def uniform(seed: int, key: np.ndarray, stream: int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): splitmix64 of (seed, stream, key)."""
    with np.errstate(over="ignore"):
        x = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _G + np.uint64(stream) * _M2 + key.astype(np.uint64) * _M1
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def bbox_text_expr(col: pl.Expr) -> pl.Expr:
    """Vectorised :func:`~mmdata.recipe.templates.fmt_bbox` (same thousandths rounding)."""
    parts = []
    for i in range(4):
        k = (col.arr.get(i) * 1000).round(0, mode="half_to_even").cast(pl.Int64)
        parts += [(k // 1000).cast(pl.Utf8), pl.lit("."), (k % 1000).cast(pl.Utf8).str.zfill(3)]
        parts.append(pl.lit("," if i < 3 else "]"))
    return pl.concat_str([pl.lit("["), *parts])


def _shuffle_orders(turns: pl.DataFrame, seed: int) -> np.ndarray:
    """One random permutation of each row's choices (−1 padded), keyed by (item, turn, slot)."""
    n = turns["choices"].list.len().to_numpy()
    width = int(n.max())
    key = (turns["j"].to_numpy().astype(np.uint64) << np.uint64(8)) + turns["turn"].to_numpy().astype(np.uint64)
    keys = key[:, None] * np.uint64(64) + np.arange(width, dtype=np.uint64)[None, :]
    u = uniform(seed, keys.reshape(-1), 3).reshape(-1, width)
    u[np.arange(width)[None, :] >= n[:, None]] = np.inf
    order = np.argsort(u, axis=1, kind="stable")
    order[np.arange(width)[None, :] >= n[:, None]] = -1
    return order


def _mc_variables(turns: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Shuffled options per (item, turn), vectorised: ``options`` text, ``answer_letter``, the correct
    ``answer`` text, and the permutation ``order`` (kept for rows rendered by Jinja)."""
    order = _shuffle_orders(turns, seed)
    width = order.shape[1]
    a = turns["answer_idx"].fill_null(-1).to_numpy()
    hit = order == a[:, None]
    letter = pl.Series([*LETTERS[:width], ""], dtype=pl.Utf8).gather(np.where(hit.any(axis=1), hit.argmax(axis=1), width))
    df = turns.with_columns(pl.Series("order", order, dtype=pl.Array(pl.Int64, width)))
    shuffled = [pl.col("choices").list.get(pl.col("order").arr.get(i).clip(0), null_on_oob=True) for i in range(width)]
    lines = [pl.when(pl.col("order").arr.get(i) >= 0).then(pl.concat_str([pl.lit(f"{LETTERS[i]}. "), shuffled[i]])) for i in range(width)]
    correct = pl.col("choices").list.get(pl.col("answer_idx").fill_null(0), null_on_oob=True)
    return df.with_columns(
        pl.concat_str(lines, separator="\n", ignore_nulls=True).alias("options"),  # the present lines, one per line
        letter.alias("answer_letter"),
        pl.when(pl.col("answer_idx").is_not_null()).then(correct).otherwise(pl.col("answer")).alias("answer"),
    )


def _gather(recs: pl.DataFrame, cols: list[str], pos: np.ndarray) -> pl.DataFrame:
    """Rows ``pos`` of some Record columns: a polars gather, which moves string views, not the
    strings (an Arrow ``take`` copies every string it takes)."""
    return recs.select(cols)[pl.Series(pos, dtype=pl.Int64)]


def _required_error(recs: pl.DataFrame, pos: np.ndarray, task: pl.Series, dataset: pl.Series) -> None:
    """The first missing required field among templated turns (``pos`` record positions, ``task``
    and ``dataset`` per turn, in item/turn order): checked with null masks, the record named only on
    failure."""
    cols = [c for c in sorted({k for keys in REQUIRED.values() for k in keys}) if recs[c].null_count()]
    if not cols:
        return
    null = _gather(recs.select(pl.col(cols).is_null()), cols, pos)
    present = set(task.unique().to_list())
    for t, keys in REQUIRED.items():
        if t not in present:
            continue
        of_task = (task == t).to_numpy()
        for k in keys:
            if k not in null.columns:
                continue
            bad = np.flatnonzero(of_task & null[k].to_numpy())
            if len(bad):
                rid = recs["record_id"][int(pos[bad[0]])]
                raise MmdataError(f"a {t} record needs '{k}'", file=dataset[int(bad[0])], record=rid, field=k)


_JINJA_NAMES = ("question", "answer", "context", "phrase", "caption", "bbox", "choices", "options", "answer_letter", "answer_idx", "order")


def _render_jinja(sub: pl.DataFrame, template, hint: str) -> tuple[list[str], list[str]]:
    users, assistants = [], []
    cols = {c: sub[c].to_list() for c in (*_JINJA_NAMES, "record_id")}
    for i in range(sub.height):
        v = {k: cols[k][i] for k in _JINJA_NAMES}
        ch, order, a = v.pop("choices") or [], v.pop("order"), v.pop("answer_idx")
        perm = [int(x) for x in (order or []) if x is not None and x >= 0]
        v["choices"] = [ch[k] for k in perm]
        v["distractors"] = [ch[k] for k in perm if k != a]
        v["hint"] = hint
        u, a = template.render(v, record=cols["record_id"][i])
        users.append(u)
        assistants.append(a)
    return users, assistants


_MC_VARS = frozenset({"options", "answer_letter", "answer"})


def _variables(recs: pl.DataFrame, pos: np.ndarray, j: np.ndarray, turn: np.ndarray, used: set[str] | None, seed: int) -> pl.DataFrame:
    """The template variables of some turns (``pos`` their records), only those in ``used`` (all, and
    the choice permutation, when None): text fields with null as "", the box as text, and for
    multiple-choice rows the shuffled options, the answer letter and the correct answer's text."""
    want = set(_TEXT) if used is None else used & set(_TEXT)
    need_mc = used is None or bool(used & _MC_VARS)
    cols = sorted(want | ({"bbox"} if used is None or "bbox" in used else set()) | ({"choices", "answer_idx", "answer"} if need_mc else set()))
    if used is None:
        cols.append("record_id")
    df = pl.DataFrame([pl.Series("j", j, pl.Int64), pl.Series("turn", turn, pl.Int32), pl.Series("_row", np.arange(len(pos)), pl.Int64)])
    if cols:
        df = df.hstack(_gather(recs, cols, pos).get_columns())
    df = df.with_columns(
        *[pl.col(c).fill_null("") for c in _TEXT if c in df.columns],
        *([pl.when(pl.col("bbox").is_not_null()).then(bbox_text_expr(pl.col("bbox"))).otherwise(pl.lit("")).alias("bbox")]
          if "bbox" in df.columns else []),
    )  # fmt: skip
    if not need_mc:
        return df
    has = df["choices"].is_not_null()
    n_mc = int(has.sum())
    if n_mc == df.height:
        return _mc_variables(df, seed).select(*df.columns, "options", "answer_letter", "order")
    if n_mc == 0:
        return df.with_columns(options=pl.lit(""), answer_letter=pl.lit(""), order=pl.lit(None, pl.Array(pl.Int64, 1)))
    mc = _mc_variables(df.filter(has), seed)
    if used is not None:  # compiled templates: the multiple-choice rows' values go in place (no permutation column)
        at = pl.Series(np.flatnonzero(has.to_numpy()))
        return df.with_columns(
            pl.repeat("", df.height, eager=True).scatter(at, mc["options"]).alias("options"),
            pl.repeat("", df.height, eager=True).scatter(at, mc["answer_letter"]).alias("answer_letter"),
            df["answer"].clone().scatter(at, mc["answer"]).alias("answer"),
        )  # fmt: skip
    rest = df.filter(~has).with_columns(options=pl.lit(""), answer_letter=pl.lit(""), order=pl.lit(None, mc.schema["order"]))
    return pl.concat([rest, mc.select(rest.columns)]).sort("_row")


def render_items(items: pa.Table, records: pa.Table | pl.DataFrame, policy: TemplatePolicy, templates_dir: str | None, seed: int,
                 compiled: bool = True) -> pa.Table:  # fmt: skip
    r"""``items`` has columns j, dataset, task, positions, dedup_dropped; ``records`` is the
    combined Record table indexed by ``positions`` (an item's ``source_record_ids`` are its Records'
    ``record_id``\ s). Returns Conversation rows plus ``j``, in j order.
    ``compiled=False`` renders every template through the sandbox (the reference the fast path
    must match byte for byte).

    Work is positional: an item's turns are its records in order; each template's turns are rendered
    together from only the Record columns its variables read (gathered in polars, which moves string
    views rather than strings); every message of the part (templated turns' user and assistant
    texts, native conversations' turns) is put in place by one gather, and the ``turns`` lists are
    offsets over it. Templates are loaded from ``templates_dir`` in the process that renders
    (compiled Jinja templates do not travel between processes); the bank is cached per process."""
    bank = TemplateBank.cached(templates_dir)
    it = pl.from_arrow(items)
    if it.height == 0:
        return OUT_SCHEMA.empty_table()
    # the Records as polars, once (their dataset is the item's)
    recs = records if isinstance(records, pl.DataFrame) else pl.from_arrow(records.drop_columns([c for c in ("dataset",) if c in records.column_names]))
    in_order = bool(np.all(np.diff(it["j"].to_numpy()) > 0))  # parts are cut from the training order, so normally sorted
    if not in_order:
        it = it.sort("j")
    n = it.height
    j = it["j"].to_numpy()
    native = it["task"].is_in(list(NATIVE_TASKS)).to_numpy()
    ratios = {t: policy.ratio(t) for t in it["task"].unique().to_list()}
    ratio = it["task"].replace_strict(ratios, return_dtype=pl.Float64).to_numpy()
    inverted = (~native) & (uniform(seed, j, 1) < ratio)
    # one pool of candidate templates per (dataset, task, inverted); draw an index into it
    draw = it.select("dataset", "task", pl.Series("inverted", inverted, pl.Boolean))
    keys = draw.filter(~pl.Series(native)).unique(maintain_order=True)
    pool_list = [bank.pool(policy.granularity, policy.diversity, ds, task, inv) for ds, task, inv in keys.iter_rows()]
    sizes = np.array([len(p) for p in pool_list], np.int64)
    keys = keys.with_columns(pl.Series("tkey", range(len(pool_list)), pl.Int64))
    tkey = draw.join(keys, on=["dataset", "task", "inverted"], how="left", maintain_order="left")["tkey"].fill_null(-1).to_numpy()
    size = np.where(tkey >= 0, sizes[np.maximum(tkey, 0)] if len(sizes) else 0, 1)
    tidx = np.where(tkey >= 0, np.minimum(np.floor(uniform(seed, j, 2) * size), size - 1), 0).astype(np.int64)
    template_ids = pl.Series([e[1] for pool in pool_list for e in pool] + ["native"], dtype=pl.Utf8)
    first_of_pool = np.concatenate([[0], np.cumsum(sizes)])
    template_id = template_ids.gather(np.where(tkey >= 0, first_of_pool[np.maximum(tkey, 0)] + tidx, len(template_ids) - 1))
    # turns: an item's records in order
    lens = it["positions"].list.len().to_numpy().astype(np.int64)
    pos = it["positions"].explode().to_numpy().astype(np.int64)
    item_of = np.repeat(np.arange(n), lens)
    starts = np.cumsum(lens) - lens
    turn = np.arange(len(pos)) - np.repeat(starts, lens)
    # an item shows its first record's images: all of them (multi-image rows), else the one image;
    # its first user turn starts with one <image> placeholder per image
    first = _gather(recs, ["image", "images", "language"], pos[starts])
    record_ids = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)),
                                          recs["record_id"].gather(pos).to_arrow().cast(pa.string()))  # fmt: skip
    no_images = pl.lit([], dtype=pl.List(first.schema["image"]))
    first = first.with_columns(
        pl.when(pl.col("images").is_not_null()).then(pl.col("images"))
        .when(pl.col("image").is_not_null()).then(pl.concat_list(pl.col("image"))).otherwise(no_images).alias("images"),
    ).with_columns(prefix=pl.lit(IMAGE + "\n").repeat_by(pl.col("images").list.len()).list.join(""))  # fmt: skip
    prefix = first["prefix"]

    # every message of the part, in pieces (texts, roles, destinations): messages of item i are at
    # off[i] … off[i + 1] - 1 of the turns' flat array
    n_msgs = 2 * lens
    texts: list[pl.Series] = []
    roles: list[pl.Series] = []
    dests: list[np.ndarray] = []
    # --- native conversations: their own turns; the <image> placeholder moves to the first user turn
    if native.any():
        nat_items = np.flatnonzero(native)
        nat = _gather(recs, ["turns"], pos[starts[nat_items]]).with_columns(prefix.gather(nat_items))
        counts = nat["turns"].list.len().fill_null(0).to_numpy().astype(np.int64)
        n_msgs[nat_items] = counts
        ex = nat.with_columns(pl.Series("_i", np.arange(len(nat_items)), pl.Int64)).explode("turns").unnest("turns")
        ex = ex.filter(pl.col("role").is_not_null())
        # each item's first user turn (rows are item after item, ``counts`` of them each)
        user = (ex["role"] == "user").to_numpy()
        seen = np.cumsum(user)
        head = np.minimum(np.cumsum(counts) - counts, max(len(user) - 1, 0))  # (an item without turns repeats nothing)
        first_user = user & (seen - np.repeat(seen[head] - user[head], counts) == 1) if len(user) else user
        ex = ex.with_columns(
            content=pl.col("content").str.replace_all(IMAGE + "\n", "", literal=True).str.replace_all("\n" + IMAGE, "", literal=True)
            .str.replace_all(IMAGE, "", literal=True).str.strip_chars(),
        )  # fmt: skip
        texts.append(ex.select(pl.when(pl.Series(first_user)).then(pl.col("prefix") + pl.col("content")).otherwise(pl.col("content")))
                     .to_series())  # fmt: skip
        roles.append(ex["role"])
    off = np.concatenate([[0], np.cumsum(n_msgs)])
    if native.any():
        nat_starts = np.cumsum(counts) - counts
        dests.append(np.repeat(off[nat_items] - nat_starts, counts) + np.arange(int(counts.sum())))
    # --- templated items: each template's turns together
    tmask = ~native
    if tmask.any():
        rows = np.flatnonzero(tmask[item_of])  # templated turns, in item/turn order
        titem = item_of[rows]
        _required_error(recs, pos[rows], it["task"].gather(titem), it["dataset"].gather(titem))
        gk = tkey[titem] * 1_000_003 + tidx[titem]
        order = np.argsort(gk, kind="stable")
        bounds = np.flatnonzero(np.r_[True, gk[order][1:] != gk[order][:-1], True])
        spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        users: list[pl.Series | None] = [None] * len(spans)
        assistants: list[pl.Series | None] = [None] * len(spans)
        # compiled templates are grouped by the derived variables they need (the multiple-choice
        # options, the box as text): each class's variables are gathered once for all its turns
        # and every template's expressions run over its slice of them, all in one polars call
        classes: dict[tuple[bool, bool], list] = {}
        for g, (a, b) in enumerate(spans):
            first_item = int(item_of[rows[order[a]]])
            template, _, hint = pool_list[int(tkey[first_item])][int(tidx[first_item])]
            fast = compile_template(template, hint) if compiled else None
            if fast is None:
                sel = rows[order[a:b]]
                df = _variables(recs, pos[sel], j[item_of[sel]], turn[sel], None, seed)
                u, s = _render_jinja(df, template, hint)
                pre = prefix.gather(item_of[sel]).to_list()
                u = [p + x if t == 0 else x for p, x, t in zip(pre, u, turn[sel].tolist(), strict=True)]
                users[g], assistants[g] = pl.Series(u, dtype=pl.Utf8), pl.Series(s, dtype=pl.Utf8)
                continue
            used = variables(fast[0]) | variables(fast[1])
            classes.setdefault((bool(used & _MC_VARS), "bbox" in used), []).append((g, a, b, fast, used))
        frames, slots = [], []
        for members in classes.values():
            sel = rows[np.concatenate([order[a:b] for _, a, b, _, _ in members])]
            df = _variables(recs, pos[sel], j[item_of[sel]], turn[sel], set().union(*(m[4] for m in members)), seed)
            # the placeholder goes before the first user turn's text (outside the stripped template text)
            df = df.with_columns(pl.when(pl.col("turn") == 0).then(prefix.gather(item_of[sel])).otherwise(pl.lit("")).alias("_pre")).lazy()
            start = 0
            for g, a, b, (user_seg, asst_seg), _ in members:
                # with_columns, then select: a constant template broadcasts to its slice's height
                user_expr = pl.concat_str([pl.col("_pre"), to_expr(user_seg)])
                frames.append(df.slice(start, b - a).with_columns(user_expr.alias("user"), to_expr(asst_seg).alias("assistant"))
                              .select("user", "assistant"))  # fmt: skip
                slots.append(g)
                start += b - a
        for g, out in zip(slots, pl.collect_all(frames), strict=True):
            users[g], assistants[g] = out["user"], out["assistant"]
        # texts are in template order: turn rows[order[q]] is the q-th; its user text goes to
        # message 2·turn of its item, the assistant's right after
        at = off[titem] + 2 * turn[rows]
        texts += [*users, *assistants]
        roles += [pl.repeat("user", len(rows), eager=True, dtype=pl.Utf8), pl.repeat("assistant", len(rows), eager=True, dtype=pl.Utf8)]
        dests += [at[order], at[order] + 1]
    # one gather puts every message in place
    dest = np.concatenate(dests)
    where = np.empty(len(dest), np.int64)
    where[dest] = np.arange(len(dest))
    flat = pl.DataFrame([pl.concat(roles, rechunk=True).alias("role"), pl.concat(texts, rechunk=True).alias("content")])[pl.Series(where)]
    turns = pa.ListArray.from_arrays(pa.array(off.astype(np.int32)), flat.to_struct("turns").to_arrow().cast(TURN))
    made = it.select(
        pl.concat_str([pl.col("dataset"), pl.Series(record_ids).list.first(), pl.col("j").cast(pl.Utf8)], separator=":").alias("id"),
        template_id.alias("template_id"), pl.Series("inverted", inverted, pl.Boolean),
    ).to_arrow()  # fmt: skip
    # the columns an item carries through come from the input table itself when its rows were in
    # order (no conversion back from polars)
    kept = items if in_order else it.select("dataset", "task", "dedup_dropped", "j").to_arrow()
    table = {"id": made["id"], "template_id": made["template_id"], "inverted": made["inverted"], "dataset": kept["dataset"],
             "task": kept["task"], "source_record_ids": record_ids, "dedup_dropped": kept["dedup_dropped"], "j": kept["j"]}  # fmt: skip
    cols = {"id": table["id"], "images": first["images"].to_arrow(), "turns": turns, "dataset": table["dataset"], "task": table["task"],
            "template_id": table["template_id"], "inverted": table["inverted"], "source_record_ids": table["source_record_ids"],
            "dedup_dropped": table["dedup_dropped"], "language": first["language"].to_arrow(), "j": table["j"]}  # fmt: skip
    return pa.table([cols[f.name] for f in OUT_SCHEMA], names=OUT_SCHEMA.names).cast(OUT_SCHEMA)
