"""Semantic dedup at scale: usearch neighbours for large groups give the dense path's decisions, and
the static embedder (distilled once from the bundled MiniLM) is deterministic and cached, and its
calibration on a mixture's strings is cached, deterministic, and what a static build dedups with."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mmdata.recipe.merge import merge_groups


def _group(n: int, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    """One image group of ``n`` records: random unit vectors, a third of them near-copies of an earlier one."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 64)).astype(np.float32)
    for i in range(n):
        if i > 3 and rng.random() < 0.33:
            emb[i] = emb[rng.integers(0, i)] + rng.normal(scale=0.15, size=64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cols = {"dataset": ["d"] * n, "task": ["vqa_open"] * n, "group": ["img"] * n, "pos": list(range(n)),
            "record_id": [f"r{i}" for i in range(n)], "dkey": [None] * n, "emb": list(range(n)), "max_turns": [10] * n,
            "dedup": ["semantic"] * n}  # fmt: skip
    schema = pa.schema([("dataset", pa.string()), ("task", pa.string()), ("group", pa.string()), ("pos", pa.int64()),
                        ("record_id", pa.string()), ("dkey", pa.string()), ("emb", pa.int32()), ("max_turns", pa.int32()),
                        ("dedup", pa.string())])  # fmt: skip
    return pa.table(cols, schema=schema), emb


@pytest.mark.parametrize("n", [40, 150])
def test_usearch_path_equals_dense_path(n):
    work, emb = _group(n)
    dense = merge_groups(work, emb=emb, threshold=0.9, nn_min=10**9)
    nn = merge_groups(work, emb=emb, threshold=0.9, nn_min=2)
    assert dense["drops"].num_rows > 5  # the case exercises drops
    # same decisions; similarities agree to float32 rounding (a matrix product and a vector product sum in different orders)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "similarity"} for r in rows]  # noqa: E731
    assert strip(nn["drops"].to_pylist()) == strip(dense["drops"].to_pylist())
    assert np.allclose(nn["drops"].column("similarity").to_numpy(), dense["drops"].column("similarity").to_numpy(), atol=1e-6)
    assert nn["items"].to_pylist() == dense["items"].to_pylist()
    d, u = dense["pairs"].to_pylist(), nn["pairs"].to_pylist()
    assert sorted((p["a_id"], p["b_id"]) for p in u) == sorted((p["a_id"], p["b_id"]) for p in d)


@pytest.mark.slow
def test_static_embedder_deterministic_and_cached(tmp_path, monkeypatch, small_world, caplog):
    """Distils once (about 90 s on 2 cores), then every later use reads the cache entry. One test, so
    the distillation runs once for the calibration checks too."""
    from mmdata import cache
    from mmdata.recipe import embed

    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "cache"))
    embed.static_model_dir.cache_clear()
    embed._static.cache_clear()
    texts = ["what colour is the bus red", "which colour does the bus have red", "how many dogs 2"]
    c = embed.EmbeddingCache("static")
    a = c.embed(texts)
    assert a.shape == (3, embed.STATIC_DIMS) and c.embedded == 3
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(a[0] @ a[1]) > float(a[0] @ a[2])  # a paraphrase is closer than another question
    assert len(cache.entries("static-embedder")) == 1
    # a second process-level load reads the same model from the cache and gives the same bytes
    embed.static_model_dir.cache_clear()
    embed._static.cache_clear()
    again = embed.Embedder("static").encode(texts)
    assert again.tobytes() == a.tobytes()
    assert len(cache.entries("static-embedder")) == 1
    c2 = embed.EmbeddingCache("static")
    b = c2.embed(texts[::-1])
    assert c2.embedded == 0 and c2.hits == 3 and (b[::-1] == a).all()
    assert c2.fingerprint != embed.EmbeddingCache("minilm").fingerprint  # vectors of one embedder never serve the other

    # -- calibration on a pool of strings: MiniLM on a sample, token weights + map fitted, cached
    colours, shapes = ["red", "blue", "green", "brown", "pink", "grey"], ["cube", "ball", "star", "cross", "ring", "cone"]
    forms = ["is there a {c} {s} in the image yes", "can you see a {c} {s} in the picture yes",
             "what colour is the {s} {c}", "which colour does the {s} have {c}"]  # fmt: skip
    pool = sorted({f.format(c=c, s=sh) for f in forms for c in colours for sh in shapes})
    fit, held = pool[: len(pool) // 2], pool[len(pool) // 2 :]
    cal = embed.Embedder("static", calibrated_on=fit)
    assert cal.dim == 384 and cal.model_id.startswith("static-calibrated") and cal.calibration_strings == len(fit)
    assert len(cache.entries("static-calibration")) == 1
    v = cal.encode(held)
    assert v.shape == (len(held), 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # the fit moves the static model towards MiniLM on strings it never saw: pairwise similarities
    # of the held-out strings correlate better with MiniLM's than the distilled model's do
    teacher = embed.Embedder("minilm").encode(held)
    iu = np.triu_indices(len(held), 1)

    def agreement(x: np.ndarray) -> float:
        return float(np.corrcoef((x @ x.T)[iu], (teacher @ teacher.T)[iu])[0, 1])

    assert agreement(v) > agreement(embed.Embedder("static").encode(held)) + 0.05
    again = embed.Embedder("static", calibrated_on=fit)  # same pool: the cached fit, the same bytes
    assert len(cache.entries("static-calibration")) == 1 and again.fingerprint == cal.fingerprint
    assert again.encode(held).tobytes() == v.tobytes()
    # the fit is deterministic and its identity is the fitted numbers, not the .npz container (whose
    # zip entries carry a write time, 2 s resolution): a refit elsewhere, later, has the same digest
    import time

    time.sleep(2.1)
    refit = tmp_path / "refit"
    refit.mkdir()
    embed._fit_calibration(fit, embed.Embedder("minilm").encode(fit), refit)
    assert embed.calibration_digest(refit) == embed.calibration_digest(cal.calibration)
    other = embed.Embedder("static", calibrated_on=held)
    assert other.fingerprint != cal.fingerprint and len(cache.entries("static-calibration")) == 2

    # -- strings its vocabulary spells letter by letter are flagged, and a pool of them warns
    from mmdata.ui import log

    monkeypatch.setattr(log, "propagate", True)  # caplog listens on the root logger (the CLI turns propagation off)
    assert embed.spelled_share(["Сколько розовых фигур на картинке?", "ما لون الخلفية؟", "图片中有几个圆?"]) == 1.0
    assert embed.spelled_share(["a blue circle 109,609,469,969", "Resimde kaç tane daire var?", "Quantos círculos há na imagem? 2"]) == 0.0
    assert cal.spelled == 0.0
    ru = [f"{q} {c} {a}" for q in ("Сколько фигур цвета", "Есть ли на картинке фигура цвета") for c in ("красного", "синего") for a in ("да", "нет")]
    mixed = embed.Embedder("static", calibrated_on=sorted(pool + ru))
    assert mixed.spelled == pytest.approx(len(ru) / len(pool + ru))
    assert [r for r in caplog.records if r.levelname == "WARNING" and "letter by letter" in r.getMessage()]

    # -- a build with the static embedder calibrates on its own strings and recovers the planted duplicates
    from mmdata.recipe.build import build
    from mmdata.recipe.dedup_eval import score_dedup

    from .helpers import write_recipe

    r = write_recipe(tmp_path / "static.yaml", small_world, ["vqav2", "gqa"],
                     multiturn={"max_turns": 10, "dedup": "semantic", "embedder": "static"},
                     balance={"strategy": "per-dataset", "size": 500})  # fmt: skip
    res = build(r, tmp_path / "static")
    emb = res.manifest["dedup"]["embedding"]
    assert emb["model"] == "static-calibrated-from-all-MiniLM-L6-v2" and emb["embedder"] == "static"
    s = score_dedup(tmp_path / "static", small_world)
    assert s["recovery"] >= 0.90 and s["false_drop_rate"] < 0.02, s
