"""The benchmark file format: load, validate, apply a profile, and expand into runs.

A benchmark file is YAML (see ``properties/benchmark/*.yaml``)::

    name: ml-100k                   # results go to <output_dir>/<name>/ (output_dir: results);
                                    # a non-empty profile's to <output_dir>/<name>-<profile>/
    datasets: [ml-100k]
    models:                         # plugin or RecBole names; a mapping adds a label/overrides
      - EASE
      - {name: BPR, label: BPR-64, config: {embedding_size: 64}}
      - {name: CFKG, table: untuned}  # table: main (default) / untuned / ablation; tune: true
                                      # for main-table models unless set
      - {name: RippleNet, table: untuned, skip: "too slow here"}  # listed, not run: the
                                      # row shows the reason (remove skip to run it)
    seeds: [2020, 2021, 2022]
    protocols: [standard, {name: cold_item, cold_fraction: 0.1}]
    metrics: [Recall, NDCG, MRR, Hit, ItemCoverage]
    topk: [10, 20]
    headline: NDCG@10               # sorts the leaderboard; also valid_metric unless given
    eval_batch_size: 4096           # required: fixed per benchmark, recorded in every run
    threads: 1                      # torch threads per run (null: torch's default)
    isolation: ray                  # Ray tasks (default); subprocess (one child per run, in
                                    # turn); inline (same process; for tests)
    timeout: 1800                   # seconds per run (subprocess only)
    n_trials: 20                    # completed Optuna trials per tuned model before the seed runs
                                    # (>= 10; 0: reuse the studies in the storage, else defaults)
    tuning_storage: null            # Optuna URL (default sqlite <output_dir>/<name>/tuning.db)
    ray_address: null               # an existing Ray cluster (default: a local instance)
    num_cpus: null                  # local Ray instance: CPUs (default: every core), 1 per run
    gpus_per_run: 0
    config: {epochs: 100, stopping_step: 10}   # RecBole overrides for every run
    profiles:                       # --profile NAME lays one of these over the settings above
      quick:
        seeds: [2020]
        config: {epochs: 5}         # merged key by key into ``config``
        model_config: {BPR: {epochs: 40}}      # merged into that model's ``config``
      full: {}

A profile may replace any top-level setting except ``name``, ``eval_batch_size`` and
``output_dir``; a plain name in a profile's ``models`` reuses the top-level entry of that label.
Config precedence for a run, lowest first: RecBole and plugin defaults < ``config`` < profile
``config`` < the model's ``config`` < profile ``model_config`` < command-line ``--key=value``.
The benchmark's own keys (seed, metrics, topk, valid_metric, eval_batch_size, the protocol's
split settings) cannot be overridden from ``config``.

Every mistake raises :class:`~recbole_llmkg.errors.ConfigError` naming the file and the key path
(``models[2].config``), because a typo found after an hour of training is an hour lost.

Run keys hash the fully resolved run (dataset, model, label, every config value, seed, protocol
and its parameters, threads) and the identity of the code that trains it
(:func:`~recbole_llmkg.benchmark.provenance.code_identity`: the model's modules, the plugin's
core and default YAML files): a profile that resolves to the same run reuses its result, and
anything set in the file, on the command line or in the model's code that changes the numbers
changes the key. Records saved under an older key stay on disk and are shown by ``--report``;
the runner redoes them (key format 1 had no code identity).
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from recbole_llmkg.benchmark.protocols import ProtocolEntry, parse_protocol
from recbole_llmkg.benchmark.provenance import code_identity
from recbole_llmkg.benchmark.slices import sparse_label
from recbole_llmkg.benchmark.targets import Target, parse_targets
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import file_sha256

KEY_FORMAT_VERSION = 2  # 2: the key covers the code identity

TOP_LEVEL_KEYS = (
    "name", "description", "output_dir", "datasets", "models", "seeds", "protocols", "metrics",
    "topk", "headline", "valid_metric", "eval_batch_size", "config", "isolation", "timeout",
    "threads", "profiles", "n_trials", "tuning_storage", "ray_address", "num_cpus",
    "gpus_per_run", "side_files", "targets",
)
PROFILE_KEYS = (
    "description", "datasets", "models", "seeds", "protocols", "metrics", "topk", "headline",
    "valid_metric", "config", "model_config", "isolation", "timeout", "threads", "n_trials",
    "tuning_storage", "ray_address", "num_cpus", "gpus_per_run",
)
MODEL_KEYS = ("name", "label", "config", "table", "tune", "skip")
ISOLATIONS = ("ray", "subprocess", "inline")
TABLES = ("main", "untuned", "ablation")  # a model entry's table on the leaderboard
# Execution order of the tables: the rows the board's claims rest on (main, then the ablations
# that explain them) before the untuned reference rows, so a partial board answers first what
# matters most.
RUN_ORDER = ("main", "ablation", "untuned")
# Dataset files a board may replace in every split (``side_files``): not the interactions.
SIDE_FILE_SUFFIXES = ("link", "kg", "item", "user")

# Keys the benchmark itself decides; a run-level ``config`` may not set them.
RESERVED_CONFIG_KEYS = {
    "model": "models", "dataset": "datasets", "seed": "seeds", "metrics": "metrics",
    "topk": "topk", "valid_metric": "valid_metric", "eval_batch_size": "eval_batch_size",
    "eval_args": "protocols", "benchmark_filename": "protocols", "checkpoint_dir": None,
}


@dataclass(frozen=True)
class ModelEntry:
    """One leaderboard row: a model name, its display label and its config overrides."""

    name: str
    label: str
    config: dict[str, Any] = field(default_factory=dict)
    table: str = "main"  # main / untuned / ablation
    tune: bool = True  # searched before the seed runs (when the board has n_trials > 0)
    # Why the row is listed but not run (e.g. too slow for the board's machine); its runs stay
    # in the plan, so the tables show the row with this reason, and no run is started or tuned.
    # Not part of a run's identity: removing it later runs the same keys.
    skip: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """One (dataset, model, seed, protocol) cell, fully resolved."""

    dataset: str
    model: ModelEntry
    seed: int
    protocol: ProtocolEntry
    config: dict[str, Any]
    threads: int | None = None
    side_files: dict[str, str] = field(default_factory=dict)  # suffix -> replacement file

    def identity(self) -> dict[str, Any]:
        """Everything that can change the result: what the key hashes (a replaced side file by
        its content and the code by :func:`code_identity`, so the key does not depend on where
        the checkout lives)."""
        identity = {
            "v": KEY_FORMAT_VERSION,
            "dataset": self.dataset,
            "model": self.model.name,
            "label": self.model.label,
            "seed": self.seed,
            "protocol": {"name": self.protocol.name, **self.protocol.params},
            "config": self.config,
            "threads": self.threads,
            "code": code_identity(self.model.name),
        }
        if self.side_files:
            identity["side_files"] = {suffix: file_sha256(path)
                                      for suffix, path in sorted(self.side_files.items())}
        return identity

    @property
    def key(self) -> str:
        """Readable prefix plus a hash of :meth:`identity`; the run's file name under runs/."""
        blob = json.dumps(self.identity(), sort_keys=True, default=str, separators=(",", ":"))
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        parts = [self.dataset, self.model.label, self.protocol.slug, f"seed{self.seed}", digest]
        return "__".join(_safe(p) for p in parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": {"name": self.model.name, "label": self.model.label,
                      "config": self.model.config, "table": self.model.table,
                      "tune": self.model.tune, "skip": self.model.skip},
            "seed": self.seed,
            "protocol": {"name": self.protocol.name, "params": self.protocol.params},
            "config": self.config,
            "threads": self.threads,
            "side_files": self.side_files,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        model = data["model"]
        protocol = data["protocol"]
        return cls(
            dataset=data["dataset"],
            model=ModelEntry(model["name"], model["label"], dict(model["config"]),
                             model.get("table", "main"), bool(model.get("tune", True)),
                             model.get("skip")),
            seed=int(data["seed"]),
            protocol=ProtocolEntry(protocol["name"], dict(protocol["params"])),
            config=dict(data["config"]),
            threads=data.get("threads"),
            side_files=dict(data.get("side_files") or {}),
        )


