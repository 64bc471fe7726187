"""Model-specific behaviour: cold items scored from text, loss / fusion / KG-training options,
and fine-tuning the text encoder (KASimCF's are in test_kasimcf.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import build_run
from recbole.data.interaction import Interaction
from recbole.utils import KGDataLoaderState
from test_plugin_models import fit_recording_losses

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.registry import trainer_for


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
@pytest.mark.parametrize("name, overrides", [("LLMAugRec", {"n_layers": 0}), ("LLMAugRec", {}),
                                             ("KGLLMGNN", {})])
def test_cold_items_are_scored_from_text(name, overrides, tmp_path):
    config, model, trainer, data = build_run(name, tmp_path, epochs=2, **overrides)
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
    if name == "LLMAugRec" and not model.n_layers:
        # a cold item has no ID part and no bias: with b's text it scores exactly like b would
        # from its text alone (with graph smoothing b's neighbours change its vector too)
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
        {"text_rank": 8, "user_text": "both", "adapter_hidden_size": 16},
        {"text_rank": 0, "adapter_hidden_size": 256},
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
        {"text_rank": 8},
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


def test_item_ids_off_scores_items_from_text_alone(tmp_path):
    """``item_ids: False``: two items with the same text get the same score for every user,
    whatever their IDs learned (the "IDs off" ablation; without graph smoothing, which tells
    items apart by their neighbours)."""
    config, model, trainer, data = build_run("LLMAugRec", tmp_path, item_ids=False, n_layers=0)
    trainer.fit(data[0], data[1], saved=False, show_progress=False)
    model.eval()
    with torch.no_grad():
        model.item_text[2] = model.item_text[1]
        model.clear_evaluation_cache()
        scores = scores_of(model, torch.arange(1, 11))
    assert torch.allclose(scores[:, 1], scores[:, 2])
    assert scores[:, 1].std() > 1e-6


def test_kgllmgnn_kg_off_propagates_over_interactions_only(tmp_path):
    on = build_run("KGLLMGNN", tmp_path / "on")[1]
    config, off, trainer, data = build_run("KGLLMGNN", tmp_path / "off", use_kg=False)
    ui = data[0]._dataset.relation_num - 1
    kept = set(off.graph.pair_relation.tolist())
    assert kept <= {ui, ui + data[0]._dataset.relation_num}
    assert off.graph.num_edges < on.graph.num_edges
    losses = fit_recording_losses(trainer, data[0], data[1])
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_llmaugrec_folds_a_training_user_back_to_its_own_vector(tmp_path):
    """With graph smoothing, folding in a user's own ego vector and history reproduces its final
    vector exactly (the graph is unchanged): the fold-in a new user gets is LightGCN's own."""
    config, model, trainer, data = build_run("LLMAugRec", tmp_path, epochs=1, n_layers=2)
    trainer.fit(data[0], data[1], saved=False, show_progress=False)
    model.eval()
    history = data[0]._dataset.inter_matrix(form="csr")
    with torch.no_grad():
        for user in (1, 2, 3):
            items = torch.as_tensor(history[user].indices, dtype=torch.long)
            ego = model.user_ego(torch.tensor([user]))
            folded = model.fold_in_user(ego, items)
            assert torch.allclose(folded, model.user_representation()[user], atol=1e-5)
