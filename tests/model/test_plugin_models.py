"""Every plugin model, found through the registry: trains on ``tiny``, evaluates, reloads.

Parametrised over :func:`recbole_llmkg.registry.own_models`, so a new model file is tested without
editing this module.
"""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import build_run
from recbole.utils import ModelType, init_seed

from recbole_llmkg.checkpoint import load_checkpoint
from recbole_llmkg.registry import own_models

MODELS = sorted(own_models())


def fit_recording_losses(trainer, train_data, valid_data):
    """``trainer.fit`` with every epoch's training loss recorded (sum over tuple losses)."""
    losses = []
    train_epoch = trainer._train_epoch

    def recording(*args, **kwargs):
        loss = train_epoch(*args, **kwargs)
        losses.append(sum(loss) if isinstance(loss, tuple) else float(loss))
        return loss

    trainer._train_epoch = recording
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    return losses


def full_scores(model, test_data):
    """Full-ranking scores ``[n_users_in_batch, n_items]`` of the first test batch."""
    model.eval()
    interaction = next(iter(test_data))[0].to(model.device)
    with torch.no_grad():
        return model.full_sort_predict(interaction).view(len(interaction), -1).clone()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run per model, shared by the tests below."""
    runs = {}

    def get(name):
        if name not in runs:
            tmp = tmp_path_factory.mktemp(name)
            saved_argv = sys.argv
            sys.argv = ["pytest"]
            try:
                config, model, trainer, data = build_run(name, tmp)
                losses = fit_recording_losses(trainer, data[0], data[1])
                test_result = trainer.evaluate(data[2], load_best_model=True)
            finally:
                sys.argv = saved_argv
            runs[name] = (config, model, trainer, data, losses, test_result, tmp)
        return runs[name]

    return get


def test_registry_finds_the_three_models():
    assert {"LLMAugRec", "KGLLMGNN", "KASimCF"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_trains_with_falling_loss_and_valid_metrics(name, trained):
    config, model, trainer, data, losses, test_result, _ = trained(name)
    if model.type == ModelType.TRADITIONAL:
        # closed-form model: RecBole's TraditionalTrainer runs exactly one (no-op) epoch
        assert trainer.epochs == 1 and len(losses) == 1
    else:
        assert len(losses) == 2
        assert losses[-1] < losses[0], f"{name} loss did not fall: {losses}"
    assert test_result, "no test metrics"
    for metric, value in test_result.items():
        assert 0.0 <= float(value) <= 1.0, f"{metric}={value}"


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_reload_gives_identical_scores(name, trained, tmp_path):
    config, model, trainer, data, *_ = trained(name)
    expected = full_scores(model, data[2])  # the best model, reloaded by trainer.evaluate

    # a fresh model with different initial weights, loaded from the checkpoint
    init_seed(config["seed"] + 1, config["reproducibility"])
    fresh = config.model_class(config, data[0]._dataset).to(config["device"])
    checkpoint = load_checkpoint(trainer.saved_model_file)  # the safe loader takes our own
    fresh.load_state_dict(checkpoint["state_dict"])
    fresh.load_other_parameter(checkpoint.get("other_parameter"))
    assert torch.allclose(full_scores(fresh, data[2]), expected, atol=1e-5)

    # and the cached evaluation embeddings equal a recomputation from the weights
    for cache in ("restore_user_e", "restore_item_e"):
        if hasattr(fresh, cache):
            setattr(fresh, cache, None)
    assert torch.allclose(full_scores(fresh, data[2]), expected, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_predict_agrees_with_full_sort_predict(name, trained):
    config, model, trainer, data, *_ = trained(name)
    model.eval()
    interaction = next(iter(data[2]))[0].to(model.device)
    users = interaction[model.USER_ID][:4]
    items = torch.arange(1, 6, device=model.device)
    pairs = type(interaction)({
        model.USER_ID: users.repeat_interleave(len(items)),
        model.ITEM_ID: items.repeat(len(users)),
    })
    with torch.no_grad():
        pointwise = model.predict(pairs).view(len(users), len(items))
        full = model.full_sort_predict(type(interaction)({model.USER_ID: users}))
    assert torch.allclose(pointwise, full.view(len(users), -1)[:, items], atol=1e-5)
