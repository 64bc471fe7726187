"""The leaderboard says which runs come from an older attempt while a --rerun is unfinished."""

from __future__ import annotations

import yaml

from recbole_llmkg.benchmark.report import leaderboard_markdown, runs_rows
from recbole_llmkg.benchmark.spec import load_benchmark
from recbole_llmkg.benchmark.store import Rerun


def spec_and_plan(tmp_path, **changes):
    body = {"name": "r", "datasets": ["tiny"], "models": ["Pop", "BPR"], "seeds": [1],
            "protocols": ["standard"], "metrics": ["NDCG"], "topk": [10],
            "headline": "NDCG@10", "eval_batch_size": 64, "output_dir": str(tmp_path),
            **changes}
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


def split_record(run, score, fingerprint, users=("1", "2", "3", "4")):
    counts = {"test": {"users": len(users), "items": 7, "interactions": 9}}
    values = [score + 0.01 * i for i in range(len(users))]
    return {**record(run, None, score), "model": run.model.name, "split_fingerprint": fingerprint,
            "split": {"fingerprint": fingerprint, "counts": counts},
            "per_user": {"users": list(users), "values": {"ndcg@10": values}}}


def test_table_refuses_runs_on_different_test_sets(tmp_path):
    spec, (pop, bpr) = spec_and_plan(tmp_path)
    same = {pop.key: split_record(pop, 0.2, "a" * 64), bpr.key: split_record(bpr, 0.3, "a" * 64)}
    board = leaderboard_markdown(spec, [pop, bpr], same, "c")
    assert "Table refused" not in board
    assert "- seed 1: split `aaaaaaaaaaaa`, test set 4 users, 7 items, 9 interactions" in board
    assert "| 1 | BPR | 0.3000" in board
    mixed = {**same, bpr.key: split_record(bpr, 0.3, "b" * 64)}
    board = leaderboard_markdown(spec, [pop, bpr], mixed, "c")
    assert "**Table refused: seed 1: " in board and "bbbbbbbbbbbb" in board
    assert "0.3000" not in board and "0.2000" not in board  # nothing ranked on mixed test sets


def test_main_table_reports_significance_against_the_best_baseline(tmp_path):
    spec, (pop, bpr) = spec_and_plan(tmp_path)
    records = {pop.key: split_record(pop, 0.2, "a" * 64), bpr.key: split_record(bpr, 0.3, "a" * 64)}
    board = leaderboard_markdown(spec, [pop, bpr], records, "c")
    assert "against the best baseline (BPR)" in board
    assert "| Pop | BPR | 1 | 4 | 0.2150 | 0.3150 | -0.1000 |" in board
    assert "| model | vs | seeds | users | mean | baseline |" in board
