"""Explanations: history items behind a score, KG paths that exist in the files, faithfulness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve.faithfulness import faithfulness, scores_without

TINY = datasets_dir() / "tiny"


def read(suffix: str) -> pd.DataFrame:
    frame = pd.read_csv(TINY / f"tiny.{suffix}", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


@pytest.mark.parametrize("model", ["KASimCF", "LLMAugRec", "KGLLMGNN"])
def test_history_items_are_the_users_training_items(served_recommenders, model):
    rec = served_recommenders(model)
    items = rec.recommend(["4"], k=3)["item"]
    explained = rec.explain("4", items, n_history=3)
    seen = set(rec.item_tokens[rec.family.history_items(int(rec.user_index(["4"])[0]))])
    assert [e["item"] for e in explained] == list(items)
    for entry in explained:
        assert len(entry["history"]) == 3
        assert {h["item"] for h in entry["history"]} <= seen
        weights = [h["weight"] for h in entry["history"]]
        assert weights == sorted(weights, reverse=True)


@pytest.mark.parametrize("model", ["KASimCF", "KGLLMGNN"])
def test_kg_paths_exist_in_the_kg_files(served_recommenders, model):
    rec = served_recommenders(model)
    entity_of = read("link").set_index("item_id")["entity_id"]
    triples = set(map(tuple, read("kg")[["head_id", "relation_id", "tail_id"]].to_numpy()))
    paths = [p for e in rec.explain("1", rec.recommend(["1"], k=5)["item"], n_paths=5)
             for p in e["paths"]]
    assert paths, "tiny's KG links items through shared directors, actors and genres"
    for p in paths:
        assert (entity_of[p["from"]], p["relation_out"], p["entity"]) in triples
        assert (entity_of[p["to"]], p["relation_in"], p["entity"]) in triples
        assert p["from"] != p["to"]


def test_item_weight_contributions_sum_to_the_score(served_recommenders):
    rec = served_recommenders("KASimCF")
    items = rec.item_index(rec.recommend(["6"], k=4)["item"])
    _, share = rec.family.contributions(int(rec.user_index(["6"])[0]), items)
    scores = rec.family.scores(rec.user_index(["6"]))[0, items]
    torch.testing.assert_close(share.sum(dim=0), scores, rtol=1e-4, atol=1e-5)


def test_removal_matches_the_model_scoring_a_shorter_history(served_recommenders):
    """Independent of the explanation code: drop the interaction inside the model and re-score."""
    rec = served_recommenders("KASimCF")
    model = rec.model
    user = int(rec.user_index(["8"])[0])
    history = rec.family.history_items(user)
    expected = scores_without(rec.family, user, history[:1])[0]
    row = model.history_index[user]
    saved = model.history_value[user].clone()
    model.history_value[user] = torch.where(row == int(history[0]), 0.0, saved)
    try:
        actual = model.full_sort_predict({model.USER_ID: torch.tensor([user])})
    finally:
        model.history_value[user] = saved
    torch.testing.assert_close(expected[1:], actual[1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["KASimCF", "LLMAugRec"])
def test_removing_the_top_explaining_item_lowers_the_score_most(served_recommenders, model):
    rec = served_recommenders(model)
    result = faithfulness(rec, rec.all_user_ids, k=5)
    assert result.users >= 40
    assert result.drop_top > result.drop_random
    assert result.drop_top > 0


def test_two_tower_contribution_is_the_leave_one_out_drop(served_recommenders):
    rec = served_recommenders("LLMAugRec")
    user = int(rec.user_index(["2"])[0])
    items = rec.item_index(["5", "9"])
    history, share = rec.family.contributions(user, items)
    drops = rec.family.scores(torch.tensor([user]))[0, items] - \
        scores_without(rec.family, user, history)[:, items]
    np.testing.assert_allclose(share.numpy(), drops.numpy(), rtol=1e-4, atol=1e-6)


def test_graph_model_is_measured_by_propagating_without_the_edge(served_recommenders):
    rec = served_recommenders("KGLLMGNN")
    result = faithfulness(rec, rec.all_user_ids[:5], k=3)  # similarity ranking: measured only
    assert result.users == 5 and np.isfinite([result.drop_top, result.drop_random]).all()
    user = int(rec.user_index(["3"])[0])
    item = rec.family.history_items(user)[:1]
    changed = scores_without(rec.family, user, item)[0]
    assert not torch.allclose(changed, rec.family.scores(torch.tensor([user]))[0])


def test_graph_removal_drops_only_that_users_edges(served_recommenders):
    from recbole_llmkg.serve.faithfulness import graph_without

    model = served_recommenders("KGLLMGNN").model
    before = model.graph.num_edges
    user, item = 3, int(served_recommenders("KGLLMGNN").family.history_items(3)[0])
    smaller = graph_without(model, user, item)
    assert smaller.num_edges == before - 2  # the edge and its reverse
    assert model.graph.num_edges == before  # the model's own graph is untouched


def test_models_that_cannot_explain_say_so(served_recommenders):
    with pytest.raises(ServeError, match=r"Pop cannot explain.*Models that can"):
        served_recommenders("Pop").explain("1", ["10"])


def test_paths_prefer_specific_entities_and_are_not_repeated():
    from types import SimpleNamespace

    from recbole_llmkg.serve.explain import KGPaths

    # items 1..4; entity 10 ("everywhere") links every item, entity 11 only items 1 and 2;
    # relation 2 lists entity 11 -> item again, as ml-100k lists both directions
    kg = pd.DataFrame({"h": [1, 2, 3, 4, 1, 2, 11], "r": [1, 1, 1, 1, 1, 1, 2],
                       "t": [10, 10, 10, 10, 11, 11, 1]})
    dataset = SimpleNamespace(
        kg_feat=kg, head_entity_field="h", relation_field="r", tail_entity_field="t",
        entity_field="e", item_num=5,
        field2id_token={"r": ["[PAD]", "film.genre", "genre.films"],
                        "e": [str(i) for i in range(12)]},
    )
    paths = KGPaths(dataset).paths(np.array([1]), np.array([1.0]), target=2, limit=5)
    assert list(paths["entity"]) == ["11", "10"]  # the rare entity first, each once


def test_paths_follow_the_models_attention_when_it_has_one():
    """With a model's edge weights the path whose two edges the model attends to most comes
    first, even through an entity every item shares."""
    from types import SimpleNamespace

    from recbole_llmkg.serve.explain import EdgeAttention, KGPaths

    kg = pd.DataFrame({"h": [1, 2, 3, 4, 1, 2], "r": [1, 1, 1, 1, 1, 1],
                       "t": [10, 10, 10, 10, 11, 11]})
    dataset = SimpleNamespace(
        kg_feat=kg, head_entity_field="h", relation_field="r", tail_entity_field="t",
        entity_field="e", item_num=5,
        field2id_token={"r": ["[PAD]", "film.genre"], "e": [str(i) for i in range(12)]},
    )
    n_users = 3  # node ids: users 0..2, then entities
    # edges item 1 -> 10, 1 -> 11 (layer 0) and 10 -> 2, 11 -> 2 (layer 1), node ids
    source = np.array([1, 1, 10, 11, 10]) + n_users
    target = np.array([10, 11, 2, 2, 2]) + n_users
    weights = np.array([[0.9, 0.1, 0.5, 0.5, 0.2],   # layer 0
                        [0.5, 0.5, 0.8, 0.2, 0.6]])  # layer 1 (10 -> 2 twice: max 0.8)
    attention = EdgeAttention(source, target, weights, n_users)
    paths = KGPaths(dataset).paths(np.array([1]), np.array([1.0]), 2, 5, attention)
    assert list(paths["entity"]) == ["10", "11"]  # 0.9 * 0.8 beats 0.1 * 0.2
    np.testing.assert_allclose(paths["attention"], [0.72, 0.02])
    assert attention.edge(0, np.array([4]), np.array([2]))[0] == 0.0  # no such edge


def test_kgllmgnn_paths_carry_its_attention(served_recommenders):
    rec = served_recommenders("KGLLMGNN")
    source, target, weights = rec.model.propagation_edge_weights()
    assert weights.shape == (rec.model.n_layers, source.shape[0])
    # attention is a softmax per target node: its weights into every node sum to 1
    sums = torch.zeros(rec.model.n_nodes).index_add_(0, target, weights[0])
    has_edges = torch.bincount(target, minlength=rec.model.n_nodes) > 0
    torch.testing.assert_close(sums[has_edges], torch.ones(int(has_edges.sum())))
    paths = [p for e in rec.explain("1", rec.recommend(["1"], k=5)["item"], n_paths=5)
             for p in e["paths"]]
    assert paths and all(0.0 <= p["attention"] <= 1.0 for p in paths)
