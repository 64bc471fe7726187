"""Equal-budget tuning: one Optuna study per (model, dataset, protocol), resumable, all kept.

* Storage: an Optuna storage URL (default ``sqlite:///<results>/<board>/tuning.db``); a study is
  found again by name, so a killed sweep resumes and several machines can share one study.
* Sampler: TPE, seeded per trial number (``seed`` and the count of trials so far), so a resumed
  sweep asks the same parameters an uninterrupted one would have asked.
* Pruner: the same ``MedianPruner`` for every model, on valid NDCG@10 reported after every
  epoch. Not Hyperband: its resource accounting assumes each trial could run to a fixed
  ``max_resource``, but with early stopping trials end anywhere between a few and hundreds of
  epochs; the median rule compares trials at equal epochs and needs no budget. Its warm-up
  (``n_warmup_steps``) keeps slow starters (small learning rates) from being cut too early.
* Objective: the best validation NDCG@10 of the run (the early-stopping checkpoint), never test:
  a trial never evaluates the test split.
* Budget: ``n_trials`` finished trials (complete, pruned, or failed by an error) per model; a
  trial cut off by a killed driver is marked ``interrupted`` on resume and not counted.

The trial body :func:`run_trial` is a plain function of a picklable spec: the sweep runs it
in-process (:func:`tune`) or as a Ray task (``ray_runs.tune_on_ray``). The driver asks and tells;
the body reports per-epoch values to the storage through its own handle (``optuna.trial.Trial``
on the loaded study), which is what the pruner reads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import yaml

from recbole_llmkg.benchmark.validation_curve import ValidationCurve
from recbole_llmkg.config import Config, properties_dir
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import database_error, write_text_atomic
from recbole_llmkg.quick_start import prepare

DISTRIBUTION_TYPES = ("loguniform", "uniform", "int", "choice")
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)
PRUNER_WARMUP_EPOCHS = 10
PRUNER_STARTUP_TRIALS = 5
ORPHAN_GRACE_S = 60.0
OBJECTIVE = "NDCG@10"  # every study maximises this validation metric


def search_spaces_file() -> Path:
    return properties_dir() / "benchmark" / "search_spaces.yaml"


# ---------------------------------------------------------------------------------------------
# Search spaces
# ---------------------------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    """Optuna choices must be scalars: a list / mapping choice is kept as its JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


@dataclass(frozen=True)
class SearchSpace:
    """A model's distributions (as written in the YAML) and where their ranges come from."""

    model: str
    params: dict[str, dict[str, Any]]
    source: str = ""
    trial_config: dict[str, Any] = field(default_factory=dict)

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for key, spec in self.params.items():
            kind = spec["type"]
            if kind == "choice":
                out[key] = optuna.distributions.CategoricalDistribution(
                    [_encode(v) for v in spec["values"]])
            elif kind == "int":
                out[key] = optuna.distributions.IntDistribution(
                    int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
            else:
                out[key] = optuna.distributions.FloatDistribution(
                    float(spec["low"]), float(spec["high"]), log=kind == "loguniform")
        return out

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Trial params as config values (JSON-encoded list choices back to lists)."""
        out = {}
        for key, value in params.items():
            values = self.params.get(key, {}).get("values", [])
            structured = any(isinstance(v, (list, dict)) for v in values)
            out[key] = json.loads(value) if structured and isinstance(value, str) else value
        return out


def _check_space(model: str, params: Any, where: str) -> None:
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: 'models.{model}.params' must be a mapping, got {params!r}.")
    for key, spec in params.items():
        at = f"{where}: 'models.{model}.params.{key}'"
        if not isinstance(spec, Mapping) or spec.get("type") not in DISTRIBUTION_TYPES:
            raise ConfigError(f"{at} must be {{type: {' | '.join(DISTRIBUTION_TYPES)}, ...}}, "
                              f"got {spec!r}.")
        if spec["type"] == "choice":
            if not isinstance(spec.get("values"), list) or not spec["values"]:
                raise ConfigError(f"{at}: a choice needs a non-empty list 'values'.")
            continue
        low, high = spec.get("low"), spec.get("high")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high or (spec["type"] == "loguniform" and low <= 0):
            raise ConfigError(f"{at}: needs numbers low < high (low > 0 for loguniform); got "
                              f"low={low!r}, high={high!r}.")


def load_search_spaces(path: str | os.PathLike | None = None) -> dict[str, SearchSpace]:
    """Every model's :class:`SearchSpace` from the YAML file (default: the shipped one)."""
    path = Path(path) if path is not None else search_spaces_file()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Search spaces: cannot read '{path}': {error}") from error
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise ConfigError(f"{path}: needs a mapping 'models' (model name -> params, source).")
    trial_config = dict(data.get("trial_config") or {})
    spaces = {}
    for model, entry in models.items():
        params = (entry or {}).get("params", {}) or {}
        _check_space(model, params, str(path))
        spaces[model] = SearchSpace(model, dict(params), str((entry or {}).get("source", "")),
                                    trial_config)
    return spaces


# ---------------------------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------------------------
def default_storage(results_dir: str | os.PathLike, board: str) -> str:
    """``sqlite:///<results_dir>/<board>/tuning.db`` (its folder is created when a study is)."""
    return f"sqlite:///{(Path(results_dir) / board / 'tuning.db').resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage; SQLite waits up to a minute for a lock, so parallel trials can write."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    path = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as error:  # a full disk or read-only folder: one line, not SQLAlchemy's 93
        friendly = database_error(path or url, error)
        if friendly is None:
            raise
        raise friendly from None


def make_pruner() -> optuna.pruners.BasePruner:
    """The one pruner of every study (see the module docstring for the choice)."""
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                       n_warmup_steps=PRUNER_WARMUP_EPOCHS)


