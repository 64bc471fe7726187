"""Significance: Holm, paired tests over users and seeds, and the model-vs-best-baseline table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from recbole_llmkg.benchmark import significance
from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.readme import repo_root
from recbole_llmkg.benchmark.significance import (
    add_verdicts,
    bootstrap_gain,
    compare,
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
    assert ours["users"] == 200 and ours["verdict"] == "win"  # each user once
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


def _runs(values_by_seed, users):
    return {seed: PerUserMetrics(np.asarray(users, dtype=object), {"ndcg@10": np.asarray(v)})
            for seed, v in values_by_seed.items()}


def test_users_test_averages_each_user_over_seeds_first():
    """Three seeds of four users: the Wilcoxon runs on the 4 per-user mean differences, not on
    the 12 user-seed pairs."""
    users = ["a", "b", "c", "d"]
    ours = _runs({1: [0.5, 0.4, 0.3, 0.2], 2: [0.6, 0.4, 0.2, 0.2], 3: [0.4, 0.5, 0.3, 0.1]}, users)
    theirs = _runs({1: [0.4, 0.4, 0.2, 0.1], 2: [0.5, 0.3, 0.2, 0.2], 3: [0.4, 0.4, 0.1, 0.2]},
                   users)
    row = compare(ours, theirs, "ndcg@10")
    diff = np.mean([np.subtract(ours[s].values["ndcg@10"], theirs[s].values["ndcg@10"])
                    for s in (1, 2, 3)], axis=0)
    assert row["users"] == 4
    assert row["p_users"] == pytest.approx(stats.wilcoxon(diff).pvalue)


def test_one_sided_tests_follow_the_claims_direction():
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(300)]
    base = {s: rng.random(300) for s in range(1, 6)}
    below = {s: v * 0.97 for s, v in base.items()}  # ours 3% BELOW theirs
    ours, theirs = _runs(below, users), _runs(base, users)
    greater = compare(ours, theirs, "ndcg@10", alternative="greater")
    less = compare(ours, theirs, "ndcg@10", alternative="less")
    assert greater["p_users"] > 0.99 and greater["p_seeds"] > 0.99  # not "significantly above"
    assert less["p_users"] < 1e-6 and less["p_seeds"] < 1e-3
    row = compare(ours, theirs, "ndcg@10", scale=1.03, alternative="greater")
    assert row["p_users"] == 1.0 or row["p_users"] > 0.99
    [verdict] = add_verdicts([greater])
    assert verdict["verdict"] == "not shown"  # one-sided: no "tie" and no "lose" claimed
    with pytest.raises(ConfigError, match="alternative"):
        compare(ours, theirs, "ndcg@10", alternative="bigger")


def test_bootstrap_interval_brackets_the_gain_and_is_reproducible():
    rng = np.random.default_rng(4)
    a, b = rng.random(500) + 0.1, rng.random(500) + 0.1
    low, high = bootstrap_gain(a * 1.1, a)
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)  # every user +10%
    low, high = bootstrap_gain(a, b)
    gain = a.mean() / b.mean() - 1
    assert low < gain < high and bootstrap_gain(a, b) == (low, high)
    assert high - low > 0.02  # noise shows as width


RESULTS = repo_root() / "results" / "ml-100k" / "runs"


def _stored(label, slug="standard"):
    """Seed -> (sorted user ids, ndcg@10) of one board row, read straight from runs/*.json."""
    out = {}
    for path in sorted(RESULTS.glob(f"ml-100k__{label}__{slug}__seed*.json")):
        record = json.loads(path.read_text())
        if record.get("status") == "ok" and record.get("label") == label:
            users = np.asarray(record["per_user"]["users"], dtype=str)
            order = np.argsort(users, kind="stable")
            out[record["seed"]] = (users[order],
                                   np.asarray(record["per_user"]["values"]["ndcg@10"])[order])
    return out


@pytest.mark.skipif(not RESULTS.is_dir(), reason="results/ml-100k/runs is not in this checkout")
def test_target_row_p_values_recomputed_with_scipy_from_the_stored_files():
    """KASimCF vs 1.03 x EASE (target 3): one-sided p-values by hand from the per-user files."""
    ours, theirs = _stored("KASimCF"), _stored("EASE")
    assert len(ours) == 5 and set(ours) == set(theirs)
    by_user: dict[str, list[float]] = {}
    for seed in ours:
        assert (ours[seed][0] == theirs[seed][0]).all()  # one test set per seed
        for user, x, y in zip(ours[seed][0], ours[seed][1], theirs[seed][1], strict=True):
            by_user.setdefault(user, []).append(x - 1.03 * y)
    diff = np.array([np.mean(v) for v in by_user.values()])
    p_users = stats.wilcoxon(diff[diff != 0], alternative="greater").pvalue
    p_seeds = stats.ttest_rel([ours[s][1].mean() for s in ours],
                              [1.03 * theirs[s][1].mean() for s in ours],
                              alternative="greater").pvalue
    runs = significance.group_runs(
        {**json.loads(p.read_text()), "model": label}
        for label in ("KASimCF", "EASE")
        for p in RESULTS.glob(f"ml-100k__{label}__standard__seed*.json"))
    row = compare(runs["KASimCF"], runs["EASE"], "ndcg@10", scale=1.03, alternative="greater")
    assert row["users"] == len(diff)
    assert row["p_users"] == pytest.approx(p_users, rel=1e-9)
    assert row["p_seeds"] == pytest.approx(p_seeds, rel=1e-9)


@pytest.mark.skipif(not RESULTS.is_dir(), reason="results/ml-100k/runs is not in this checkout")
def test_leaderboard_row_recomputed_with_scipy_from_the_stored_files():
    """The standard main table's KASimCF row: every row of that significance table recomputed
    from runs/*.json with scipy (two-sided, users averaged over seeds; paired t over seed means),
    Holm by hand over the table, against the p-values leaderboard.md prints."""
    board = (RESULTS.parent / "leaderboard.md").read_text(encoding="utf-8")
    section = board.split("## ml-100k · standard · main table")[1].split("\n## ")[0]
    table = section.split("Significance of NDCG@10")[1]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")
            and not line.startswith(("| model", "|---"))]
    printed = {cells[0].strip("| "): (cells[8], cells[9]) for cells in rows}
    baseline = rows[0][1]
    theirs = _stored(baseline)
    raw_users, raw_seeds = [], []
    for model in printed:
        ours = _stored(model)
        by_user: dict[str, list[float]] = {}
        for seed in ours:
            for user, x, y in zip(ours[seed][0], ours[seed][1], theirs[seed][1], strict=True):
                by_user.setdefault(user, []).append(x - y)
        diff = np.array([np.mean(v) for v in by_user.values()])
        raw_users.append(stats.wilcoxon(diff[diff != 0]).pvalue)
        raw_seeds.append(stats.ttest_rel([ours[s][1].mean() for s in ours],
                                         [theirs[s][1].mean() for s in ours]).pvalue)
    for raw, column in ((raw_users, 0), (raw_seeds, 1)):
        order = np.argsort(raw)
        adjusted = np.empty(len(raw))
        running = 0.0
        for rank, index in enumerate(order):  # Holm: step-down, monotone, capped at 1
            running = max(running, (len(raw) - rank) * raw[index])
            adjusted[index] = min(running, 1.0)
        got = dict(zip(printed, adjusted, strict=True))
        assert f"{got['KASimCF']:.2g}" == printed["KASimCF"][column]
        for model, shown in printed.items():  # printed to 2 significant digits
            assert got[model] == pytest.approx(float(shown[column]), rel=0.051), model