@dataclass
class BenchmarkSpec:
    """A validated benchmark file with one profile applied."""

    name: str
    path: Path
    profile: str | None
    datasets: list[str]
    models: list[ModelEntry]
    seeds: list[int]
    protocols: list[ProtocolEntry]
    metrics: list[str]
    topk: list[int]
    headline: str
    valid_metric: str
    eval_batch_size: int
    config: dict[str, Any]
    isolation: str = "ray"
    timeout: float | None = None
    threads: int | None = None
    output_dir: str = "results"
    n_trials: int = 0  # tuning trials per tuned model; 0 reuses studies already in the storage
    tuning_storage: str | None = None  # Optuna storage URL; None: <output_dir>/<name>/tuning.db
    ray_address: str | None = None  # join this Ray cluster; None: a local instance
    num_cpus: int | None = None  # local Ray instance size; None: every core
    gpus_per_run: float = 0.0
    description: str = ""
    folder: str = ""  # results folder name: ``name``, or ``name-profile`` for a profile
    # per dataset, files that replace the dataset folder's own in every split (e.g. a corrected
    # ``.link``): suffix -> absolute path
    side_files: dict[str, dict[str, str]] = field(default_factory=dict)
    # the claims the board tests (:mod:`~recbole_llmkg.benchmark.targets`), the same for every
    # profile: a profile without their rows shows them as not run
    targets: list[Target] = field(default_factory=list)


    @property
    def headline_key(self) -> str:
        """The headline as RecBole names it in result dicts (lower case, e.g. ``ndcg@10``)."""
        return self.headline.lower()

    @property
    def results_dir(self) -> Path:
        """``<output_dir>/<name>/``; a profile that changes anything writes to
        ``<output_dir>/<name>-<profile>/``, so ``make run`` (quick) never overwrites the full
        leaderboard."""
        return Path(self.output_dir) / _safe(self.folder or self.name)

    def runs(self, overrides: Mapping[str, Any] | None = None) -> list[RunSpec]:
        """Every (dataset, protocol, model, seed) run, in the order they are executed: per
        dataset, main-table rows of every protocol, then ablations, then untuned rows
        (``RUN_ORDER``); within a table, protocols, models and seeds in file order (a
        protocol's own ``models`` list, where it has one, gives its rows and their order).

        ``overrides`` (command-line ``--key=value``) beat the file's settings for every run, but
        not the keys the benchmark fixes (seed, metrics, protocol...).
        """
        overrides = dict(overrides or {})
        for key in overrides:
            if key in RESERVED_CONFIG_KEYS:
                raise ConfigError(
                    f"Command-line override '--{key}' is fixed by the benchmark file "
                    f"{self.path}; edit its '{RESERVED_CONFIG_KEYS[key] or key}' instead."
                )
        fixed = {
            "metrics": list(self.metrics),
            "topk": list(self.topk),
            "valid_metric": self.valid_metric,
            "eval_batch_size": self.eval_batch_size,
        }
        plan = []
        for dataset in self.datasets:
            for protocol, model in self._rows_in_run_order():
                config = _merge(self.config, model.config, overrides)
                for seed in self.seeds:
                    run_config = {**config, **fixed, "seed": seed}
                    plan.append(RunSpec(dataset, model, seed, protocol, run_config,
                                        self.threads, dict(self.side_files.get(dataset, {}))))
        return plan

    def _rows_in_run_order(self) -> Iterator[tuple[ProtocolEntry, ModelEntry]]:
        """(protocol, row) pairs: per table of ``RUN_ORDER``, protocols in file order, each
        protocol's rows in its own ``models`` order where it has one, else the file's."""
        for table in RUN_ORDER:
            for protocol in self.protocols:
                for model in _in_protocol_order(self.models, protocol):
                    if model.table == table:
                        yield protocol, model


