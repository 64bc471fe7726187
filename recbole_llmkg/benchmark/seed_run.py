"""A seed run of the board: train a configuration on one split, test it, keep per-user metrics.

``run_seed`` is a plain function of a picklable spec returning a JSON-ready record, so it runs
in-process or as a Ray task (``ray_runs.run_many``) with the same result. The record carries the
split fingerprint and the per-user test metrics that ``significance.significance_table`` pairs.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Mapping
from typing import Any

from recbole_llmkg.benchmark.per_user import per_user_metrics
from recbole_llmkg.benchmark.training import ValidationCurve, prepare_run


def run_seed(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Spec: ``model``, ``dataset``, ``seed``, ``config`` (split config, tuned params, board
    overrides), ``split_fingerprint``, optional ``topk`` (default ``[10]``) and ``threads``
    (torch threads, default 1). Never raises: a failing model gives ``status: failed``."""
    import torch

    torch.set_num_threads(int(spec.get("threads", 1)))
    record: dict[str, Any] = {
        "model": spec["model"], "dataset": spec["dataset"], "seed": int(spec["seed"]),
        "split_fingerprint": spec.get("split_fingerprint"), "status": "failed", "error": None,
    }
    start = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="board-run-")  # own checkpoint folder per run
    try:
        config = {"checkpoint_dir": scratch.name, **spec["config"], "seed": int(spec["seed"])}
        run = prepare_run(spec["model"], spec["dataset"], config)
        curve = ValidationCurve()
        best_valid, valid_result = run.trainer.fit(run.train_data, run.valid_data, saved=True,
                                                   show_progress=False, callback_fn=curve)
        test_result = run.trainer.evaluate(run.test_data, load_best_model=True)
        per_user = per_user_metrics(run.trainer, run.test_data, topk=spec.get("topk", [10]))
        record.update(
            status="ok",
            best_valid_score=float(best_valid),
            best_epoch=curve.best_epoch,
            epochs=int(run.config["epochs"]),
            at_cap=curve.at_cap(int(run.config["epochs"])),
            valid_curve=curve.scores,
            valid_result={k: float(v) for k, v in valid_result.items()},
            test_result={k: float(v) for k, v in test_result.items()},
            per_user=per_user.to_dict(),
        )
    except Exception as error:  # a failing model is a result, not a crash of the board
        record["error"] = "".join(traceback.format_exception_only(type(error), error)).strip()
    finally:
        scratch.cleanup()
    record["seconds"] = time.perf_counter() - start
    return record
