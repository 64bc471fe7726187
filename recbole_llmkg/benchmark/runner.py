"""Run a benchmark file: splits, a tuning phase, then every (dataset, protocol, model, seed).

Phases: (1) every run's config is built, so a bad value fails in seconds; (2) the split of each
(dataset, protocol, seed) is written once and every model reads it
(:mod:`~recbole_llmkg.benchmark.splits`); (3) the tuning phase (:mod:`~recbole_llmkg.benchmark.
tuning_phase`) searches every ``tune: true`` row with the same budget and merges its best
parameters into that row's seed runs; (4) the seed runs.

Executors (``isolation``): ``ray`` (default) runs trials and seed runs as Ray tasks, one CPU each,
on a local instance using every core or on the cluster at ``ray_address``; a crash or a dead
worker fails that run only. ``subprocess`` runs one child process per seed run, one at a time,
with a per-run ``timeout`` and the run's own peak memory (trials then run in this process);
the child dies with the runner (:mod:`~recbole_llmkg.benchmark.lifeline`). ``inline`` runs
everything in this process (tests). Every attempt works in its own scratch folder
(:mod:`~recbole_llmkg.benchmark.scratch`); folders left by a killed runner are removed at the
next start.

A finished run is saved at once as ``runs/<key>.json`` (atomically); re-running the same file
skips every run whose record says ``ok``, and redoes failed and missing ones. ``--rerun`` redoes
finished runs too, replacing each record only when its new run finishes; an interrupted rerun is
resumed by the same command (see :class:`~recbole_llmkg.benchmark.store.RerunMarker`); a killed
tuning sweep resumes from its Optuna study. Ctrl-C kills the runs in progress, keeps every
finished one, rewrites the tables from what is saved, and re-raises.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark import lifeline
from recbole_llmkg.benchmark.provenance import GitState, code_identity, git_state, refuse_dirty
from recbole_llmkg.benchmark.scratch import Scratch, clean_stale
from recbole_llmkg.benchmark.spec import (
    BenchmarkSpec,
    RunSpec,
    load_benchmark,
    parse_overrides,
)
from recbole_llmkg.benchmark.store import (
    Rerun,
    RerunMarker,
    RunStore,
    claim_folder,
    exclusive,
    remove_stale_temp_files,
    write_json_atomic,
)
from recbole_llmkg.benchmark.tuning_phase import (
    Tuned,
    apply_tuned,
    decision_for,
    run_tuning_phase,
)
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import ensure_writable_folder

LOG_TAIL_LINES = 15
FULL_PROFILE = "full"  # the profile whose rows the board claims: refused on a dirty tree
Logger = Callable[[str], None]


@dataclass
class BenchmarkSummary:
    """What one invocation did, and where its outputs are."""

    spec: BenchmarkSpec
    results_dir: Path
    plan: list[RunSpec]
    records: dict[str, dict[str, Any]]
    executed: int = 0
    skipped: int = 0  # already finished
    listed_only: int = 0  # runs of rows with ``skip:``: listed on the board, never started
    failed: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    command: str = ""
    rerun: Rerun | None = None  # a --rerun that is still unfinished after this invocation

    def failure_lines(self) -> list[str]:
        """One line per failed run: which run, and the last line of its error."""
        lines = []
        for key in self.failed:
            record = self.records.get(key, {})
            lines.append(f"{record.get('label')} {record.get('dataset')} "
                         f"seed={record.get('seed')} {record.get('protocol_slug')}: "
                         f"{error_last_line(record.get('error'))}  [{key}]")
        return lines


def error_last_line(error: dict[str, Any] | None) -> str:
    """The exception line of a record's error: the traceback's last line when it names the
    error, else ``Type: message`` (a timeout's or crash's traceback is the log's tail)."""
    error = error or {}
    kind = str(error.get("type") or "Error")
    tail = [line.strip() for line in str(error.get("traceback") or "").splitlines()
            if line.strip()]
    if tail and kind in tail[-1]:
        return tail[-1]
    message = str(error.get("message") or "").strip().splitlines()
    return f"{kind}: {message[0]}" if message else kind


def run_benchmark(
    path: str | Path,
    profile: str | None = None,
    rerun: bool = False,
    cmd_args: Sequence[str] | None = None,
    *,
    output_dir: str | Path | None = None,
    isolation: str | None = None,
    ray_address: str | None = None,
    charts: bool = True,
    log: Logger | None = None,
    report_only: bool = False,
    allow_dirty: bool = False,
    overwrite: bool = False,
) -> BenchmarkSummary:
    """Run (or resume) the benchmark in ``path``; write the leaderboard; return a summary.

    Args:
        path: benchmark YAML file (or the name of one in ``properties/benchmark/``).
        profile: profile to apply (e.g. ``quick``); ``None`` uses the top-level settings.
        rerun: redo runs that already finished (or resume the unfinished ``--rerun``).
        cmd_args: ``--key=value`` RecBole overrides for every run (they change run keys).
        output_dir: overrides the file's ``output_dir``; results go to ``<output_dir>/<name>``.
        isolation: overrides the file's ``isolation`` (``ray``, ``subprocess`` or ``inline``).
        ray_address: overrides the file's ``ray_address`` (``--ray-address``: join a cluster).
        charts: write the PNG charts (tests may skip them for speed).
        log: progress sink; defaults to printing to stdout.
        report_only: run nothing (no trial, no seed run): rewrite the leaderboard, tables and
            charts from the saved records and the finished studies (``--report``), e.g. after
            the report code changed while a board was half-run. A cell with no record under
            its current key shows the newest record saved for it under an older key (other
            code or settings, e.g. key format 1), as stored; the runner redoes such cells.
        allow_dirty: run the ``full`` profile from a tree with uncommitted code changes
            (``--allow-dirty``; every record says ``dirty: true``).
        overwrite: replace the tables of another board file with the same name and output
            folder (``--overwrite``); without it that is refused.

    Raises:
        ConfigError: the file, or the config of any run still to do, is invalid (nothing ran).
        DirtyTreeError: the ``full`` profile on a dirty tree without ``allow_dirty``.
        BoardCollisionError: another board's tables are in the results folder.
    """
    cmd_args = list(cmd_args or [])
    spec = load_benchmark(path, profile)
    if output_dir is not None:
        spec.output_dir = str(output_dir)
    if isolation is not None:
        spec.isolation = isolation
    if ray_address is not None:
        spec.ray_address = ray_address
    if report_only:
        spec.n_trials = 0  # read the finished studies' decisions; run no trial
    plan = spec.runs(parse_overrides(cmd_args))
    ensure_writable_folder(spec.results_dir, "Make it writable, or point the board file's "
                           "'output_dir' elsewhere.")  # one line, not the lock file's traceback
    code = git_state()
    if spec.profile == FULL_PROFILE and not report_only and not allow_dirty:
        refuse_dirty(code, spec.path, spec.profile)
    with exclusive(spec.results_dir):
        claim_folder(spec.results_dir, spec.path, overwrite)
        invocation = _Invocation(spec, plan, cli_command(path, profile, rerun, cmd_args), log,
                                 code)
        return invocation.run(rerun, charts, execute=not report_only)


def cli_command(path: str | Path, profile: str | None, rerun: bool,
                cmd_args: Sequence[str]) -> str:
    """The command line that reproduces this invocation."""
    parts = ["python", "run_recbole_llmkg.py", "--benchmark", str(path)]
    if profile:
        parts += ["--profile", profile]
    if rerun:
        parts.append("--rerun")
    return shlex.join([*parts, *cmd_args])


def cell(run: RunSpec | dict[str, Any]) -> tuple[str, str, str, int]:
    """(dataset, label, protocol slug, seed) of a run or a record: the board cell it fills."""
    if isinstance(run, RunSpec):
        return run.dataset, run.model.label, run.protocol.slug, run.seed
    return run.get("dataset"), run.get("label"), run.get("protocol_slug"), run.get("seed")


class _Invocation:
    """One call of :func:`run_benchmark`, holding the results folder's lock."""

    def __init__(self, spec: BenchmarkSpec, plan: list[RunSpec], command: str,
                 log: Logger | None, code: GitState | None = None) -> None:
        from recbole_llmkg.benchmark.significance import is_baseline
        from recbole_llmkg.registry import own_models

        self.spec = spec
        self.plan = plan
        self.results_dir = spec.results_dir
        self.progress = _ProgressLog(self.results_dir / "progress.log", log)
        self.log = log or _print
        self.store = RunStore(self.results_dir / "runs")
        self.marker = RerunMarker(self.results_dir)
        # the plugin's proposals; its content baselines (TextKNN, KGKNN) are baselines here
        self.ours = {name for name in own_models() if not is_baseline(name)}
        self.id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}-" \
                  f"{secrets.token_hex(3)}"
        self.summary = BenchmarkSummary(spec, self.results_dir, plan, {}, command=command)
        self.data_root = (self.results_dir / "data").resolve()
        self.tuned: dict[tuple[str, str, str], Tuned] = {}
        self.code = code or git_state()

    def run(self, rerun: bool, charts: bool, execute: bool = True) -> BenchmarkSummary:
        """Clean up after crashed attempts, check every config, tune, then run the seed runs
        (``execute=False``: only write the outputs from what is saved)."""
        for folder in clean_stale(self.results_dir / "tmp"):
            self.progress(f"removed scratch folder left by a stopped runner: {folder.name}")
        for leftover in remove_stale_temp_files(self.results_dir):
            self.progress(f"removed a temp file left by a stopped runner: "
                          f"{leftover.relative_to(self.results_dir)}")
        if self.code.dirty:
            self.progress(f"code: {self.code.commit} with uncommitted changes "
                          f"({len(self.code.changed)} code paths): every record says dirty")
        check_run_configs(self.spec, self.plan)
        started_ray = self._start_ray() if execute else False
        try:
            self.tuned = run_tuning_phase(self.spec, self.plan, self.data_root, self.results_dir,
                                          self.progress)
            self.plan = self.summary.plan = apply_tuned(self.plan, self.tuned)
            todo = self._select(rerun)
            if not execute:
                self._show_older_records()
            if execute:
                self._execute_all(todo)
        finally:
            if started_ray:
                import ray

                ray.shutdown()
        return self._finish(charts)

    def _start_ray(self) -> bool:
        """Start (or join) Ray for the ``ray`` executor; True when this call started it."""
        if self.spec.isolation != "ray":
            return False
        from recbole_llmkg.benchmark.ray_runs import start_ray

        return start_ray(self.spec.ray_address, self.spec.num_cpus)

    def _select(self, rerun: bool) -> list[RunSpec]:
        """The runs to do, after loading saved records; their configs are checked before a
        new ``--rerun`` is started, so a bad value leaves no rerun behind."""
        existing = self.store.load_many(run.key for run in self.plan)
        for record in existing.values():  # a model may have joined the plugin since it ran
            record["ours"] = record.get("model") in self.ours
        self.summary.records = dict(existing)
        pending = self.marker.current()
        fresh = rerun and pending is None

        def finished(run: RunSpec) -> bool:
            record = existing.get(run.key)
            ok = bool(record) and record.get("status") == "ok"
            return ok and (not rerun or (not fresh and pending.covers(record)))

        unfinished = [run for run in self.plan if not finished(run)]
        todo = [run for run in unfinished if run.model.skip is None]
        check_run_configs(self.spec, todo)
        self.summary.rerun = self.marker.start() if fresh else pending
        self.summary.skipped = len(self.plan) - len(unfinished)
        self.summary.listed_only = len(unfinished) - len(todo)
        self._announce(rerun, self.summary.rerun)
        return todo

    def _show_older_records(self) -> None:
        """``--report``: a cell with no record under its current key shows the newest record
        saved for the same cell under an older key (other code or settings, e.g. run keys of
        format 1, which had no code identity), as stored. The runner redoes such cells."""
        records = self.summary.records
        missing = [i for i, run in enumerate(self.plan) if run.key not in records]
        if not missing:
            return
        by_cell: dict[tuple, list[dict[str, Any]]] = {}
        for record in self.store.load_all().values():
            if isinstance(record.get("run"), dict):
                by_cell.setdefault(cell(record), []).append(record)
        shown = 0
        for i in missing:
            run = self.plan[i]
            candidates = by_cell.get(cell(run))
            if not candidates:
                continue
            record = max(candidates, key=lambda r: (r.get("status") == "ok",
                                                    str(r.get("finished_at") or "")))
            record["ours"] = record.get("model") in self.ours
            stored = dataclasses.replace(RunSpec.from_dict(record["run"]), model=run.model)
            self.plan[i] = stored
            records[stored.key] = record
            shown += 1
        if shown:
            self.summary.plan = self.plan
            self.progress(f"--report: {shown} of {len(self.plan)} cells show records saved "
                          "under an older run key (other code or settings), as stored; the "
                          "runner redoes them")

    def _announce(self, rerun: bool, pending: Rerun | None) -> None:
        """What this invocation will do, to the console and progress.log."""
        spec, plan = self.spec, self.plan
        self.progress(
            f"benchmark '{spec.name}'" + (f" (profile {spec.profile})" if spec.profile else "")
            + f": {len(plan)} runs (datasets {len(spec.datasets)} x protocols "
            f"{len(spec.protocols)} x models {len(spec.models)} x seeds {len(spec.seeds)}) "
            f"-> {self.results_dir}")
        older = len(stale_keys(plan, self.summary.records, pending))
        if rerun:
            self.progress(f"--rerun {pending.id} (started {pending.started_at}): {older} "
                          "saved runs from before it are redone; each record is replaced when "
                          "its new run finishes")
        elif older:
            self.progress(f"{older} runs are from before the unfinished --rerun {pending.id}; "
                          "add --rerun to this command to redo them")
        if self.summary.skipped:
            self.progress(f"{self.summary.skipped} of {len(plan)} runs already finished"
                          + (" in this rerun: skipped" if rerun
                             else ": skipped (--rerun redoes them)"))
        if self.summary.listed_only:
            rows = sorted({f"{run.model.label} ({run.model.skip})" for run in plan
                           if run.model.skip})
            self.progress(f"{self.summary.listed_only} runs of rows listed with skip: not run: "
                          + "; ".join(rows))

    def _execute_all(self, todo: list[RunSpec]) -> None:
        """Run ``todo``, saving each record and the tables as it finishes."""
        from recbole_llmkg.benchmark import report

        summary = self.summary
        eta = _Eta(summary.records.values())
        try:
            if self.spec.isolation == "ray":
                self._execute_on_ray(todo, eta)
            else:
                for i, run in enumerate(todo, 1):
                    self.progress(f"run {i}/{len(todo)}: {run.model.label} {run.dataset} "
                                  f"seed={run.seed} {run.protocol.slug}  "
                                  f"[ETA {eta.remaining(todo[i - 1:])}]")
                    self._save(_execute(self.spec, run, self.results_dir, self._header(run)),
                               eta)
        except KeyboardInterrupt:
            self.progress(f"interrupted: {summary.executed} runs finished in this invocation "
                          "are saved; the same command resumes with the missing ones")
            report.write_tables(self.spec, self.plan, summary.records, self.results_dir,
                                summary.command, summary.rerun)
            raise

    def _execute_on_ray(self, todo: list[RunSpec], eta: _Eta) -> None:
        """Every run of ``todo`` as a Ray task; each record is saved as its task ends."""
        from recbole_llmkg.benchmark import ray_runs, worker

        scratches = [Scratch(self.results_dir / "tmp", run.key) for run in todo]
        payloads = [_payload(run, self.data_root, scratch, "ray", self.results_dir)
                    for run, scratch in zip(todo, scratches, strict=True)]
        slots = self.spec.num_cpus or os.cpu_count() or 1
        where = (f"the Ray cluster at {self.spec.ray_address}" if self.spec.ray_address
                 else f"a local Ray instance, {slots} at a time")
        self.progress(f"{len(todo)} runs as Ray tasks on {where}")
        left = set(range(len(todo)))
        try:
            results = ray_runs.run_many(payloads, worker.execute_run, self.spec.ray_address,
                                        self.spec.num_cpus, self.spec.gpus_per_run,
                                        progress=False, timeout=self.spec.timeout)
            for done, (index, measured) in enumerate(results, 1):
                scratches[index].remove()
                left.discard(index)
                run = todo[index]
                record = {**self._header(run), "elapsed_seconds": measured.get("wall_seconds"),
                          "log_file": None, **measured}
                if isinstance(record.get("error"), str):  # the task itself died (ray_runs)
                    record["error"] = {"type": "WorkerCrash", "message": record["error"],
                                      "traceback": ""}
                remaining = eta.remaining([todo[i] for i in sorted(left)], slots)
                self.progress(f"run {done}/{len(todo)}: {run.model.label} {run.dataset} "
                              f"seed={run.seed} {run.protocol.slug}  [ETA {remaining}]")
                self._save(record, eta)
        finally:
            for scratch in scratches:
                scratch.remove()

    def _header(self, run: RunSpec) -> dict[str, Any]:
        tuned = decision_for(run, self.tuned)
        return {**_record_header(self.spec, run, self.ours),
                "tuning": tuned.to_dict() if tuned is not None else None,
                "code": {**self.code.to_dict(), "identity": code_identity(run.model.name)}}

    def _save(self, record: dict[str, Any], eta: _Eta) -> None:
        """Save one finished run's record and rewrite the tables."""
        from recbole_llmkg.benchmark import report

        summary = self.summary
        record["invocation"] = self.id
        record["rerun_id"] = summary.rerun.id if summary.rerun else None
        self.store.save(record)
        summary.records[record["key"]] = record
        summary.executed += 1
        eta.add(record)
        self.progress("  " + _outcome_line(record, self.spec))
        if record["status"] != "ok":
            summary.failed.append(record["key"])
        report.write_tables(self.spec, self.plan, summary.records, self.results_dir,
                            summary.command, summary.rerun)

    def _finish(self, charts: bool) -> BenchmarkSummary:
        """Close a completed rerun, write every output, print the tables and failures."""
        from recbole_llmkg.benchmark import report

        summary = self.summary
        if summary.rerun and not stale_keys(self.plan, summary.records, summary.rerun):
            self.marker.finish()
            summary.rerun = None
        summary.outputs = report.write_all(self.spec, self.plan, summary.records,
                                           self.results_dir, summary.command, summary.rerun,
                                           charts=charts)
        done = sum(1 for r in summary.records.values() if r.get("status") == "ok")
        self.progress(f"done: {summary.executed} runs executed, {summary.skipped} skipped, "
                      f"{len(summary.failed)} failed; {done}/{len(self.plan)} ok. "
                      f"Leaderboard: {summary.outputs['leaderboard']}")
        for line in summary.failure_lines():
            self.progress(f"  FAILED {line}")
        from recbole_llmkg.benchmark.console import console_summary

        self.log(console_summary(self.spec, self.plan, summary.records,
                                 summary.outputs["leaderboard"]))
        return summary


