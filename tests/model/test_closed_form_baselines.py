"""GF-CF and L3AE: their equations by hand on toy matrices, and each beats Pop on tiny."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import build_run

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender.gfcf import ideal_low_pass, normalised_interactions
from recbole_llmkg.model.general_recommender.l3ae import l3ae_weights, zero_diagonal_closed_form

TOY = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 0]], float)


def test_gfcf_linear_filter_by_hand():
    """alpha = 0: R~^T R~ with R~ = D_U^-1/2 R D_I^-1/2, written out element by element."""
    du, di = TOY.sum(1), TOY.sum(0)
    by_hand = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            by_hand[i, j] = sum(TOY[u, i] * TOY[u, j] / du[u] for u in range(5)) \
                / np.sqrt(di[i] * di[j])
    normalised = normalised_interactions(sp.csr_matrix(TOY))
    assert np.allclose((normalised.T @ normalised).toarray(), by_hand)


def test_gfcf_ideal_filter_is_the_degree_scaled_projection():
    normalised = normalised_interactions(sp.csr_matrix(TOY))
    _, _, vt = np.linalg.svd(normalised.toarray())
    d = TOY.sum(0)
    expected = np.diag(d ** -0.5) @ vt[:2].T @ vt[:2] @ np.diag(d ** 0.5)
    assert np.allclose(ideal_low_pass(normalised, d, 2), expected, atol=1e-8)


def test_l3ae_without_the_text_pull_is_ease():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.3).astype(float)
    embeddings = rng.normal(size=(8, 5))
    _, ease = zero_diagonal_closed_form(x.T @ x, 10.0)
    assert np.allclose(l3ae_weights(x, embeddings, 10.0, 1.0, 0.0), ease)
    # EASE's defining property: diag(B) = 0 and (G + lambda I) B = G - diag(mu) off the diagonal
    assert np.allclose(np.diag(ease), 0)


def test_l3ae_solves_its_objective():
    """The closed form is the constrained minimiser: its gradient vanishes off the diagonal."""
    rng = np.random.default_rng(1)
    x = (rng.random((40, 6)) < 0.4).astype(float)
    f = rng.normal(size=(6, 4))
    _, s = zero_diagonal_closed_form(f @ f.T, 0.5)
    b = l3ae_weights(x, f, 3.0, 0.5, 2.0)
    gradient = -x.T @ (x - x @ b) + 3.0 * b + 2.0 * (b - s)
    off = ~np.eye(6, dtype=bool)
    assert np.allclose(np.diag(b), 0) and np.allclose(gradient[off], 0, atol=1e-9)
    # an item with no interaction still gets weights from the text pull
    x[:, 2] = 0
    assert np.abs(l3ae_weights(x, f, 3.0, 0.5, 2.0)[:, 2]).sum() > 0


def _test_ndcg(name, tmp_path, **overrides):
    from recbole_llmkg.config import Config
    from recbole_llmkg.quick_start import run

    config = Config(name, "tiny", config_dict={
        "epochs": 1, "use_gpu": False, "state": "ERROR",
        "checkpoint_dir": str(tmp_path / "saved"), **overrides}, cmd_args=[])
    return run(config, saved=False)["test_result"]["ndcg@10"]


@pytest.mark.parametrize("name,overrides", [("GFCF", {"ideal_dim": 8}), ("L3AE", {})])
def test_beats_pop_on_tiny(name, overrides, tmp_path):
    ours = _test_ndcg(name, tmp_path, llm_cache_dir=str(tmp_path / "cache"), **overrides)
    assert ours > _test_ndcg("Pop", tmp_path)


def test_full_sort_equals_history_times_weights(tmp_path):
    _, model, _, (train, _, _) = build_run("GFCF", tmp_path, ideal_dim=4, alpha=0.5)
    history = train._dataset.inter_matrix(form="csr").toarray()
    users = torch.arange(1, train._dataset.user_num)
    with torch.no_grad():
        got = model.full_sort_predict({model.USER_ID: users}).view(len(users), -1).numpy()
    assert np.allclose(got, history[1:] @ model.item_weights.numpy(), atol=1e-4)


def test_bad_hyperparameters_are_named(tmp_path):
    with pytest.raises(ConfigError, match="alpha"):
        build_run("GFCF", tmp_path, alpha=-1.0)
    with pytest.raises(ConfigError, match="text_weight"):
        build_run("L3AE", tmp_path, text_weight=-1.0, llm_cache_dir=str(tmp_path / "cache"))
