"""What a board prints at its end: a table at most 100 characters wide, the file, the committed
board and what a profile leaves out."""

from __future__ import annotations

import yaml

from recbole_llmkg.benchmark.console import WIDTH, committed_board_line, console_summary
from recbole_llmkg.benchmark.spec import load_benchmark
from recbole_llmkg.config import properties_dir


def board(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump({
        "name": "b", "datasets": ["tiny"], "seeds": [1, 2, 3], "eval_batch_size": 64,
        "models": ["Pop", "BPR", "EASE", {"name": "ItemKNN", "skip": "too slow"},
                   {"name": "LLMAugRec", "label": "LLMAugRec-" + "x" * 60, "table": "ablation",
                    "config": {"llm_alpha": 0.0}}],
        "protocols": ["standard", {"name": "cold_item"}], "metrics": ["NDCG", "Recall"],
        "topk": [10], "headline": "NDCG@10", "n_trials": 10, "output_dir": str(tmp_path),
        "profiles": {"quick": {"seeds": [1], "protocols": ["standard"], "n_trials": 0}},
    }))
    return path


def record(ndcg, recall, seconds, status="ok"):
    return {"status": status, "test": {"ndcg@10": ndcg, "recall@10": recall},
            "wall_seconds": seconds}


def test_console_table_is_narrow_ranked_and_points_to_the_committed_board(tmp_path):
    spec = load_benchmark(board(tmp_path), "quick", check_models=False)
    plan = spec.runs()
    by_label = {run.model.label: run.key for run in plan}
    records = {by_label["Pop"]: record(0.1, 0.05, 2.4),
               by_label["EASE"]: record(0.3, 0.25, 3.6),
               by_label["BPR"]: record(None, None, 9, status="failed"),
               by_label["LLMAugRec-" + "x" * 60]: record(0.2, 0.1, 100)}
    out = console_summary(spec, plan, records, tmp_path / "b-quick" / "leaderboard.md")
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert header.split() == ["rank", "model", "NDCG@10", "Recall@10", "seconds"]
    main = [line.split() for line in lines[lines.index(header) + 2:]][:4]
    assert main[0] == ["1", "EASE", "0.3000", "0.2500", "4"]
    assert main[1] == ["2", "Pop", "0.1000", "0.0500", "2"]
    assert {tuple(row[-4:]) for row in main[2:]} == {("BPR", "failed", "–", "–"),
                                                     ("ItemKNN", "skipped", "–", "–")}
    assert any("…" in line for line in lines)  # a long label is cut, not wrapped
    assert f"Wrote {tmp_path.as_posix()}/b-quick/leaderboard.md" in out
    committed = " ".join(out.split("\n\n")[-1].split())
    assert f"The committed board (not run yet): {tmp_path.as_posix()}/b/leaderboard.md" \
        in committed
    assert "1 seed instead of 3" in committed and "no tuning" in committed
    assert "no cold_item protocol" in committed


def test_the_board_itself_names_no_other_board(tmp_path):
    assert committed_board_line(load_benchmark(board(tmp_path), None, check_models=False)) \
        is None


def test_make_run_profile_trains_our_models_to_early_stopping():
    """The quick board caps no epoch: every run has the full board's epochs and early stopping,
    and our three models run with their own (tuned) defaults."""
    path = properties_dir() / "benchmark" / "ml-100k.yaml"
    full, quick = load_benchmark(path, "full"), load_benchmark(path, "quick")
    runs = quick.runs()
    assert {r.model.name for r in runs} >= {"LLMAugRec", "KGLLMGNN", "KASimCF"}
    assert all(r.config["epochs"] == full.config["epochs"] for r in runs)
    assert all(r.config["stopping_step"] == full.config["stopping_step"] for r in runs)
    assert all(not r.model.config for r in runs)  # no per-model override of the defaults
    assert len(quick.seeds) == 1 and quick.n_trials == 0
    assert "; this run differs: 1 seed instead of 5, no tuning" in committed_board_line(quick)
