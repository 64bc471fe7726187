"""The tuning phase's decisions reach the seed runs: tuned rows get their best trial's params, an
ablation row gets its model's tuned params under its own preset."""

from __future__ import annotations

import yaml

from recbole_llmkg.benchmark.spec import load_benchmark
from recbole_llmkg.benchmark.tuning_phase import Tuned, apply_tuned, decision_for


def test_ablation_rows_inherit_the_tuned_model_under_their_preset(tmp_path):
    body = {"name": "t", "datasets": ["tiny"], "seeds": [1], "protocols": ["standard"],
            "metrics": ["NDCG"], "topk": [10], "headline": "NDCG@10", "eval_batch_size": 64,
            "output_dir": str(tmp_path),
            "models": ["BPR", {"name": "EASE", "tune": False},
                       {"name": "BPR", "label": "BPR-small", "table": "ablation",
                        "config": {"embedding_size": 8, "learning_rate": 0.5}}]}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(body))
    plan = load_benchmark(path).runs()
    tuned = Tuned("tuned", "tiny/standard/BPR", "sqlite://", {"learning_rate": 0.01,
                                                               "reg_weight": 0.1}, 20, 3, 0.3)
    runs = {run.model.label: run for run in apply_tuned(plan, {("BPR", "tiny", "standard"): tuned})}
    assert runs["BPR"].config["learning_rate"] == 0.01
    assert "reg_weight" not in runs["EASE"].config  # not tuned: defaults
    small = runs["BPR-small"].config
    assert small["reg_weight"] == 0.1 and small["embedding_size"] == 8
    assert small["learning_rate"] == 0.5  # the preset wins over the tuned value
    assert decision_for(runs["BPR-small"], {("BPR", "tiny", "standard"): tuned}) is tuned
    assert runs["BPR"].key != plan[0].key  # tuned params are part of the run's identity


def test_cold_protocol_rows_take_the_standard_decision_and_get_no_study(tmp_path):
    """cold_item and cold_user validate on warm items and users only, as standard does: a study of
    their own would tune on the same kind of data for twice the cost."""
    from recbole_llmkg.benchmark.tuning_phase import tuning_jobs

    body = {"name": "t", "datasets": ["tiny"], "seeds": [1], "metrics": ["NDCG"], "topk": [10],
            "headline": "NDCG@10", "eval_batch_size": 64, "output_dir": str(tmp_path),
            "protocols": ["standard", "cold_item", "cold_user"], "models": ["BPR"],
            "n_trials": 10}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(body))
    spec = load_benchmark(path)
    plan = spec.runs()
    jobs = tuning_jobs(spec, plan, tmp_path / "data")
    assert list(jobs) == [("BPR", "tiny", "standard")]  # no study for cold_item or cold_user
    tuned = Tuned("tuned", "tiny/standard/BPR", "sqlite://", {"learning_rate": 0.01}, 2, 1, 0.3)
    runs = apply_tuned(plan, {("BPR", "tiny", "standard"): tuned})
    assert {run.protocol.name: run.config["learning_rate"] for run in runs} == {
        "standard": 0.01, "cold_item": 0.01, "cold_user": 0.01}


def test_a_finished_study_writes_its_table_before_the_others_end(tmp_path, monkeypatch):
    """A long board stopped half-way keeps the trial tables of the studies it finished."""
    import pytest

    from recbole_llmkg.benchmark import tuning
    from recbole_llmkg.benchmark.tuning_phase import run_tuning_phase

    body = {"name": "t", "datasets": ["tiny"], "seeds": [1], "metrics": ["NDCG"], "topk": [10],
            "headline": "NDCG@10", "eval_batch_size": 64, "output_dir": str(tmp_path),
            "protocols": ["standard"], "models": ["Pop", "EASE"], "n_trials": 10,
            "isolation": "inline", "config": {"epochs": 1}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(body))
    spec = load_benchmark(path)
    real_ask = tuning.ask

    def ask(job):
        if job.model == "EASE":
            raise KeyboardInterrupt  # the board is stopped while EASE is being tuned
        return real_ask(job)

    monkeypatch.setattr(tuning, "ask", ask)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_tuning_phase(spec, spec.runs(), tmp_path / "data", tmp_path / "out", lines.append)
    assert (tmp_path / "out" / "tuning" / "tiny-standard-Pop.csv").is_file()
    assert not (tmp_path / "out" / "tuning" / "tiny-standard-EASE.csv").exists()
    assert any("tiny/standard/Pop finished" in line for line in lines)
