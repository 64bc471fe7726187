"""Equal-budget tuning: one Optuna study per (model, dataset, protocol, settings), resumable.

* Storage: an Optuna storage URL (default ``sqlite:///<results>/<board>/tuning.db``); a study is
  found again by name, so a killed sweep resumes and several machines can share one study.
* Identity: a study is named ``<dataset>/<protocol>/<label>@<hash>``, the hash over everything
  that changes a trial's result (:meth:`TuningJob.identity`: split fingerprint and replaced side
  files, the board's and profile's config with the model's, search space, trial settings,
  pruner, sampler seed, threads, the model's code identity). Changed settings start a new
  study (logged once, naming what changed); trials of different settings are never mixed.
  The budget ``n_trials`` is not part of it: a larger budget continues the same sequence.
* Sampler: TPE, seeded per trial position (``seed`` and the count of trials so far that were not
  cut off by a kill), one trial of a study at a time (studies run side by side): a resumed
  sweep asks exactly the parameters an uninterrupted one would, in the same order. A trial cut
  off by a killed driver is marked ``interrupted`` on resume (never counted) and its parameters
  are asked again first (``enqueue_trial``), so the study sees the same finished trials.
  Running several trials of one study at once would make TPE's suggestions depend on which
  trial finished first; sequential TPE is also what its authors evaluate.
* Pruner: the same ``MedianPruner`` for every model, on valid NDCG@10 reported after every
  epoch; no trial is pruned before it has had its early-stopping patience plus
  ``PRUNER_WARMUP_EPOCHS`` (``n_warmup_steps = stopping_step x eval_step + 10``, the same rule
  for every model), so slow starters (small learning rates) are not cut while they could still
  win. Not Hyperband: its resource accounting assumes each trial could run to a fixed
  ``max_resource``, but with early stopping trials end anywhere between a few and hundreds of
  epochs; the median rule compares trials at equal epochs and needs no budget.
* Objective: the best validation NDCG@10 of the run (the early-stopping checkpoint), never test:
  a trial never evaluates the test split.
* Budget: ``n_trials`` *completed* trials per study (pruned and failed ones do not count; a board
  asks at least ``MIN_COMPLETED_TRIALS``), at most ``ATTEMPTS_PER_TRIAL x n_trials`` attempts
  (a model that fails or is pruned that often stops there, and its table says so).
* Widening: when the best trial sits on an edge of a numeric range (``EDGE_SHARE`` of it), that
  range is widened by half its span (within the parameter's ``limits``) and the study is run
  again with the wider space, at most ``MAX_WIDENINGS`` times; every round is in the trial
  table.

The trial body :func:`run_trial` is a plain function of a picklable spec: the sweep runs it
in-process (:func:`tune`) or as a Ray task (``ray_runs.tune_on_ray``). The driver asks and tells;
the body reports per-epoch values to the storage through its own handle (``optuna.trial.Trial``
on the loaded study), which is what the pruner reads.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
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
PRUNER_WARMUP_EPOCHS = 10  # epochs after the early-stopping patience before any pruning
PRUNER_STARTUP_TRIALS = 5
MIN_COMPLETED_TRIALS = 10  # a board's n_trials is 0 (reuse) or at least this
ATTEMPTS_PER_TRIAL = 3  # at most this many attempts (complete, pruned, failed) per completed one
MAX_WIDENINGS = 2  # reruns of a study with a range widened at the best trial's edge
EDGE_SHARE = 0.05  # a best value within this share of a range's (log-)span is on its edge
ORPHAN_GRACE_S = 60.0
OBJECTIVE = "NDCG@10"  # every study maximises this validation metric
IDENTITY_VERSION = 1


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
            # a key this space no longer has (a study under older settings): JSON-looking text
            structured = any(isinstance(v, (list, dict)) for v in values) or (
                key not in self.params and isinstance(value, str) and value[:1] in "[{")
            out[key] = json.loads(value) if structured and isinstance(value, str) else value
        return out

    def widened(self, best: Mapping[str, Any]) -> tuple[SearchSpace, list[str]] | None:
        """This space with every numeric range whose ``best`` value sits on an edge widened by
        half its span in that direction (in log space for log ranges, clipped to the range's
        ``limits``), and one line per widened range; None when nothing can widen.

        A range widens only within its ``limits`` (default: none for log-uniform ranges, which
        stay positive by construction; uniform and int ranges never widen without limits, so a
        dropout or a layer count cannot leave its meaningful interval). Choices never widen.
        """
        params = {key: dict(spec) for key, spec in self.params.items()}
        notes = []
        for key, spec in params.items():
            if spec["type"] == "choice" or key not in best:
                continue
            log = spec["type"] == "loguniform" or bool(spec.get("log"))
            limits = spec.get("limits") or ([0.0, math.inf] if spec["type"] == "loguniform"
                                            else None)
            if limits is None:
                continue
            low, high, value = float(spec["low"]), float(spec["high"]), float(best[key])
            scale = math.log if log else (lambda v: v)
            span = scale(high) - scale(low)
            position = (scale(value) - scale(low)) / span
            if position <= EDGE_SHARE and low > limits[0]:
                new = math.exp(math.log(low) - span / 2) if log else low - span / 2
                side, bound = "low", max(new, limits[0])
            elif position >= 1 - EDGE_SHARE and high < limits[1]:
                new = math.exp(math.log(high) + span / 2) if log else high + span / 2
                side, bound = "high", min(new, limits[1])
            else:
                continue
            if spec["type"] == "int":
                bound = math.floor(bound) if side == "low" else math.ceil(bound)
                bound = bound if bound != spec[side] else spec[side] + (-1 if side == "low" else 1)
                bound = int(min(max(bound, limits[0]), limits[1]))
            else:
                bound = float(f"{bound:.6g}")
            if bound == spec[side] or (log and bound <= 0):
                continue
            notes.append(f"{key}: best {value:.6g} on the {side} edge of [{spec['low']}, "
                         f"{spec['high']}]; {side} -> {bound}")
            spec[side] = bound
        if not notes:
            return None
        return dataclasses.replace(self, params=params), notes


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
        limits = spec.get("limits")
        if limits is not None and not (
                isinstance(limits, list) and len(limits) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in limits)
                and limits[0] <= low and high <= limits[1]):
            raise ConfigError(f"{at}: 'limits' must be [min, max] around [low, high] (how far "
                              f"widening may go), got {limits!r}.")


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


@functools.cache
def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage; SQLite waits up to a minute for a lock, so parallel trials can write.
    One per URL and process (opening one checks the schema: ~0.1 s, asked many times)."""
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


