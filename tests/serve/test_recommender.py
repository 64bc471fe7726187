"""Recommender: top-k ids and titles, seen items left out, batches, fold-in of new users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve import Recommender

TINY = datasets_dir() / "tiny"


def tiny_frame(suffix: str) -> pd.DataFrame:
    frame = pd.read_csv(TINY / f"tiny.{suffix}", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def training_items(rec: Recommender, user: str) -> set[str]:
    internal = int(rec.user_index([user])[0])
    return set(rec.item_tokens[rec.family.history_items(internal)])


@pytest.mark.parametrize("model", ["KASimCF", "LLMAugRec", "KGLLMGNN", "BPR", "Pop"])
def test_top_k_are_titled_unseen_dataset_items(served_recommenders, model):
    rec = served_recommenders(model)
    frame = rec.recommend(["1", "2"], k=5)
    assert list(frame.columns) == ["user", "rank", "item", "title", "score"]
    assert list(frame["user"]) == ["1"] * 5 + ["2"] * 5
    assert list(frame["rank"]) == [1, 2, 3, 4, 5] * 2
    titles = tiny_frame("item").set_index("item_id")["movie_title"]
    assert list(frame["title"]) == list(titles[frame["item"]])
    for user, group in frame.groupby("user"):
        assert not set(group["item"]) & training_items(rec, user)
        assert group["score"].is_monotonic_decreasing
        assert group["item"].is_unique


def test_scores_are_the_models_own_ranking(served_recommenders):
    rec = served_recommenders("LLMAugRec")
    frame = rec.recommend(["3"], k=3, include_seen=True)
    scores = rec.model.full_sort_predict(
        {rec.model.USER_ID: rec.user_index(["3"])}).detach()
    scores[0] = -torch.inf
    top = scores.topk(3).indices.numpy()
    assert list(frame["item"]) == list(rec.item_tokens[top])


def test_include_seen_keeps_training_items(served_recommenders):
    rec = served_recommenders("KASimCF")
    k = len(training_items(rec, "1")) + 5
    assert set(rec.recommend(["1"], k=k, include_seen=True)["item"]) & training_items(rec, "1")


def test_all_users_in_batches_match_one_by_one(served_recommenders, monkeypatch):
    rec = served_recommenders("KASimCF")
    monkeypatch.setattr("recbole_llmkg.serve.recommender.USER_BATCH", 7)
    everyone = rec.recommend(rec.all_user_ids, k=3)
    assert everyone["user"].nunique() == len(tiny_frame("user"))
    single = rec.recommend(["17"], k=3)
    assert list(everyone[everyone["user"] == "17"]["item"]) == list(single["item"])


def test_item_weight_fold_in_of_a_users_history_equals_the_users_scores(served_recommenders):
    rec = served_recommenders("KASimCF")
    user = int(rec.user_index(["5"])[0])
    liked = torch.as_tensor(rec.family.history_items(user))
    folded = rec.family.fold_in_scores(liked, None)
    torch.testing.assert_close(folded[1:], rec.family.scores(torch.tensor([user]))[0, 1:],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["KASimCF", "LLMAugRec", "KGLLMGNN", "BPR"])
def test_new_user_from_liked_items(served_recommenders, model):
    rec = served_recommenders(model)
    frame = rec.recommend_new_user(liked=["10", "21", "57"], k=5)
    assert len(frame) == 5 and set(frame["user"]) == {"new"}
    assert not set(frame["item"]) & {"10", "21", "57"}
    other = rec.recommend_new_user(liked=["1", "2", "3"], k=5)
    assert list(frame["item"]) != list(other["item"])  # the liked items matter


@pytest.mark.parametrize("model", ["LLMAugRec", "KASimCF"])
def test_new_user_from_profile_text(served_recommenders, model):
    rec = served_recommenders(model)
    frame = rec.recommend_new_user(profile="likes science fiction", k=5)
    assert len(frame) == 5 and frame["score"].is_monotonic_decreasing
    both = rec.recommend_new_user(liked=["10"], profile="likes science fiction", k=5)
    assert "10" not in set(both["item"])


def test_profile_only_fold_in_reads_the_item_texts(served_recommenders):
    rec = served_recommenders("KASimCF")
    title = tiny_frame("item").set_index("item_id")["movie_title"]["37"]
    frame = rec.recommend_new_user(profile=title, k=1)
    assert frame["title"].iloc[0] == title


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_k_below_one_is_refused(served_recommenders, bad):
    with pytest.raises(ServeError, match="k must be"):
        served_recommenders("BPR").recommend(["1"], k=bad)


def test_unknown_user_and_item_ids_are_named(served_recommenders):
    rec = served_recommenders("BPR")
    with pytest.raises(ServeError, match=r"Unknown user id '9999'.*tiny.*50 users"):
        rec.recommend(["1", "9999"], k=3)
    with pytest.raises(ServeError, match=r"Unknown item id 'x1'"):
        rec.recommend_new_user(liked=["10", "x1"])


def test_model_without_fold_in_says_which_can(served_recommenders):
    with pytest.raises(ServeError, match=r"Pop cannot fold in.*KASimCF"):
        served_recommenders("Pop").recommend_new_user(liked=["10"])


def test_new_user_needs_something(served_recommenders):
    with pytest.raises(ServeError, match="--liked"):
        served_recommenders("BPR").recommend_new_user()


def test_seen_items_are_the_training_split(served_recommenders):
    rec = served_recommenders("BPR")
    inter = tiny_frame("inter")
    user_all = set(inter[inter["user_id"] == "1"]["item_id"])
    seen = training_items(rec, "1")
    assert seen and seen < user_all  # valid/test items are not "seen"
    assert np.isin(list(seen), list(user_all)).all()