def stale_keys(plan: Sequence[RunSpec], records: dict[str, dict[str, Any]],
               rerun: Rerun | None) -> list[str]:
    """Keys of the plan's saved runs that an unfinished ``rerun`` has not redone yet (rows with
    ``skip:`` are never redone, so they do not hold a rerun open)."""
    return rerun.older((run.key for run in plan if run.model.skip is None),
                       records) if rerun else []


def check_run_configs(spec: BenchmarkSpec, runs: Sequence[RunSpec]) -> None:
    """Build the RecBole config of every (dataset, protocol, model) among ``runs`` (no data is
    loaded); raise one :class:`ConfigError` listing every invalid one, before anything trains.
    Each error names where the bad value was written: the file's ``config``, a model's
    ``config`` or the command line (the layer whose value the run got)."""
    from recbole_llmkg.benchmark.protocols import STANDARD_EVAL_ARGS
    from recbole_llmkg.config import Config
    from recbole_llmkg.config.checks import blamed_key

    index = {model.label: i for i, model in enumerate(spec.models)}
    checked: set[str] = set()
    errors: dict[str, list[str]] = {}  # one line per (where, message): the models it hits
    invalid = 0
    for run in runs:
        config = {key: value for key, value in run.config.items() if key != "seed"}
        signature = json.dumps([run.dataset, run.model.name, config], sort_keys=True, default=str)
        if signature in checked:
            continue
        checked.add(signature)
        origins = _config_origins(spec, run, index.get(run.model.label, "?"))
        try:
            Config(run.model.name, run.dataset, cmd_args=[],  # RecBole edits nested dicts
                   config_dict=copy.deepcopy({**run.config, "eval_args": STANDARD_EVAL_ARGS}),
                   key_origins={k: f"{spec.path}: key '{v}'" if v != "command line" else v
                                for k, v in origins.items()})
        except Exception as error:  # any failure here would fail the run after the others
            invalid += 1
            message = " ".join(str(error).split()) or type(error).__name__
            key = blamed_key(message, run.config)
            where = origins.get(key) if key else None
            if where is None:  # no key named: the most specific layer that sets keys
                where = f"models[{index.get(run.model.label, '?')}].config" \
                    if run.model.config else "config"
            if spec.profile and where != "command line":
                where += f" (profile {spec.profile})"
            source = "command line" if where == "command line" else f"key '{where}'"
            line = (f"  {source}: dataset '{run.dataset}', protocol "
                    f"'{run.protocol.slug}': {type(error).__name__}: {message}")
            errors.setdefault(line, []).append(run.model.label)
    if errors:
        lines = [line.replace(": dataset", f": model{'s' * (len(labels) > 1)} "
                              f"{', '.join(repr(label) for label in labels)}, dataset", 1)
                 for line, labels in errors.items()]
        raise ConfigError(
            f"{spec.path}: {invalid} run config(s) are invalid; nothing was run. A run's "
            "config is the file's 'config', then the model's 'config', then command-line "
            "--key=value; fix the value there:\n" + "\n".join(lines))


