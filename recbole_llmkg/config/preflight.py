"""Config errors in a tenth of a second: the command line checked before torch is imported.

``python run_recbole_llmkg.py -m BPR -d ml-100k --epochz=3`` used to import torch, RecBole's
evaluator (scikit-learn, scipy) and pandas, about 3 s, before :class:`recbole_llmkg.Config`
found the typo. :func:`preflight` runs first, with only the standard library and PyYAML: the
model name, every key given on the command line or in ``--config_files`` (against the same
known keys :mod:`~recbole_llmkg.config.keys` uses), and the command-line values that have a
rule in :mod:`~recbole_llmkg.config.checks`. It only refuses what the full check would refuse;
whatever it cannot judge without the model class (model-specific rules, values RecBole's
``eval`` would compute) is left to the full :class:`~recbole_llmkg.Config` check, which still runs.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recbole_llmkg.config import keys as config_keys
from recbole_llmkg.errors import ConfigError

UNJUDGED = object()  # a value RecBole would compute with ``eval`` (``1/1000``): not checked here


def _typed(text: str) -> Any:
    """A command-line value as RecBole's ``eval`` would type it, where that is certain."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        expression = ast.parse(text, mode="eval").body
    except SyntaxError:
        expression = None
    if expression is not None and not isinstance(expression, ast.Name):
        return UNJUDGED
    lowered = text.lower()  # a bare word: RecBole keeps the string (true/false: a bool)
    return True if lowered == "true" else False if lowered == "false" else text


def command_line_values(cmd_args: Sequence[str]) -> dict[str, Any]:
    """``--key=value`` arguments typed as RecBole types them (``3`` -> 3, ``[10, 20]`` -> list,
    ``true`` -> True, ``add`` -> 'add'); :data:`UNJUDGED` for an expression RecBole evaluates."""
    values: dict[str, Any] = {}
    for arg in cmd_args:
        if arg.startswith("--") and "=" in arg:
            key, text = arg[2:].split("=", 1)
            values[key] = _typed(text)
    return values


def _file_settings(config_files: Sequence[str]) -> tuple[dict[str, str], Any]:
    """Top-level keys of the config files with where each came from, and the files'
    ``extra_config_keys`` (the last file that sets it wins, as in RecBole)."""
    import yaml

    origins: dict[str, str] = {}
    declared = None
    for name in config_files:
        try:
            body = yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue  # the full Config reports unreadable files with its own message
        if isinstance(body, dict):
            origins.update({str(key): f"config file '{name}'" for key in body})
            declared = body.get(config_keys.EXTRA_KEYS_KEY, declared)
    return origins, declared


def dataset_folder(dataset: str, data_path: Any) -> Path | None:
    """The folder the Config would read ``dataset`` from: an explicit ``data_path``, else the
    first of :func:`recbole_llmkg.paths.dataset_search_roots` that holds it."""
    from recbole_llmkg.paths import dataset_search_roots

    if data_path:
        return Path(str(data_path)) / dataset
    return next((root / dataset for root in dataset_search_roots(dataset=dataset)
                 if (root / dataset).is_dir()), None)


def _check_model(model: str) -> None:
    """A registered name, or ``package.module:Class`` whose module is on ``sys.path`` (found,
    not imported: whether it defines the class is the full check's to say)."""
    from recbole_llmkg import registry

    if model in registry.available_models():
        return
    parts = registry.split_class_path(model)
    if parts is None:
        raise registry.unknown_model_error(model, "--model")
    if registry.find_module_file(parts[0]) is None:
        raise registry.missing_module_error(model, parts[0])


def model_rule_files(model: str) -> list[Path]:
    """The YAML files of ``model`` and its ancestors (defaults and value rules), found by reading
    sources, not importing them: works for plugin, RecBole and out-of-tree models."""
    from recbole_llmkg.config.checks import rule_files
    from recbole_llmkg.registry import model_source, source_lineage

    source = model_source(model)
    return rule_files(source_lineage(*source)) if source is not None else []


def _check_values(values: Mapping[str, Any], files: Sequence[Path]) -> None:
    """The shared rules and those the model's YAML files declare."""
    from recbole_llmkg.config.checks import declared_rules, rule_for

    declared = declared_rules(files)
    for key, value in values.items():
        if value is UNJUDGED:
            continue
        check = rule_for(key, declared)
        if check is not None and not check.test(value):
            raise ConfigError(
                f"Config key '{key}' = {value!r} (command line) is not allowed: it must be "
                f"{check.allowed}. Fix it with --{key}=..."
            )


def preflight(model: str | None, dataset: str | None, cmd_args: Sequence[str],
              config_files: Sequence[str] | None = None) -> None:
    """Raise a :class:`ConfigError` for a bad model name, key or value the command names."""
    if model:
        _check_model(model)
    files = model_rule_files(model) if model else []
    values = command_line_values(cmd_args)
    origins, declared = _file_settings(config_files or ())
    origins.update(dict.fromkeys(values, "command line"))
    declared = values.get(config_keys.EXTRA_KEYS_KEY, declared)
    known = set(config_keys.static_known_keys())
    for file in files:  # an out-of-tree model's own keys are known by its YAML
        known |= config_keys.yaml_keys_of(file)
    if dataset:
        folder = dataset_folder(dataset, values.get("data_path"))
        if folder is not None:
            known |= config_keys.atomic_file_fields(folder, dataset)
    try:
        extra = config_keys.extra_keys(declared, "command line")
    except ConfigError:
        return  # a malformed extra_config_keys: the full check names it
    config_keys.check_known(origins, known, extra)
    if model:
        _check_values(values, files)
