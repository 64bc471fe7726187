"""Significance: Holm, paired tests over users and seeds, and the model-vs-best-baseline table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.significance import (
    holm,
    is_baseline,
    paired_t_p,
    significance_table,
    table_markdown,
    wilcoxon_p,
)
from recbole_llmkg.errors import ConfigError


def test_holm_step_down_by_hand():
    adjusted = holm([0.01, 0.04, 0.03, 0.005, float("nan")])
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert adjusted[:4].tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]


def test_wilcoxon_matches_scipy_and_ties_give_one():
    rng = np.random.default_rng(0)
    a, b = rng.random(40), rng.random(40)
    assert wilcoxon_p(a, b) == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert wilcoxon_p(a, a) == 1.0


def test_five_seeds_need_the_t_test():
    ours, theirs = [0.31, 0.32, 0.305, 0.318, 0.312], [0.30, 0.305, 0.30, 0.31, 0.30]
    assert stats.wilcoxon(np.subtract(ours, theirs)).pvalue == pytest.approx(0.0625)
    assert paired_t_p(ours, theirs) < 0.05
    assert np.isnan(paired_t_p([0.3], [0.2]))


def _records(fingerprints=None):
    rng = np.random.default_rng(1)
    users = np.array([f"u{i}" for i in range(200)], dtype=object)
    records = []
    for seed in (1, 2, 3, 4, 5):
        base = rng.random(200) * 0.5
        values = {"Base": base, "Weak": base * 0.5, "Ours": base + 0.05 + rng.normal(0, 0.01, 200),
                  "Same": base + rng.normal(0, 0.01, 200)}
        for model, v in values.items():
            order = rng.permutation(200)  # per-user arrays in any user order
            fp = (fingerprints or {}).get((model, seed), f"split-{seed}")
            records.append({"model": model, "seed": seed, "split_fingerprint": fp,
                            "status": "ok", "per_user": PerUserMetrics(
                                users[order], {"ndcg@10": v[order]}).to_dict()})
    records.append({"model": "Broken", "seed": 1, "split_fingerprint": "x", "status": "failed"})
    return records


def test_table_against_best_baseline():
    rows = {r["model"]: r for r in significance_table(_records(), baselines={"Base", "Weak"})}
    assert set(rows) == {"Ours", "Same", "Weak"}
    assert {r["baseline"] for r in rows.values()} == {"Base"}
    ours = rows["Ours"]
    assert ours["diff"] == pytest.approx(0.05, abs=0.005) and ours["seeds"] == 5
    assert ours["rel_gain"] == pytest.approx(ours["diff"] / ours["baseline_mean"])
    assert ours["users"] == 1000 and ours["verdict"] == "win"
    assert ours["p_users_holm"] >= ours["p_users"]
    assert rows["Same"]["verdict"] == "tie"
    assert rows["Weak"]["verdict"] == "lose"
    assert "| Ours | Base | 5 |" in table_markdown(list(rows.values()))


def test_table_refuses_two_splits_for_one_seed():
    records = _records({("Ours", 3): "other-split"})
    with pytest.raises(ConfigError, match="other-split") as error:
        significance_table(records, baselines={"Base"})
    assert "split-3" in str(error.value)


def test_baselines_are_recbole_models_and_the_content_knns():
    assert is_baseline("EASE") and is_baseline("KGIN") and is_baseline("TextKNN")
    assert is_baseline("KGKNN")
    assert not is_baseline("KASimCF") and not is_baseline("LLMAugRec")


def test_fewer_than_five_seeds_claim_nothing():
    few = [r for r in _records() if r["seed"] in (1, 2, 3)]
    rows = {r["model"]: r for r in significance_table(few, baselines={"Base", "Weak"})}
    assert rows["Ours"]["diff"] > 0.04 and rows["Ours"]["p_users_holm"] < 1e-6
    assert {r["verdict"] for r in rows.values()} == {"no claim (3 seeds)"}
