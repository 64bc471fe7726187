"""The cold-user protocol on tiny: held-out users never train, fold-in from their first items."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, cpu_config

from recbole_llmkg.benchmark.cold_user import (
    PROFILE_WEIGHTS,
    choose_profile_weight,
    cold_user_table,
    held_out_histories,
    profile_texts,
    serve_cold_user,
    train_recommender,
    valid_histories,
)
from recbole_llmkg.benchmark.splits import cold_user_parts, write_cold_user_split
from recbole_llmkg.errors import DataError

TINY = REPO_ROOT / "datasets" / "tiny"


def read_part(split, part: str) -> pd.DataFrame:
    frame = pd.read_csv(Path(split.data_path) / "tiny" / f"tiny.{part}.inter", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_cold_user_split(TINY, "tiny", seed=2020, data_root=tmp_path_factory.mktemp("s"))


def test_held_out_users_are_in_no_training_or_valid_file(split):
    source = read_part(split, "train"), read_part(split, "valid"), read_part(split, "test")
    train, valid, test = source
    cold = set(test["user_id"])
    assert len(cold) == round(0.1 * 50)
    assert not cold & set(train["user_id"]) and not cold & set(valid["user_id"])
    everything = pd.read_csv(TINY / "tiny.inter", sep="\t", dtype=str)
    assert len(train) + len(valid) + len(test) == len(everything)
    held = everything[everything.iloc[:, 0].isin(cold)]
    assert len(held) == len(test)  # every row of a held-out user is in test


def test_split_is_seeded_and_refuses_a_useless_fraction():
    users = np.repeat(np.arange(20).astype(str), 3)
    a, cold_a = cold_user_parts(users, 0.1, seed=1)
    b, cold_b = cold_user_parts(users, 0.1, seed=1)
    assert cold_a == cold_b and (a == b).all()
    assert cold_user_parts(users, 0.1, seed=2)[1] != cold_a or len(cold_a) == 0
    with pytest.raises(DataError, match="cold_fraction 1.0"):
        cold_user_parts(users, 1.0, seed=1)


def test_known_items_are_the_earliest_by_timestamp(split):
    histories = held_out_histories(split)
    test = read_part(split, "test").astype({"timestamp": float})
    for user, rows in histories.groupby("user"):
        stamps = test[test["user_id"] == user].set_index("item_id")["timestamp"]
        ordered = stamps.loc[rows.sort_values("position")["item"]].to_numpy()
        assert len(ordered) == len(stamps)
        assert (np.diff(ordered) >= 0).all() and ordered[0] == stamps.min()


@pytest.fixture(scope="module")
def recommenders(split, tmp_path_factory, embedding_cache_home):
    folder = tmp_path_factory.mktemp("cold_runs")
    overrides = {**cpu_config(folder, epochs=2), "state": "ERROR"}
    return {m: train_recommender(m, split, overrides)
            for m in ("Pop", "EASE", "TextKNN", "NeuMF")}


def test_table_has_every_model_and_n(split, recommenders):
    table = cold_user_table(recommenders, held_out_histories(split))
    assert sorted(zip(table["model"], table["n"], strict=True)) == sorted(
        (m, n) for m in recommenders for n in (0, 1, 3, 5))
    ok = table[table["status"] == "ok"]
    assert ok["users"].gt(0).all()
    assert ok["ndcg@10"].between(0, 1).all() and ok["recall@10"].between(0, 1).all()
    pop = table[table["model"] == "Pop"]
    assert (pop["status"] == "ok").all()  # popularity serves every n
    text = table[table["model"] == "TextKNN"]
    assert (text["status"] == "ok").all()  # profile text at n = 0, liked items' text after


def test_model_that_cannot_fold_in_is_reported(split, recommenders):
    table = cold_user_table({"NeuMF": recommenders["NeuMF"], "EASE": recommenders["EASE"]},
                            held_out_histories(split))
    neumf = table[table["model"] == "NeuMF"]
    assert neumf["status"].str.contains("cannot fold in").all()
    assert neumf["ndcg@10"].map(math.isnan).all()
    ease = table[table["model"] == "EASE"].set_index("n")
    assert "at least one known item" in ease.loc[0, "status"]
    assert (ease.loc[[1, 3, 5], "status"] == "ok").all()


def test_known_items_are_never_recommended_nor_targets(split, recommenders, monkeypatch):
    histories = held_out_histories(split)
    user = histories["user"].iloc[0]
    liked = histories[(histories["user"] == user) & (histories["position"] < 3)]["item"].tolist()
    top = serve_cold_user(recommenders["Pop"], liked, None, k=10)
    assert not set(top) & set(liked)

    # a model that recommends exactly a user's known items scores zero: they are not targets
    import recbole_llmkg.benchmark.cold_user as cold_user

    def known_back(recommender, liked, profile, k=10, profile_weight=0.5):
        return list(liked)[:k] + ["__none__"] * (k - len(liked[:k]))

    monkeypatch.setattr(cold_user, "serve_cold_user", known_back)
    table = cold_user.cold_user_table({"Pop": recommenders["Pop"]}, histories, ns=(1, 3, 5))
    assert (table["ndcg@10"] == 0).all() and (table["users"] > 0).all()


def test_text_knn_fold_in_scores_as_the_model_scores_a_known_user(split, tmp_path):
    import torch

    from recbole_llmkg.benchmark.cold_user import fold_in_family

    # few neighbours: the neighbourhood is not symmetric, so its direction matters
    rec = train_recommender("TextKNN", split, {**cpu_config(tmp_path), "state": "ERROR",
                                               "knn_topk": 3})
    user = 3
    history = torch.as_tensor(rec.family.history_items(user))
    folded = fold_in_family(rec).fold_in_scores(history, None)
    batch = torch.tensor([user])
    expected = rec.model.full_sort_predict({rec.model.USER_ID: batch}).view(-1)
    assert torch.allclose(folded, expected, atol=1e-5)


def test_profile_blend_weight_is_chosen_on_validation_users_only(split, recommenders):
    """Warm users' first training items and valid items choose the weight: no held-out (test)
    user is read; weight 0 is fold-in alone; a model that blends nothing gets None."""
    histories = valid_histories(split, users=20)
    held_out = set(read_part(split, "test")["user_id"])
    assert not set(histories["user"]) & held_out
    assert histories.groupby("user")["position"].min().eq(0).all()
    valid = read_part(split, "valid")
    targets = histories[histories["position"] >= 5]
    assert set(zip(targets["user"], targets["item"], strict=True)) <= set(
        zip(valid["user_id"], valid["item_id"], strict=True))
    text_knn = recommenders["TextKNN"]
    chosen = choose_profile_weight(text_knn, histories)
    assert chosen["weight"] in PROFILE_WEIGHTS
    assert set(chosen["valid_ndcg@10"]) == {str(float(w)) for w in PROFILE_WEIGHTS}
    best = max(chosen["valid_ndcg@10"].values())
    assert chosen["valid_ndcg@10"][str(chosen["weight"])] == best
    assert choose_profile_weight(recommenders["Pop"], histories) is None
    user, profile = next(iter(profile_texts(text_knn).items()))
    liked = histories[histories["position"] < 3]["item"].head(3).tolist()
    assert serve_cold_user(text_knn, liked, profile, 10, 0.0) == \
        serve_cold_user(text_knn, liked, None, 10)  # weight 0: the profile changes nothing
