"""Run a benchmark file: every (dataset, protocol, model, seed), resumable, one run at a time.

Each run goes to a child process by default (``isolation: subprocess``): its peak memory is its
own and a crash, an out-of-memory kill or a ``timeout`` fails that run only. A finished run is
saved at once as ``runs/<key>.json`` (atomically); re-running the same file skips every run
whose record says ``ok``, and redoes failed and missing ones. Ctrl-C kills the run in progress,
keeps every finished one, rewrites the tables from what is saved, and re-raises.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.spec import (
    BenchmarkSpec,
    RunSpec,
    load_benchmark,
    parse_overrides,
)
from recbole_llmkg.benchmark.store import RunStore, exclusive, write_json_atomic

LOG_TAIL_LINES = 15
Logger = Callable[[str], None]


@dataclass
class BenchmarkSummary:
    """What one invocation did, and where its outputs are."""

    spec: BenchmarkSpec
    results_dir: Path
    plan: list[RunSpec]
    records: dict[str, dict[str, Any]]
    executed: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    command: str = ""


def run_benchmark(
    path: str | Path,
    profile: str | None = None,
    rerun: bool = False,
    cmd_args: Sequence[str] | None = None,
    *,
    output_dir: str | Path | None = None,
    isolation: str | None = None,
    charts: bool = True,
    log: Logger | None = None,
) -> BenchmarkSummary:
    """Run (or resume) the benchmark in ``path``; write the leaderboard; return a summary.

    Args:
        path: benchmark YAML file (or the name of one in ``properties/benchmark/``).
        profile: profile to apply (e.g. ``quick``); ``None`` uses the top-level settings.
        rerun: redo runs that already finished.
        cmd_args: ``--key=value`` RecBole overrides for every run (they change run keys).
        output_dir: overrides the file's ``output_dir``; results go to ``<output_dir>/<name>``.
        isolation: overrides the file's ``isolation`` (``subprocess`` or ``inline``).
        charts: write the PNG charts (tests may skip them for speed).
        log: progress sink; defaults to printing to stdout.
    """
    cmd_args = list(cmd_args or [])
    spec = load_benchmark(path, profile)
    if output_dir is not None:
        spec.output_dir = str(output_dir)
    if isolation is not None:
        spec.isolation = isolation
    plan = spec.runs(parse_overrides(cmd_args))
    results_dir = spec.results_dir
    with exclusive(results_dir):
        return _run_plan(spec, plan, profile, rerun, cmd_args, path, charts, log)


def _run_plan(spec: BenchmarkSpec, plan: list[RunSpec], profile: str | None, rerun: bool,
              cmd_args: list[str], path: str | Path, charts: bool,
              log: Logger | None) -> BenchmarkSummary:
    """The body of :func:`run_benchmark`, holding the results folder's lock."""
    from recbole_llmkg.benchmark import report
    from recbole_llmkg.utils import own_models

    results_dir = spec.results_dir
    progress = _ProgressLog(results_dir / "progress.log", log)
    store = RunStore(results_dir / "runs")
    store.clean_temp_files()
    ours = set(own_models())
    command = cli_command(path, profile, rerun, cmd_args)
    summary = BenchmarkSummary(spec, results_dir, plan, {}, command=command)

    existing = store.load_many(run.key for run in plan)
    for record in existing.values():  # a model may have joined the plugin since it ran
        record["ours"] = record.get("model") in ours
    todo = [run for run in plan
            if rerun or existing.get(run.key, {}).get("status") != "ok"]
    summary.skipped = len(plan) - len(todo)
    summary.records = dict(existing)
    progress(f"benchmark '{spec.name}'" + (f" (profile {profile})" if profile else "")
             + f": {len(plan)} runs (datasets {len(spec.datasets)} x protocols "
             f"{len(spec.protocols)} x models {len(spec.models)} x seeds {len(spec.seeds)}) "
             f"-> {results_dir}")
    if summary.skipped:
        progress(f"{summary.skipped} of {len(plan)} runs already finished: skipped "
                 "(--rerun redoes them)")
    eta = _Eta(existing.values())
    try:
        for i, run in enumerate(todo, 1):
            progress(f"run {i}/{len(todo)}: {run.model.label} {run.dataset} seed={run.seed} "
                     f"{run.protocol.slug}  [ETA {eta.remaining(todo[i - 1:])}]")
            record = _execute(spec, run, results_dir, ours)
            store.save(record)
            summary.records[run.key] = record
            summary.executed += 1
            eta.add(record)
            progress("  " + _outcome_line(record, spec))
            if record["status"] != "ok":
                summary.failed.append(run.key)
            report.write_tables(spec, plan, summary.records, results_dir, command)
    except KeyboardInterrupt:
        progress(f"interrupted: {summary.executed} runs finished in this invocation are saved; "
                 "the same command resumes with the missing ones")
        report.write_tables(spec, plan, summary.records, results_dir, command)
        raise
    summary.outputs = report.write_all(spec, plan, summary.records, results_dir, command,
                                       charts=charts)
    done = sum(1 for r in summary.records.values() if r.get("status") == "ok")
    progress(f"done: {summary.executed} runs executed, {summary.skipped} skipped, "
             f"{len(summary.failed)} failed; {done}/{len(plan)} ok. "
             f"Leaderboard: {summary.outputs['leaderboard']}")
    (log or _print)(report.tables_markdown(spec, plan, summary.records))
    return summary