def _config_origins(spec: BenchmarkSpec, run: RunSpec, model_index: int | str) -> dict[str, str]:
    """Where each key of ``run.config`` was written: ``config``, ``models[i].config``, a
    top-level key the board fixes (``metrics``...), or the command line (a value neither layer
    of the file holds)."""
    from recbole_llmkg.benchmark.spec import RESERVED_CONFIG_KEYS
    from recbole_llmkg.config.checks import layer_origins

    origins = layer_origins(run.config, [("config", spec.config),
                                         (f"models[{model_index}].config", run.model.config)],
                            "command line")
    for key in run.config:
        if RESERVED_CONFIG_KEYS.get(key):
            origins[key] = str(RESERVED_CONFIG_KEYS[key])
    return origins


def _payload(run: RunSpec, data_root: Path, scratch: Scratch, isolation: str,
             results_dir: Path) -> dict[str, Any]:
    """What the worker needs to run ``run``: the run, where splits live, its scratch folder,
    and where RecBole's own logs go (``results/<board>/logs/<run key>/``, never the working
    directory)."""
    return {"run": run.to_dict(), "data_root": str(data_root),
            "work_dir": str(scratch.path / "checkpoints"), "isolation": isolation,
            "log_root": str((results_dir / "logs" / run.key).resolve())}