def _in_protocol_order(models: list[ModelEntry], protocol: ProtocolEntry) -> list[ModelEntry]:
    """The rows ``protocol`` runs: all of ``models``, or those its ``models`` list names, in
    that list's order."""
    if not protocol.models:
        return models
    by_label = {model.label: model for model in models}
    return [by_label[label] for label in protocol.models if label in by_label]


def resolve_path(path: str | Path) -> Path:
    """A benchmark file path, or a bare name found in the plugin's ``properties/benchmark/``."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    from recbole_llmkg.config import properties_dir

    shipped = properties_dir() / "benchmark" / f"{candidate.stem}.yaml"
    if candidate.suffix in ("", ".yaml", ".yml") and candidate.parent == Path(".") \
            and shipped.is_file():
        return shipped
    raise ConfigError(f"Benchmark file '{path}' does not exist (--benchmark).")


def load_benchmark(
    path: str | Path, profile: str | None = None, check_models: bool = True
) -> BenchmarkSpec:
    """Read, validate and apply ``profile`` (``None``: the file's top-level settings).

    ``check_models=False`` skips resolving model names (for tools that only read the file).
    """
    path = resolve_path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping of keys (name, datasets, models, ...).")
    _check_keys(raw, TOP_LEVEL_KEYS, where, "")
    for required in ("name", "datasets", "models", "seeds", "protocols", "metrics", "topk",
                     "headline", "eval_batch_size"):
        if required not in raw:
            raise ConfigError(f"{where}: missing required key '{required}'.")

    settings = copy.deepcopy(raw)
    profiles = settings.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{where}: key 'profiles' must map a profile name to its settings.")
    for name, body in profiles.items():
        if body is not None and not isinstance(body, dict):
            raise ConfigError(f"{where}: key 'profiles.{name}' must be a mapping (or empty).")
        _check_keys(body or {}, PROFILE_KEYS, where, f"profiles.{name}.")
    base_models = _parse_models(settings["models"], where, "models", check_models, {})
    protocols = _check_protocols(settings["protocols"], _KeyPath(where, "", set()))
    targets = parse_targets(
        settings.get("targets"), where, "targets",
        [m.label for m in base_models if m.table in ("main", "ablation")],
        [*(p.slug for p in protocols),  # and each standard protocol's sparse-user table
         *(sparse_label(p.slug) for p in protocols if p.name == "standard")])
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(profiles) or "none defined"
            raise ConfigError(f"{where}: unknown profile '{profile}' (--profile); "
                              f"profiles: {known}.")
        settings = _apply_profile(settings, profiles[profile] or {}, where, profile,
                                  base_models, check_models)
        models = settings.pop("_models")
    else:
        models = base_models
    return _build(settings, models, path, profile, targets)


def parse_overrides(args: Iterable[str]) -> dict[str, Any]:
    """``--key=value`` strings into a dict, typed as RecBole's command line types them.

    A Python literal first (``1e-3``, ``None``, ``[10, 20]``), then YAML (``true``,
    ``[a, b]``), else the string itself.
    """
    parsed: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"Config override '{arg}' must be written --key=value.")
        key, value = arg[2:].split("=", 1)
        parsed[key] = _typed(value)
    return parsed


def _typed(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


# --- validation helpers ---------------------------------------------------------------------


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-") or "x"


def _merge(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers win; nested mappings merge key by key (e.g. ``train_neg_sample_args``)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def _check_keys(body: Mapping[str, Any], allowed: Iterable[str], where: str, prefix: str) -> None:
    allowed = list(allowed)
    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'.{hint} "
                              f"Allowed: {', '.join(allowed)}.")


def _check_config(config: Any, where: str, key: str) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: key '{key}' must be a mapping of RecBole config keys.")
    for name in config:
        if name in RESERVED_CONFIG_KEYS:
            owner = RESERVED_CONFIG_KEYS[name]
            fix = f"set the top-level '{owner}' instead" if owner else "the runner manages it"
            raise ConfigError(f"{where}: key '{key}.{name}' is fixed by the benchmark: {fix}.")
    return dict(config)


def _parse_models(
    entries: Any, where: str, key: str, check: bool, known: Mapping[str, ModelEntry]
) -> list[ModelEntry]:
    """Model entries; a bare string matching a label in ``known`` reuses that entry."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: key '{key}' must be a non-empty list of model names.")
    models: list[ModelEntry] = []
    for i, entry in enumerate(entries):
        at = f"{key}[{i}]"
        if isinstance(entry, str) and entry in known:
            models.append(known[entry])
            continue
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: key '{at}' must be a model name or a mapping "
                              "with 'name' (and optional 'label', 'config').")
        _check_keys(entry, MODEL_KEYS, where, f"{at}.")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: key '{at}.name' is required (a model name).")
        if check:
            _check_model(name, where, f"{at}.name")
        label = str(entry.get("label") or name)
        config = _check_config(entry.get("config"), where, f"{at}.config")
        table = entry.get("table", "main")
        if table not in TABLES:
            raise ConfigError(f"{where}: key '{at}.table' must be one of {', '.join(TABLES)}, "
                              f"got {table!r}.")
        tune = entry.get("tune", table == "main")
        if not isinstance(tune, bool):
            raise ConfigError(f"{where}: key '{at}.tune' must be true or false, got {tune!r}.")
        skip = entry.get("skip")
        if skip is not None and (not isinstance(skip, str) or not skip.strip()):
            raise ConfigError(f"{where}: key '{at}.skip' must be the reason the row is not run "
                              f"(a non-empty string), got {skip!r}; remove the key to run it.")
        models.append(ModelEntry(name, label, config, table, tune and skip is None, skip))
    labels = [m.label for m in models]
    for label in labels:
        if labels.count(label) > 1:
            raise ConfigError(f"{where}: key '{key}' lists '{label}' twice; give repeated "
                              "models distinct 'label's.")
    return models


