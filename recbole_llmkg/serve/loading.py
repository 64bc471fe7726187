"""Rebuild a trained model from its RecBole checkpoint: config -> dataset -> model -> weights.

The checkpoint holds the run's Config, ``state_dict`` and ``other_parameter``; the dataset is
rebuilt from the files the config names (the same seed and split as training, so each user's
training items are known) and checked against the weights before they are loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import recbole_llmkg
from recbole_llmkg.errors import ServeError


@dataclass
class TrainedModel:
    """A model in eval mode with the config and datasets it was trained with."""

    config: Any
    dataset: Any  # the whole dataset (all interactions, for ids and seen items)
    train_dataset: Any  # the training split the model was built from
    model: Any
    checkpoint: str
    splits: tuple[Any, Any, Any]  # (train, valid, test) datasets, for evaluation


def _check_version(checkpoint: dict, path: str) -> None:
    """Refuse a checkpoint written by another minor version of the plugin (when it says)."""
    written = checkpoint.get("plugin_version")
    if written is None:
        return
    ours = recbole_llmkg.__version__
    if str(written).split(".")[:2] != ours.split(".")[:2]:
        raise ServeError(
            f"Checkpoint '{path}' was written by recbole_llmkg {written}; this is {ours}. "
            f"Retrain the model with this version, or install recbole_llmkg=={written}."
        )


def _check_data(checkpoint: dict, path: str, config: Any) -> None:
    """Refuse data files other than the ones the model was trained on (when it says which):
    the same sizes with other contents would map ids to the wrong rows silently."""
    from recbole_llmkg.checkpoint import data_fingerprint

    written = checkpoint.get("data_fingerprint")
    if not written:
        return
    now = data_fingerprint(config)
    for name, digest in sorted(written.items()):
        if now.get(name) != digest:
            state = "is missing" if name not in now else "has changed since training"
            raise ServeError(
                f"Checkpoint '{path}' was trained on another dataset: '{name}' in "
                f"'{config['data_path']}' {state}. Serve it with the files it was trained on "
                "(--data-path), or retrain."
            )


def _shape(value: Any) -> tuple | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(shape)


def _check_shapes(model: Any, saved: dict, path: str, config: Any) -> None:
    """Weights whose shapes differ mean the dataset files changed since training."""
    own = model.state_dict()
    state = saved["state_dict"]
    others = saved.get("other_parameter") or {}
    pairs = [(name, own.get(name), tensor) for name, tensor in state.items()]
    pairs += [(name, getattr(model, name, None), value) for name, value in others.items()]
    for name, mine, tensor in pairs:
        if _shape(mine) is not None and _shape(tensor) is not None \
                and _shape(mine) != _shape(tensor):
            raise ServeError(
                f"Checkpoint '{path}' does not match dataset '{config['dataset']}' at "
                f"'{config['data_path']}': weight '{name}' is {_shape(tensor)} in the "
                f"checkpoint but {_shape(mine)} for this data (now {model.n_users} "
                f"users, {model.n_items} items). Serve it with the data it was trained on, or "
                "retrain."
            )
    missing = sorted(set(own) - set(state))
    if missing:
        raise ServeError(
            f"Checkpoint '{path}' has no weights {missing[:3]} for model {config['model']}: it "
            "was written by another model or version. Retrain the model."
        )


def load_trained(
    checkpoint: str | os.PathLike, device: str = "cpu", data_path: str | None = None,
    trusted_modules: tuple[str, ...] | list[str] = (),
) -> TrainedModel:
    """Load ``checkpoint`` on ``device``; ``data_path`` replaces the folder it was trained on;
    ``trusted_modules`` may be imported to find an out-of-tree model class."""
    import torch
    from recbole.data import data_preparation
    from recbole.utils import init_seed

    from recbole_llmkg import compat
    from recbole_llmkg.checkpoint import load_checkpoint
    from recbole_llmkg.registry import create_dataset

    compat.apply()
    path = os.fspath(checkpoint)
    if not Path(path).is_file():
        raise ServeError(
            f"Checkpoint '{path}' does not exist: pass the .pth file a training run saved "
            "(its path is printed at the end of training, under checkpoint_dir, default saved/)."
        )
    try:
        saved = load_checkpoint(path, map_location=device, trusted_modules=trusted_modules)
    except Exception as error:  # torch reports a non-checkpoint file in many ways
        raise ServeError(f"'{path}' is not a readable RecBole checkpoint ({error}).") from error
    if not isinstance(saved, dict) or "config" not in saved or "state_dict" not in saved:
        raise ServeError(
            f"'{path}' is not a RecBole checkpoint (no 'config'/'state_dict'): pass the .pth "
            "file a training run saved."
        )
    _check_version(saved, path)
    config = saved["config"]
    config["device"] = torch.device(device)
    config["use_gpu"] = device != "cpu"
    config["show_progress"] = False
    if data_path is not None:
        config["data_path"] = os.path.join(data_path, config["dataset"])

    _check_data(saved, path, config)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    train_dataset = train_data._dataset
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, train_dataset).to(config["device"])
    _check_shapes(model, saved, path, config)
    model.load_state_dict(saved["state_dict"], strict=False)
    model.load_other_parameter(saved.get("other_parameter"))
    model.eval()
    splits = (train_dataset, valid_data._dataset, test_data._dataset)
    return TrainedModel(config, dataset, train_dataset, model, path, splits)
