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
from mmdata.recipe.compiled import compile_template, to_expr
from mmdata.recipe.config import TemplatePolicy
from mmdata.recipe.templates import LETTERS, NATIVE_TASKS, REQUIRED, TemplateBank
from mmdata.schema import CONVERSATION_SCHEMA

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
    letter = np.where(hit.any(axis=1), np.array(list(LETTERS[:width]))[hit.argmax(axis=1)], "")
    df = turns.with_columns(pl.Series("order", order, dtype=pl.Array(pl.Int64, width)))
    shuffled = [pl.col("choices").list.get(pl.col("order").arr.get(i).clip(0), null_on_oob=True) for i in range(width)]
    lines = [pl.when(pl.col("order").arr.get(i) >= 0).then(pl.concat_str([pl.lit(f"{LETTERS[i]}. "), shuffled[i]])) for i in range(width)]
    correct = pl.col("choices").list.get(pl.col("answer_idx").fill_null(0), null_on_oob=True)
    return df.with_columns(
        pl.concat_list(lines).list.drop_nulls().list.join("\n").alias("options"),
        pl.Series("answer_letter", letter, pl.Utf8),
        pl.when(pl.col("answer_idx").is_not_null()).then(correct).otherwise(pl.col("answer")).alias("answer"),
    )


def _interleave(r: pl.DataFrame) -> pl.DataFrame:
    """``(j, turn, user, assistant)`` rows sorted by (j, turn) → one ``turns`` list per j, built in Arrow:
    user and assistant texts interleave by a single ``take``; list offsets come from turns per item."""
    n = r.height
    both = pa.concat_arrays([r["user"].to_arrow().cast(pa.large_string()), r["assistant"].to_arrow().cast(pa.large_string())])
    idx = np.empty(2 * n, np.int64)
    idx[0::2] = np.arange(n)
    idx[1::2] = np.arange(n) + n
    content = both.take(pa.array(idx))
    role = pa.array(np.tile(np.array(["user", "assistant"]), n), pa.large_string())
    per = r.group_by("j", maintain_order=True).len()
    offsets = np.concatenate([[0], np.cumsum(per["len"].to_numpy() * 2)]).astype(np.int32)
    turns = pa.ListArray.from_arrays(pa.array(offsets), pa.StructArray.from_arrays([role, content], names=["role", "content"]))
    return pl.from_arrow(pa.table({"j": per["j"].to_arrow(), "turns": turns}))


def _check_required(turns: pl.DataFrame) -> None:
    for task, keys in REQUIRED.items():
        sub = turns.filter(pl.col("task") == task)
        for k in keys:
            bad = sub.filter(pl.col(k).is_null())
            if bad.height:
                rid = bad["record_id"][0]
                raise MmdataError(f"a {task} record needs '{k}'", file=bad["dataset"][0], record=rid, field=k)


def _render_jinja(sub: pl.DataFrame, template, hint: str) -> tuple[list[str], list[str]]:
    users, assistants = [], []
    names = ("question", "answer", "context", "phrase", "caption", "bbox", "choices", "options", "answer_letter", "answer_idx", "order")
    cols = {c: sub[c].to_list() for c in (*names, "record_id")}
    for i in range(sub.height):
        v = {k: cols[k][i] for k in names}
        ch, order, a = v.pop("choices") or [], v.pop("order"), v.pop("answer_idx")
        perm = [int(x) for x in (order or []) if x is not None and x >= 0]
        v["choices"] = [ch[k] for k in perm]
        v["distractors"] = [ch[k] for k in perm if k != a]
        v["hint"] = hint
        u, a = template.render(v, record=cols["record_id"][i])
        users.append(u)
        assistants.append(a)
    return users, assistants