def _check_model(name: str, where: str, key: str) -> None:
    from recbole_llmkg.registry import get_model

    try:
        get_model(name)
    except ConfigError as error:
        first = str(error).splitlines()[0].replace(" (config key 'model')", "")
        raise ConfigError(f"{where}: key '{key}': {first}") from error


def _apply_profile(
    settings: dict[str, Any], body: Mapping[str, Any], where: str, profile: str,
    base_models: list[ModelEntry], check: bool,
) -> dict[str, Any]:
    """The top-level settings with one profile laid over them (``config`` merges key by key)."""
    prefix = f"profiles.{profile}"
    result = dict(settings)
    known = {m.label: m for m in base_models}
    models = base_models
    if "models" in body:
        models = _parse_models(body["models"], where, f"{prefix}.models", check, known)
    model_config = body.get("model_config") or {}
    if not isinstance(model_config, dict):
        raise ConfigError(f"{where}: key '{prefix}.model_config' must map a model label to "
                          "config overrides.")
    labels = [m.label for m in models]
    for label, extra in model_config.items():
        if label not in labels:
            raise ConfigError(f"{where}: key '{prefix}.model_config.{label}' names no model of "
                              f"this profile (models: {', '.join(labels)}).")
        extra = _check_config(extra, where, f"{prefix}.model_config.{label}")
        models = [replace(m, config=_merge(m.config, extra)) if m.label == label else m
                  for m in models]
    for key, value in body.items():
        if key in ("models", "model_config"):
            continue
        if key == "config":
            base = _check_config(settings.get("config"), where, "config")
            result["config"] = _merge(base, _check_config(value, where, f"{prefix}.config"))
        else:
            result[key] = value
    result["_models"] = models
    result["_prefix"] = f"{prefix}."
    result["_set"] = set(body)
    return result


