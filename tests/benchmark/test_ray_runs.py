"""Ray: a tiny board on a local 2-worker instance equals the sequential run; crashes stay local;
tuning trials run as tasks and report per-epoch values from inside the task."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from recbole_llmkg.benchmark.ray_runs import run_many, start_ray, tune_on_ray
from recbole_llmkg.benchmark.seed_run import run_seed
from recbole_llmkg.benchmark.splits import write_standard_split
from recbole_llmkg.benchmark.tuning import TuningJob, counted, load_search_spaces
from recbole_llmkg.config import datasets_dir

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    started = start_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _board(tmp_path):
    specs = []
    for seed in (2020, 2021):
        split = write_standard_split(datasets_dir() / "tiny", "tiny", seed, tmp_path / "splits")
        for model in ("Pop", "BPR"):
            specs.append({"model": model, "dataset": "tiny", "seed": seed,
                          "split_fingerprint": split.fingerprint, "topk": [5, 10],
                          "config": {**split.config(), "use_gpu": False, "state": "ERROR",
                                     "epochs": 3, "eval_batch_size": 4096}})
    return specs


def test_tiny_board_on_ray_equals_sequential(local_ray, tmp_path):
    specs = _board(tmp_path)
    on_ray = dict(run_many(specs, run_seed, progress=False))
    sequential = [run_seed(spec) for spec in specs]
    assert sorted(on_ray) == [0, 1, 2, 3]
    for index, expected in enumerate(sequential):
        got = on_ray[index]
        assert expected["status"] == got["status"] == "ok", (got.get("error"), expected["error"])
        assert got["test_result"] == expected["test_result"]
        assert got["best_epoch"] == expected["best_epoch"] is not None
        assert got["split_fingerprint"] == expected["split_fingerprint"]
        assert got["per_user"]["users"] == expected["per_user"]["users"]
        for metric, values in expected["per_user"]["values"].items():
            assert np.array_equal(got["per_user"]["values"][metric], values), metric
    assert specs[0]["split_fingerprint"] != specs[2]["split_fingerprint"]  # one split per seed


def test_a_crashing_run_fails_alone(local_ray):
    specs = [{"record": {"status": "ok"}}, {"model": "Broken", "seed": 1}]
    records = dict(run_many(specs, operator.itemgetter("record"), progress=False))
    assert records[0] == {"status": "ok"}
    assert records[1]["status"] == "failed" and records[1]["model"] == "Broken"
    assert "KeyError" in records[1]["error"]


def test_tuning_trials_run_as_tasks(local_ray, tmp_path):
    split = write_standard_split(datasets_dir() / "tiny", "tiny", 2020, tmp_path / "splits")
    storage = f"sqlite:///{tmp_path / 'tuning.db'}"
    config = {"use_gpu": False, "state": "ERROR", "epochs": 3, "stopping_step": 3}
    spaces = load_search_spaces()
    jobs = [TuningJob(m, "tiny", "standard", spaces[m], storage, split.config(), config,
                      n_trials=2) for m in ("BPR", "EASE")]
    studies = tune_on_ray(jobs, max_concurrent=2, progress=False)
    for job in jobs:
        trials = studies[job.study_name].get_trials()
        assert sum(counted(t) for t in trials) == 2 == len(trials)
        assert all(t.state.name == "COMPLETE" and t.intermediate_values for t in trials)