def make_pruner(warmup_epochs: int = PRUNER_WARMUP_EPOCHS) -> optuna.pruners.BasePruner:
    """The one pruner of every study (see the module docstring for the choice)."""
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                       n_warmup_steps=warmup_epochs)


def base_name(study_name: str) -> str:
    """``dataset/protocol/label`` of a study name (without its ``@<identity hash>``)."""
    return study_name.split("@", 1)[0]


@dataclass
class TuningJob:
    """One model's sweep on one (dataset, protocol) split; ``round`` > 0 is a rerun of the
    sweep with a widened space (``previous`` names the study it widens)."""

    model: str
    dataset: str
    protocol: str
    space: SearchSpace
    storage: str
    split_config: dict[str, Any] = field(default_factory=dict)  # Split.config(): data_path, ...
    config: dict[str, Any] = field(default_factory=dict)  # board-wide RecBole overrides
    n_trials: int = 20  # completed trials wanted
    seed: int = 2020
    label: str = ""  # the board row (a preset of a model has its own study); default: model
    threads: int | None = None  # torch threads per trial
    split_fingerprint: str = ""  # the split's content hash (data_path is a location only)
    side_files: dict[str, str] = field(default_factory=dict)  # suffix -> sha256 of a replaced file
    code: str = ""  # the model's code identity (provenance.code_identity)
    round: int = 0
    previous: str | None = None
    widenings: tuple[str, ...] = ()  # what each earlier round widened, one line per range

    def __post_init__(self) -> None:
        chosen = self.config.get("valid_metric", OBJECTIVE)
        if str(chosen).lower() != OBJECTIVE.lower():
            raise ConfigError(f"Tuning {self.model}: config key 'valid_metric' is {chosen!r}, but "
                              f"every study maximises validation {OBJECTIVE}; remove the key.")

    @property
    def base_name(self) -> str:
        return f"{self.dataset}/{self.protocol}/{self.label or self.model}"

    @property
    def pruner_warmup(self) -> int:
        """Epochs before any pruning: the early-stopping patience in epochs plus the warm-up."""
        merged = {**self.space.trial_config, **self.config}
        patience = int(merged.get("stopping_step", 10)) * int(merged.get("eval_step", 1) or 1)
        return patience + PRUNER_WARMUP_EPOCHS

    def identity(self) -> dict[str, Any]:
        """Everything that changes a trial's result (what the study name hashes)."""
        return {
            "v": IDENTITY_VERSION, "model": self.model, "label": self.label or self.model,
            "dataset": self.dataset, "protocol": self.protocol,
            "split": self.split_fingerprint or {k: v for k, v in self.split_config.items()
                                                if k != "data_path"},
            "side_files": self.side_files, "config": self.config, "space": self.space.params,
            "trial_config": self.space.trial_config, "seed": self.seed,
            "threads": self.threads, "code": self.code, "objective": OBJECTIVE,
            "pruner": {"kind": "median", "startup_trials": PRUNER_STARTUP_TRIALS,
                       "warmup_epochs": self.pruner_warmup},
        }

    @property
    def study_name(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str, separators=(",", ":"))
        return f"{self.base_name}@{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    @property
    def budget(self) -> int:
        """Completed trials this model gets: ``n_trials``, or one when there is nothing to
        tune."""
        return self.n_trials if self.space.params else 1

    @property
    def max_attempts(self) -> int:
        return self.budget * ATTEMPTS_PER_TRIAL

    def study(self, sampler_seed: int | None = None) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(seed=sampler_seed)
        study = optuna.create_study(storage=open_storage(self.storage), sampler=sampler,
                                    pruner=make_pruner(self.pruner_warmup),
                                    study_name=self.study_name, direction="maximize",
                                    load_if_exists=True)
        if "identity" not in study.user_attrs:
            study.set_user_attr("identity", json.loads(json.dumps(self.identity(), default=str)))
            study.set_user_attr("round", self.round)
            study.set_user_attr("previous", self.previous)
            study.set_user_attr("widenings", list(self.widenings))
        return study

    def existing_study(self) -> optuna.Study | None:
        """This job's study if the storage holds it (nothing is created)."""
        try:
            return optuna.load_study(study_name=self.study_name,
                                     storage=open_storage(self.storage),
                                     pruner=make_pruner(self.pruner_warmup))
        except KeyError:
            return None


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
    """Whether a trial was an attempt: finished, and not cut off by a killed driver."""
    return trial.state in FINISHED and not trial.user_attrs.get("interrupted", False)


