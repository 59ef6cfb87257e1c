"""Hub parquet writers: a Cauldron-style set and a LLaVA-OneVision-style set with embedded images.

* ``cauldron`` — two subsets, ``shapes_qa/`` (one coco image per row, several question/answer
  exchanges, as The Cauldron concatenates an image's QA pairs) and ``shapes_compare/`` (two images
  per row, questions about both); columns ``images`` list<Image> and ``texts``
  list<{user, assistant, source}>.
* ``llava_onevision`` — one subset, ``shapes_conversations/``: ``id``, ``image`` (null for the
  text-only rows), ``conversations`` list<{from, value}> with ``<image>`` in the first human turn,
  ``data_source``.

Images are the pool's JPEG bytes, embedded unchanged, so the adapters' extracted store holds files
byte-identical to the pool. Parquet is written with fixed settings (zstd level 3, one row group,
statistics on, no timestamps), and the ``huggingface`` schema metadata that hub exports carry.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.sources.base import extra_json
from mmdata.world.lexicon import CATEGORIES
from mmdata.world.pools import PoolImage, coco_2017
from mmdata.world.qa import answer, n_variants, question
from mmdata.world.writers import Ctx, Output, pick_qas, record
from mmdata.world.writers.llava import conversation
from mmdata.world.writers.sharegpt import exchange

IMAGE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
CAULDRON_SCHEMA = pa.schema(
    [
        pa.field("images", pa.list_(IMAGE)),
        pa.field("texts", pa.list_(pa.struct([pa.field("user", pa.string()), pa.field("assistant", pa.string()),
                                              pa.field("source", pa.string())]))),  # fmt: skip
    ]
)
ONEVISION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("image", IMAGE),
        pa.field("conversations", pa.list_(pa.struct([pa.field("from", pa.string()), pa.field("value", pa.string())]))),
        pa.field("data_source", pa.string()),
    ]
)
_HF_FEATURES = {
    "cauldron": {"images": {"feature": {"_type": "Image"}, "_type": "Sequence"},
                 "texts": [{"user": {"dtype": "string", "_type": "Value"}, "assistant": {"dtype": "string", "_type": "Value"},
                            "source": {"dtype": "string", "_type": "Value"}}]},
    "onevision": {"id": {"dtype": "string", "_type": "Value"}, "image": {"_type": "Image"},
                  "conversations": [{"from": {"dtype": "string", "_type": "Value"}, "value": {"dtype": "string", "_type": "Value"}}],
                  "data_source": {"dtype": "string", "_type": "Value"}},
}  # fmt: skip
SHARD = "train-00000-of-00001.parquet"


def parquet_bytes(rows: list[dict], schema: pa.Schema, features: dict) -> bytes:
    """Deterministic parquet bytes for ``rows`` (fixed writer settings; metadata holds no timestamps)."""
    meta = {b"huggingface": orjson.dumps({"info": {"features": features}}, option=orjson.OPT_SORT_KEYS)}
    table = pa.Table.from_pylist(rows, schema=schema).replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", compression_level=3, row_group_size=max(1, len(rows)),
                   use_dictionary=True, write_statistics=True, data_page_version="1.0", version="2.6")  # fmt: skip
    return sink.getvalue().to_pybytes()


def _embedded(ctx: Ctx, img: PoolImage) -> tuple[bytes, dict]:
    """The pool image's bytes and the Record reference the adapters give it in the extracted store."""
    data = (ctx.root / "images/coco" / coco_2017(img.image_id)).read_bytes()
    ref = img.ref(f"{img.sha256[:2]}/{img.sha256}.jpg")
    return data, ref


def _short_qa(img: PoolImage, rng, n: int) -> list[tuple[str, str]]:
    cats = tuple(c for c in CATEGORIES if c != "ocr" or img.scene.text is not None)
    return [(question(qa, "en", rng.randrange(n_variants(qa.category, "en"))), answer(qa, "en"))
            for qa in pick_qas(img.scene, rng, cats, n)]  # fmt: skip


