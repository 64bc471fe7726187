"""One benchmark run, measured: train, evaluate, and report metrics, times and memory.

The runner starts this module as a child process per run (``python -m
recbole_llmkg.benchmark.worker PAYLOAD OUT``): peak RSS is then the run's own
(``ru_maxrss`` is a process-lifetime peak), and a crash, an out-of-memory kill or a hang costs
one run, not the leaderboard. :func:`execute_run` is also called in-process for
``isolation: inline`` (fast tests); peak RSS is then sampled with psutil.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

TRACEBACK_LINES = 15
LIBRARIES = ("torch", "recbole", "numpy", "scipy", "pandas", "transformers")


def execute_run(payload: dict[str, Any], in_child: bool = False) -> dict[str, Any]:
    """Run one benchmark cell in this process; never raises for a failing model.

    Returns the measured part of the run record: status ``ok`` with metrics, or ``failed``
    with the error. ``KeyboardInterrupt`` is not caught: an interrupted run is not a result.
    """
    import torch

    from recbole_llmkg.benchmark.spec import RunSpec

    run = RunSpec.from_dict(payload["run"])
    record: dict[str, Any] = {"started_at": _now(), "isolation": payload.get("isolation")}
    sampler = None if in_child else _RssSampler()
    work_dir = Path(payload["work_dir"])
    threads_before = torch.get_num_threads()
    if run.threads:
        torch.set_num_threads(run.threads)
    start = time.perf_counter()
    try:
        record.update(_train_and_measure(run, payload, work_dir))
        record["status"] = "ok"
        record["error"] = None
    except Exception as error:  # a failing model is a result, not a crash of the runner
        record["status"] = "failed"
        record["error"] = error_info(error)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        torch.set_num_threads(threads_before)
    record["wall_seconds"] = time.perf_counter() - start
    if in_child:
        record["peak_rss_mb"] = _child_peak_rss_mb()
        record["rss_method"] = "ru_maxrss (own process)"
    elif sampler is not None:
        record["peak_rss_mb"] = sampler.stop()
        record["rss_method"] = "psutil sampling (shared process)"
    record["finished_at"] = _now()
    record["versions"] = versions()
    return record


def _train_and_measure(run: Any, payload: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    import torch

    from recbole_llmkg.benchmark.model_size import stored_weights
    from recbole_llmkg.benchmark.protocols import protocol_for
    from recbole_llmkg.benchmark.validation_curve import ValidationCurve
    from recbole_llmkg.config import Config
    from recbole_llmkg.quick_start import build_model, prepare_data
    from recbole_llmkg.registry import trainer_for

    protocol = protocol_for(run.protocol)
    extra, split = protocol.prepare(run, Path(payload["data_root"]))
    config_dict = {**copy.deepcopy(run.config), **extra, "checkpoint_dir": str(work_dir),
                   "log_root": payload.get("log_root") or str(work_dir)}
    config = Config(run.model.name, run.dataset, config_dict=config_dict, cmd_args=[])
    device = config["device"]
    on_cuda = getattr(device, "type", str(device)) == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    show = config["show_progress"]

    dataset, train_data, valid_data, test_data = prepare_data(config)
    protocol_info = protocol.verify_loaded(run, dataset, split)  # before any time is spent
    start = time.perf_counter()
    model = build_model(config, train_data)  # closed-form models (EASE, KASimCF) fit here
    build_seconds = time.perf_counter() - start
    trainer = timed_trainer(trainer_for(config.model_class))(config, model)
    curve = ValidationCurve(bigger=bool(config["valid_metric_bigger"]))
    observe = {"callback_fn": curve} if isinstance(trainer, _EpochTimer) else {}
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=True, show_progress=show, **observe
    )
    start = time.perf_counter()
    evaluation = protocol.evaluate(run, trainer, config, dataset,
                                   (train_data, valid_data, test_data), split)
    test_seconds = time.perf_counter() - start

    epoch_seconds = getattr(trainer, "epoch_seconds", [])
    valid_seconds = getattr(trainer, "valid_seconds", [])
    return {
        "valid": _floats(best_valid_result),
        **evaluation.results,
        "best_valid_score": _float(best_valid_score),
        "best_epoch": curve.best_epoch,
        "epochs": int(config["epochs"]),
        "at_cap": curve.at_cap(int(config["epochs"])) if epoch_seconds else False,
        "valid_curve": {str(epoch): score for epoch, score in curve.scores.items()},
        "epochs_run": len(epoch_seconds),
        "epoch_seconds_mean": sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else None,
        "train_seconds": sum(epoch_seconds),
        "build_seconds": build_seconds,
        "fit_seconds": build_seconds + sum(epoch_seconds),
        "eval_seconds": test_seconds,
        "valid_eval_seconds_mean": (sum(valid_seconds) / len(valid_seconds)
                                    if valid_seconds else None),
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if on_cuda else None,
        "params": stored_weights(model),  # closed forms' item x item matrices included
        "device": str(device),
        "device_name": device_name(str(device)),
        "threads": torch.get_num_threads(),
        "protocol_info": protocol_info,
        "split": {"fingerprint": split.fingerprint, "counts": split.counts,
                  "data_path": str(split.data_path)},
        "split_fingerprint": split.fingerprint,
        "per_user": evaluation.per_user.to_dict() if evaluation.per_user is not None else None,
        "resolved": {key: _jsonable(config[key]) for key in (
            "epochs", "train_batch_size", "eval_batch_size", "learning_rate", "stopping_step",
            "eval_step", "valid_metric", "data_path", "benchmark_filename", "eval_args",
            "reproducibility", "seed") if key in config},
    }


class _EpochTimer:
    """Seconds of each training epoch and each validation pass of the trainer it extends."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.epoch_seconds: list[float] = []
        self.valid_seconds: list[float] = []

    def _train_epoch(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._train_epoch(*args, **kwargs)
        finally:
            self.epoch_seconds.append(time.perf_counter() - start)

    def _valid_epoch(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._valid_epoch(*args, **kwargs)
        finally:
            self.valid_seconds.append(time.perf_counter() - start)


def timed_trainer(trainer_class: type) -> type:
    """A subclass of ``trainer_class`` that also times its epochs (the class is not modified).

    RecBole's epoch-based trainers only; the decision-tree trainers (XGBoost, LightGBM) fit
    at once and are returned as they are.
    """
    from recbole.trainer import Trainer

    if not issubclass(trainer_class, Trainer):
        return trainer_class
    return type(trainer_class.__name__, (_EpochTimer, trainer_class), {})


def error_info(error: BaseException) -> dict[str, Any]:
    """Type, message and the last lines of the traceback: enough to see what broke."""
    lines = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        "type": type(error).__name__,
        "message": str(error).strip() or type(error).__name__,
        "traceback": "\n".join(lines.rstrip().splitlines()[-TRACEBACK_LINES:]),
    }


def versions() -> dict[str, str | None]:
    """Library versions, read from package metadata (importing transformers is slow)."""
    import recbole_llmkg

    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["recbole_llmkg"] = recbole_llmkg.__version__
    found["recbole_llmkg_git"] = git_revision()
    return found


def git_revision() -> str | None:
    """Commit of the plugin's checkout (``+dirty`` with local edits); None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty.strip() else sha


def device_name(device: str) -> str:
    """GPU model for CUDA devices; CPU model and core count otherwise."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores)"


class _RssSampler:
    """Peak resident memory of this process during a run, sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        return self._peak / 2**20


def _child_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _floats(metrics: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(metrics or {}).items()}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def main(argv: list[str] | None = None) -> int:
    """Child entry point: read the payload, run, write the measured record to OUT."""
    from recbole_llmkg.benchmark.store import write_json_atomic

    payload_path, out_path = (argv if argv is not None else sys.argv[1:])[:2]
    payload = json.loads(Path(payload_path).read_text(encoding="utf-8"))
    record = execute_run(payload, in_child=True)
    write_json_atomic(Path(out_path), record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
