"""Content kNN baselines: neighbourhoods and scores against hand-computed and brute-force values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_run

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender.content_knn import content_neighbourhood

# row 0 is RecBole's padding item; cos(1,2) = 0.6, cos(1,3) = 0, cos(2,3) = 0.8
TOY = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 4.0], [0.0, 1.0]])


def test_neighbourhood_and_scores_by_hand():
    s = content_neighbourhood(TOY, topk=2, shrink=0.0, power=2.0, chunk_size=2).to_dense()
    expected = torch.tensor([
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.36, 0.0],    # item 1: neighbours 2 (0.6^2) and 3 (0)
        [0.0, 0.36, 0.0, 0.64],   # item 2: neighbours 3 (0.8^2) and 1 (0.6^2)
        [0.0, 0.0, 0.64, 0.0],    # item 3: neighbours 2 (0.8^2) and 1 (0)
    ])
    assert torch.allclose(s, expected, atol=1e-6)
    history = torch.tensor([[0.0, 1.0, 0.0, 1.0]])  # a user who had items 1 and 3
    assert torch.allclose(history @ s.T, torch.tensor([[0.0, 0.0, 0.36 + 0.64, 0.0]]), atol=1e-6)
    top1 = content_neighbourhood(TOY, topk=1, shrink=1.0, power=1.0, chunk_size=8).to_dense()
    assert top1[2, 3] == pytest.approx(4.0 / (5.0 + 1.0)) and top1[2, 1] == 0


def _brute_force_scores(content: np.ndarray, history: np.ndarray, k: int, power: float):
    norms = np.linalg.norm(content, axis=1)
    sim = content @ content.T / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sim, -np.inf)
    kept = np.zeros_like(sim)
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(sim))[:, None]
    kept[rows, top] = np.maximum(sim[rows, top], 0) ** power
    return history @ kept.T


@pytest.mark.parametrize("name", ["TextKNN", "KGKNN"])
def test_full_sort_scores_equal_brute_force(name, tmp_path):
    config, model, _, (train, _, test) = build_run(
        name, tmp_path, knn_topk=5, power=2.0, shrink=0.0, llm_cache_dir=str(tmp_path / "cache"))
    dataset = train._dataset
    if name == "TextKNN":
        content = dataset.item_text_embeddings().double().numpy()
    else:
        content = dataset.item_knowledge_profile().to_dense().double().numpy()
    history = dataset.inter_matrix(form="csr").toarray().astype(np.float64)
    users = torch.arange(1, dataset.user_num)
    with torch.no_grad():
        got = model.full_sort_predict({model.USER_ID: users}).view(len(users), -1).numpy()
    expected = _brute_force_scores(content, history, 5, 2.0)[1:]
    assert np.allclose(got, expected, atol=1e-4)
    # items nobody trained on still get scores from their content neighbours
    cold = np.flatnonzero(history.sum(axis=0) == 0)[1:]  # skip the padding item
    if name == "TextKNN" and len(cold):
        assert (got[:, cold] > 0).any()


def test_bad_hyperparameters_are_named(tmp_path):
    with pytest.raises(ConfigError, match="knn_topk"):
        build_run("TextKNN", tmp_path, knn_topk=0, llm_cache_dir=str(tmp_path / "cache"))


def test_text_and_kg_knn_mixes_the_two_cosines(tmp_path):
    """TextKGKNN's neighbourhood is (1 - b) cos_text + b cos_kg, by brute force (an item
    without KG entities has cos_kg 0); b = 0 is TextKNN's text cosine."""
    def cos(x):
        norms = np.linalg.norm(x, axis=1)
        return x @ x.T / np.maximum(np.outer(norms, norms), 1e-12)

    for share in (0.3, 0.0):
        _, model, _, (train, _, _) = build_run(
            "TextKGKNN", tmp_path, knn_topk=1000, power=1.0, shrink=0.0, knowledge_share=share,
            llm_cache_dir=str(tmp_path / "cache"))
        dataset = train._dataset
        text = dataset.item_text_embeddings().double().numpy()
        kg = dataset.item_knowledge_profile().to_dense().double().numpy()
        expected = (1 - share) * cos(text) + share * cos(kg)
        got = model._similarity().to_dense().double().numpy()
        off = ~np.eye(len(text), dtype=bool)
        off[0, :] = off[:, 0] = False  # the padding item
        assert np.allclose(got[off], np.maximum(expected[off], 0), atol=1e-5)
        if share:
            assert (np.linalg.norm(kg[1:], axis=1) == 0).any()  # tiny has items without KG
    with pytest.raises(ConfigError, match="knowledge_share"):
        build_run("TextKGKNN", tmp_path, knowledge_share=1.5,
                  llm_cache_dir=str(tmp_path / "cache"))