def recover_interrupted(study: optuna.Study) -> int:
    """Mark RUNNING trials whose driver process on this host is gone as failed + interrupted
    (they never count) and ask their parameters again next (``enqueue_trial``), so the resumed
    study runs the trials an uninterrupted one would. Returns how many."""
    stale = [t for t in study.get_trials(deepcopy=False,
                                         states=(optuna.trial.TrialState.RUNNING,))
             if not _driver_alive(t)]
    for frozen in stale:
        trial = optuna.trial.Trial(study, frozen._trial_id)
        trial.set_user_attr("interrupted", True)
        study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(dict(frozen.params), user_attrs={"redo_of": frozen.number})
    return len(stale)


@dataclass(frozen=True)
class Progress:
    """Where a study stands against its job's budget."""

    completed: int
    attempts: int  # complete + pruned + failed, interrupted ones left out
    running: int

    @classmethod
    def of(cls, study: optuna.Study) -> Progress:
        trials = study.get_trials(deepcopy=False)
        return cls(sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials),
                   sum(counted(t) for t in trials),
                   sum(t.state == optuna.trial.TrialState.RUNNING for t in trials))


def spent(job: TuningJob, study: optuna.Study) -> bool:
    """Whether the study has its completed trials, or has used up its attempts."""
    done = Progress.of(study)
    return done.completed >= job.budget or done.attempts >= job.max_attempts


def needs_trial(job: TuningJob, study: optuna.Study) -> bool:
    """Whether the next trial of the study can start now: none of its trials runs (one at a
    time, see the module docstring) and its budget is not spent."""
    return Progress.of(study).running == 0 and not spent(job, study)


def remaining(job: TuningJob, study: optuna.Study) -> int:
    """Trials still to run at least (more when some are pruned or fail; widened reruns come on
    top): the completed trials missing, within the attempts left, less the running ones."""
    done = Progress.of(study)
    return max(0, min(job.budget - done.completed, job.max_attempts - done.attempts)
               - done.running)