def _execute(spec: BenchmarkSpec, run: RunSpec, results_dir: Path,
             header: dict[str, Any]) -> dict[str, Any]:
    """Run one cell (child process or inline) in a fresh scratch folder; its full record."""
    from recbole_llmkg.benchmark import worker

    scratch = Scratch(results_dir / "tmp", run.key)
    log_file = results_dir / "logs" / f"{run.key}.log"
    payload = _payload(run, (results_dir / "data").resolve(), scratch, spec.isolation,
                       results_dir)
    start = time.perf_counter()
    try:
        if spec.isolation == "inline":
            measured = worker.execute_run(payload)
        else:
            measured = _execute_in_child(payload, scratch, log_file, spec.timeout)
    finally:
        scratch.remove()
    record = dict(header)
    record["elapsed_seconds"] = time.perf_counter() - start
    record["log_file"] = str(log_file) if spec.isolation != "inline" else None
    record.update(measured)
    return record


def _record_header(spec: BenchmarkSpec, run: RunSpec, ours: set[str]) -> dict[str, Any]:
    """What the runner knows of a run before it starts (the measured part comes after)."""
    return {
        "key": run.key,
        "benchmark": spec.name,
        "profile": spec.profile,
        "dataset": run.dataset,
        "model": run.model.name,
        "label": run.model.label,
        "table": run.model.table,
        "ours": run.model.name in ours,
        "seed": run.seed,
        "protocol": run.protocol.name,
        "protocol_slug": run.protocol.slug,
        "protocol_params": run.protocol.params,
        "model_config": run.model.config,
        "config": run.config,
        "eval_batch_size": run.config["eval_batch_size"],
        "run": run.to_dict(),  # all the worker needs to redo it (benchmarks/verify_row.py)
    }


