"""Board runs and tuning trials as Ray tasks: a laptop or a cluster, the same code.

A run is a plain, picklable function of its spec dict returning a record dict (``worker.
execute_run`` for seed runs, ``tuning.run_trial`` for trials). Ray executes each as a task with
one CPU (``gpus_per_run`` GPUs when there are GPUs); by default on a local Ray instance using
every core, or on an existing cluster given its ``address``. Records come back as each run
finishes, so the caller writes each one at once (atomically); an exception or a dead worker fails
that run only (``status: failed`` with the error); tasks are never retried silently.

Tuning: the driver owns each study (``tuning.ask`` / ``tuning.tell``), a task runs the trial
body. Per-epoch values for pruning are reported by the task itself through its own handle on
the study's storage, so the pruner sees them while the trial runs: locally the SQLite file is
shared by all tasks; on a cluster use a database server every node reaches (e.g.
``postgresql://...``) as the storage URL.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from recbole_llmkg.benchmark import tuning

RunFunction = Callable[[Any], dict[str, Any]]
IDENTITY_KEYS = ("model", "dataset", "seed", "protocol", "number")


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to ``address``, or start a local instance with ``num_cpus`` (default: all cores),
    whether or not another Ray cluster runs on this machine.

    Returns True when this call started Ray (the caller may then ``ray.shutdown()`` it). Local
    workers get this package's folder on ``PYTHONPATH``, so a checkout runs without installing.
    """
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        return True
    package_parent = str(Path(__file__).resolve().parents[2])
    python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    # address="local": a new instance even when a Ray cluster already runs on this machine (or
    # RAY_ADDRESS is set); without it ray.init joins that cluster and refuses num_cpus
    # logging_level: no "Started a local Ray instance" / token-authentication notices on the
    # console at default verbosity (errors still show)
    ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
             log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": python_path}})
    _reap_ray_with_this_process()
    return True