def _list_of(value: Any, kind: type, where: str, key: str) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{where}: key '{key}' must be a {kind.__name__} or a non-empty list "
                          f"of them, got {value!r}.")
    if len(set(values)) != len(values):
        raise ConfigError(f"{where}: key '{key}' repeats a value: {value!r}.")
    return values


class _KeyPath:
    """Names a setting as the user wrote it: the profile's key if the profile set it."""

    def __init__(self, where: str, prefix: str, from_profile: set[str]) -> None:
        self.where = where
        self._prefix = prefix
        self._from_profile = from_profile

    def __call__(self, name: str) -> str:
        return f"{self._prefix}{name}" if name in self._from_profile else name


def _build(
    settings: dict[str, Any], models: list[ModelEntry], path: Path, profile: str | None,
    targets: list[Target],
) -> BenchmarkSpec:
    """Validate the merged settings and build the spec, one named check per group of keys."""
    where = str(path)
    prefix = settings.pop("_prefix", "")
    from_profile = settings.pop("_set", set())
    key = _KeyPath(where, prefix, from_profile)
    name = settings["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: key 'name' must be a non-empty string.")
    datasets = _list_of(settings["datasets"], str, where, key("datasets"))
    config = _check_config(settings.get("config"), where, "config")
    for i, dataset in enumerate(datasets):
        _check_dataset(dataset, config, where, f"{key('datasets')}[{i}]")
    side_files = _check_side_files(settings.get("side_files"), datasets, path, key)
    seeds = _list_of(settings["seeds"], int, where, key("seeds"))
    metrics, topk, headline, valid_metric = _check_metrics(settings, key)
    batch = settings["eval_batch_size"]
    if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
        raise ConfigError(f"{where}: key 'eval_batch_size' must be a positive integer.")
    protocols = _check_protocols(settings["protocols"], key)
    labels = {model.label for model in models}
    for i, protocol in enumerate(protocols):
        unknown = [label for label in protocol.models if label not in labels]
        if unknown and profile is None:  # a profile may leave rows out: they are skipped
            raise ConfigError(f"{where}: key '{key('protocols')}[{i}].models': {unknown[0]!r} is "
                              f"not a model label of this board ({', '.join(sorted(labels))}).")
    isolation, timeout, threads = _check_execution(settings, key)
    tuning = _check_tuning(settings, key)
    output_dir = settings.get("output_dir", "results")
    if not isinstance(output_dir, str):
        raise ConfigError(f"{where}: key 'output_dir' must be a path.")
    return BenchmarkSpec(
        name=name.strip(), path=path, profile=profile, datasets=datasets, models=models,
        seeds=seeds, protocols=protocols, metrics=metrics, topk=topk,
        headline=headline, valid_metric=valid_metric, eval_batch_size=batch,
        config=config, isolation=isolation, timeout=timeout, threads=threads,
        output_dir=output_dir, **tuning,
        description=str(settings.get("description") or ""),
        side_files=side_files, targets=targets,
        folder=f"{name.strip()}-{profile}" if profile and from_profile else name.strip(),
    )