def _child_env(threads: int | None) -> dict[str, str]:
    """The runner's environment, with this checkout importable and the thread count fixed."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if threads:  # OpenMP/MKL read these at start-up; torch.set_num_threads alone is too late
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _execute_in_child(payload: dict[str, Any], scratch: Scratch, log_file: Path,
                      timeout: float | None) -> dict[str, Any]:
    """Run the worker in a fresh interpreter; a crash or timeout becomes a failed record.

    The child stays in the runner's process group (a signal to the group, e.g. the terminal's
    SIGHUP or Ctrl-C, reaches both) and runs under the lifeline, so it dies with the runner.
    """
    payload_path = scratch.path / "payload.json"
    out_path = scratch.path / "result.json"
    write_json_atomic(payload_path, payload)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = lifeline.command(os.getpid(), "recbole_llmkg.benchmark.worker", str(payload_path),
                               str(out_path))
    with open(log_file, "w", encoding="utf-8") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 env=_child_env(payload["run"].get("threads")))
        try:
            scratch.add_owner(child.pid)
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
    """Terminate the child, then kill it if it lingers."""
    for stop, grace in ((child.terminate, 5), (child.kill, 5)):
        if child.poll() is not None:
            return
        stop()
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

    def remaining(self, runs: Sequence[RunSpec], parallel: int = 1) -> str:
        every = [s for values in self._by_label.values() for s in values]
        if not every:
            return "unknown until a run finishes"
        overall = sum(every) / len(every)
        total = 0.0
        for run in runs:
            known = self._by_label.get(run.model.label)
            total += sum(known) / len(known) if known else overall
        return _duration(total / max(1, min(parallel, len(runs) or 1)))


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
