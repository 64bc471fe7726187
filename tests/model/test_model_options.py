"""Model-specific behaviour: cold items scored from text, loss / fusion / KG-training options,
fine-tuning the text encoder, and KASimCF against hand-computed neighbourhood scores."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import build_run
from recbole.data.interaction import Interaction
from recbole.utils import KGDataLoaderState
from test_plugin_models import fit_recording_losses

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender.kasimcf import KASimCF
from recbole_llmkg.utils import trainer_for


def cold_items(train_dataset) -> torch.Tensor:
    """Items (not the padding id 0) with no interaction in the training split."""
    counts = np.asarray(train_dataset.inter_matrix(form="csr").sum(axis=0)).ravel()
    cold = np.flatnonzero(counts == 0)
    return torch.as_tensor(cold[cold > 0])


def scores_of(model, users: torch.Tensor) -> torch.Tensor:
    model.eval()
    for cache in ("restore_user_e", "restore_item_e"):
        setattr(model, cache, None)
    with torch.no_grad():
        return model.full_sort_predict(Interaction({model.USER_ID: users})).view(len(users), -1)


# --------------------------------------------------------------------------------- cold items
@pytest.mark.parametrize("name", ["LLMAugRec", "KGLLMGNN"])
def test_cold_items_are_scored_from_text(name, tmp_path):
    config, model, trainer, data = build_run(name, tmp_path, epochs=2)
    trainer.fit(data[0], data[1], saved=False, show_progress=False)
    cold = cold_items(data[0]._dataset)
    assert len(cold) >= 1, "tiny should hold items without training interactions"
    a = int(cold[0])
    b = next(i for i in range(1, model.n_items) if i != a)
    users = torch.arange(1, 11)
    before = scores_of(model, users)
    assert before[:, a].std() > 1e-6  # the cold item's score depends on the user

    with torch.no_grad():
        model.item_text[a] = model.item_text[b]
    after = scores_of(model, users)
    assert not torch.allclose(after[:, a], before[:, a])  # ... and on the item's text
    if name == "LLMAugRec":
        # a cold item has no ID part and no bias: with b's text it scores exactly like b would
        # from its text alone
        with torch.no_grad():
            model.warm_item[b] = 0.0
        assert torch.allclose(after[:, a], scores_of(model, users)[:, b], atol=1e-5)
        with torch.no_grad():
            model.item_embedding.weight[a] += 10.0
            model.item_bias.weight[a] += 10.0
        assert torch.allclose(scores_of(model, users)[:, a], after[:, a], atol=1e-5)


# --------------------------------------------------------------------------------- LLMAugRec
@pytest.mark.parametrize(
    "overrides",
    [
        {"loss_type": "BCE"},
        {"fusion": "concat", "user_text": "profile"},
        {"fusion": "gate", "user_text": "both", "use_bias": False},
        {"user_text": "none", "llm_alpha": 0.5, "adapter_hidden_size": 0},
    ],
)
def test_llmaugrec_options_train(overrides, tmp_path):
    config, model, trainer, data = build_run("LLMAugRec", tmp_path, **overrides)
    losses = fit_recording_losses(trainer, data[0], data[1])
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_llmaugrec_rejects_unknown_loss(tmp_path):
    with pytest.raises(ConfigError, match="loss_type"):
        build_run("LLMAugRec", tmp_path, loss_type="hinge")


def test_llmaugrec_fine_tunes_the_text_encoder(tmp_path):
    config, model, trainer, data = build_run(
        "LLMAugRec", tmp_path, llm_freeze=False, llm_finetune_items=8, epochs=1,
        learning_rate=1e-3,
    )
    assert model.text_model is not None
    first = next(model.text_model.parameters())
    start = first.detach().clone()
    model.train()
    batches = iter(data[0])
    for _ in range(2):  # a couple of steps are enough to see the encoder move
        loss = model.calculate_loss(next(batches))
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
    assert not torch.equal(first.detach(), start)
    assert any(k.startswith("text_model.") for k in model.state_dict())
    scores = scores_of(model, torch.arange(1, 4))
    assert torch.isfinite(scores).all()


# --------------------------------------------------------------------------------- KGLLMGNN
@pytest.mark.parametrize(
    "overrides",
    [
        {"kg_loss": "transr"},
        {"attention": False, "relation_text_init": False, "n_layers": 1},
        {"ckg_reverse_edges": False, "fusion": "gate"},
    ],
)
def test_kgllmgnn_options_train(overrides, tmp_path):
    config, model, trainer, data = build_run("KGLLMGNN", tmp_path, **overrides)
    losses = fit_recording_losses(trainer, data[0], data[1])
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_kgllmgnn_alternate_training_runs_kg_passes(tmp_path):
    config, model, _, data = build_run("KGLLMGNN", tmp_path, kg_training="alternate", epochs=2)
    trainer = trainer_for(type(model))(config, model)
    calls = []
    kg_loss = model.calculate_kg_loss

    def counting(interaction):
        calls.append(len(interaction))
        return kg_loss(interaction)

    model.calculate_kg_loss = counting
    epoch_losses = []
    for epoch in range(2):
        model.train()
        epoch_losses.append(trainer._train_epoch(data[0], epoch))
    assert calls, "the KG pass never called calculate_kg_loss"
    assert all(isinstance(loss, tuple) and len(loss) == 2 for loss in epoch_losses)
    assert epoch_losses[1][0] < epoch_losses[0][0]  # recommendation loss falls
    assert epoch_losses[1][1] < epoch_losses[0][1]  # KG loss falls


def test_kgllmgnn_joint_mode_adds_the_kg_loss(tmp_path):
    config, model, trainer, data = build_run("KGLLMGNN", tmp_path, kg_loss_weight=0.0)
    data[0].set_mode(KGDataLoaderState.RSKG)
    batch = next(iter(data[0]))
    assert model.HEAD_ENTITY_ID in batch
    model.eval()  # no dropout: the three calls see the same embeddings
    without = model.calculate_loss(batch)
    model.kg_loss_weight = 1.0
    with_kg = model.calculate_loss(batch)
    assert torch.allclose(with_kg - without, model.calculate_kg_loss(batch), atol=1e-5)


# --------------------------------------------------------------------------------- KASimCF
#   items:   i1 i2 i3 i4        (id 0 is RecBole's padding item)
X_TOY = np.array([
    [0, 0, 0, 0, 0],  # padding user 0
    [0, 1, 1, 0, 0],  # u1
    [0, 1, 0, 1, 0],  # u2
    [0, 0, 1, 1, 1],  # u3
], dtype=np.float32)


def toy_kasimcf(**params):
    """A KASimCF over the toy matrix, with a stub config and dataset (no files)."""
    n_users, n_items = X_TOY.shape
    text = torch.randn(n_items, 3)
    config = {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "NEG_PREFIX": "neg_",
        "device": torch.device("cpu"), "sim_mode": "item", "behaviour_weight": 1.0,
        "text_weight": 0.0, "knowledge_weight": 0.0, "knn_topk": 10, "shrink": 0.0,
        "chunk_size": 2, "reg_weight": 1.0, "pop_reg_weight": 0.0, **params,
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


def test_kasimcf_rejects_unknown_mode():
    with pytest.raises(ConfigError, match="sim_mode"):
        toy_kasimcf(sim_mode="graph")
