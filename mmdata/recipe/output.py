"""Mixture outputs: Parquet shards of Conversations, LLaVA JSON, a `datasets` copy, the manifest.

``content_hash`` is the SHA-256 over the shard files' names and bytes in order: the identity of the
data. Everything is written inside the build's temporary directory, which becomes ``DIR`` only when
the build has finished (see :func:`mmdata.io.atomic_dir`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class ShardWriter:
    """Append Conversation tables in training order; a shard file is written each time ``shard_rows``
    rows are buffered (the last one on :meth:`close`). The mixture is never held whole in memory.
    :meth:`digest` is :func:`content_hash` of the shards, taken as each one is written (in the
    writer's thread, while the next part renders) rather than by reading them all again at the end."""

    def __init__(self, out: Path, shard_rows: int) -> None:
        self.dir = out / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shard_rows = shard_rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.paths: list[Path] = []
        self.hash = hashlib.sha256()

    def write(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        while self.buffered >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, n: int) -> None:
        whole = pa.concat_tables(self.buffer)
        part, rest = whole.slice(0, n), whole.slice(n)
        p = self.dir / f"part-{len(self.paths):05d}.parquet"
        pq.write_table(part, p, compression="zstd", row_group_size=min(self.shard_rows, 10_000), write_statistics=False)
        _hash_file(self.hash, p)
        self.paths.append(p)
        self.buffer = [rest] if rest.num_rows else []
        self.buffered = rest.num_rows

    def close(self) -> list[Path]:
        if self.buffered or not self.paths:
            self._flush(self.buffered)
        return self.paths

    def digest(self) -> str:
        """:func:`content_hash` of every shard written (complete once :meth:`close` has run)."""
        return self.hash.hexdigest()


class MixtureStats:
    """What the manifest and report need from the rendered items, gathered part by part."""

    def __init__(self) -> None:
        self.template_usage: dict[str, int] = {}
        self.inverted = 0
        self.rows = 0
        self.turns: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def update(self, table: pa.Table) -> None:
        for v in pc.value_counts(table.column("template_id")).to_pylist():
            self.template_usage[v["values"]] = self.template_usage.get(v["values"], 0) + v["counts"]
        self.inverted += int(pc.sum(table.column("inverted")).as_py() or 0)
        self.rows += table.num_rows
        self.turns.append(pc.list_value_length(table.column("turns")).to_numpy(zero_copy_only=False) // 2)
        if sum(len(x) for x in self.lengths) < 50_000:
            flat = pc.list_flatten(table.column("turns").slice(0, 20_000))
            self.lengths.append(pc.utf8_length(pc.struct_field(flat, "content")).to_numpy(zero_copy_only=False))

    def n_turns(self) -> np.ndarray:
        return np.concatenate(self.turns) if self.turns else np.zeros(0, np.int64)

    def text_lengths(self) -> np.ndarray:
        return np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)


def content_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        _hash_file(h, p)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    h.update(path.name.encode() + b"\0")
    h.update(path.read_bytes())


def llava_turns(turns: list[dict]) -> list[dict]:
    """Conversation turns in LLaVA's strict form: ``human`` and ``gpt`` alternating, starting with
    ``human``. A system turn is folded into the first human turn (after its ``<image>`` lines);
    consecutive turns of one role are joined. (Sources set aside conversations that open with the
    assistant, so the first non-system turn is always the user's.)"""
    system = "\n\n".join(t["content"] for t in turns if t["role"] == "system")
    out: list[dict] = []
    for t in turns:
        if t["role"] == "system":
            continue
        frm = "human" if t["role"] == "user" else "gpt"
        if out and out[-1]["from"] == frm:
            out[-1]["value"] += "\n\n" + t["content"]
        else:
            out.append({"from": frm, "value": t["content"]})
    if system and out:
        body, images = out[0]["value"], ""
        while body.startswith("<image>\n"):
            images, body = images + "<image>\n", body[len("<image>\n") :]
        out[0]["value"] = images + system + "\n\n" + body
    return out


class LlavaWriter:
    """Streams the LLaVA-Instruct layout: ``[{id, image, conversations: [{from: human|gpt, value}]}]``.
    ``image`` is an absolute path (a mixture spans several image roots), a list of them for a
    multi-image item (LLaVA-OneVision's form)."""

    def __init__(self, out: Path, image_roots: dict[str, str]) -> None:
        self.f = open(out / "llava.json", "wb")  # noqa: SIM115  (closed in close())
        self.f.write(b"[")
        self.first = True
        self.roots = {d: Path(r) for d, r in image_roots.items()}

    def write(self, table: pa.Table) -> None:
        for r in table.select(["id", "images", "turns", "dataset"]).to_pylist():
            item = {"id": r["id"]}
            paths = [str(self.roots[r["dataset"]] / i["path"]) for i in r["images"]]
            if paths:
                item["image"] = paths[0] if len(paths) == 1 else paths
            item["conversations"] = llava_turns(r["turns"])
            self.f.write((b"" if self.first else b",") + orjson.dumps(item))
            self.first = False

    def close(self) -> None:
        self.f.write(b"]")
        self.f.close()


HF_FEATURES = {
    "id": {"dtype": "string", "_type": "Value"},
    "images": {"feature": {"_type": "Image"}, "_type": "List"},
    "conversations": {"feature": {"from": {"dtype": "string", "_type": "Value"}, "value": {"dtype": "string", "_type": "Value"}},
                      "_type": "List"},
    "dataset": {"dtype": "string", "_type": "Value"},
    "task": {"dtype": "string", "_type": "Value"},
    "language": {"dtype": "string", "_type": "Value"},
    "template_id": {"dtype": "string", "_type": "Value"},
}  # fmt: skip
HF_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
    ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
    ("dataset", pa.string()), ("task", pa.string()), ("language", pa.string()), ("template_id", pa.string()),
]).with_metadata({b"huggingface": orjson.dumps({"info": {"features": HF_FEATURES}})})  # fmt: skip


def write_hf(paths: list[Path], out: Path, image_roots: dict[str, str]) -> list[Path]:
    """``hf/data/train-*.parquet``: the mixture as a Hugging Face dataset with the ``datasets.Image``
    feature — image bytes embedded (read, never decoded), conversations in LLaVA's strict form.
    ``datasets.load_dataset("parquet", data_files=...)`` (or the Hub, pushed as is) restores the
    features and decodes the images."""
    from mmdata.io import safe_join

    dest = out / "hf" / "data"
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for k, shard in enumerate(paths):
        pf = pq.ParquetFile(shard)
        target = dest / f"train-{k:05d}-of-{len(paths):05d}.parquet"
        with pq.ParquetWriter(target, HF_SCHEMA, compression="zstd") as w:
            for batch in pf.iter_batches(batch_size=2000, columns=["id", "images", "turns", "dataset", "task", "language", "template_id"]):
                rows = batch.to_pylist()
                for r in rows:
                    root = Path(image_roots[r["dataset"]])
                    r["images"] = [{"bytes": safe_join(root, i["path"], file=shard, record=r["id"], field="images").read_bytes(),
                                    "path": Path(i["path"]).name} for i in r["images"]]  # fmt: skip
                    r["conversations"] = llava_turns(r.pop("turns"))
                w.write_table(pa.Table.from_pylist(rows, schema=HF_SCHEMA))
        written.append(target)
    return written
