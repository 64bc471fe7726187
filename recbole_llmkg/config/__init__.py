"""Configuration: the plugin's :class:`Config`, its key registry, value rules and preflight.

* :mod:`.configurator`: :class:`Config`, RecBole's Config that knows the plugin's models and
  YAML defaults (the name follows RecBole's ``recbole/config/configurator.py``).
* :mod:`.keys`: the config keys anyone reads (a misspelled key is an error).
* :mod:`.checks`: allowed values of keys, and the files and packages a setting needs.
* :mod:`.preflight`: the command line checked before torch is imported.

``Config`` loads on first access (PEP 562): importing :mod:`.preflight` or :mod:`.keys` through
this package must not import torch or RecBole. ``recbole_llmkg.config.Config`` is also the name
checkpoints pickle (:attr:`Config.__module__` says so), as it was when this was one module.
"""

from __future__ import annotations

from typing import Any

from recbole_llmkg.paths import datasets_dir, properties_dir

__all__ = ["Config", "datasets_dir", "properties_dir"]


def __getattr__(name: str) -> Any:
    if name == "Config":
        from recbole_llmkg.config.configurator import Config

        globals()["Config"] = Config
        return Config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
