"""benchmarks/verify_row.py redoes a board run from its record alone and finds the same test
metrics; a record whose numbers were not produced by its run is caught."""

from __future__ import annotations

import json

from test_runner import bench, quiet

from benchmarks.verify_row import verify
from recbole_llmkg.benchmark.runner import run_benchmark


def test_a_record_is_redone_to_the_same_test_metrics(tmp_path, capsys):
    run_benchmark(bench(tmp_path, models=["BPR"], seeds=[1]), log=quiet, charts=False)
    (path,) = (tmp_path / "results" / "unit" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["run"]["model"]["name"] == "BPR" and record["run"]["seed"] == 1
    assert verify(path)
    assert "ndcg@10: recorded" in capsys.readouterr().out

    record["test"]["ndcg@10"] += 0.001  # a number its run did not produce
    path.write_text(json.dumps(record))
    assert not verify(path)
    assert "DIFFERS" in capsys.readouterr().out
