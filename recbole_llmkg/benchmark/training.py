"""From a config dict to a model, its trainer and the three loaders: the start of every board run.

Shared by tuning trials and seed re-runs so both build a run the same way (the same seeding
points as ``recbole.quick_start.run_recbole``), and both stay plain functions of a picklable
spec that a Ray task can execute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