def _check_metrics(settings: Mapping[str, Any], key: _KeyPath) -> tuple[list[str], list[int],
                                                                         str, str]:
    """``metrics`` (RecBole ranking metrics), ``topk``, ``headline`` and ``valid_metric``."""
    from recbole.evaluator.register import metric_types
    from recbole.utils import EvaluatorType

    where = key.where
    metrics = _list_of(settings["metrics"], str, where, key("metrics"))
    for metric in metrics:
        kind = metric_types.get(metric.lower())
        if kind is None:
            known = sorted(m for m, t in metric_types.items() if t == EvaluatorType.RANKING)
            raise ConfigError(f"{where}: key '{key('metrics')}': unknown metric '{metric}'. "
                              f"Ranking metrics: {', '.join(known)}.")
        if kind != EvaluatorType.RANKING:
            raise ConfigError(f"{where}: key '{key('metrics')}': '{metric}' is a value metric; "
                              "the protocols here rank all items, so use ranking metrics.")
    topk = _list_of(settings["topk"], int, where, key("topk"))
    if any(k <= 0 for k in topk):
        raise ConfigError(f"{where}: key '{key('topk')}' must hold positive integers.")
    headline = _check_metric_at_k(settings["headline"], metrics, topk, where, key("headline"))
    valid_metric = _check_metric_at_k(settings.get("valid_metric", headline), metrics, topk,
                                      where, key("valid_metric"))
    return metrics, topk, headline, valid_metric