def _compare(a: PoolImage, b: PoolImage) -> list[tuple[str, str]]:
    na, nb = len(a.scene.objects), len(b.scene.objects)
    more = "the first" if na > nb else ("the second" if nb > na else "neither; they have the same number")
    same = "yes" if a.scene.background == b.scene.background else "no"
    return [
        ("How many objects are there in the two images together?", str(na + nb)),
        ("Which image shows more objects, the first or the second?", more),
        ("Do the two images have the same background colour?", same),
    ]


def build_cauldron(ctx: Ctx) -> Output:
    name = "cauldron"
    files, truth, count = {}, [], 0
    # sorted subset order is the order the adapter reads: shapes_compare before shapes_qa
    n_pairs, n_rows = ctx.cfg.cauldron_pairs, ctx.cfg.cauldron_rows
    for subset in ("shapes_compare", "shapes_qa"):
        rows = []
        for k in range(n_pairs if subset == "shapes_compare" else n_rows):
            rng = ctx.rng(f"{name}-{subset}", k)
            if subset == "shapes_compare":
                imgs = rng.sample(ctx.coco, 2)
                qa = _compare(*imgs)
                qa = qa[: rng.randint(1, len(qa))]
            else:
                imgs = [ctx.coco[rng.randrange(len(ctx.coco))]]
                qa = _short_qa(imgs[0], rng, rng.randint(1, 3)) or [("How many objects are there?", str(len(imgs[0].scene.objects)))]
            embedded = [_embedded(ctx, im) for im in imgs]
            rows.append({"images": [{"bytes": data, "path": None} for data, _ in embedded],
                         "texts": [{"user": q, "assistant": a, "source": subset} for q, a in qa]})  # fmt: skip
            if ctx.keep_truth:
                refs = [ref for _, ref in embedded]
                turns = [t for q, a in qa for t in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
                truth.append(record(name, "v_inst", record_id=f"{subset}/{SHARD[:-8]}:{k}", image_id=refs[0]["sha256"],
                                    image=refs[0], images=refs if len(refs) > 1 else None, turns=turns,
                                    extra=extra_json({"subset": subset, "sources": [subset]}),
                                    _meta={"scenes": [im.scene.scene_id for im in imgs]}))  # fmt: skip
        files[f"{subset}/{SHARD}"] = parquet_bytes(rows, CAULDRON_SCHEMA, _HF_FEATURES["cauldron"])
        count += len(rows)
    return Output(name, files, None, count, truth if ctx.keep_truth else None)


def build_onevision(ctx: Ctx) -> Output:
    name, subset = "llava_onevision", "shapes_conversations"
    rows, truth = [], []
    for k in range(ctx.cfg.onevision_rows):
        rng = ctx.rng(name, k)
        rid = f"shapes_conv_{k:06d}"
        img = ctx.coco[rng.randrange(len(ctx.coco))]
        conv = [] if rng.random() < 0.3 else conversation(img.scene, "en", rng, rng.randint(1, 3))
        if not conv:  # text-only rows, as OneVision mixes in text instruction data
            for _ in range(rng.randint(1, 2)):
                q, a = exchange(rng)
                conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
            image, ref, source = None, None, "shapes_text"
        else:
            data, ref = _embedded(ctx, img)
            image, source = {"bytes": data, "path": f"{img.image_id:012d}.jpg"}, "shapes_vqa"
        rows.append({"id": rid, "image": image, "conversations": conv, "data_source": source})
        if ctx.keep_truth:
            turns = [{"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]} for t in conv]
            truth.append(record(name, "v_inst" if ref else "t_inst", record_id=rid, image_id=ref["sha256"] if ref else None,
                                image=ref, turns=turns, extra=extra_json({"subset": subset, "data_source": source})))  # fmt: skip
    files = {f"{subset}/{SHARD}": parquet_bytes(rows, ONEVISION_SCHEMA, _HF_FEATURES["onevision"])}
    return Output(name, files, None, len(rows), truth if ctx.keep_truth else None)