def cli_command(path: str | Path, profile: str | None, rerun: bool,
                cmd_args: Sequence[str]) -> str:
    """The command line that reproduces this invocation."""
    parts = ["python", "run_recbole_llmkg.py", "--benchmark", str(path)]
    if profile:
        parts += ["--profile", profile]
    if rerun:
        parts.append("--rerun")
    return shlex.join([*parts, *cmd_args])


def _execute(spec: BenchmarkSpec, run: RunSpec, results_dir: Path,
             ours: set[str]) -> dict[str, Any]:
    """Run one cell (child process or inline) and build its full record."""
    from recbole_llmkg.benchmark import worker

    work = (results_dir / "tmp" / run.key).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log_file = results_dir / "logs" / f"{run.key}.log"
    payload = {
        "run": run.to_dict(),
        "data_root": str((results_dir / "data").resolve()),
        "work_dir": str(work / "checkpoints"),
        "isolation": spec.isolation,
    }
    start = time.perf_counter()
    try:
        if spec.isolation == "inline":
            measured = worker.execute_run(payload)
        else:
            measured = _execute_in_child(payload, work, log_file, spec.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.parent.rmdir()  # tmp/ itself, once no run is using it
        except OSError:
            pass
    record = {
        "key": run.key,
        "benchmark": spec.name,
        "profile": spec.profile,
        "dataset": run.dataset,
        "model": run.model.name,
        "label": run.model.label,
        "ours": run.model.name in ours,
        "seed": run.seed,
        "protocol": run.protocol.name,
        "protocol_slug": run.protocol.slug,
        "protocol_params": run.protocol.params,
        "model_config": run.model.config,
        "config": run.config,
        "eval_batch_size": run.config["eval_batch_size"],
        "elapsed_seconds": time.perf_counter() - start,
        "log_file": str(log_file) if spec.isolation != "inline" else None,
    }
    record.update(measured)
    return record


def _execute_in_child(payload: dict[str, Any], work: Path, log_file: Path,
                      timeout: float | None) -> dict[str, Any]:
    """Run the worker in a fresh interpreter; a crash or timeout becomes a failed record."""
    payload_path = work / "payload.json"
    out_path = work / "result.json"
    write_json_atomic(payload_path, payload)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    threads = payload["run"].get("threads")
    if threads:  # OpenMP/MKL read these at start-up; torch.set_num_threads alone is too late
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    command = [sys.executable, "-m", "recbole_llmkg.benchmark.worker", str(payload_path),
               str(out_path)]
    with open(log_file, "w", encoding="utf-8") as log:
        # own session: Ctrl-C reaches the runner only, which then stops the child itself
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            return _failed("TimeoutError", f"run exceeded the benchmark timeout of "
                           f"{timeout:g} s and was killed", log_file)
        except BaseException:
            _stop(child)
            raise
    if out_path.is_file():
        try:
            return json.loads(out_path.read_text(encoding="utf-8"))
        except ValueError:
            pass
    code = child.returncode
    how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
           else f"exited with code {code}")
    return _failed("WorkerCrash", f"worker process {how} before writing its result", log_file)


def _stop(child: subprocess.Popen) -> None:
    """Terminate the child's process group, then kill it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if child.poll() is not None:
            return
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            child.send_signal(sig)
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


def _failed(kind: str, message: str, log_file: Path) -> dict[str, Any]:
    try:
        tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        tail = []
    return {"status": "failed",
            "error": {"type": kind, "message": message,
                      "traceback": "\n".join(tail[-LOG_TAIL_LINES:])},
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _outcome_line(record: dict[str, Any], spec: BenchmarkSpec) -> str:
    seconds = record.get("elapsed_seconds") or 0.0
    if record["status"] != "ok":
        error = record.get("error") or {}
        first = str(error.get("message", "")).splitlines()[0][:200] if error else ""
        return f"FAILED after {seconds:.1f}s: {error.get('type', 'Error')}: {first}"
    score = record.get("test", {}).get(spec.headline_key)
    shown = f"{score:.4f}" if isinstance(score, (int, float)) else "n/a"
    return (f"ok in {seconds:.1f}s: test {spec.headline}={shown}, best epoch "
            f"{record.get('best_epoch')}, peak RSS {record.get('peak_rss_mb') or 0:.0f} MB")


class _Eta:
    """Remaining time from past run durations: per model label where known, else overall."""

    def __init__(self, records: Any) -> None:
        self._by_label: dict[str, list[float]] = {}
        for record in records:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        seconds = record.get("elapsed_seconds")
        if isinstance(seconds, (int, float)) and record.get("label"):
            self._by_label.setdefault(record["label"], []).append(float(seconds))

    def remaining(self, runs: Sequence[RunSpec]) -> str:
        every = [s for values in self._by_label.values() for s in values]
        if not every:
            return "unknown until a run finishes"
        overall = sum(every) / len(every)
        total = 0.0
        for run in runs:
            known = self._by_label.get(run.model.label)
            total += sum(known) / len(known) if known else overall
        return _duration(total)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _print(message: str) -> None:
    print(message, flush=True)


class _ProgressLog:
    """Progress lines to the console (or ``log``) and, time-stamped, to progress.log."""

    def __init__(self, path: Path, sink: Logger | None) -> None:
        self.path = path
        self.sink = sink or _print

    def __call__(self, message: str) -> None:
        self.sink(message)
        stamp = datetime.now().isoformat(timespec="seconds")
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(f"{stamp} {message}\n")