def current_round(job: TuningJob,
                  on_recover: Callable[[str, int], None] | None = None) -> TuningJob:
    """The round of ``job``'s sweep that is running or was last: follows the widenings of
    studies whose budget is spent, recovering trials cut off by a killed driver on the way
    (``on_recover(study name, count)`` hears of them)."""
    while True:
        study = job.existing_study()
        if study is None:
            return job
        recovered = recover_interrupted(study)
        if recovered and on_recover is not None:
            on_recover(job.study_name, recovered)
        if job.round >= MAX_WIDENINGS or not spent(job, study) or Progress.of(study).running:
            return job
        best = best_trial(study)
        wider = job.space.widened(best.params) if best is not None else None
        if wider is None:
            return job
        space, notes = wider
        job = dataclasses.replace(job, space=space, round=job.round + 1,
                                  previous=job.study_name,
                                  widenings=(*job.widenings, *(f"round {job.round + 1}: {n}"
                                                               for n in notes)))


def sweep_done(job: TuningJob) -> bool:
    """Whether every round of the sweep has run: its last round's budget is spent, nothing of
    it runs, and no widening follows."""
    last = current_round(job)
    study = last.existing_study()
    return study is not None and spent(last, study) and Progress.of(study).running == 0


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best complete trial (the earliest among equals), or None."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def changed_settings(job: TuningJob) -> str | None:
    """When the storage holds studies of this row under other settings and not yet this one:
    a line naming the newest of them and the parts of the identity that differ."""
    if job.existing_study() is not None:
        return None
    storage = open_storage(job.storage)
    others = [s for s in storage.get_all_studies()
              if base_name(s.study_name) == job.base_name and not s.user_attrs.get("round")]
    if not others:
        return None
    newest = max(others, key=lambda s: s._study_id)
    before = newest.user_attrs.get("identity")
    now = json.loads(json.dumps(job.identity(), default=str))
    if not isinstance(before, dict):
        what = "settings not recorded (an older study)"
    else:
        what = ", ".join(_differences(before, now)) or "identity format"
    return (f"tuning: settings of {job.base_name} changed since study '{newest.study_name}' "
            f"({what}): a new study '{job.study_name}' is started; the old one is kept, never "
            "mixed in")


def _differences(before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping) and key in ("config",
                                                                            "trial_config"):
            out += _differences(old, new, f"{prefix}{key}.")
        elif key in ("space", "code", "split"):
            out.append(f"{prefix}{key}")
        else:
            out.append(f"{prefix}{key} {old!r} -> {new!r}")
    return out


