"""The worker measures a run by composing the core's steps; it modifies no class."""

from __future__ import annotations

import torch
from recbole.data import data_preparation
from recbole.model.general_recommender import BPR
from recbole.utils import init_seed

from recbole_llmkg import Config, create_dataset, trainer_for
from recbole_llmkg.benchmark.validation_curve import ValidationCurve
from recbole_llmkg.benchmark.worker import timed_trainer


def test_timed_trainer_times_epochs_without_touching_the_trainer_class(tiny_config):
    base = trainer_for(BPR)
    before = dict(vars(base))
    timed = timed_trainer(base)
    assert issubclass(timed, base) and dict(vars(base)) == before

    config = Config("BPR", "tiny", config_dict=tiny_config(epochs=3), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    train, valid, _ = data_preparation(config, create_dataset(config))
    trainer = timed(config, BPR(config, train._dataset))
    watch = ValidationCurve()
    trainer.fit(train, valid, saved=False, callback_fn=watch)
    assert len(trainer.epoch_seconds) == 3 and len(trainer.valid_seconds) == 3
    assert all(s > 0 for s in trainer.epoch_seconds + trainer.valid_seconds)
    assert watch.best_epoch in (0, 1, 2)


def test_validation_curve_keeps_the_epoch_recbole_checkpoints():
    """RecBole's early stopping saves on ties (``value >= best``): the last of equal scores."""
    bigger = ValidationCurve(bigger=True)
    for epoch, score in enumerate([0.1, 0.3, 0.3, 0.2]):
        bigger(epoch, torch.tensor(score).item())
    assert bigger.best_epoch == 2
    smaller = ValidationCurve(bigger=False)
    for epoch, score in [(1, 0.5), (3, 0.4), (5, 0.45)]:  # eval_step 2: epochs 1, 3, 5
        smaller(epoch, score)
    assert smaller.best_epoch == 3 and smaller.best_score == 0.4