def render_items(items: pa.Table, records: pa.Table, policy: TemplatePolicy, templates_dir: str | None, seed: int,
                 compiled: bool = True) -> pa.Table:  # fmt: skip
    """``items`` has columns j, dataset, task, positions, record_ids, dedup_dropped; ``records`` is the
    combined Record table indexed by ``positions``. Returns Conversation rows plus ``j``.
    ``compiled=False`` renders every template through the sandbox (the reference the fast path
    must match byte for byte).

    Templates are loaded from ``templates_dir`` in the process that renders (compiled Jinja templates
    do not travel between processes); the bank is cached per process."""
    bank = TemplateBank.cached(templates_dir)
    it = pl.from_arrow(items)
    if it.height == 0:
        return OUT_SCHEMA.empty_table()
    j = it["j"].to_numpy()
    native = it["task"].is_in(list(NATIVE_TASKS)).to_numpy()
    ratios = {t: policy.ratio(t) for t in it["task"].unique().to_list()}
    ratio = it["task"].replace_strict(ratios, return_dtype=pl.Float64).to_numpy()
    inverted = (~native) & (uniform(seed, j, 1) < ratio)
    it = it.with_columns(pl.Series("inverted", inverted, pl.Boolean), pl.Series("u", uniform(seed, j, 2), pl.Float64))
    # one pool of candidate templates per (dataset, task, inverted); draw an index into it
    keys = it.filter(~pl.col("task").is_in(list(NATIVE_TASKS))).select("dataset", "task", "inverted").unique(maintain_order=True)
    pool_list = [bank.pool(policy.granularity, policy.diversity, ds, task, inv) for ds, task, inv in keys.iter_rows()]
    keys = keys.with_columns(pl.Series("tkey", range(len(pool_list)), pl.Int32), pl.Series("n", [len(p) for p in pool_list], pl.Int32))
    ids = pl.DataFrame({"tkey": [k for k, p in enumerate(pool_list) for _ in p], "tidx": [i for p in pool_list for i in range(len(p))],
                        "template_id": [e[1] for p in pool_list for e in p]},
                       schema={"tkey": pl.Int32, "tidx": pl.Int32, "template_id": pl.Utf8})  # fmt: skip
    it = it.join(keys, on=["dataset", "task", "inverted"], how="left").with_columns(
        tkey=pl.col("tkey").fill_null(-1),
        tidx=pl.when(pl.col("n").is_null()).then(0).otherwise(pl.min_horizontal((pl.col("u") * pl.col("n")).floor(), pl.col("n") - 1)).cast(pl.Int32),
    )  # fmt: skip
    it = it.join(ids, on=["tkey", "tidx"], how="left").with_columns(pl.col("template_id").fill_null("native")).sort("j")
    # one row per turn, with the Record fields it needs
    tt = it.select("j", "dataset", "task", "tkey", "tidx", "positions").explode("positions")
    tt = tt.with_columns(turn=pl.int_range(pl.len()).over("j").cast(pl.Int32))
    rec = pl.from_arrow(records.select(list(RECORD_COLUMNS)).take(pa.array(tt["positions"].to_numpy(), pa.int64())))
    tt = pl.concat([tt.drop("positions"), rec], how="horizontal")
    # an item shows its first record's images: all of them (multi-image rows), else the one image;
    # its first user turn starts with one <image> placeholder per image
    first = tt.filter(pl.col("turn") == 0).select("j", "image", "images", "language")
    no_images = pl.lit([], dtype=pl.List(first.schema["image"]))
    first = first.with_columns(
        pl.when(pl.col("images").is_not_null()).then(pl.col("images"))
        .when(pl.col("image").is_not_null()).then(pl.concat_list(pl.col("image"))).otherwise(no_images).alias("images"),
    ).with_columns(prefix=pl.lit(IMAGE + "\n").repeat_by(pl.col("images").list.len()).list.join(""))  # fmt: skip
    prefix = first.select("j", "prefix")

    aggs: list[pl.DataFrame] = []
    # --- native conversations: their own turns; the <image> placeholder moves to the first user turn
    nat = tt.filter(pl.col("task").is_in(list(NATIVE_TASKS)))
    if nat.height:
        ex = nat.select("j", "turns").join(prefix, on="j", how="left").explode("turns").unnest("turns")
        ex = ex.with_columns(
            content=pl.col("content").str.replace_all(IMAGE + "\n", "", literal=True).str.replace_all("\n" + IMAGE, "", literal=True)
            .str.replace_all(IMAGE, "", literal=True).str.strip_chars(),
            first_user=(pl.col("role") == "user") & ((pl.col("role") == "user").cum_sum().over("j") == 1),
        ).with_columns(
            content=pl.when(pl.col("first_user")).then(pl.col("prefix") + pl.col("content")).otherwise(pl.col("content"))
        )  # fmt: skip
        aggs.append(ex.group_by("j", maintain_order=True).agg(pl.struct("role", "content").alias("turns")))
    # --- templated turns
    tpl = tt.filter(~pl.col("task").is_in(list(NATIVE_TASKS)))
    if tpl.height:
        _check_required(tpl)
        tpl = tpl.with_columns(
            *[pl.col(c).fill_null("") for c in _TEXT],
            pl.when(pl.col("bbox").is_not_null()).then(bbox_text_expr(pl.col("bbox"))).otherwise(pl.lit("")).alias("bbox"),
        )
        mc = tpl.filter(pl.col("choices").is_not_null())
        rest = tpl.filter(pl.col("choices").is_null())
        mc = _mc_variables(mc, seed) if mc.height else None
        order_type = mc.schema["order"] if mc is not None else pl.Array(pl.Int64, 1)
        rest = rest.with_columns(options=pl.lit(""), answer_letter=pl.lit(""), order=pl.lit(None, order_type))
        tpl = pl.concat([rest, mc.select(rest.columns)]) if mc is not None else rest
        rendered = []
        for (k, t), sub in tpl.group_by(["tkey", "tidx"], maintain_order=True):
            template, _, hint = pool_list[k][t]
            fast = compile_template(template, hint) if compiled else None
            if fast is not None:
                user_seg, asst_seg = fast
                out = sub.select("j", "turn", to_expr(user_seg).alias("user"), to_expr(asst_seg).alias("assistant"))
            else:
                users, assistants = _render_jinja(sub, template, hint)
                out = sub.select("j", "turn").with_columns(pl.Series("user", users, pl.Utf8), pl.Series("assistant", assistants, pl.Utf8))
            rendered.append(out)
        r = pl.concat(rendered).sort(["j", "turn"])
        r = r.join(prefix, on="j", how="left").with_columns(
            user=pl.when(pl.col("turn") == 0).then(pl.col("prefix") + pl.col("user")).otherwise(pl.col("user"))
        )  # fmt: skip
        aggs.append(_interleave(r))
    agg = pl.concat(aggs)
    out = it.join(agg, on="j", how="left").join(first, on="j", how="left").sort("j")
    out = out.with_columns(
        pl.concat_str([pl.col("dataset"), pl.col("record_ids").list.first(), pl.col("j").cast(pl.Utf8)], separator=":").alias("id"),
        pl.col("record_ids").alias("source_record_ids"),
    )  # fmt: skip
    table = out.select(OUT_SCHEMA.names).to_arrow()
    return table.cast(OUT_SCHEMA)
