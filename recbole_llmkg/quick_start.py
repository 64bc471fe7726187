"""From config to test metrics in plain steps, mirroring ``recbole.quick_start.run_recbole``.

:func:`prepare_data`, :func:`build_model` and :func:`trainer_for` are the steps;
:func:`prepare` chains them, :func:`run` trains and tests, :func:`run_recbole_llmkg` is the
one-call entry point. Callers that need more (the leaderboard times each step, restricts the test
ranking) compose the steps themselves.

RecBole's text log and TensorBoard events go under the run's own folder (config key
``log_root``, by default ``checkpoint_dir``: :mod:`recbole_llmkg.run_logs`), never the working
directory.

We do not import ``recbole.quick_start``: it imports ``ray.tune`` at module level, which does not
install on Python 3.12 and fails on numpy 2. RecBole's FLOPs count is off by default
(``log_flops: False`` in ``properties/overall.yaml``): it deep-copies the model and runs a full
prediction, which is slow and ran MCCLK out of memory on ml-1m.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from logging import getLogger
from typing import Any

from recbole.data import data_preparation
from recbole.data.transform import construct_transform
from recbole.trainer import PretrainTrainer
from recbole.utils import get_flops, init_seed, set_color

from recbole_llmkg.config import Config
from recbole_llmkg.files import ensure_writable_folder
from recbole_llmkg.registry import create_dataset, trainer_for
from recbole_llmkg.run_logs import init_run_logger, log_root


@dataclass
class Prepared:
    """What a run is made of: the dataset, its three loaders, the model and its trainer."""

    config: Config
    dataset: Any
    train_data: Any
    valid_data: Any
    test_data: Any
    model: Any
    trainer: Any


def prepare_data(config: Config) -> tuple[Any, Any, Any, Any]:
    """Seed, start logging, load the dataset and split it: ``(dataset, train, valid, test)``."""
    init_seed(config["seed"], config["reproducibility"])
    # Every folder the run writes is proven writable here, before the data is read (not after
    # training).
    ensure_run_folders(config)
    init_run_logger(config)  # RecBole's logger, writing under the run's folder (log_root)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return dataset, train_data, valid_data, test_data


def ensure_run_folders(config: Config) -> None:
    """RecBole's log and TensorBoard folders (under the run's ``log_root``) and the checkpoint
    folder exist and take files: an :class:`~recbole_llmkg.errors.OutputError` naming the folder
    otherwise."""
    ensure_writable_folder(config["checkpoint_dir"],
                           "Make it writable, or choose another with --checkpoint_dir=...")
    root = log_root(config)  # the checkpoint folder unless log_root is set
    here = "Make it writable, or choose another with --log_root=..."
    ensure_writable_folder(root / "log" / str(config["model"]), here)
    ensure_writable_folder(root / "log_tensorboard", here)


def build_model(config: Config, train_data: Any) -> Any:
    """The model of ``config`` on the training split, seeded as RecBole seeds it, on its device."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = config.model_class(config, train_data._dataset).to(config["device"])
    logger = getLogger()
    logger.info(model)
    if config["log_flops"]:
        flops = get_flops(model, train_data._dataset, config["device"], logger,
                          construct_transform(config))
        logger.info(set_color("FLOPs", "blue") + f": {flops}")
    return model


def prepare(config: Config) -> Prepared:
    """Data, model and trainer for ``config``, ready for ``trainer.fit``."""
    dataset, train_data, valid_data, test_data = prepare_data(config)
    model = build_model(config, train_data)
    trainer = trainer_for(config.model_class)(config, model)
    return Prepared(config, dataset, train_data, valid_data, test_data, model, trainer)


def run(config: Config, saved: bool = True) -> dict[str, Any]:
    """Train on train, early-stop on valid, score the best model on test.

    Returns RecBole's result dict plus ``checkpoint``: this run's own checkpoint file (None when
    ``saved`` is False), and ``pretrained_model``: the file a pre-training stage wrote (None
    otherwise; such a run has no test, so ``test_result`` is empty).
    """
    return train_and_test(prepare(config), saved=saved)


def train_and_test(parts: Prepared, saved: bool = True) -> dict[str, Any]:
    """:func:`run` on parts already prepared (the caller keeps the model and trainer).

    A pre-training stage (:func:`is_pretraining`) has nothing to test: it returns
    ``test_result: {}`` and the pre-trained model's file under ``pretrained_model``.
    """
    config, trainer = parts.config, parts.trainer
    best_valid_score, best_valid_result = trainer.fit(
        parts.train_data, parts.valid_data, saved=saved, show_progress=config["show_progress"]
    )
    logger = getLogger()
    if is_pretraining(config, trainer):
        pretrained = save_final_pretrained_model(trainer)
        logger.info(set_color("pre-trained model", "yellow") + f": {pretrained} (train_stage "
                    f"'{config['train_stage']}' has no test; fine-tune it with "
                    f"train_stage: finetune and pre_model_path: {pretrained})")
        return {
            "best_valid_score": best_valid_score,
            "valid_score_bigger": config["valid_metric_bigger"],
            "best_valid_result": best_valid_result or {},
            "test_result": {},
            "checkpoint": None,
            "pretrained_model": pretrained,
        }
    test_result = trainer.evaluate(
        parts.test_data, load_best_model=saved, show_progress=config["show_progress"]
    )
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    return {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "checkpoint": trainer.saved_model_file if saved else None,
        "pretrained_model": None,
    }


def is_pretraining(config: Config, trainer: Any) -> bool:
    """Whether ``trainer.fit`` only pre-trains: a :class:`PretrainTrainer` in a ``train_stage``
    named ``*pretrain`` (S3Rec's ``pretrain``, RaCT's ``actor_pretrain``/``critic_pretrain``),
    where RecBole saves pre-trained files and no best model to test."""
    stage = config["train_stage"]
    return (isinstance(trainer, PretrainTrainer) and isinstance(stage, str)
            and stage.endswith("pretrain"))


def save_final_pretrained_model(trainer: PretrainTrainer) -> str:
    """The file of the last pre-training epoch, saved here when RecBole skipped it.

    RecBole saves every ``save_step`` epochs only, so ``pretrain_epochs`` not a multiple of it
    would lose the last epochs (all of them when ``pretrain_epochs < save_step``). The name is
    RecBole's own, ``<model>-<dataset>-<epochs>.pth`` in ``checkpoint_dir``.
    """
    config = trainer.config
    epochs = config["pretrain_epochs"]
    path = os.path.join(trainer.checkpoint_dir,
                        f"{config['model']}-{config['dataset']}-{epochs}.pth")
    if epochs % config["save_step"] != 0:
        trainer.save_pretrained_model(epochs - 1, path)
    return path


def run_recbole_llmkg(
    model: str | type | None = None,
    dataset: str | None = None,
    config_file_list: list[str] | None = None,
    config_dict: dict[str, Any] | None = None,
    saved: bool = True,
    cmd_args: list[str] | None = None,
) -> dict[str, Any]:
    """Run one model on one dataset; returns :func:`run`'s dict (RecBole's ``run_recbole`` dict
    plus ``checkpoint`` and ``pretrained_model``).

    ``model`` is named as everywhere else (:func:`recbole_llmkg.registry.resolve_model`): a
    plugin, installed or RecBole model name, ``package.module:Class``, or a model class.
    ``cmd_args`` are ``--key=value`` overrides; ``None`` reads ``sys.argv`` as RecBole does.
    """
    config = Config(model, dataset, config_file_list, config_dict, cmd_args=cmd_args)
    return run(config, saved=saved)
