"""Model, trainer and dataset lookup: the plugin first, then RecBole.

A plugin model is any :class:`~recbole.model.abstract_recommender.AbstractRecommender` subclass
defined in a module under ``recbole_llmkg/model/<sub-package>/``; its name is the class name.
Dropping a new file there (plus ``properties/model/<Name>.yaml``) is all it takes to register
one: nothing keeps a hand-written list.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import ModelType
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_llmkg import optional_packages
from recbole_llmkg.errors import ConfigError, DataError, DatasetFileNotFoundError
from recbole_llmkg.model_names import (
    MODEL_SUBPACKAGES,
    close_names,
    recbole_model_files,
    recbole_model_names,
)
from recbole_llmkg.trainer import plugin_trainer

_PLUGIN_MODEL_PACKAGE = "recbole_llmkg.model"


@cache
def plugin_models() -> dict[str, type[AbstractRecommender]]:
    """All plugin model classes by name, discovered from the ``model`` sub-packages."""
    models: dict[str, type[AbstractRecommender]] = {}
    for sub in MODEL_SUBPACKAGES:
        package = importlib.import_module(f"{_PLUGIN_MODEL_PACKAGE}.{sub}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(obj, AbstractRecommender)
                    and obj.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    models[name] = obj
    return models


def own_models() -> dict[str, type[AbstractRecommender]]:
    """Plugin models that are new here (not drop-in repairs of a RecBole model of the same name)."""
    builtin = set(recbole_model_names())
    return {name: cls for name, cls in plugin_models().items() if name not in builtin}


def _recbole_model(name: str) -> type[AbstractRecommender] | None:
    """RecBole's class for ``name``; None when RecBole has no such model.

    A sub-package whose modules import a package that is not installed is a :class:`ConfigError`
    naming every such package (not the first ``ModuleNotFoundError`` only).
    """
    path = recbole_model_files().get(name)
    if path is None:
        return None
    try:
        module = importlib.import_module(f"recbole.model.{path.parent.name}.{path.stem}")
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        if package in ("", "recbole"):
            raise
        needed = {package}
        for source in path.parent.glob("*.py"):
            needed |= optional_packages.file_imports(str(source)).module_level
        optional_packages.require(name, needed)
        raise
    return getattr(module, name)


def available_models() -> list[str]:
    """Every model name the plugin can run: its own and RecBole's."""
    return sorted(set(plugin_models()) | set(recbole_model_names()))


def get_model(model_name: str) -> type[AbstractRecommender]:
    """Resolve a model name: plugin models first, then RecBole's built-ins."""
    if model_name in plugin_models():
        return plugin_models()[model_name]
    model_class = _recbole_model(model_name)
    if model_class is not None:
        return model_class
    close = close_names(model_name, available_models())
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"Unknown model '{model_name}' (config key 'model').{hint}\n"
        f"Plugin models: {', '.join(sorted(plugin_models()))}\n"
        f"RecBole models: {', '.join(recbole_model_names())}"
    )


def trainer_for(model_class: type) -> type:
    """The trainer a model class declares, with the plugin's trainer features mixed in.

    Found along the class hierarchy: the nearest class that sets ``trainer_class`` wins; a
    RecBole model class with a trainer of its own name (``KGAT`` -> ``KGATTrainer``) counts as
    declaring it, so subclasses of built-ins keep their trainer. Otherwise RecBole's choice for
    the model type (``KGTrainer``, ``TraditionalTrainer``, ``Trainer``, ...).
    """
    import recbole.trainer

    for cls in model_class.__mro__:
        declared = cls.__dict__.get("trainer_class")
        if declared is None and cls.__module__.startswith("recbole."):
            declared = getattr(recbole.trainer, f"{cls.__name__}Trainer", None)
        if declared is not None:
            return plugin_trainer(declared)
    return plugin_trainer(recbole_get_trainer(model_class.type, model_class.__name__))


def get_trainer(model_type: ModelType, model_name: str | type) -> type:
    """RecBole's ``get_trainer`` signature, resolved through :func:`trainer_for`.

    ``model_name`` may also be a model class (one defined outside the package, for instance).
    """
    if isinstance(model_name, type):
        return trainer_for(model_name)
    try:
        model_class = get_model(model_name)
    except ConfigError:  # a RecBole name without a YAML of defaults: RecBole's own choice
        return plugin_trainer(recbole_get_trainer(model_type, model_name))
    return trainer_for(model_class)


def required_dataset_files(config: Any) -> dict[str, str]:
    """Atomic-file suffixes the run cannot do without, each with the reason (the config key or
    the model type that asks for it): the model's own, and every ``additional_feat_suffix``
    file (pretrained entity embeddings, for instance, which RecBole would otherwise skip)."""
    suffixes = {"inter": "every model reads interactions"}
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        suffixes |= dict.fromkeys(["kg", "link"], "knowledge-aware models read the graph")
    for suffix in getattr(config.model_class, "required_dataset_files", ()):
        suffixes.setdefault(suffix, f"model {config['model']} reads it")
    for suffix in config["additional_feat_suffix"] or ():
        suffixes.setdefault(suffix, "config key 'additional_feat_suffix' names it")
    return suffixes


def check_dataset_files(config: Any) -> None:
    """Fail early, naming the missing file, why it is needed and the ``data_path`` it was looked
    for in, or the interaction file that holds a header and no data (RecBole would fail later,
    obscurely, or with a bare ``ValueError`` for an ``additional_feat_suffix`` file)."""
    folder = Path(config["data_path"])
    for suffix, reason in required_dataset_files(config).items():
        path = folder / f"{config['dataset']}.{suffix}"
        if not path.is_file():
            raise DatasetFileNotFoundError(
                f"Dataset file '{path}' not found: model {config['model']} needs "
                f"'{config['dataset']}.{suffix}' ({reason}). Put it in that folder, or point "
                f"the config key 'data_path' at the folder that holds the '{config['dataset']}' "
                "directory."
            )
        if suffix == "inter" and not _has_data_line(path):
            raise DataError(
                f"Dataset file '{path}' has a header and no interactions: add at least one "
                "data line (one interaction per line, fields as named in the header)."
            )


def _has_data_line(path: Path) -> bool:
    """Whether the file has a non-blank line after its header (stops at the first one)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        f.readline()
        return any(line.strip() for line in f)


def create_dataset(config: Any):
    """Build the dataset: the model's own ``dataset_class`` if it names one, else RecBole's."""
    check_dataset_files(config)
    dataset_class = getattr(config.model_class, "dataset_class", None)
    if dataset_class is None:
        from recbole.data import create_dataset as recbole_create_dataset

        from recbole_llmkg.data.validate import validate_atomic_files

        validate_atomic_files(config)  # RecBole's readers get the plugin's file checks too
        if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:  # the .link file kg_link_file picks
            from recbole_llmkg.data.link import CorrectedLinkDataset

            return CorrectedLinkDataset(config)
        return recbole_create_dataset(config)
    return dataset_class(config)
