"""The board's tuning phase: one study per tuned row, then the best parameters for the seed runs.

Before any seed run, every model entry with ``tune: true`` gets one Optuna study per (dataset,
protocol) on the split of the board's first seed (:mod:`~recbole_llmkg.benchmark.tuning`: the
same ``n_trials``, seeded TPE sampler and median pruner for every model, objective valid
NDCG@10). Trials run as Ray tasks (``isolation: ray``) or one after another in this process. The
studies live in the board's Optuna storage, so a killed sweep resumes and ``n_trials: 0`` (the
quick profile) reuses the best configuration of a finished study, or says that it uses the
model's defaults. Every study's trial table is written to ``<results>/tuning/``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark import protocols
from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.errors import ConfigError

# Trials evaluate only the objective: the board's other metrics (TailPercentage is a Python loop
# over users) would cost time every epoch and change no decision.
TRIAL_METRICS = {"metrics": ["NDCG"], "topk": [10]}

RowKey = tuple[str, str, str]  # (label, dataset, protocol slug)


@dataclass(frozen=True)
class Tuned:
    """What the tuning phase decided for one board row."""

    source: str  # "tuned" (best trial of a study) or "defaults" (no finished study)
    study: str
    storage: str
    params: dict[str, Any] = field(default_factory=dict)
    trials: int = 0  # completed trials of the study the parameters come from
    best_trial: int | None = None
    best_value: float | None = None
    attempts: int = 0  # its complete + pruned + failed trials
    rounds: int = 1  # the sweep's rounds (1 + widenings)
    # False: n_trials 0 reused a study of this row tuned under other settings (named in study)
    same_settings: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def storage_url(spec: BenchmarkSpec) -> str:
    """The board's Optuna storage: ``tuning_storage``, else SQLite beside the full board's
    results (``<output_dir>/<name>/tuning.db``, shared by every profile of the board)."""
    from recbole_llmkg.benchmark.tuning import default_storage

    return spec.tuning_storage or default_storage(spec.output_dir, spec.name)


def tuning_jobs(spec: BenchmarkSpec, plan: Sequence[RunSpec],
                data_root: Path) -> dict[RowKey, Any]:
    """One :class:`~recbole_llmkg.benchmark.tuning.TuningJob` per tuned row, on the first seed's
    split; a tuned model with no search space is a :class:`ConfigError`."""
    from recbole_llmkg.benchmark.provenance import code_identity
    from recbole_llmkg.benchmark.tuning import TuningJob, load_search_spaces, search_spaces_file
    from recbole_llmkg.files import file_sha256

    tuned_runs = [run for run in plan if run.model.tune and run.seed == spec.seeds[0]
                  and run.protocol.name not in protocols.TUNED_ON]
    if not tuned_runs:
        return {}
    spaces = load_search_spaces()
    storage = storage_url(spec)
    index = {model.label: i for i, model in enumerate(spec.models)}
    jobs: dict[RowKey, Any] = {}
    for run in tuned_runs:
        if run.model.name not in spaces:
            raise ConfigError(
                f"{spec.path}: key 'models[{index.get(run.model.label, '?')}].tune': model "
                f"'{run.model.name}' has no search space in '{search_spaces_file()}'; add one "
                f"there or set 'tune: false' (the row then runs with its defaults).")
        split_config, split = protocols.prepare(run, data_root)
        config = {k: v for k, v in run.config.items() if k not in ("seed", "valid_metric")}
        jobs[(run.model.label, run.dataset, run.protocol.slug)] = TuningJob(
            run.model.name, run.dataset, run.protocol.slug, spaces[run.model.name], storage,
            split_config, {**config, **TRIAL_METRICS}, n_trials=max(spec.n_trials, 1),
            seed=run.seed, label=run.model.label, threads=spec.threads,
            split_fingerprint=split.fingerprint, code=code_identity(run.model.name),
            side_files={suffix: file_sha256(path) for suffix, path in run.side_files.items()})
    return jobs


def run_tuning_phase(spec: BenchmarkSpec, plan: Sequence[RunSpec], data_root: Path,
                     results_dir: Path, log: Callable[[str], None]) -> dict[RowKey, Tuned]:
    """Run (or resume) every study to ``n_trials``; return each tuned row's decision."""
    from recbole_llmkg.benchmark import tuning

    storage = storage_url(spec)
    if not any(run.model.tune for run in plan):
        return {}
    if spec.n_trials == 0 and _missing_sqlite(storage):
        log(f"tuning: n_trials is 0 and there is no tuning storage {storage}: every row runs "
            "with its default configuration")
        return {}
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the phase logs each trial itself
    jobs = tuning_jobs(spec, plan, data_root)
    if spec.n_trials > 0:
        _run_sweeps(spec, jobs, storage, results_dir, log)
    decided = {}
    for key, job in jobs.items():
        found = (tuning.finished_study(job), True) if spec.n_trials > 0 \
            else tuning.reusable_study(job)
        if found is None or found[0] is None:
            log(f"tuning: no finished study '{job.base_name}' in {storage}: {key[0]} runs with "
                "its default configuration (set n_trials > 0 to tune it)")
            decided[key] = Tuned("defaults", job.base_name, storage)
            continue
        study, same = found
        if not same:
            log(f"tuning: {key[0]} reuses the best trial of study '{study.study_name}', tuned "
                "under other settings (n_trials 0 reuses; set n_trials > 0 to tune it for these)")
        studies = tuning.sweep_studies(job) if same else [study]
        tuning.write_trials_tables(studies, results_dir / "tuning")
        best = tuning.best_trial(study)
        done = tuning.Progress.of(study)
        space = tuning.SearchSpace(job.model, study.user_attrs.get("identity", {}).get(
            "space", job.space.params)) if not same else job.space
        decided[key] = Tuned("tuned", study.study_name, storage,
                             space.decode(best.params) if job.space.params else {},
                             done.completed, best.number, best.value, done.attempts,
                             len(studies), same)
    return decided


