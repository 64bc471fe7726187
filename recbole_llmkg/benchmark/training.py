"""From a config dict to a model, its trainer and the three loaders: the start of every board run.

Shared by tuning trials and seed re-runs so both build a run the same way (the same seeding
points as ``recbole.quick_start.run_recbole``), and both stay plain functions of a picklable
spec that a Ray task can execute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CAP_SHARE = 0.9  # a best epoch at or beyond this share of `epochs` is flagged "at cap"


@dataclass
class PreparedRun:
    """What :func:`prepare_run` built."""

    config: Any
    model: Any
    trainer: Any
    train_data: Any
    valid_data: Any
    test_data: Any


def prepare_run(model: str, dataset: str, config_dict: Mapping[str, Any]) -> PreparedRun:
    """Config (plugin defaults < ``config_dict``), dataset, loaders, seeded model and trainer."""
    from recbole.data import data_preparation
    from recbole.utils import init_seed

    from recbole_llmkg.config import Config
    from recbole_llmkg.utils import create_dataset, get_trainer

    config = Config(model, dataset, config_dict=dict(config_dict), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, data)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    recommender = config.model_class(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, recommender)
    return PreparedRun(config, recommender, trainer, train_data, valid_data, test_data)


@dataclass
class ValidationCurve:
    """The valid score after every evaluation, kept by ``Trainer.fit(callback_fn=...)``.

    The best epoch follows RecBole's early stopping, which also takes a tie as an improvement
    (so it is the epoch whose checkpoint ``fit`` keeps).
    """

    scores: dict[int, float] = field(default_factory=dict)
    best_score: float = -math.inf
    best_epoch: int | None = None

    def __call__(self, epoch: int, score: float) -> None:
        self.scores[int(epoch)] = float(score)
        if score >= self.best_score:
            self.best_score, self.best_epoch = float(score), int(epoch)

    def at_cap(self, epochs: int) -> bool:
        """Best epoch within the last 10% of ``epochs``: the run may have been cut short."""
        return bool(epochs > 1 and self.best_epoch is not None
                    and self.best_epoch + 1 >= CAP_SHARE * epochs)
