"""Board rows whose numbers are not their model's ranking, n/a cells and the random-order floor."""

from __future__ import annotations

import numpy as np
import pytest

from recbole_llmkg.benchmark.rows import (
    CANNOT_RANK_UNSEEN,
    ModelRow,
    mark_not_ranked,
    profile_blends,
    random_order_floor,
    ranks_unseen_items,
    vacuous_metrics,
)
from recbole_llmkg.benchmark.tables import not_ranked_lines

COLD = {"protocol": "cold_item", "protocol_params": {"candidates": "cold"}}


def row(label, model=None, records=()):
    out = ModelRow(label, model or label, ours=False, planned=len(records))
    out.ok.extend(records)
    return out


def cold_record(seed, relevant, candidates, **extra):
    """A cold-item run whose users have ``relevant`` relevant items, each with one hit in its
    top-20 (so precision@20 x 20 / recall@20 gives the count back)."""
    relevant = np.asarray(relevant, dtype=float)
    users = [f"u{i}" for i in range(len(relevant))]
    return {**COLD, "seed": seed, "status": "ok", "split_fingerprint": f"s{seed}",
            "protocol_info": {"cold_items": candidates},
            "split": {"counts": {"test": {"interactions": int(relevant.sum())}}},
            "test": {"ndcg@10": 0.1},
            "per_user": {"users": users, "values": {
                "ndcg@10": [0.1] * len(users), "precision@20": [1 / 20] * len(users),
                "recall@20": list(1 / relevant)}}, **extra}


def test_which_rows_can_rank_items_never_seen_in_training():
    assert not ranks_unseen_items("EASE", {}) and not ranks_unseen_items("BPR", {})
    assert ranks_unseen_items("CKE", {})  # a KG model: a cold item keeps its entity links
    assert ranks_unseen_items("TextKNN", {}) and ranks_unseen_items("KASimCF", {})
    assert ranks_unseen_items("KASimCF", {"text_weight": 0.0})  # the KG view is still on
    assert not ranks_unseen_items("KASimCF", {"text_weight": 0.0, "knowledge_weight": 0.0})
    assert not ranks_unseen_items("LLMAugRec", {"llm_alpha": 0.0})
    assert not ranks_unseen_items("GFCF", {})
    assert ranks_unseen_items("L3AE", {}) and not ranks_unseen_items("L3AE", {"text_weight": 0.0})


def test_cold_item_table_marks_id_only_rows_and_vacuous_metrics():
    rows = [row("EASE", records=[cold_record(1, [1, 2], 3)]),
            row("TextKNN", records=[cold_record(1, [1, 2], 3)])]
    mark_not_ranked(rows, "cold_item-candidatescold")
    assert rows[0].not_ranked == CANNOT_RANK_UNSEEN and rows[1].not_ranked is None
    assert set(vacuous_metrics(rows)) == {"averagepopularity", "tailpercentage"}
    lines = "\n".join(not_ranked_lines(rows, vacuous_metrics(rows), "NDCG@10"))
    assert "'cannot rank unseen items': EASE" in lines and "Floor: a random order" in lines
    standard = [row("EASE", records=[{**cold_record(1, [1], 3), "protocol": "standard"}])]
    mark_not_ranked(standard, "standard")
    assert standard[0].not_ranked is None and not vacuous_metrics(standard)


def test_random_order_floor_is_exact():
    """Against the formula by hand and a seeded Monte Carlo of random orders."""
    relevant, candidates = [1, 2, 12], 15
    floor = random_order_floor([row("A", records=[cold_record(1, relevant, candidates)])], 10)
    discounts = 1 / np.log2(np.arange(2, 12))
    by_hand = np.mean([r / candidates * discounts.sum() / discounts[:min(r, 10)].sum()
                       for r in relevant])
    assert floor[1]["floor"] == pytest.approx(by_hand)
    rng = np.random.default_rng(0)
    simulated = []
    for r in relevant:
        hits = (rng.random((20000, candidates)).argsort(axis=1) < r)[:, :10]
        simulated.append((hits @ discounts / discounts[:min(r, 10)].sum()).mean())
    assert floor[1]["floor"] == pytest.approx(np.mean(simulated), abs=0.005)


def test_floor_shares_the_rest_among_users_without_a_hit():
    record = cold_record(1, [3, 1, 1], 10)
    record["per_user"]["values"]["recall@20"][1] = 0.0  # u1: no hit anywhere
    record["per_user"]["values"]["precision@20"][1] = 0.0
    (floor,) = random_order_floor([row("A", records=[record])], 10).values()
    full = random_order_floor([row("A", records=[cold_record(1, [3, 1, 1], 10)])], 10)[1]
    assert floor["recovered"] == 2 and floor["floor"] == pytest.approx(full["floor"])


def test_new_users_without_known_items_get_one_labelled_fallback():
    def record(seed):
        return {"seed": seed, "status": "ok", "protocol": "cold_user", "test": {"ndcg@10": 0.1}}

    rows = [row("KASimCF", records=[record(1)]), row("TextKNN", records=[record(1)]),
            row("LLMAugRec", records=[record(1)]), row("Pop", records=[record(1)])]
    mark_not_ranked(rows, "cold_user · 0 known")
    labelled = {r.label for r in rows if r.not_ranked}
    assert labelled == {"KASimCF", "TextKNN"}  # a user text tower reads the profile itself
    assert "profile-text fallback" in rows[0].not_ranked
    mark_not_ranked(rows[2:], "cold_user · 3 known")
    blends = profile_blends(rows, "cold_user · 3 known")
    assert blends["TextKNN"].startswith("fixed 0.5") and "LLMAugRec" not in blends
    rows[1].ok[0]["profile_weight"] = {"weight": 0.25}
    assert profile_blends(rows, "cold_user · 3 known")["TextKNN"] == "0.25 (chosen on validation)"