def _run_sweeps(spec: BenchmarkSpec, jobs: dict[RowKey, Any], storage: str, results_dir: Path,
                log: Callable[[str], None]) -> None:
    """Run (or resume) every job's sweep to its budget, logging each trial and each finished
    sweep's trial table."""
    from recbole_llmkg.benchmark import ray_runs, tuning

    for job in jobs.values():
        changed = tuning.changed_settings(job)
        if changed:
            log(changed)
    def recovered(name: str, count: int) -> None:
        log(f"tuning: {count} trial(s) of {name} cut off by a stopped runner: asked again first")

    current = [tuning.current_round(job, recovered) for job in jobs.values()]
    total = sum(tuning.remaining(job, job.study()) for job in current)
    log(f"tuning: {len(jobs)} studies x {spec.n_trials} completed trials (TPE seeded, median "
        f"pruner after {current[0].pruner_warmup if current else 0} epochs, valid NDCG@10) in "
        f"{storage}; {total} trials to run (more if some are pruned or fail, or a range is "
        "widened)")
    slots = (spec.num_cpus or os.cpu_count() or 1) if spec.isolation == "ray" else 1
    seconds: list[float] = []
    rounds = {job.base_name: job.round for job in current}
    planned = [total]  # grows by a round's budget when a range is widened

    def report(job: Any, result: dict[str, Any]) -> None:
        seconds.append(float(result.get("seconds") or 0.0))
        now = tuning.current_round(job)
        if now.round > rounds[job.base_name]:
            rounds[job.base_name] = now.round
            planned[0] += tuning.remaining(now, now.study())
            for note in (n for n in now.widenings if n.startswith(f"round {now.round}:")):
                log(f"tuning: {job.base_name} best value on an edge, widened and rerun "
                    f"({note}); {planned[0] - len(seconds)} trials left")
        left = max(0, planned[0] - len(seconds))
        eta = sum(seconds) / len(seconds) * left / min(slots, max(left, 1))
        value = result.get("value")
        shown = f"{value:.4f}" if isinstance(value, float) else "n/a"
        log(f"  trial {len(seconds)}/{max(planned[0], len(seconds))} {job.base_name} "
            f"#{result.get('number')}: {result.get('state')} valid NDCG@10 {shown}, best epoch "
            f"{result.get('best_epoch')}, {seconds[-1]:.1f}s [ETA {eta / 60:.0f} min]"
            + (f" ({result['error']})" if result.get("error") else ""))
        if tuning.sweep_done(job):
            # its trial table now, not after every other study: a long board stopped half-way
            # still leaves the tables of the sweeps it finished (and only of finished ones)
            tuning.write_trials_tables(tuning.sweep_studies(job), results_dir / "tuning")
            log(f"tuning: {job.base_name} finished; trial table written to "
                f"{results_dir / 'tuning'}")

    if spec.isolation == "ray":
        ray_runs.tune_on_ray(jobs.values(), spec.ray_address, spec.num_cpus,
                             spec.gpus_per_run, on_trial=report, progress=False,
                             timeout=spec.timeout)
    else:
        for job in jobs.values():
            tuning.tune(job, on_trial=lambda result, job=job: report(job, result))


def _missing_sqlite(url: str) -> bool:
    """Whether ``url`` is a SQLite storage whose file does not exist (so holds no study)."""
    prefix = "sqlite:///"
    return url.startswith(prefix) and not Path(url[len(prefix):]).is_file()


def decision_for(run: RunSpec, decided: dict[RowKey, Tuned]) -> Tuned | None:
    """The tuning decision behind ``run``: its own row's, or for an untuned ablation row, that
    of the main row named like its model (the preset switches one part of the tuned model off).
    A protocol listed in ``protocols.TUNED_ON`` (``cold_item``, ``cold_user``) reads the
    decisions made on the protocol it names."""
    slug = protocols.TUNED_ON.get(run.protocol.name, run.protocol.slug)
    own = decided.get((run.model.label, run.dataset, slug))
    if own is not None or run.model.table != "ablation" or run.model.tune:
        return own
    return decided.get((run.model.name, run.dataset, slug))


def apply_tuned(plan: Sequence[RunSpec], decided: dict[RowKey, Tuned]) -> list[RunSpec]:
    """The plan with each row's best parameters merged into its seed runs' config (an ablation
    row's own preset keys stay on top)."""
    out = []
    for run in plan:
        tuned = decision_for(run, decided)
        if tuned is not None and tuned.params:
            preset = run.model.config if run.model.table == "ablation" else {}
            run = dataclasses.replace(run, config={**run.config, **tuned.params, **preset})
        out.append(run)
    return out
