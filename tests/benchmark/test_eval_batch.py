"""eval_batch_size is fixed per benchmark, and does not change the numbers of the board's
built-in models (RecBole issues #1556, #1615, #1843, #1878 report that it can)."""

from __future__ import annotations

import pytest
import yaml

from recbole_llmkg.benchmark.runner import run_benchmark

MODELS = ["Pop", "ItemKNN", "EASE", "BPR"]


@pytest.mark.parametrize("protocol", ["standard", "cold_item"])
def test_eval_batch_size_does_not_change_metrics(tmp_path, protocol):
    results = {}
    # tiny has 81 item ids: 81 scores one user per batch, 409600 all 50 users in one batch
    for batch in (81, 409600):
        body = {
            "name": f"ebs{batch}", "datasets": ["tiny"], "models": MODELS, "seeds": [5],
            "protocols": [protocol],
            "metrics": ["Recall", "NDCG", "MRR", "Hit", "Precision", "ItemCoverage",
                        "GiniIndex", "AveragePopularity", "TailPercentage"],
            "topk": [5, 10], "headline": "NDCG@10", "eval_batch_size": batch,
            "isolation": "inline", "threads": 1, "config": {"epochs": 2},
            "output_dir": str(tmp_path / "results"),
        }
        path = tmp_path / f"ebs{batch}.yaml"
        path.write_text(yaml.safe_dump(body), encoding="utf-8")
        summary = run_benchmark(path, log=lambda _: None, charts=False)
        assert not summary.failed
        results[batch] = {r["label"]: (r["valid"], r["test"], r["eval_batch_size"])
                          for r in summary.records.values()}
    for model in MODELS:
        small, large = results[81][model], results[409600][model]
        assert (small[2], large[2]) == (81, 409600)  # recorded in each run
        assert small[0] == large[0], model
        assert small[1] == large[1], model
