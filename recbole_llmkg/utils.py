"""Model, trainer and dataset lookup: the plugin first, then RecBole.

A plugin model is any :class:`~recbole.model.abstract_recommender.AbstractRecommender` subclass
defined in a module under ``recbole_llmkg/model/<sub-package>/``; its name is the class name.
Dropping a new file there (plus ``properties/model/<Name>.yaml``) is all it takes to register
one: nothing keeps a hand-written list.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path
from typing import Any

import recbole
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import ModelType
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_llmkg import optional_packages
from recbole_llmkg.errors import ConfigError, DataError, DatasetFileNotFoundError
from recbole_llmkg.trainer import with_safe_checkpoints

MODEL_SUBPACKAGES = ("general_recommender", "knowledge_aware_recommender")
# RecBole's model sub-packages, in the order ``recbole.utils.get_model`` searches them.
RECBOLE_MODEL_SUBPACKAGES = (
    "general_recommender",
    "context_aware_recommender",
    "sequential_recommender",
    "knowledge_aware_recommender",
    "exlib_recommender",
)
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


@cache
def recbole_model_files() -> dict[str, Path]:
    """RecBole's built-in model classes by name, each with the file that defines it.

    The names RecBole's ``get_model`` resolves: a class whose lower-cased name is its module's
    name, in the first model sub-package holding that module (``Random`` has no YAML file of
    defaults; ``LightGBM`` lives in ``lightgbm.py``). Found by reading the files, so nothing is
    imported (importing ``exlib_recommender`` needs lightgbm and xgboost).
    """
    root = Path(recbole.__file__).parent / "model"
    found: dict[str, Path] = {}
    for sub in RECBOLE_MODEL_SUBPACKAGES:
        for path in sorted((root / sub).glob("*.py")):
            if path.stem.startswith("_") or any(p.stem == path.stem for p in found.values()):
                continue
            text = path.read_text(encoding="utf-8")
            for name in re.findall(r"^class (\w+)\b", text, flags=re.MULTILINE):
                if name.lower() == path.stem:
                    found.setdefault(name, path)
    return found


def recbole_model_names() -> tuple[str, ...]:
    """Names of RecBole's built-in models (see :func:`recbole_model_files`)."""
    return tuple(sorted(recbole_model_files()))


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
    names = available_models()
    close = difflib.get_close_matches(model_name, names, n=3, cutoff=0.6)
    close += [n for n in names if n.lower() == model_name.lower() and n not in close]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"Unknown model '{model_name}' (config key 'model').{hint}\n"
        f"Plugin models: {', '.join(sorted(plugin_models()))}\n"
        f"RecBole models: {', '.join(recbole_model_names())}"
    )


def get_trainer(model_type: ModelType, model_name: str) -> type:
    """The trainer for a model, with safe checkpoint handling mixed in.

    A plugin trainer named ``<Model>Trainer`` in :mod:`recbole_llmkg.model.trainers` wins;
    otherwise RecBole's choice (``KGATTrainer``, ``KGTrainer``, ``Trainer``, ...).
    """
    plugin_trainers = importlib.import_module("recbole_llmkg.model.trainers")
    trainer = getattr(plugin_trainers, f"{model_name}Trainer", None)
    if trainer is None:
        trainer = recbole_get_trainer(model_type, model_name)
    return with_safe_checkpoints(trainer)


def required_dataset_files(config: Any) -> list[str]:
    """Atomic-file suffixes the model cannot run without."""
    suffixes = ["inter"]
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        suffixes += ["kg", "link"]
    return suffixes + list(getattr(config.model_class, "required_dataset_files", ()))


def check_dataset_files(config: Any) -> None:
    """Fail early, naming the missing file and the ``data_path`` it was looked for in, or the
    interaction file that holds a header and no data (RecBole would fail later, obscurely)."""
    folder = Path(config["data_path"])
    for suffix in dict.fromkeys(required_dataset_files(config)):
        path = folder / f"{config['dataset']}.{suffix}"
        if not path.is_file():
            raise DatasetFileNotFoundError(
                f"Dataset file '{path}' not found: model {config['model']} needs "
                f"'{config['dataset']}.{suffix}'. Put it in that folder, or point the config key "
                f"'data_path' at the folder that holds the '{config['dataset']}' directory."
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

        return recbole_create_dataset(config)
    return dataset_class(config)
