"""Trainers: a model declares its own (found along its class hierarchy)."""

from __future__ import annotations

from recbole.data import data_preparation
from recbole.model.general_recommender import BPR
from recbole.trainer import KGATTrainer, KGTrainer, TraditionalTrainer, Trainer
from recbole.utils import ModelType, init_seed

from recbole_llmkg import Config, create_dataset, get_trainer, run_recbole_llmkg, trainer_for
from recbole_llmkg.model.knowledge_aware_recommender.kgllmgnn import KGLLMGNN
from recbole_llmkg.trainer import KGJointOrAlternateTrainer, PluginTrainerMixin


class KGLLMGNNVariant(KGLLMGNN):
    """A variant defined outside the package: it declares no trainer, so it inherits one."""


class CountingTrainer(Trainer):
    """A trainer of the test's own; records the epochs it trained."""

    epochs_seen: list[int] = []

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        CountingTrainer.epochs_seen.append(epoch_idx)
        return super()._train_epoch(train_data, epoch_idx, *args, **kwargs)


class BPRWithOwnTrainer(BPR):
    trainer_class = CountingTrainer


class BPRVariantOfVariant(BPRWithOwnTrainer):
    """Inherits its parent's trainer."""


def test_trainer_is_found_along_the_class_hierarchy():
    assert issubclass(trainer_for(KGLLMGNN), KGJointOrAlternateTrainer)
    assert issubclass(trainer_for(KGLLMGNNVariant), KGJointOrAlternateTrainer)
    assert issubclass(trainer_for(BPRWithOwnTrainer), CountingTrainer)
    assert issubclass(trainer_for(BPRVariantOfVariant), CountingTrainer)
    # RecBole's choices for built-ins, by name or by model type
    assert issubclass(get_trainer(ModelType.KNOWLEDGE, "KGAT"), KGATTrainer)
    assert issubclass(get_trainer(ModelType.KNOWLEDGE, "CKE"), KGTrainer)
    assert issubclass(get_trainer(ModelType.TRADITIONAL, "EASE"), TraditionalTrainer)
    assert get_trainer(ModelType.GENERAL, "BPR").__bases__ == (PluginTrainerMixin, Trainer)
    # every one carries the plugin's features; a class passed instead of a name works too
    for found in (trainer_for(KGLLMGNNVariant), get_trainer(ModelType.GENERAL, BPRWithOwnTrainer),
                  get_trainer(ModelType.GENERAL, "BPR")):
        assert issubclass(found, PluginTrainerMixin)


def test_kgllmgnn_subclass_trains_its_kg_loss_in_alternate_mode(tiny_config):
    config = Config(KGLLMGNNVariant, "tiny", cmd_args=[],
                    config_dict=tiny_config(epochs=2, kg_training="alternate"))
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    model = KGLLMGNNVariant(config, train._dataset)
    trainer = trainer_for(config.model_class)(config, model)
    losses = []
    for epoch in range(2):
        model.train()
        losses.append(trainer._train_epoch(train, epoch))
    assert all(isinstance(loss, tuple) and len(loss) == 2 for loss in losses), losses
    kg_losses = [loss[1] for loss in losses]
    assert kg_losses[0] != kg_losses[1], kg_losses  # the KG pass trains: its loss moves


def test_model_from_outside_the_package_runs_with_its_own_trainer(tiny_config):
    CountingTrainer.epochs_seen.clear()
    result = run_recbole_llmkg(BPRVariantOfVariant, "tiny", config_dict=tiny_config(epochs=2),
                               cmd_args=[])
    assert CountingTrainer.epochs_seen == [0, 1]
    assert 0 <= result["test_result"]["ndcg@10"] <= 1
