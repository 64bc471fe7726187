"""Config: RecBole's Config that also knows the plugin's models and YAML defaults.

Precedence, lowest to highest: RecBole's defaults < the plugin's ``properties/`` (``overall.yaml``,
``model/<Model>.yaml``, ``dataset/<dataset>.yaml``) < the user's YAML files < ``config_dict`` <
command-line ``--key=value``. A model class defined outside the package may keep its defaults in
``<ClassName>.yaml`` beside its module. A subclass of a model first gets its parents' defaults.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any

from recbole.config import Config as RecBoleConfig

from recbole_llmkg import compat
from recbole_llmkg.errors import ConfigError, require_choice
from recbole_llmkg.utils import get_model

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    """A top-level folder of the repo: inside the installed package, or beside it in a checkout."""
    installed = _PACKAGE_DIR / name
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / name


def _model_lineage(model_class: type) -> list[type]:
    """``model_class`` and its concrete model ancestors, nearest first (not RecBole's abstract
    recommender classes, which have no YAML)."""
    from recbole.model import abstract_recommender

    abstract = {cls for _, cls in inspect.getmembers(abstract_recommender, inspect.isclass)}
    return [
        cls for cls in model_class.__mro__
        if issubclass(cls, abstract_recommender.AbstractRecommender) and cls not in abstract
    ]


def properties_dir() -> Path:
    """Where the plugin's YAML defaults live (works from a wheel and from a checkout)."""
    return _shipped_dir("properties")


def datasets_dir() -> Path:
    """Where the datasets the repo ships live."""
    return _shipped_dir("datasets")


class Config(RecBoleConfig):
    """RecBole's Config, resolving plugin models first and layering the plugin's defaults.

    Args:
        model: a model name (plugin or RecBole) or a model class.
        dataset: dataset name.
        config_file_list: user YAML files.
        config_dict: parameter overrides.
        cmd_args: ``--key=value`` overrides; ``None`` reads ``sys.argv`` as RecBole does.
    """

    def __init__(
        self,
        model: str | type | None = None,
        dataset: str | None = None,
        config_file_list: list[str] | None = None,
        config_dict: dict[str, Any] | None = None,
        cmd_args: list[str] | None = None,
    ) -> None:
        compat.apply()
        self._cmd_args = cmd_args
        for file in config_file_list or []:
            if not os.path.isfile(file):
                raise ConfigError(f"Config file '{file}' does not exist (config_file_list).")
        super().__init__(model, dataset, config_file_list, config_dict)

    def compatibility_settings(self) -> None:
        compat.restore_numpy_aliases()

    def _load_cmd_line(self) -> dict[str, Any]:
        if self._cmd_args is None:
            return super()._load_cmd_line()
        saved_argv = sys.argv
        sys.argv = [saved_argv[0] if saved_argv else "recbole-llmkg", *self._cmd_args]
        try:
            return super()._load_cmd_line()
        finally:
            sys.argv = saved_argv

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise ConfigError(
                    "No model given: pass -m/--model, model=..., or 'model:' in a config file."
                )
        if isinstance(model, str):
            model = get_model(model)
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
            files.append(props / "model" / f"{cls.__name__}.yaml")
            module_file = inspect.getsourcefile(cls)
            if module_file and not module_file.startswith(str(_PACKAGE_DIR)):
                files.append(Path(module_file).with_name(f"{cls.__name__}.yaml"))
        files.append(props / "dataset" / f"{dataset}.yaml")
        return list(dict.fromkeys(files))

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        for file in self._plugin_default_files(model, model_class, dataset):
            if file.is_file():
                loaded = self._update_internal_config_dict(str(file)) or {}
                if file.parent.name == "dataset":
                    self.parameters["Dataset"] += [
                        k for k in loaded if k not in self.parameters["Dataset"]
                    ]

    def _set_default_parameters(self) -> None:
        # A dataset the repo ships is found wherever the command runs from, unless the user
        # pointed data_path elsewhere or has a folder of that name under the default data_path.
        shipped = datasets_dir() / self.dataset
        user_path = Path(self.final_config_dict.get("data_path", "dataset/")) / self.dataset
        if (
            "data_path" not in self.external_config_dict
            and shipped.is_dir()
            and not user_path.is_dir()
        ):
            self.final_config_dict["data_path"] = str(shipped.parent)
        super()._set_default_parameters()
        # RecBole pins ml-100k to its bundled copy even when data_path is given; an explicit
        # data_path (e.g. a benchmark's cold-item split of ml-100k) is honoured instead.
        explicit = self.external_config_dict.get("data_path")
        if self.dataset == "ml-100k" and explicit is not None:
            self.final_config_dict["data_path"] = os.path.join(explicit, self.dataset)

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
