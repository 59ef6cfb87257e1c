"""The build's stages, in order. Each is a function of one :class:`BuildState` that reads what the
stages before it left there and adds its own results; :mod:`mmdata.recipe.build` runs them.

=============  ==========================================================================
ingest         every active source through its adapter (content-cached); per-source losses
               checked against the recipe's ``images`` policy
decontaminate  drop Records that show a benchmark image or ask its question (optional)
group_dedup    group per image, dedup (none / exact / semantic), chunk into ≤ max_turns items
balance        per-dataset quotas from the strategy, seeded sampling with epochs, training order;
               the dedup audit, sampling record and quarantine are final: written in the background
render         templates → Conversation rows, streamed into shards (and LLaVA JSON)
write          content hash, manifest, report, HF copy (after the background writes)
=============  ==========================================================================

Work that splits into independent parts (merging groups, rendering items) goes through the engine
(:mod:`mmdata.recipe.engine`), so the local and Ray engines run the same functions on the same
parts and produce the same bytes.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmdata.errors import MmdataError
from mmdata.recipe import balance as bal
from mmdata.recipe.config import Recipe
from mmdata.recipe.ingest import (
    LIGHT_COLUMNS,
    Ingested,
    check_losses,
    file_inputs,
    listings_of,
    quarantine_table,
    with_images,
)
from mmdata.recipe.ingest import ingest as ingest_source
from mmdata.recipe.merge import DROP_SCHEMA, PAIR_SCHEMA, POSITIONS, group_order, merge_groups, single_items
from mmdata.recipe.normalize import bbox_key_expr, norm_expr
from mmdata.recipe.output import LlavaWriter, MixtureStats, ShardWriter, write_hf
from mmdata.recipe.render import RECORD_COLUMNS, render_items
from mmdata.recipe.scatter import local_positions, read_part, scatter
from mmdata.recipe.templates import NATIVE_TASKS

RENDER_COLUMNS = list(RECORD_COLUMNS)  # what render reads of a Record
PART_ROWS = 200_000  # records per merge partition (split only at group boundaries)
RENDER_ROWS = 50_000  # items per render partition


@dataclass
class BuildState:
    """Everything a build knows, filled in stage by stage."""

    recipe: Recipe
    base: Path  # the recipe's directory (relative paths resolve against it)
    tmp: Path  # the output directory being written (renamed into place at the end)
    engine: object
    templates_dir: str | None = None
    bar: object = None  # a rich Progress (disabled when quiet)
    jobs: int = 2  # sources read at the same time when their cache entries are missing
    timings: dict[str, float] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)  # parts each engine stage ran ("merge", "render")
    # ingest (a Record's global position: the offset of its source, in recipe order, + its index there)
    ingested: list[Ingested] = field(default_factory=list)
    # decontaminate
    decon: dict = field(default_factory=lambda: {"benchmarks": [], "dropped": {}, "dropped_total": 0})
    # group_dedup
    items: pl.DataFrame | None = None  # one row per merged item, grouped by dataset (released by balance)
    drops: pa.Table | None = None
    pairs: pa.Table | None = None
    emb_stats: dict = field(default_factory=dict)
    # balance
    names: list[str] = field(default_factory=list)
    tasks: dict[str, str] = field(default_factory=dict)
    n_items: dict[str, int] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=dict)
    size: int = 0
    sampled: pl.DataFrame | None = None  # the mixture's items in training order (column j)
    sampling: pl.DataFrame | None = None
    # render / write
    stats: MixtureStats = field(default_factory=MixtureStats)
    shards: list[Path] = field(default_factory=list)
    content_hash: str = ""

    _later: list = field(default_factory=list)  # (executor, futures) of files written in the background

    def defer(self, fn, *args) -> None:
        """Run ``fn(*args)`` in one background thread (calls run in order): a file whose content is
        final is written while later stages compute. :meth:`settle` waits for all of them."""
        if not self._later:
            self._later.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmdata-later"))
        self._later.append(self._later[0].submit(fn, *args))

    def settle(self, quiet: bool = False) -> None:
        """Wait for the deferred writes; the first failure is raised (unless ``quiet``: a build that
        already failed waits for them only so that nothing writes into a folder being removed)."""
        if not self._later:
            return
        pool, *futures = self._later
        self._later = []
        pool.shutdown(wait=True)
        for f in futures if not quiet else []:
            f.result()

    def task(self, label: str, total: int):
        return self.bar.add_task(label, total=total) if self.bar is not None else None

    def advance(self, task, k: int = 1) -> None:
        if self.bar is not None and task is not None:
            self.bar.advance(task, k)

    @property
    def image_roots(self) -> dict[str, str]:
        return {i.dataset: i.image_root for i in self.ingested}


# ------------------------------------------------------------------------------------------ 1.


def ingest(state: BuildState) -> None:
    r = state.recipe
    t = state.task("ingest sources", len(r.active_sources))
    paths = [r.resolved_path(s.path, state.base) for s in r.active_sources]
    # the content keys: one walk of the image folders (several sources share one; Python-bound: two
    # threads stat'ing files contend for the GIL, 0.53 s against 0.74 s on the full world) while a
    # second thread digests the annotation files; each source is ingested as soon as its key is
    # ready, up to ``jobs`` at a time (a large source is read in its own process:
    # ingest.ISOLATE_BYTES), and kept in recipe order
    walk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmdata-walk")
    keys = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmdata-keys")
    reads = ThreadPoolExecutor(max_workers=max(1, state.jobs), thread_name_prefix="mmdata-ingest")
    try:
        listings = walk.submit(listings_of, r.active_sources, paths)
        specs = list(zip(r.active_sources, paths, strict=True))
        files = [keys.submit(file_inputs, s, p) for s, p in specs]  # all of them first: they need no listing
        key = [keys.submit(lambda f, s, p: with_images(f.result(), s, p, listings.result()), f, s, p) for f, (s, p) in zip(files, specs, strict=True)]
        done = [reads.submit(lambda s, p, k: ingest_source(s, p, inputs=k.result()), s, p, k)
                for s, p, k in zip(r.active_sources, paths, key, strict=True)]  # fmt: skip
        for d in done:
            ing = d.result()
            check_losses(ing, r.images)
            state.ingested.append(ing)
            state.advance(t)
    finally:
        for pool in (walk, keys, reads):
            pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------ 2.


def decontaminate(state: BuildState) -> None:
    r = state.recipe
    if not r.decontaminate:
        return
    from mmdata.recipe.decontam import decontaminate_masks

    paths = [r.resolved_path(p, state.base) for p in r.decontaminate]
    tables = (i.read(["dataset", "image", "question"]) for i in state.ingested)  # one source at a time
    masks, state.decon = decontaminate_masks(tables, paths, r.decontaminate_by)
    for i, keep in zip(state.ingested, masks, strict=True):
        i.keep(keep)


# ------------------------------------------------------------------------------------------ 3.


def _unsliced(t: pa.Table) -> pa.Table:
    """``t`` with its fixed-size-list columns rebuilt at offset 0 (polars misreads a sliced one)."""
    for k, f in enumerate(t.schema):
        if pa.types.is_fixed_size_list(f.type) and t.num_rows:
            a = t.column(k).combine_chunks()
            w = f.type.list_size
            rebuilt = pa.FixedSizeListArray.from_arrays(a.values.slice(a.offset * w, len(a) * w), w, mask=a.is_null())
            t = t.set_column(k, f.name, rebuilt)
    return t


def _work_table(ingested: list[Ingested], per_source: dict[str, tuple[int, str]]) -> pl.DataFrame:
    """One row per Record: its group, position, dedup key (only where exact dedup runs) and dedup text
    (only where semantic dedup runs). Text is normalised only for the sources that need it, and read
    only for them, one source at a time."""
    frames, offset = [], 0
    for i in ingested:
        if i.n:
            frames.append(_source_work(i, offset, per_source))
        offset += i.n
    return pl.concat(frames) if frames else pl.DataFrame()


def _source_work(src: Ingested, offset: int, per_source: dict[str, tuple[int, str]]) -> pl.DataFrame:
    """:func:`_work_table` of one (non-empty) source, whose first record is at ``offset``."""
    t = src.read(list(LIGHT_COLUMNS))
    ds = src.dataset
    turns, dedup = per_source[ds]
    # only the image path (not its hash and size) travels into the work table
    path = pc.struct_field(t.column("image"), "path") if t.num_rows else pa.array([], pa.string())
    df = pl.from_arrow(pa.table({"dataset": t.column("dataset"), "task": t.column("task"), "record_id": t.column("record_id"), "image": path}))
    native = df["task"][0] in NATIVE_TASKS
    img = pl.col("image")
    df = df.with_columns(
        pos=pl.int_range(offset, offset + df.height, dtype=pl.Int64),
        group=pl.concat_str([pl.col("dataset"), pl.lit("#"), pl.col("record_id")]) if native else
        pl.when(img.is_null()).then(pl.concat_str([pl.col("dataset"), pl.lit("#"), pl.col("record_id")]))
        .otherwise(pl.concat_str([pl.col("dataset"), pl.lit("/"), img])),
        max_turns=pl.lit(1 if native else turns, pl.Int32),
        dedup=pl.lit("none" if native else dedup),
    ).drop("image")  # fmt: skip
    if native or dedup == "none":
        return df.with_columns(pl.lit(None, pl.Utf8).alias("dkey"), pl.lit(None, pl.Utf8).alias("stext"))
    return pl.concat([df, _dedup_text(src, df["task"][0], dedup)], how="horizontal")


def _dedup_text(src: Ingested, task: str, dedup: str) -> pl.DataFrame:
    """``dkey`` (exact dedup's key) and ``stext`` (the text semantic dedup embeds) of a source's
    Records; only the fields the task's rule reads are read. Exact keys are normalised once per
    distinct value (answers repeat: "yes", "2")."""
    if task in ("vqa_open", "ocr_vqa", "vqa_mc"):
        fields = ["answer"] if dedup == "exact" else ["question", "answer"]
    else:
        fields = {"rec": ["phrase", "bbox"], "reg": ["phrase", "bbox"], "caption": ["caption"]}.get(task, [])
    if dedup == "exact" and task in ("rec", "reg"):
        fields = ["bbox"]
    none = pl.lit(None, pl.Utf8)
    if not fields:
        return pl.DataFrame([pl.repeat(None, src.n, dtype=pl.Utf8, eager=True).alias(c) for c in ("dkey", "stext")])
    text = pl.from_arrow(_unsliced(src.read(fields)))
    box = bbox_key_expr(pl.col("bbox"))
    if dedup == "exact":
        if task in ("rec", "reg"):
            return text.select(box.alias("dkey"), none.alias("stext"))
        col = "answer" if "answer" in fields else "caption"
        values = text[col].unique().drop_nulls().to_frame()
        keys = values.with_columns(norm_expr(pl.col(col)).alias("dkey"))
        return text.select(col).join(keys, on=col, how="left", maintain_order="left").select("dkey", none.alias("stext"))
    if task in ("rec", "reg"):
        sem = pl.concat_str([norm_expr(pl.col("phrase")), box], separator=" ")
    elif task == "caption":
        sem = norm_expr(pl.col("caption"))
    else:
        sem = norm_expr(pl.concat_str([pl.col("question"), pl.col("answer")], separator=" "))
    return text.select(none.alias("dkey"), sem.alias("stext"))


def _partitions(work: pl.DataFrame) -> list[pl.DataFrame]:
    """Split the work table into group-aligned parts (per dataset, then at group boundaries)."""
    parts = []
    for ds in sorted(work["dataset"].unique().to_list()):
        sub = work.filter(pl.col("dataset") == ds)
        if sub.height <= PART_ROWS:  # merge_groups orders the rows itself
            parts.append(sub)
            continue
        order, gid = group_order(sub["group"], sub["pos"])
        sub = sub[pl.Series(order)].with_columns(pl.Series("gid", gid, pl.Int64))  # merge_groups need not order it again
        starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
        cut, last = [], 0
        for s in starts:
            if s - last >= PART_ROWS:
                cut.append(s)
                last = s
        bounds = [0, *cut, sub.height]
        parts += [sub.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    cols = ["dataset", "task", "group", "pos", "record_id", "dkey", "emb", "max_turns", "dedup"]
    return [p.select(cols + (["gid"] if "gid" in p.columns else [])) for p in parts]


def group_dedup(state: BuildState) -> None:
    """Source by source (groups never span datasets), so the work table of one source is held at a
    time; in dataset name order, the order the merged parts' drops and pairs are written in."""
    r = state.recipe
    per_source = {}
    for s in r.active_sources:
        turns = s.max_turns or r.multiturn.max_turns
        # Honeybee dedups only while merging (nturn > 1); a source's own `dedup` key overrides
        per_source[s.dataset] = (turns, s.dedup or (r.multiturn.dedup if turns > 1 else "none"))
    ingested = state.ingested
    offsets = np.concatenate([[0], np.cumsum([i.n for i in ingested])]).astype(np.int64).tolist()

    def work_of(k: int) -> pl.DataFrame:
        return _source_work(ingested[k], offsets[k], per_source)

    # a source with one turn per item and no dedup (captions, boxes, native conversations…) makes one
    # item per Record: nothing to read, group or compare
    single = {k for k, i in enumerate(ingested) if i.n and (i.task in NATIVE_TASKS or per_source[i.dataset] == (1, "none"))}
    live = [k for k, i in enumerate(ingested) if i.n and k not in single]
    semantic = [k for k in live if per_source[ingested[k].dataset][1] == "semantic"]
    emb = index = None
    # the embedded strings: every unique dedup text of every source, sorted (one embedding call)
    texts = pl.concat([w.filter(w["stext"].is_not_null())["stext"].unique() for w in map(work_of, semantic)]).unique().sort().to_list() if semantic else []
    if texts:
        from mmdata.recipe.embed import Embedder, EmbeddingCache

        t0 = time.perf_counter()
        # the static model is calibrated on this mixture's strings (MiniLM on a sample of them, once)
        embedder = Embedder(r.multiturn.embedder, calibrated_on=texts if r.multiturn.embedder == "static" else None)
        cache = EmbeddingCache(embedder)
        t = state.task(f"embedding {len(texts):,} unique strings", len(texts))
        emb = cache.embed(texts, progress=lambda k: state.advance(t, k))
        index = pl.DataFrame({"stext": texts, "emb": np.arange(len(texts), dtype=np.int32)})
        state.emb_stats = {"model": embedder.model_id, "embedder": embedder.name, "unique_strings": len(texts),
                           "calibration_strings": embedder.calibration_strings, "spelled_share": embedder.spelled,
                           "embedded_now": cache.embedded,
                           "cache_hits": cache.hits, "embed_seconds": time.perf_counter() - t0}  # fmt: skip
    del texts
    t = state.task("group, dedup, chunk", len(live) + len(single))
    # largest sources first (read here while nothing else runs yet; the rest read in the workers);
    # the order shows nowhere: drops and pairs are sorted by position, items by source and position
    order = sorted(live, key=lambda k: (-ingested[k].n, ingested[k].dataset))

    def prepared(k: int) -> pl.DataFrame:
        work = work_of(k)
        if index is None:
            return work.with_columns(pl.lit(None, pl.Int32).alias("emb"))
        sem_mask = work["stext"].is_not_null()
        return work.join(index, on="stext", how="left").with_columns(pl.when(sem_mask).then(pl.col("emb")).otherwise(None).alias("emb")).sort("pos")

    def parts():
        # a source that fits one part is read by the thread that merges it; a larger one is read and
        # cut into group-aligned parts by a reader thread, one source ahead of the merges (memory
        # holds one such source's work table waiting, one being read). The engine draws parts as it
        # starts them: the small sources keep both workers busy while the first large one is read
        big = [k for k in order if ingested[k].n > PART_ROWS]
        ready: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def reader() -> None:
            for k in big:
                try:
                    item = (k, _partitions(prepared(k)))
                except BaseException as e:  # handed to the consumer, which raises it
                    item = (None, e)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if item[0] is None or stop.is_set():
                    return

        thread = threading.Thread(target=reader, name="mmdata-read", daemon=True)
        thread.start()
        try:
            for k in order:
                if ingested[k].n <= PART_ROWS:
                    yield lambda k=k: _partitions(prepared(k))[0]
                    state.advance(t)
            for _ in big:
                k, cut = ready.get()
                if k is None:
                    raise cut
                yield from cut
                del cut
                state.advance(t)
        finally:
            stop.set()
            thread.join()

    items_parts: dict[str, list[pa.Table]] = {ingested[k].dataset: [single_items(ingested[k].dataset, ingested[k].task, offsets[k], ingested[k].n)]
                                              for k in sorted(single)}  # fmt: skip
    state.advance(t, len(single))
    drops, pairs = [], []
    # the items' record ids are read again with their Records when they render (ids=False)
    state.parts["merge"] = 0
    for m in state.engine.imap_tables(merge_groups, parts(), emb=emb, threshold=r.multiturn.cosine, ids=False):
        state.parts["merge"] += 1
        if m["items"].num_rows:  # a part holds one dataset's groups
            items_parts.setdefault(m["items"].column("dataset")[0].as_py(), []).append(m["items"])
        drops.append(m["drops"])
        pairs.append(m["pairs"])
    # in file order across parts (a large source's parts are cut in group order)
    state.drops = pa.concat_tables(drops or [DROP_SCHEMA.empty_table()]).sort_by("dropped_pos")
    state.pairs = pa.concat_tables(pairs or [PAIR_SCHEMA.empty_table()]).sort_by([("b_pos", "ascending"), ("a_pos", "ascending")])
    # items grouped by dataset in recipe order, in file order inside (a part's items are; the parts
    # of a large source are merged by position), so a dataset's k-th item is row start[d] + k
    ordered = []
    for d in [s.dataset for s in r.active_sources]:
        tables = items_parts.pop(d, [])
        t = pa.concat_tables(tables) if tables else None
        if len(tables) > 1:
            t = t.take(pa.array(np.argsort(t.column("first_pos").to_numpy(), kind="stable")))
        if t is not None:
            ordered.append(t)
    # rechunked by polars, not Arrow: an Arrow combine_chunks copies every string once more before polars
    # copies them into its own views (on the 2× world, group_dedup's peak 834–846 → 748–754 MiB)
    state.items = pl.from_arrow(pa.concat_tables(ordered), rechunk=False).rechunk() if ordered else pl.DataFrame()


# ------------------------------------------------------------------------------------------ 4.


def balance(state: BuildState) -> None:
    r = state.recipe
    names = [s.dataset for s in r.active_sources]
    state.names = names
    state.tasks = {i.dataset: i.task for i in state.ingested}
    counts = dict(state.items.group_by("dataset").len().iter_rows()) if state.items.height else {}
    n_items = {d: int(counts.get(d, 0)) for d in names}
    empty = [d for d in names if n_items[d] == 0]
    if empty:
        d = empty[0]
        ing = next(i for i in state.ingested if i.dataset == d)
        raise MmdataError(
            f"source {d!r} contributes no items: {ing.records_read:,} records read, {len(ing.quarantined):,} set aside, "
            f"{ing.filtered:,} left out by its split/languages filters, {state.decon['dropped'].get(d, {})} decontaminated. "
            "Fix the source or remove it (recipe key 'exclude')", file=ing.files[0] if ing.files else None, field="sources",
        )  # fmt: skip
    b = r.balance
    p = bal.shares(b.strategy, n_items, state.tasks, cap=b.cap, weights=b.weights)
    size = b.size or bal.default_size(n_items, b.cap)
    q = bal.quotas(p, size)
    zero = [d for d in names if q[d] == 0]
    if zero:
        raise MmdataError(f"source {zero[0]!r} gets 0 of {size:,} items (share {p[zero[0]]:.2e}); raise balance.size or its "
                          "weight, or remove it (recipe key 'exclude')", field="balance")  # fmt: skip
    start, acc = {}, 0
    for d in names:
        start[d], acc = acc, acc + n_items[d]
    picks = [bal.sample(n_items[d], q[d], r.seed, d) for d in names]
    rows = np.concatenate([start[d] + idx for d, idx in zip(names, picks, strict=True)]) if picks else np.zeros(0, np.int64)
    sampling = pl.DataFrame({
        "dataset": pl.Series(names, dtype=pl.Utf8).gather(np.repeat(np.arange(len(names)), [len(x) for x in picks])),
        "item_index": np.concatenate(picks) if picks else np.zeros(0, np.int64),
        "epoch": np.concatenate([np.arange(len(x)) // max(1, n_items[d]) for d, x in zip(names, picks, strict=True)]).astype(np.int32),
    })  # fmt: skip
    order = np.random.default_rng(np.random.SeedSequence([r.seed, 0x5EED])).permutation(len(rows))
    state.sampled = state.items[pl.Series(rows[order])].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
    state.sampling = sampling[pl.Series(order)].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
    state.n_items, state.shares, state.quotas, state.size = n_items, p, q, size
    state.items = None  # the sample is what renders (n_items keeps the counts)
    state.defer(_write_records, state)  # the dedup audit, sampling record and quarantine are final now


# ------------------------------------------------------------------------------------------ 5.


def render(state: BuildState) -> None:
    sampled = state.sampled
    cols = ["j", "dataset", "task", "positions", "dedup_dropped"]
    starts = list(range(0, sampled.height, RENDER_ROWS))
    # each part renders from its own Records only: scattered from the ingest cache into one file per
    # part, its items' positions renumbered into that file (scatter.py). Parts are cut one at a time,
    # as they render; what the scatter needs of all of them is the positions each part reads
    flat = sampled["positions"].to_arrow()
    flat = (flat.combine_chunks() if isinstance(flat, pa.ChunkedArray) else flat).flatten().to_numpy()
    ends = np.cumsum(sampled["positions"].list.len().to_numpy().astype(np.int64))
    cuts = np.concatenate([[0], ends[np.array([*starts[1:], sampled.height], np.int64) - 1]]) if starts else [0]
    seen = np.zeros(sum(i.n for i in state.ingested), bool)  # one flag per Record: unique positions without sorting
    needs = []
    for k in range(len(starts)):
        seen[flat[cuts[k]:cuts[k + 1]]] = True
        needs.append(np.flatnonzero(seen))
        seen[needs[-1]] = False
    del flat, ends, seen

    def parts():
        for n, k in enumerate(starts):
            p = sampled.slice(k, RENDER_ROWS).select(cols).to_arrow()
            yield p.set_column(p.schema.get_field_index("positions"), "positions", local_positions(p.column("positions"), needs[n])[1])

    state.parts["render"] = len(starts)
    spill = Path(tempfile.mkdtemp(prefix="mmdata-render-"))
    try:
        files = scatter(state.ingested, needs, RENDER_COLUMNS, spill)
        _render_parts(state, parts(), len(starts), [partial(_part_records, f) for f in files])
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _part_records(paths: list[Path]) -> dict:
    return {"records": read_part(paths)}


def _render_parts(state: BuildState, parts, n_parts: int, records: list) -> None:
    r = state.recipe
    t = state.task(f"render {state.sampled.height:,} items", n_parts)
    shards = ShardWriter(state.tmp, r.output.shard_rows)
    llava = LlavaWriter(state.tmp, state.image_roots) if "llava" in r.output.formats else None
    def sink(part: pa.Table) -> None:
        j = part.column("j").to_numpy()
        # a part comes back in j order (render_items sorts); then one chunk per column is what
        # sort_by would give, without gathering every column again
        part = (part.combine_chunks() if bool(np.all(j[1:] > j[:-1])) else part.sort_by("j")).drop_columns(["j"])
        shards.write(part)
        state.stats.update(part)
        if llava:
            llava.write(part)
        state.advance(t)

    # a two-stage pipeline: part k is compressed and written (one writer thread, parts in order)
    # while part k + 1 renders; at most one part waits to be written, so memory stays one part deep
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmdata-sink") as pool:
        pending = None
        for part in state.engine.imap_tables(render_items, parts, records, policy=r.templates,
                                             templates_dir=state.templates_dir, seed=r.seed):  # fmt: skip
            if pending is not None:
                pending.result()
            pending = pool.submit(sink, part)
        if pending is not None:
            pending.result()
    state.shards = shards.close()
    state.content_hash = shards.digest()
    if llava:
        llava.close()


# ------------------------------------------------------------------------------------------ 6.


def write(state: BuildState) -> None:
    from mmdata.io import dumps_json
    from mmdata.recipe.manifest import manifest
    from mmdata.recipe.report import write_report

    tmp = state.tmp
    state.settle()  # _write_records, started when balance ended
    m = manifest(state)
    (tmp / "manifest.json").write_bytes(dumps_json(m))
    write_report(tmp, state.stats, m)
    if "hf" in state.recipe.output.formats:
        write_hf(state.shards, tmp, state.image_roots)


def _write_records(state: BuildState) -> None:
    """The dedup audit (drops and near pairs), the sampling record and the quarantine."""
    tmp = state.tmp
    own = lambda t: t.drop_columns([c for c in POSITIONS if c in t.column_names])  # noqa: E731
    pq.write_table(own(state.drops), tmp / "dedup.parquet", compression="zstd")
    pq.write_table(own(state.pairs), tmp / "dedup_pairs.parquet", compression="zstd")
    pq.write_table(state.sampling.to_arrow(), tmp / "sampling.parquet", compression="zstd")
    pq.write_table(quarantine_table(state.ingested), tmp / "quarantine.parquet", compression="zstd")


STAGES = (ingest, decontaminate, group_dedup, balance, render, write)