def _check_protocols(raw: Any, key: _KeyPath) -> list[ProtocolEntry]:
    """The ``protocols`` list, each parsed with its parameters; no protocol twice."""

    where = key.where
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: key '{key('protocols')}' must be a non-empty list.")
    protocols = [parse_protocol(p, where, f"{key('protocols')}[{i}]") for i, p in enumerate(raw)]
    slugs = [p.slug for p in protocols]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"{where}: key '{key('protocols')}' lists a protocol twice.")
    return protocols


def _check_execution(settings: Mapping[str, Any],
                     key: _KeyPath) -> tuple[str, float | None, int | None]:
    """How runs execute: ``isolation``, ``timeout`` (seconds) and ``threads``."""
    where = key.where
    isolation = settings.get("isolation", "ray")
    if isolation not in ISOLATIONS:
        raise ConfigError(f"{where}: key '{key('isolation')}' must be one of "
                          f"{', '.join(ISOLATIONS)}.")
    timeout = settings.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"{where}: key '{key('timeout')}' must be a positive number of seconds.")
    threads = settings.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                or threads <= 0):
        raise ConfigError(f"{where}: key '{key('threads')}' must be a positive integer "
                          "(torch threads per run) or null (torch's default).")
    return isolation, float(timeout) if timeout is not None else None, threads