def _reap_ray_with_this_process() -> None:
    """Make the local Ray instance die with this process, also after ``kill -9`` of it alone.

    Ray's own processes are this process's descendants and in its process group (a kill of the
    group ends them all). Killed alone, the raylet and GCS follow within seconds, but the
    per-node DashboardAgent and RuntimeEnvAgent were measured to linger 60-90 s, re-parented
    to PID 1. Ray 2.60 has no setting to leave them out: ``include_dashboard=False`` (passed
    above) only drops the dashboard modules from the API server, which still starts, and the
    agents always start. A small reaper process (:func:`lifeline.reap_when_gone`) kills them
    once this process is gone.
    """
    import subprocess

    import psutil

    from recbole_llmkg.benchmark import lifeline

    targets = [f"{child.pid}:{child.create_time()}"
               for child in psutil.Process().children(recursive=True)]
    subprocess.Popen(lifeline.reaper_command(os.getpid(), targets), stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def failed_record(spec: Any, error: BaseException) -> dict[str, Any]:
    """The record of a run whose task raised or whose worker died."""
    identity = {k: spec[k] for k in IDENTITY_KEYS if isinstance(spec, Mapping) and k in spec}
    message = "".join(traceback.format_exception_only(type(error), error)).strip()
    return {**identity, "status": "failed", "state": "fail", "error": message}


class RunTimeout(Exception):
    """A run (or trial) went past the board's ``timeout`` inside its Ray task."""


def _remote(fn: RunFunction, gpus_per_run: float, timeout: float | None = None) -> Any:
    import ray

    def call(spec: Any) -> dict[str, Any]:
        return with_time_limit(fn, spec, timeout)

    return ray.remote(call).options(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)


def with_time_limit(fn: RunFunction, spec: Any, timeout: float | None) -> dict[str, Any]:
    """``fn(spec)``, interrupted with :class:`RunTimeout` after ``timeout`` seconds.

    A Ray task runs in its worker's main thread, where ``SIGALRM`` can interrupt it between two
    Python steps; the worker's own error handling then records the run as failed and the worker
    is free for the next run. Without SIGALRM (not Linux / macOS) or off the main thread, no
    limit applies.
    """
    import math
    import signal
    import threading

    if not timeout or not hasattr(signal, "SIGALRM") \
            or threading.current_thread() is not threading.main_thread():
        return fn(spec)

    def expire(signum: int, frame: Any) -> None:
        raise RunTimeout(f"run exceeded the benchmark timeout of {timeout:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, math.ceil(timeout)))
    try:
        return fn(spec)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not enabled, smoothing=0.1)


def run_many(
    specs: Sequence[Any],
    fn: RunFunction,
    address: str | None = None,
    num_cpus: int | None = None,
    gpus_per_run: float = 0,
    progress: bool = True,
    timeout: float | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Execute ``fn(spec)`` for every spec as Ray tasks; yield ``(index, record)`` as each ends.
    A run past ``timeout`` seconds (counted from its start on a worker) fails alone."""
    import ray

    start_ray(address, num_cpus)
    task = _remote(fn, gpus_per_run, timeout)
    pending = {task.remote(spec): index for index, spec in enumerate(specs)}
    with _progress(len(specs), "runs", progress) as bar:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as error:  # RayTaskError, WorkerCrashedError, ...
                record = failed_record(specs[index], error)
            bar.update(1)
            yield index, record


def tune_on_ray(
    jobs: Iterable[tuning.TuningJob],
    address: str | None = None,
    num_cpus: int | None = None,
    gpus_per_run: float = 0,
    max_concurrent: int | None = None,
    on_trial: Callable[[tuning.TuningJob, dict[str, Any]], None] | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> dict[str, optuna.Study]:
    """Run every job's sweep (every widening round) to its budget, trials as Ray tasks,
    resuming earlier parts.

    Up to ``max_concurrent`` trials (default: the cluster's CPUs / 1 per trial) are in flight,
    one per sweep at a time (so a resumed sweep asks what an uninterrupted one would, see
    :mod:`~recbole_llmkg.benchmark.tuning`), taken from the sweeps in turn: a freed slot goes to
    the sweep after the one asked last. Returns each sweep's last study by its first round's
    name.
    """
    import ray

    start_ray(address, num_cpus)
    jobs = list(jobs)
    limit = max_concurrent or max(1, int(ray.available_resources().get("CPU", 1)))
    task = _remote(tuning.run_trial, gpus_per_run, timeout)
    pending: dict[Any, tuple[int, tuning.TuningJob, optuna.Study, optuna.trial.Trial, dict]] = {}
    busy: set[int] = set()  # sweeps with a trial in flight
    total = sum(tuning.remaining(job, job.study()) for job in map(tuning.current_round, jobs))
    cursor = 0  # the sweep the next free slot is offered to first

    def askable(index: int) -> tuning.TuningJob | None:
        if index in busy:
            return None
        current = tuning.current_round(jobs[index])
        return current if tuning.needs_trial(current, current.study()) else None

    with _progress(total, "trials", progress) as bar:
        while True:
            while len(pending) < limit:  # each free slot: the next sweep in turn that can ask
                turns = ((cursor + offset) % len(jobs) for offset in range(len(jobs)))
                found = next(((i, j) for i in turns if (j := askable(i)) is not None), None)
                if found is None:
                    break
                index, current = found
                study, trial, spec = tuning.ask(current)
                pending[task.remote(spec)] = (index, current, study, trial, spec)
                busy.add(index)
                cursor = index + 1
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index, current, study, trial, spec = pending.pop(ref)
            busy.discard(index)
            try:
                result = ray.get(ref)
            except Exception as error:
                result = failed_record(spec, error)
            tuning.tell(study, trial, result)
            bar.update(1)
            if on_trial is not None:
                on_trial(jobs[index], result)
    return {job.study_name: tuning.current_round(job).study() for job in jobs}
