"""The benchmark runner on the tiny dataset: outputs, resume, failures, interruption.

Every test runs from its own tmp_path (tests/conftest.py), so RecBole's log/ stays out of the repo.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from recbole_llmkg.benchmark import runner, worker
from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.config import datasets_dir

METRICS = ["Recall", "NDCG", "MRR", "Hit", "ItemCoverage", "GiniIndex", "AveragePopularity",
           "TailPercentage"]
VERSION_KEYS = {"python", "torch", "recbole", "numpy", "scipy", "pandas", "transformers",
                "recbole_llmkg"}
BROKEN = {"name": "BPR", "label": "BPR-broken", "config": {"embedding_size": -4}}


def bench(tmp_path: Path, **changes) -> Path:
    body = {
        "name": "unit",
        "datasets": ["tiny"],
        "models": ["Pop", "BPR"],
        "seeds": [1, 2],
        "protocols": ["standard"],
        "metrics": METRICS,
        "topk": [5, 10],
        "headline": "NDCG@10",
        "eval_batch_size": 4096,
        "isolation": "inline",
        "threads": 1,
        "config": {"epochs": 2, "train_batch_size": 256},
        "output_dir": str(tmp_path / "results"),
        **changes,
    }
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def quiet(_: str) -> None:
    pass


def no_training(*_args, **_kwargs):
    raise AssertionError("a finished run was executed again")


def test_two_models_two_seeds_write_every_output(tmp_path):
    lines: list[str] = []
    summary = run_benchmark(bench(tmp_path), log=lines.append)
    out = tmp_path / "results" / "unit"
    assert summary.executed == 4 and summary.skipped == 0 and not summary.failed
    assert any(line.startswith("run 1/4: Pop tiny seed=1 standard") for line in lines)
    assert any("ETA" in line for line in lines)

    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    for record in records:
        for part in ("valid", "test"):
            assert {"ndcg@10", "recall@5", "itemcoverage@10", "giniindex@10",
                    "averagepopularity@10", "tailpercentage@10"} <= set(record[part])
        assert record["best_epoch"] in (0, 1)
        assert record["epoch_seconds_mean"] > 0 and record["eval_seconds"] > 0
        assert record["wall_seconds"] > 0 and record["peak_rss_mb"] > 50
        assert record["fit_seconds"] >= record["train_seconds"] > 0
        assert record["build_seconds"] >= 0
        assert record["peak_gpu_mb"] is None and record["device"] == "cpu"
        assert record["params"] >= 1 and record["threads"] == 1
        assert record["eval_batch_size"] == 4096
        assert VERSION_KEYS <= set(record["versions"])
        assert record["ours"] is False
        source = (datasets_dir() / "tiny" / "tiny.inter").read_text()
        assert record["protocol_info"]["interactions"] == len(source.splitlines()) - 1
    bpr = [r for r in records if r["model"] == "BPR"]
    assert all(r["params"] > 1000 and r["epochs_run"] == 2 for r in bpr)

    with open(out / "runs.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"Pop", "BPR"}
    assert all(0 <= float(r["test_ndcg@10"]) <= 1 for r in rows)
    jsonl = (out / "runs.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in jsonl) == sorted(r["key"] for r in records)

    board = (out / "leaderboard.md").read_text()
    assert "## tiny · standard" in board and "| Pop |" in board and "| BPR |" in board
    assert "python run_recbole_llmkg.py --benchmark" in board
    assert "eval_batch_size 4096" in board and "torch" in board and "Date:" in board
    assert " ± " in board  # two seeds give a standard deviation
    pop = next(r for r in rows if r["label"] == "Pop")
    assert f"{float(pop['test_ndcg@10']):.4f}"[:4] in board
    for png in (out / "tiny__standard__NDCG-10.png", out / "tiny__standard__accuracy_vs_time.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aggregate = list(csv.DictReader(open(out / "aggregate.csv", encoding="utf-8")))
    assert {r["label"] for r in aggregate} == {"Pop", "BPR"}
    assert all(r["ok"] == "2" for r in aggregate)

    # the leaderboard is sorted by the headline mean
    means = {r["label"]: float(r["test_ndcg@10_mean"]) for r in aggregate}
    first, second = sorted(means, key=means.get, reverse=True)
    assert board.index(f"| 1 | {first} |") < board.index(f"| 2 | {second} |")

    # re-running the same file trains nothing
    original = worker.execute_run
    try:
        worker.execute_run = no_training
        again = run_benchmark(bench(tmp_path), log=quiet, charts=False)
    finally:
        worker.execute_run = original
    assert again.executed == 0 and again.skipped == 4
    # a different setting is a different run: only the changed ones are redone
    more = run_benchmark(bench(tmp_path, seeds=[1, 2, 3]), log=quiet, charts=False)
    assert more.executed == 2 and more.skipped == 4


def test_failed_model_is_recorded_and_retried(tmp_path):
    path = bench(tmp_path, models=["Pop", BROKEN], seeds=[1])
    summary = run_benchmark(path, log=quiet, charts=False)
    assert summary.executed == 2 and len(summary.failed) == 1
    out = tmp_path / "results" / "unit"
    failed = json.loads((out / "runs" / f"{summary.failed[0]}.json").read_text())
    assert failed["status"] == "failed" and failed["label"] == "BPR-broken"
    assert failed["error"]["type"] and failed["error"]["message"]
    assert "Traceback" in failed["error"]["traceback"] or "File" in failed["error"]["traceback"]
    board = (out / "leaderboard.md").read_text()
    assert "BPR-broken | failed:" in board and "## Failed runs" in board
    assert "| 1 | Pop |" in board
    rows = list(csv.DictReader(open(out / "runs.csv", encoding="utf-8")))
    assert {r["label"]: r["status"] for r in rows} == {"Pop": "ok", "BPR-broken": "failed"}
    # failed runs are not finished: the next invocation retries them (and only them)
    again = run_benchmark(path, log=quiet, charts=False)
    assert again.executed == 1 and again.skipped == 1
    # --rerun redoes everything
    assert run_benchmark(path, rerun=True, log=quiet, charts=False).executed == 2


def test_interruption_keeps_finished_runs_and_resumes(tmp_path, monkeypatch):
    path = bench(tmp_path, models=["Pop", "EASE"])
    calls = {"n": 0}
    original = worker.execute_run

    def interrupted_third(payload, in_child=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(payload, in_child)

    monkeypatch.setattr(worker, "execute_run", interrupted_third)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(path, log=quiet, charts=False)
    runs = tmp_path / "results" / "unit" / "runs"
    saved = sorted(runs.iterdir())
    assert len(saved) == 2 and all(p.suffix == ".json" for p in saved)
    assert all(json.loads(p.read_text())["status"] == "ok" for p in saved)
    assert not list((tmp_path / "results").rglob("*.tmp"))
    assert "Runs: 4 planned, 2 ok, 0 failed, 2 not run" in (runs.parent / "leaderboard.md"
                                                           ).read_text()

    monkeypatch.setattr(worker, "execute_run", original)
    resumed = run_benchmark(path, log=quiet, charts=False)
    assert resumed.executed == 2 and resumed.skipped == 2
    assert len(list(runs.iterdir())) == 4


def test_child_process_isolation_crash_and_timeout(tmp_path):
    """Subprocess mode: per-run peak memory and logs; a raising model and a killed (timed
    out) run are both recorded as failed while the others finish."""
    path = bench(tmp_path, isolation="subprocess", models=["Pop", BROKEN], seeds=[1])
    summary = run_benchmark(path, log=quiet, charts=False)
    records = {r["label"]: r for r in summary.records.values()}
    assert records["Pop"]["status"] == "ok" and records["BPR-broken"]["status"] == "failed"
    assert records["Pop"]["rss_method"].startswith("ru_maxrss")
    assert records["Pop"]["peak_rss_mb"] > 50
    assert Path(records["Pop"]["log_file"]).is_file()

    slow = bench(tmp_path, isolation="subprocess", models=["EASE"], seeds=[1], timeout=0.5)
    killed = run_benchmark(slow, log=quiet, charts=False)
    (record,) = killed.records.values()
    assert record["status"] == "failed" and record["error"]["type"] == "TimeoutError"
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_cli_runs_a_benchmark(tmp_path, capsys):
    from recbole_llmkg.cli import main

    path = bench(tmp_path, models=["Pop"], seeds=[1])
    assert main(["--benchmark", str(path), "--epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "run 1/1: Pop tiny seed=1 standard" in printed and "| 1 | Pop |" in printed
    record = json.loads(next((tmp_path / "results" / "unit" / "runs").glob("*.json")).read_text())
    assert record["config"]["epochs"] == 1


def test_eta_uses_per_model_durations():
    eta = runner._Eta([{"label": "A", "elapsed_seconds": 10.0},
                       {"label": "B", "elapsed_seconds": 100.0}])
    from recbole_llmkg.benchmark.spec import ModelEntry, ProtocolEntry, RunSpec

    def run(label: str) -> RunSpec:
        return RunSpec("tiny", ModelEntry(label, label), 1, ProtocolEntry("standard"), {})

    assert eta.remaining([run("A"), run("B")]) == "1m50s"
    assert eta.remaining([run("C")]) == "55s"  # unknown model: the overall mean


def test_second_runner_on_the_same_folder_is_refused(tmp_path):
    from recbole_llmkg.benchmark.store import BenchmarkBusyError, exclusive
    from recbole_llmkg.errors import LLMKGError

    path = bench(tmp_path, models=["Pop"], seeds=[1])
    with exclusive(tmp_path / "results" / "unit"):
        with pytest.raises(BenchmarkBusyError, match="Another benchmark runner") as caught:
            run_benchmark(path, log=quiet, charts=False)
    assert isinstance(caught.value, LLMKGError)
    assert run_benchmark(path, log=quiet, charts=False).executed == 1  # lock released
