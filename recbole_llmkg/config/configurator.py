"""Config: RecBole's Config that also knows the plugin's models and YAML defaults.

Precedence, lowest to highest: RecBole's defaults < the plugin's ``properties/`` (``overall.yaml``,
``model/<Model>.yaml``, ``dataset/<dataset>.yaml``) < the user's YAML files < ``config_dict`` <
command-line ``--key=value``. A model class defined outside the package may keep its defaults in
``<ClassName>.yaml`` beside its module. A subclass of a model first gets its parents' defaults.

Every key the user gives must be one somebody reads (:mod:`recbole_llmkg.config.keys`) and every
value must be in its allowed range (:mod:`recbole_llmkg.config.checks`): both are checked while
the Config is built, before any data is read.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from recbole.config import Config as RecBoleConfig

from recbole_llmkg import compat
from recbole_llmkg.config import checks as config_checks
from recbole_llmkg.config import keys as config_keys
from recbole_llmkg.errors import ConfigError, require_choice
from recbole_llmkg.paths import (  # datasets_dir: re-exported, tools import it from here
    dataset_search_roots,
    datasets_dir,  # noqa: F401
    properties_dir,
)
from recbole_llmkg.registry import get_model

compat.apply()  # host-stack fixes, before any RecBole code runs

def _model_lineage(model_class: type) -> list[type]:
    """``model_class`` and its concrete model ancestors, nearest first (not RecBole's abstract
    recommender classes, which have no YAML)."""
    from recbole.model import abstract_recommender

    abstract = {cls for _, cls in inspect.getmembers(abstract_recommender, inspect.isclass)}
    return [
        cls for cls in model_class.__mro__
        if issubclass(cls, abstract_recommender.AbstractRecommender) and cls not in abstract
    ]


class Config(RecBoleConfig):
    """RecBole's Config, resolving plugin models first and layering the plugin's defaults.

    Args:
        model: a model name (plugin or RecBole) or a model class.
        dataset: dataset name.
        config_file_list: user YAML files.
        config_dict: parameter overrides.
        cmd_args: ``--key=value`` overrides; ``None`` reads ``sys.argv`` as RecBole does.
        extra_config_keys: keys to accept although nothing in RecBole or the plugin reads them
            (the config key ``extra_config_keys`` does the same from a YAML file or the CLI).
        key_origins: where keys of ``config_dict`` really came from (a board file's key, the
            command line), named in error messages instead of ``config_dict``.
    """

    def __init__(
        self,
        model: str | type | None = None,
        dataset: str | None = None,
        config_file_list: list[str] | None = None,
        config_dict: dict[str, Any] | None = None,
        cmd_args: list[str] | None = None,
        extra_config_keys: Iterable[str] = (),
        key_origins: Mapping[str, str] | None = None,
    ) -> None:
        compat.apply()
        self._cmd_args = cmd_args
        self._config_dict_origins = dict(key_origins or {})
        self._extra_config_keys = set(extra_config_keys)
        self._key_origins: dict[str, str] = {}
        for file in config_file_list or []:
            if not os.path.isfile(file):
                raise ConfigError(f"Config file '{file}' does not exist (config_file_list).")
        super().__init__(model, dataset, config_file_list, config_dict)

    def compatibility_settings(self) -> None:
        compat.restore_numpy_aliases()

    def _load_config_files(self, file_list: list[str] | None) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for file in file_list or []:
            loaded = super()._load_config_files([file])
            self._note_origin(loaded, f"config file '{file}'")
            merged.update(loaded)
        return merged

    def _load_variable_config_dict(self, config_dict: dict[str, Any] | None) -> dict[str, Any]:
        loaded = super()._load_variable_config_dict(config_dict)
        self._note_origin(loaded, "config_dict")
        self._key_origins.update({k: v for k, v in self._config_dict_origins.items()
                                  if k in loaded})
        return loaded

    def _load_cmd_line(self) -> dict[str, Any]:
        if self._cmd_args is None:
            loaded = super()._load_cmd_line()
        else:
            saved_argv = sys.argv
            sys.argv = [saved_argv[0] if saved_argv else "recbole-llmkg", *self._cmd_args]
            try:
                loaded = super()._load_cmd_line()
            finally:
                sys.argv = saved_argv
        self._note_origin(loaded, "command line")
        return loaded

    def _note_origin(self, loaded: dict[str, Any], origin: str) -> None:
        """Remember where each user key came from (a later layer wins, as for the value)."""
        for key in loaded:
            self._key_origins.pop(key, None)
            self._key_origins[key] = origin

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise ConfigError(
                    "No model given: pass -m/--model, model=..., or 'model:' in a config file."
                )
        model = get_model(model)  # a name, package.module:Class, or a class (checked)
        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
            if dataset is None:
                raise ConfigError(
                    "No dataset given: pass -d/--dataset, dataset=..., "
                    "or 'dataset:' in a config file."
                )
        return model.__name__, model, dataset

    def _plugin_default_files(self, model: str, model_class: type, dataset: str) -> list[Path]:
        """YAML defaults, lowest first: overall, each model class from base to ``model``, dataset.

        A variant that subclasses a model inherits its parent's defaults (RecBole's and the
        plugin's), so its own YAML only lists the keys it adds or changes.
        """
        props = properties_dir()
        recbole_models = Path(inspect.getfile(RecBoleConfig)).parents[1] / "properties" / "model"
        files = [props / "overall.yaml"]
        for cls in reversed(_model_lineage(model_class)):
            if cls is not model_class:  # RecBole already loaded its own file for ``model``
                files.append(recbole_models / f"{cls.__name__}.yaml")
            files += config_checks.class_yaml_files(inspect.getsourcefile(cls), cls.__name__)
        files.append(props / "dataset" / f"{dataset}.yaml")
        return list(dict.fromkeys(files))

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        for file in self._plugin_default_files(model, model_class, dataset):
            if file.is_file():
                loaded = self._update_internal_config_dict(str(file)) or {}
                # a model's value rules sit in its YAML but are no config key
                self.internal_config_dict.pop(config_checks.RULES_KEY, None)
                if file.parent.name == "dataset":
                    self.parameters["Dataset"] += [
                        k for k in loaded if k not in self.parameters["Dataset"]
                    ]

    def _set_default_parameters(self) -> None:
        root = self._data_root()
        self.final_config_dict["data_path"] = root
        self._check_user_config(Path(root) / self.dataset)
        try:
            super()._set_default_parameters()
        except ValueError as error:  # RecBole's own consistency checks (they name the key)
            raise ConfigError(f"{error} (RecBole's check of the config)") from None
        # options RecBole accepts here but fails on after reading data or training
        config_checks.check_run_options(self.final_config_dict, self.model_class,
                                        self._key_origins, Path(root) / self.dataset,
                                        self.dataset)
        # RecBole pins some datasets to its bundled copy even when data_path is given; the
        # folder chosen above (an explicit data_path always wins) is used instead.
        self.final_config_dict["data_path"] = os.path.join(root, self.dataset)

    def _data_root(self) -> str:
        """The folder that holds the dataset's folder.

        An explicit ``data_path`` always wins. Without one: the default ``data_path`` (relative
        to the working directory) when it holds the dataset, else the first copy shipped with
        the plugin or with RecBole, else the default (where RecBole downloads it).
        """
        if "data_path" in self.external_config_dict:
            return str(self.external_config_dict["data_path"])
        default = str(self.final_config_dict.get("data_path", "dataset/"))
        for root in dataset_search_roots(default, self.dataset):
            if (root / self.dataset).is_dir():
                return str(root) if root != Path(default) else default
        return default

    def _check_user_config(self, dataset_folder: Path) -> None:
        """Unknown keys, then bad values: a :class:`ConfigError` before any data is read."""
        allowed = self._extra_config_keys | config_keys.extra_keys(
            self.final_config_dict.get(config_keys.EXTRA_KEYS_KEY),
            self._key_origins.get(config_keys.EXTRA_KEYS_KEY, "defaults"),
        )
        known = (
            config_keys.static_known_keys()
            | set(self.internal_config_dict)
            | config_keys.atomic_file_fields(dataset_folder, self.dataset)
        )
        config_keys.check_known(self._key_origins, known, allowed)
        config_checks.check_values(self.final_config_dict,
                                   config_checks.rules_of(self.model_class), self._key_origins)
        config_checks.check_packages(self.final_config_dict, self.model_class)
        config_checks.check_files(self.final_config_dict, self.model_class, dataset_folder,
                                  self.dataset)
        config_checks.check_encoder_folder(self.final_config_dict)

    def _init_device(self) -> None:
        """RecBole's device setup; a multi-process run (``local_rank`` set by the launcher,
        :mod:`recbole_llmkg.distributed`) takes its backend from ``ddp_backend`` instead of
        RecBole's hard-coded ``nccl``, which cannot run on CPU."""
        if "local_rank" not in self.final_config_dict:
            super()._init_device()
            return
        import torch

        config = self.final_config_dict
        gpu_id = config["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, tuple) else str(gpu_id)
        config["gpu_id"] = gpu_id
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
        cuda = bool(config.get("use_gpu", True)) and gpu_id != "" and torch.cuda.is_available()
        backend = config.get("ddp_backend") or ("nccl" if cuda else "gloo")
        require_choice("ddp_backend", backend, ("gloo", "nccl"))
        if backend == "nccl" and not cuda:
            raise ConfigError(
                "Config key 'ddp_backend' is nccl, which needs CUDA GPUs, but this run is on the "
                "CPU (no GPU visible, or use_gpu: False). Use ddp_backend: gloo."
            )
        local_rank = int(config["local_rank"])
        if cuda and len(gpu_id.split(",")) < int(config["nproc"]):
            raise ConfigError(
                f"Config key 'gpu_id' lists {len(gpu_id.split(','))} GPU(s) ('{gpu_id}') for "
                f"nproc={config['nproc']} processes: list one GPU per process, e.g. "
                f"--gpu_id={','.join(map(str, range(int(config['nproc']))))}."
            )
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(
                backend=backend,
                rank=local_rank + int(config["offset"]),
                world_size=int(config["world_size"]),
                init_method=f"tcp://{config['ip']}:{config['port']}",
            )
        config["device"] = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
        config["single_spec"] = False
        if cuda:
            torch.cuda.set_device(local_rank)
        if local_rank != 0:
            config["state"] = "error"
            config["show_progress"] = False
            config["verbose"] = False


# Checkpoints pickle the Config by this name; it is the public one (and the one old checkpoints,
# written when the Config lived in ``recbole_llmkg/config.py``, hold).
Config.__module__ = "recbole_llmkg.config"
