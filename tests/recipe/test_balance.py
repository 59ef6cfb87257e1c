"""Balancing on the world: realised per-dataset shares follow each strategy's formula (DESIGN §4)."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from mmdata.recipe import balance as bal
from mmdata.recipe.build import build

from .helpers import ALL, write_recipe


def realised(out):
    t = pads.dataset(out / "data").to_table(columns=["dataset"])
    vc = pc.value_counts(t.column("dataset")).to_pylist()
    return {v["values"]: v["counts"] for v in vc}


@pytest.fixture(scope="module")
def builds(tiny_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bal")
    weights = {d: float(i % 4 + 1) for i, d in enumerate(ALL)}
    out = {}
    for strat in ("per-dataset", "per-task", "per-sample", "tuned"):
        bal_cfg = {"strategy": strat, "cap": 60, "size": 1500}
        if strat == "tuned":
            bal_cfg["weights"] = weights
        r = write_recipe(tmp / f"{strat}.yaml", tiny_world, balance=bal_cfg)
        out[strat] = build(r, tmp / strat)
    return out, weights


def expected_shares(strategy, counts, weights):
    n = {d: c["items_after_merge"] for d, c in counts.items()}
    tasks = {"vqav2": "vqa_open", "gqa": "vqa_open", "ocrvqa": "vqa_open", "vsr": "vqa_open", "scienceqa": "vqa_mc",
             "aokvqa": "vqa_mc", "refcoco": "rec", "refcoco+": "rec", "refcocog": "rec", "vg_regions": "rec",
             "coco_captions": "caption", "llava_instruct": "v_inst", "sharegpt": "t_inst"}  # fmt: skip
    if strategy == "per-dataset":
        return {d: 1 / len(n) for d in n}
    if strategy == "per-task":
        per_task = {t: sum(1 for d in n if tasks[d] == t) for t in set(tasks.values())}
        return {d: 1 / (len(per_task) * per_task[tasks[d]]) for d in n}
    if strategy == "per-sample":
        tot = sum(min(v, 60) for v in n.values())
        return {d: min(v, 60) / tot for d, v in n.items()}
    tot = sum(weights.values())
    return {d: weights[d] / tot for d in n}


@pytest.mark.parametrize("strategy", ["per-dataset", "per-task", "per-sample", "tuned"])
def test_realised_shares_match_formula(builds, strategy):
    results, weights = builds
    r = results[strategy]
    m = r.manifest
    got = realised(r.out)
    size = m["balance"]["size"]
    assert sum(got.values()) == size == 1500
    exp = expected_shares(strategy, m["counts"], weights)
    for d, p in exp.items():
        assert abs(got.get(d, 0) / size - p) <= 1.0 / size + 1e-9, (d, got.get(d), p * size)
        c = m["counts"][d]
        assert c["sampled"] == got.get(d, 0)
        assert c["epochs"] == pytest.approx(c["sampled"] / c["items_after_merge"], abs=1e-6)
        assert c["target_share"] == pytest.approx(p, abs=1e-6)
    # per-task counts add up
    assert sum(t["sampled"] for t in m["tasks"].values()) == size


def test_sampling_record_and_epochs(builds):
    import pyarrow.parquet as pq

    r = builds[0]["per-dataset"]
    s = pq.read_table(r.out / "sampling.parquet").to_pylist()
    assert len(s) == r.manifest["n_items"]
    by_ds = {}
    for row in s:
        by_ds.setdefault(row["dataset"], []).append(row)
    small = min(r.manifest["counts"], key=lambda d: r.manifest["counts"][d]["items_after_merge"])
    rows = by_ds[small]
    n = r.manifest["counts"][small]["items_after_merge"]
    assert max(x["epoch"] for x in rows) == (len(rows) - 1) // n  # exhausted → further epochs
    first = [x["item_index"] for x in sorted(rows, key=lambda x: x["j"])]
    assert len(set(first)) == n  # every item used before any repeats beyond epochs


def test_quota_helpers():
    assert bal.quotas({"a": 0.5, "b": 0.25, "c": 0.25}, 7) == {"a": 3, "b": 2, "c": 2}  # 3.5, 1.75, 1.75
    idx = bal.sample(5, 12, 0, "x")
    assert len(idx) == 12 and sorted(idx[:5].tolist()) == list(range(5)) and sorted(idx[5:10].tolist()) == list(range(5))
    assert (bal.sample(5, 12, 0, "x") == idx).all() and not (bal.sample(5, 12, 1, "x") == idx).all()
    assert bal.shares("per-sample", {"a": 10, "b": 1000}, {"a": "t", "b": "t"}, cap=100, weights={}) == {"a": 10 / 110, "b": 100 / 110}
