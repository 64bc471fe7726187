"""KASimCF: neighbourhood and closed-form scores against hand-computed ones, and the closed
form's memory guard."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from recbole.data.interaction import Interaction

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender import kasimcf
from recbole_llmkg.model.general_recommender.kasimcf import KASimCF
from recbole_llmkg.model.layers import similarity

# --------------------------------------------------------------------------------- KASimCF
#   items:   i1 i2 i3 i4        (id 0 is RecBole's padding item)
X_TOY = np.array([
    [0, 0, 0, 0, 0],  # padding user 0
    [0, 1, 1, 0, 0],  # u1
    [0, 1, 0, 1, 0],  # u2
    [0, 0, 1, 1, 1],  # u3
], dtype=np.float32)


TOY_TEXT = [torch.randn(X_TOY.shape[1], 3, generator=torch.Generator().manual_seed(0))]


def toy_kasimcf(**params):
    """A KASimCF over the toy matrix, with a stub config and dataset (no files)."""
    n_users, n_items = X_TOY.shape
    text = TOY_TEXT[0]
    config = {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "NEG_PREFIX": "neg_",
        "device": torch.device("cpu"), "sim_mode": "item", "behaviour_weight": 1.0,
        "text_weight": 0.0, "knowledge_weight": 0.0, "knn_topk": 10, "shrink": 0.0,
        "chunk_size": 2, "reg_weight": 1.0, "pop_reg_weight": 0.0, "closed_form_max_gib": None,
        **params,
    }
    dataset = SimpleNamespace(
        num=lambda field: n_users if field == "user_id" else n_items,
        inter_matrix=lambda form="csr": sp.csr_matrix(X_TOY),
        item_text_embeddings=lambda: text,
        user_text_embeddings=lambda: torch.randn(n_users, 3),
        item_knowledge_profile=lambda: torch.eye(n_items).to_sparse(),
        user_knowledge_profile=lambda: torch.randn(n_users, 4).abs().to_sparse(),
    )
    return KASimCF(config, dataset)


def toy_scores(model, users=(1, 2, 3)):
    with torch.no_grad():
        out = model.full_sort_predict(Interaction({"user_id": torch.tensor(users)}))
    return out.view(len(users), -1)


def test_kasimcf_item_mode_without_side_views_is_cosine_item_knn():
    # item columns: i1=(1,1,0) i2=(1,0,1) i3=(0,1,1) i4=(0,0,1); |i1|=|i2|=|i3|=sqrt2, |i4|=1
    # cos(i1,i2)=cos(i1,i3)=cos(i2,i3)=1/2, cos(i1,i4)=0, cos(i2,i4)=cos(i3,i4)=1/sqrt2
    r = 1 / math.sqrt(2)
    # score(u, k) = sum_{j != k} x_uj cos(j, k)
    expected = torch.tensor([
        [0, 0.5, 0.5, 1.0, r],  # u1 has i1, i2
        [0, 0.5, 1.0, 0.5, r],  # u2 has i1, i3
        [0, 1.0, 0.5 + r, 0.5 + r, 2 * r],  # u3 has i2, i3, i4
    ])
    model = toy_kasimcf(text_weight=0.0, knowledge_weight=0.0)
    assert torch.allclose(toy_scores(model), expected, atol=1e-6)


def test_kasimcf_user_mode_without_side_views_is_cosine_user_knn():
    # users: u1=(1,1,0,0) u2=(1,0,1,0) u3=(0,1,1,1); cos(u1,u2)=1/2, cos(u1,u3)=cos(u2,u3)=1/sqrt6
    s = 1 / math.sqrt(6)
    expected = torch.tensor([
        [0, 0.5, s, 0.5 + s, s],  # u1 = 1/2 u2 + s u3
        [0, 0.5, 0.5 + s, s, s],  # u2 = 1/2 u1 + s u3
        [0, 2 * s, s, s, 0],  # u3 = s u1 + s u2
    ])
    model = toy_kasimcf(sim_mode="user")
    assert torch.allclose(toy_scores(model), expected, atol=1e-6)


def test_kasimcf_topk_keeps_the_nearest_neighbour_only():
    model = toy_kasimcf(knn_topk=1)
    # nearest neighbour of i4 is i2 or i3 (1/sqrt2); of i1, i2 or i3 (1/2): one each
    assert (model.neighbour_value[1:] > 0).all() and model.neighbour_index.shape[1] == 1
    assert int(model.neighbour_index[4, 0]) in (2, 3)


def test_kasimcf_text_view_changes_the_similarity():
    plain = toy_kasimcf()
    blended = toy_kasimcf(text_weight=1.0, knowledge_weight=1.0)
    assert not torch.allclose(toy_scores(plain), toy_scores(blended))


def test_kasimcf_closed_form_without_side_views_is_ease():
    reg = 1.0
    model = toy_kasimcf(sim_mode="closed_form", reg_weight=reg)
    gram = X_TOY.T @ X_TOY + reg * np.eye(X_TOY.shape[1])
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    expected = torch.from_numpy((X_TOY[1:] @ b).astype(np.float32))
    assert torch.allclose(toy_scores(model), expected, atol=1e-5)


def test_kasimcf_rejects_unknown_mode(tiny_config):
    """The rule sits in KASimCF's YAML (value_rules) and is checked when the config is built."""
    from recbole_llmkg.config import Config

    with pytest.raises(ConfigError, match="sim_mode.*graph.*item"):
        Config("KASimCF", "tiny", config_dict=tiny_config(sim_mode="graph"), cmd_args=[])


def test_kasimcf_closed_form_with_side_views_matches_a_float64_solve():
    model = toy_kasimcf(sim_mode="closed_form", text_weight=2.0, knowledge_weight=3.0,
                        reg_weight=0.5, pop_reg_weight=0.1)
    text = TOY_TEXT[0].double().numpy()
    x = X_TOY.astype(np.float64)
    gram = x.T @ x + 2.0 * text @ text.T + 3.0 * np.eye(X_TOY.shape[1])
    gram += np.diag(0.5 + 0.1 * np.diag(gram))
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    assert np.allclose(model.item_weights.numpy(), b, atol=1e-5)


def test_kasimcf_closed_form_refuses_over_its_memory_limit_before_allocating(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the closed form was built")

    monkeypatch.setattr(kasimcf, "closed_form_weights", must_not_run)
    need = similarity.closed_form_bytes(X_TOY.shape[1], 2)
    with pytest.raises(ConfigError) as err:
        toy_kasimcf(sim_mode="closed_form", closed_form_max_gib=need / 2**30 / 2)
    message = str(err.value)
    assert f"{need / 2**30:.2f} GiB" in message and "closed_form_max_gib" in message
    assert "sim_mode: item" in message


def test_kasimcf_closed_form_default_limit_is_a_share_of_available_memory(monkeypatch):
    monkeypatch.setattr(similarity, "available_memory_bytes", lambda: 100)
    with pytest.raises(ConfigError, match="80% of the memory available"):
        toy_kasimcf(sim_mode="closed_form")
    monkeypatch.setattr(similarity, "available_memory_bytes", lambda: 2**30)
    assert toy_kasimcf(sim_mode="closed_form").item_weights.shape == (5, 5)