@dataclass
class TuningJob:
    """One model's sweep on one (dataset, protocol) split."""

    model: str
    dataset: str
    protocol: str
    space: SearchSpace
    storage: str
    split_config: dict[str, Any] = field(default_factory=dict)  # Split.config(): data_path, ...
    config: dict[str, Any] = field(default_factory=dict)  # board-wide RecBole overrides
    n_trials: int = 20
    seed: int = 2020
    label: str = ""  # the board row (a preset of a model has its own study); default: model
    threads: int | None = None  # torch threads per trial

    def __post_init__(self) -> None:
        chosen = self.config.get("valid_metric", OBJECTIVE)
        if str(chosen).lower() != OBJECTIVE.lower():
            raise ConfigError(f"Tuning {self.model}: config key 'valid_metric' is {chosen!r}, but "
                              f"every study maximises validation {OBJECTIVE}; remove the key.")

    @property
    def study_name(self) -> str:
        return f"{self.dataset}/{self.protocol}/{self.label or self.model}"

    @property
    def budget(self) -> int:
        """Trials this model gets: ``n_trials``, or one when there is nothing to tune."""
        return self.n_trials if self.space.params else 1

    def study(self, sampler_seed: int | None = None) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(seed=sampler_seed)
        return optuna.create_study(storage=open_storage(self.storage), sampler=sampler,
                                   pruner=make_pruner(), study_name=self.study_name,
                                   direction="maximize", load_if_exists=True)