def ask(job: TuningJob) -> tuple[optuna.Study, optuna.trial.Trial, dict[str, Any]]:
    """Start the next trial in the driver: the study, the trial, and the spec of its body.

    The sampler is seeded by the trial's position: the trials so far, less those cut off by a
    kill (their parameters come back through the queue), so positions match an uninterrupted
    sweep's."""
    trials = job.study().get_trials(deepcopy=False)
    position = sum(t.state != optuna.trial.TrialState.WAITING
                   and not t.user_attrs.get("interrupted") for t in trials)
    study = job.study(sampler_seed=job.seed * 100_003 + position)
    trial = study.ask(job.space.distributions())
    trial.set_user_attr("driver", _driver_id())
    params = job.space.decode(trial.params)
    config = {**job.space.trial_config, **job.config, **job.split_config, **params,
              "seed": job.seed, "valid_metric": OBJECTIVE}
    spec = {"model": job.model, "dataset": job.dataset, "config": config,
            "study_name": job.study_name, "storage": job.storage,
            # the storage id (Optuna exposes it only as _trial_id) lets the body report to it
            "trial_id": trial._trial_id, "number": trial.number, "params": params,
            "threads": job.threads, "pruner_warmup": job.pruner_warmup}
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
                              pruner=make_pruner(int(spec.get("pruner_warmup",
                                                              PRUNER_WARMUP_EPOCHS))))
    trial = optuna.trial.Trial(study, spec["trial_id"])  # Optuna names a trial by its id
    curve = ValidationCurve()

    def after_validation(epoch: int, score: float) -> None:
        curve(epoch, score)
        trial.report(float(score), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    # A trial saves no checkpoint; its RecBole log goes to a folder removed with the trial (its
    # result lives in the study and the trial table), never into the working directory.
    scratch = tempfile.TemporaryDirectory(prefix="recbole-llmkg-trial-")
    try:
        config = {**spec["config"], "checkpoint_dir": scratch.name, "log_root": scratch.name}
        run = prepare(Config(spec["model"], spec["dataset"], config_dict=config, cmd_args=[]))
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
    finally:
        scratch.cleanup()
    result.update(valid=curve.scores, best_epoch=curve.best_epoch,
                  seconds=time.perf_counter() - start,
                  at_cap=curve.at_cap(result["epochs"] or 0))
    return result


def tune(job: TuningJob, execute: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
         on_trial: Callable[[dict[str, Any]], None] | None = None) -> optuna.Study:
    """Run ``job``'s sweep (every widening round) to its budget in this process, resuming any
    earlier part; the last round's study. ``execute`` runs a trial body (default
    :func:`run_trial`)."""
    execute = execute or run_trial
    while True:
        current = current_round(job)
        study = current.study()
        if not needs_trial(current, study):
            return study
        study, trial, spec = ask(current)
        result = execute(spec)
        tell(study, trial, result)
        if on_trial is not None:
            on_trial(result)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: round, number, state, valid value, best epoch, cap flag, seconds,
    params, and the per-epoch valid curve (``epoch:value`` pairs). A trial asked again after a
    kill names the one it redoes."""
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        curve = " ".join(f"{step}:{v:.4f}" for step, v in sorted(t.intermediate_values.items()))
        state = "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower()
        rows.append({
            "round": study.user_attrs.get("round", 0), "number": t.number, "state": state,
            "value": t.value if t.value is not None else "",
            "best_epoch": t.user_attrs.get("best_epoch", ""),
            "at_cap": t.user_attrs.get("at_cap", ""),
            "seconds": round(t.user_attrs["seconds"], 2) if "seconds" in t.user_attrs else "",
            "redo_of": t.user_attrs.get("redo_of", ""),
            **{f"param.{k}": v for k, v in sorted(t.params.items())},
            "valid_curve": curve, "error": t.user_attrs.get("error", ""),
        })
    return rows


def sweep_studies(job: TuningJob) -> list[optuna.Study]:
    """The studies of every round of ``job``'s sweep that exist, first round first."""
    studies = []
    current: TuningJob | None = job
    last = current_round(job)
    while current is not None:
        study = current.existing_study()
        if study is not None:
            studies.append(study)
        if current.round >= last.round:
            break
        best = best_trial(study) if study is not None else None
        wider = current.space.widened(best.params) if best is not None else None
        current = (dataclasses.replace(current, space=wider[0], round=current.round + 1,
                                       previous=current.study_name) if wider else None)
    return studies


def write_trials_tables(study: optuna.Study | Sequence[optuna.Study],
                        folder: str | os.PathLike) -> tuple[Path, Path]:
    """``<folder>/<dataset>-<protocol>-<label>.csv`` and ``.md``, written atomically: every
    trial of every round of the sweep (a study, or the studies of :func:`sweep_studies`), each
    round's study name and settings identity, what each widening changed, and the budget."""
    studies = [study] if isinstance(study, optuna.Study) else list(study)
    rows = [row for each in studies for row in trials_table(each)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    stem = Path(folder) / base_name(studies[-1].study_name).replace("/", "-")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    write_text_atomic(csv_path, buffer.getvalue())
    shown = [c for c in columns if c not in ("valid_curve", "error")]
    lines = [f"# Trials of {base_name(studies[-1].study_name)}", ""]
    for each in studies:
        done = Progress.of(each)
        lines.append(f"- round {each.user_attrs.get('round', 0)}: study `{each.study_name}`, "
                     f"{done.completed} completed of {done.attempts} attempts")
    for note in studies[-1].user_attrs.get("widenings", []):
        lines.append(f"- widened, {note}")
    lines += ["", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
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
    """The study of the job's sweep (any round) holding its best complete trial, or None. A
    widened round searches a superset of the earlier range, on the same objective and
    settings, so the best of all rounds is the sweep's outcome (ties: the earlier round)."""
    chosen: tuple[optuna.Study, optuna.trial.FrozenTrial] | None = None
    for study in sweep_studies(job):
        trial = best_trial(study)
        if trial is not None and (chosen is None or trial.value > chosen[1].value):
            chosen = (study, trial)
    return chosen[0] if chosen else None


def reusable_study(job: TuningJob) -> tuple[optuna.Study, bool] | None:
    """For ``n_trials: 0`` (reuse): the job's own finished study (True), else the newest
    finished last round of this row's studies under other settings (False), else None."""
    own = finished_study(job)
    if own is not None:
        return own, True
    storage = open_storage(job.storage)
    studies = [s for s in storage.get_all_studies() if base_name(s.study_name) == job.base_name]
    widened = {s.user_attrs.get("previous") for s in studies}
    for summary in sorted(studies, key=lambda s: -s._study_id):
        if summary.study_name in widened:
            continue  # a later round exists: that one is the sweep's outcome
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        if best_trial(study) is not None:
            return study, False
    return None
