"""The leaderboard says which runs come from an older attempt while a --rerun is unfinished."""

from __future__ import annotations

import yaml

from recbole_llmkg.benchmark.report import leaderboard_markdown, runs_rows
from recbole_llmkg.benchmark.spec import load_benchmark
from recbole_llmkg.benchmark.store import Rerun


def spec_and_plan(tmp_path):
    body = {"name": "r", "datasets": ["tiny"], "models": ["Pop", "BPR"], "seeds": [1],
            "protocols": ["standard"], "metrics": ["NDCG"], "topk": [10],
            "headline": "NDCG@10", "eval_batch_size": 64, "output_dir": str(tmp_path)}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(body))
    spec = load_benchmark(path)
    return spec, spec.runs()


def record(run, rerun_id, score):
    return {"key": run.key, "status": "ok", "label": run.model.label, "dataset": run.dataset,
            "seed": run.seed, "protocol_slug": run.protocol.slug, "test": {"ndcg@10": score},
            "valid": {"ndcg@10": score}, "finished_at": "2026-01-01T00:00:00+00:00",
            "rerun_id": rerun_id, "invocation": f"inv-{rerun_id}"}


def test_unfinished_rerun_lists_the_runs_from_the_older_attempt(tmp_path):
    spec, (pop, bpr) = spec_and_plan(tmp_path)
    rerun = Rerun("R1", "2026-01-02T00:00:00+00:00")
    records = {pop.key: record(pop, "R1", 0.2), bpr.key: record(bpr, None, 0.3)}
    board = leaderboard_markdown(spec, [pop, bpr], records, "python x --benchmark r.yaml", rerun)
    section = board.split("## Unfinished rerun")[1]
    assert "1 of 2 runs above are still from an older attempt" in section
    assert f"`{bpr.key}`" in section and f"`{pop.key}`" not in section
    assert "`python x --benchmark r.yaml --rerun` redoes only these" in section
    rows = {row["label"]: row for row in runs_rows(spec, [pop, bpr], records)}
    assert rows["Pop"]["rerun_id"] == "R1" and rows["BPR"]["invocation"] == "inv-None"
    # no unfinished rerun (or one that redid everything): no section
    assert "Unfinished rerun" not in leaderboard_markdown(spec, [pop, bpr], records, "c")
    records[bpr.key]["rerun_id"] = "R1"
    assert "Unfinished rerun" not in leaderboard_markdown(spec, [pop, bpr], records, "c", rerun)