def _driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _driver_alive(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the process that asked a RUNNING trial may still be running it.

    A trial names its driver (``host:pid``); one on this host is alive while that pid is. A
    trial with no driver yet (killed between ``ask`` and tagging) counts as alive for its first
    ``ORPHAN_GRACE_S`` seconds only. Trials of other hosts are never judged from here.
    """
    driver = trial.user_attrs.get("driver")
    if driver is None:
        started = trial.datetime_start or datetime.now()
        return (datetime.now() - started).total_seconds() < ORPHAN_GRACE_S
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial uses up budget: finished, and not cut off by a killed driver."""
    return trial.state in FINISHED and not trial.user_attrs.get("interrupted", False)


def recover_interrupted(study: optuna.Study) -> int:
    """Mark RUNNING trials whose driver process on this host is gone as failed + interrupted
    (they do not count against the budget). Returns how many."""
    stale = [t for t in study.get_trials(deepcopy=False,
                                         states=(optuna.trial.TrialState.RUNNING,))
             if not _driver_alive(t)]
    for frozen in stale:
        trial = optuna.trial.Trial(study, frozen._trial_id)
        trial.set_user_attr("interrupted", True)
        study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
    return len(stale)


def remaining(job: TuningJob, study: optuna.Study) -> int:
    """Trials still to start: the budget less the counted and the running ones."""
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
    return max(0, job.budget - sum(counted(t) for t in trials) - running)


def ask(job: TuningJob) -> tuple[optuna.Study, optuna.trial.Trial, dict[str, Any]]:
    """Start the next trial in the driver: the study, the trial, and the spec of its body."""
    n_before = len(optuna.load_study(study_name=job.study_name,
                                     storage=open_storage(job.storage)).trials)
    study = job.study(sampler_seed=job.seed * 100_003 + n_before)
    trial = study.ask(job.space.distributions())
    trial.set_user_attr("driver", _driver_id())
    params = job.space.decode(trial.params)
    config = {**job.space.trial_config, **job.config, **job.split_config, **params,
              "seed": job.seed, "valid_metric": OBJECTIVE}
    spec = {"model": job.model, "dataset": job.dataset, "config": config,
            "study_name": job.study_name, "storage": job.storage,
            # the storage id (Optuna exposes it only as _trial_id) lets the body report to it
            "trial_id": trial._trial_id, "number": trial.number, "params": params,
            "threads": job.threads}
    return study, trial, spec


def tell(study: optuna.Study, trial: optuna.trial.Trial, result: Mapping[str, Any]) -> None:
    """Record a trial body's result in the study (attributes first: a finished trial is frozen)."""
    for key in ("best_epoch", "epochs", "seconds", "error", "at_cap"):
        if result.get(key) is not None:
            trial.set_user_attr(key, result[key])
    state = {"complete": optuna.trial.TrialState.COMPLETE,
             "pruned": optuna.trial.TrialState.PRUNED}.get(result["state"],
                                                          optuna.trial.TrialState.FAIL)
    value = result.get("value") if state == optuna.trial.TrialState.COMPLETE else None
    if value is not None and not math.isfinite(value):
        state, value = optuna.trial.TrialState.FAIL, None
    study.tell(trial, value, state=state)


# ---------------------------------------------------------------------------------------------
# The trial body
# ---------------------------------------------------------------------------------------------
def run_trial(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train one configuration, early-stopping on valid; never evaluates test, never raises.

    Reports the valid score after every evaluation to the trial in the storage and stops with
    state ``pruned`` when the study's pruner says so.
    """
    if spec.get("threads"):
        import torch

        torch.set_num_threads(int(spec["threads"]))
    start = time.perf_counter()
    result: dict[str, Any] = {"number": spec["number"], "params": dict(spec["params"]),
                              "value": None, "error": None, "epochs": None}
    # The pruner is not stored with a study: without it, load_study would give this trial
    # Optuna's default MedianPruner (no warm-up), which cut slow starters after one epoch.
    study = optuna.load_study(study_name=spec["study_name"], storage=open_storage(spec["storage"]),
                              pruner=make_pruner())
    trial = optuna.trial.Trial(study, spec["trial_id"])  # Optuna names a trial by its id
    curve = ValidationCurve()

    def after_validation(epoch: int, score: float) -> None:
        curve(epoch, score)
        trial.report(float(score), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    try:
        run = prepare(Config(spec["model"], spec["dataset"], config_dict=dict(spec["config"]),
                             cmd_args=[]))
        result["epochs"] = int(run.config["epochs"])
        score, _ = run.trainer.fit(run.train_data, run.valid_data, saved=False,
                                   show_progress=False, callback_fn=after_validation)
        result.update(state="complete", value=float(score))
    except optuna.TrialPruned:
        pruned_value = curve.best_score if curve.best_epoch is not None else None
        result.update(state="pruned", value=pruned_value)
    except Exception as error:  # a failing configuration is a result, not a crash of the sweep
        result.update(state="fail", error="".join(
            traceback.format_exception_only(type(error), error)).strip())
    result.update(valid=curve.scores, best_epoch=curve.best_epoch,
                  seconds=time.perf_counter() - start,
                  at_cap=curve.at_cap(result["epochs"] or 0))
    return result


def tune(job: TuningJob, execute: Callable[[dict[str, Any]], dict[str, Any]] = run_trial,
         on_trial: Callable[[dict[str, Any]], None] | None = None) -> optuna.Study:
    """Run ``job``'s sweep to its budget in this process (resuming any earlier part)."""
    study = job.study()
    recover_interrupted(study)
    while remaining(job, study) > 0:
        study, trial, spec = ask(job)
        result = execute(spec)
        tell(study, trial, result)
        if on_trial is not None:
            on_trial(result)
    return study


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, valid value, best epoch, cap flag, seconds, params,
    and the per-epoch valid curve (``epoch:value`` pairs)."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        curve = " ".join(f"{step}:{v:.4f}" for step, v in sorted(t.intermediate_values.items()))
        state = "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower()
        rows.append({
            "number": t.number, "state": state,
            "value": t.value if t.value is not None else "",
            "best_epoch": t.user_attrs.get("best_epoch", ""),
            "at_cap": t.user_attrs.get("at_cap", ""),
            "seconds": round(t.user_attrs["seconds"], 2) if "seconds" in t.user_attrs else "",
            **{f"param.{k}": v for k, v in sorted(t.params.items())},
            "valid_curve": curve, "error": t.user_attrs.get("error", ""),
        })
    return rows


def write_trials_tables(study: optuna.Study, folder: str | os.PathLike) -> tuple[Path, Path]:
    """``<folder>/<dataset>-<protocol>-<model>.csv`` and ``.md``, written atomically."""
    rows = trials_table(study)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    stem = Path(folder) / study.study_name.replace("/", "-")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    write_text_atomic(csv_path, buffer.getvalue())
    shown = [c for c in columns if c not in ("valid_curve", "error")]
    lines = [f"# Trials of {study.study_name}", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for row in rows:
        cells = [_cell(c, row.get(c, "")) for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    write_text_atomic(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def _cell(column: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if column == "value" else f"{value:.4g}"
    return str(value)


def finished_study(job: TuningJob) -> optuna.Study | None:
    """The job's study when the storage holds it with at least one complete trial, else None."""
    try:
        study = optuna.load_study(study_name=job.study_name, storage=open_storage(job.storage))
    except KeyError:  # no such study in the storage
        return None
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return study if complete else None