def _check_tuning(settings: Mapping[str, Any], key: _KeyPath) -> dict[str, Any]:
    """Tuning and Ray settings: ``n_trials``, ``tuning_storage``, ``ray_address``, ``num_cpus``,
    ``gpus_per_run``."""
    where = key.where
    n_trials = settings.get("n_trials", 0)
    minimum = 10  # tuning.MIN_COMPLETED_TRIALS (that module imports optuna and RecBole)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 0 \
            or 0 < n_trials < minimum:
        raise ConfigError(f"{where}: key '{key('n_trials')}' must be 0 (reuse finished studies) "
                          f"or at least {minimum} (completed trials per tuned "
                          f"model), got {n_trials!r}.")
    for name in ("tuning_storage", "ray_address"):
        value = settings.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: key '{key(name)}' must be a non-empty string or null, "
                              f"got {value!r}.")
    num_cpus = settings.get("num_cpus")
    if num_cpus is not None and (not isinstance(num_cpus, int) or isinstance(num_cpus, bool)
                                 or num_cpus <= 0):
        raise ConfigError(f"{where}: key '{key('num_cpus')}' must be a positive integer or null "
                          f"(every core), got {num_cpus!r}.")
    gpus = settings.get("gpus_per_run", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or gpus < 0:
        raise ConfigError(f"{where}: key '{key('gpus_per_run')}' must be a number >= 0, "
                          f"got {gpus!r}.")
    return {"n_trials": n_trials, "tuning_storage": settings.get("tuning_storage"),
            "ray_address": settings.get("ray_address"), "num_cpus": num_cpus,
            "gpus_per_run": float(gpus)}


def _check_dataset(name: str, config: Mapping[str, Any], where: str, key: str) -> None:
    """A dataset folder must exist (``data_path``, the plugin's ``datasets/``), or RecBole must
    know it (bundled ml-100k, or one of the datasets it can download)."""
    from recbole_llmkg.config.keys import recbole_dir
    from recbole_llmkg.paths import dataset_search_roots, datasets_dir

    data_path = Path(str(config.get("data_path", "dataset/")))
    if any((root / name).is_dir() for root in dataset_search_roots(data_path)):
        return
    downloadable: set[str] = set()
    for listing in ("url.yaml", "kg_url.yaml"):
        path = recbole_dir() / "properties" / "dataset" / listing
        if path.is_file():
            downloadable |= set(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    if name not in downloadable:
        raise ConfigError(f"{where}: key '{key}': unknown dataset '{name}': no folder "
                          f"'{data_path / name}' (config 'data_path'), none shipped with the "
                          f"plugin ('{datasets_dir()}'), and RecBole cannot download it.")


def _check_side_files(raw: Any, datasets: list[str], path: Path,
                      key: _KeyPath) -> dict[str, dict[str, str]]:
    """``side_files: {<dataset>: {<suffix>: <file>}}``: files that replace the dataset folder's
    own ``<dataset>.<suffix>`` in every split (every model, plugin or built-in, reads them).
    A relative file is looked up from the working directory, then from the benchmark file's
    folder, then from the repository root."""
    where = key.where
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: key '{key('side_files')}' must map a dataset to "
                          "{suffix: file}, e.g. {ml-100k: {link: datasets/fixes/ml-100k.link}}.")
    resolved: dict[str, dict[str, str]] = {}
    for dataset, files in raw.items():
        here = f"{key('side_files')}.{dataset}"
        if dataset not in datasets:
            raise ConfigError(f"{where}: key '{here}': '{dataset}' is not in 'datasets' "
                              f"({', '.join(datasets)}).")
        if not isinstance(files, dict) or not files:
            raise ConfigError(f"{where}: key '{here}' must map a file suffix "
                              f"({', '.join(SIDE_FILE_SUFFIXES)}) to a file.")
        resolved[dataset] = {}
        for suffix, name in files.items():
            if suffix not in SIDE_FILE_SUFFIXES:
                raise ConfigError(f"{where}: key '{here}.{suffix}': a board may replace "
                                  f"{', '.join(SIDE_FILE_SUFFIXES)} files, not '{suffix}' (the "
                                  "interactions are split, never replaced).")
            candidates = [Path(str(name)), path.parent / str(name),
                          Path(__file__).resolve().parents[2] / str(name)]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise ConfigError(f"{where}: key '{here}.{suffix}': file '{name}' not found "
                                  "(looked in the working directory, beside the benchmark file "
                                  "and in the repository root).")
            resolved[dataset][suffix] = str(found.resolve())
    return resolved


def _check_metric_at_k(value: Any, metrics: list[str], topk: list[int], where: str,
                       key: str) -> str:
    """``Metric@k`` with the metric listed in ``metrics`` and k in ``topk``."""
    if not isinstance(value, str) or "@" not in value:
        raise ConfigError(f"{where}: key '{key}' must look like 'NDCG@10', got {value!r}.")
    metric, _, k = value.partition("@")
    by_lower = {m.lower(): m for m in metrics}
    if metric.lower() not in by_lower:
        raise ConfigError(f"{where}: key '{key}': metric '{metric}' is not in 'metrics' "
                          f"({', '.join(metrics)}).")
    if not k.isdigit() or int(k) not in topk:
        raise ConfigError(f"{where}: key '{key}': k={k} is not in 'topk' {topk}.")
    return f"{by_lower[metric.lower()]}@{int(k)}"
