"""Tuning: search spaces, equal budgets, per-epoch records, and a sweep that survives kill -9."""

from __future__ import annotations

import os
import subprocess

import optuna
import pytest

from recbole_llmkg import Config
from recbole_llmkg.benchmark.splits import write_standard_split
from recbole_llmkg.benchmark.tuning import (
    SearchSpace,
    TuningJob,
    load_search_spaces,
    remaining,
    tune,
    write_trials_tables,
)
from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ConfigError

BOARD_MODELS = ["Pop", "ItemKNN", "EASE", "SLIMElastic", "BPR", "NeuMF", "MultiVAE", "LightGCN",
                "CKE", "KGIN", "KGAT", "LLMAugRec", "KGLLMGNN", "KASimCF", "TextKNN", "KGKNN"]


def test_every_board_model_has_a_space_of_real_config_keys(tmp_path):
    spaces = load_search_spaces()
    assert set(BOARD_MODELS) <= set(spaces)
    for model in BOARD_MODELS:
        space = spaces[model]
        assert space.source, f"{model}: no stated source"
        if not space.params:
            continue
        config = Config(model, "tiny", cmd_args=[], config_dict={
            "use_gpu": False, "llm_cache_dir": str(tmp_path / "cache")})
        for key in space.params:
            assert config[key] is not None, f"{model}: '{key}' is not one of its config keys"
        space.distributions()  # every range converts to an Optuna distribution
    assert spaces["BPR"].trial_config["valid_metric"] == "NDCG@10"


def test_list_choices_round_trip_and_bad_ranges_are_named(tmp_path):
    space = load_search_spaces()["NeuMF"]
    choice = space.distributions()["mlp_hidden_size"].choices[0]
    assert isinstance(choice, str)
    assert space.decode({"mlp_hidden_size": choice, "learning_rate": 0.01}) == {
        "mlp_hidden_size": [64, 32, 16], "learning_rate": 0.01}
    bad = tmp_path / "spaces.yaml"
    bad.write_text("models:\n  BPR:\n    params:\n      learning_rate: {type: loguniform, "
                   "low: 0, high: 0.1}\n")
    with pytest.raises(ConfigError, match=r"models.BPR.params.learning_rate.*low=0"):
        load_search_spaces(bad)


def _job(tmp_path, n_trials, epochs, model="BPR"):
    split = write_standard_split(datasets_dir() / "tiny", "tiny", 2020, tmp_path / "splits")
    storage = f"sqlite:///{tmp_path / 'tuning.db'}"
    config = {"use_gpu": False, "state": "ERROR", "epochs": epochs, "stopping_step": epochs,
              "checkpoint_dir": str(tmp_path / "saved")}
    return TuningJob(model, "tiny", "standard", load_search_spaces()[model], storage,
                     split.config(), config, n_trials=n_trials)


def test_sweep_records_every_trial_and_stops_at_the_budget(tmp_path):
    job = _job(tmp_path, n_trials=2, epochs=3)
    study = tune(job)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for t in trials:
        assert sorted(t.intermediate_values) == [0, 1, 2]  # valid NDCG@10 after every epoch
        assert t.value == max(t.intermediate_values.values())
        assert t.user_attrs["seconds"] > 0 and t.user_attrs["epochs"] == 3
        # best epoch within 10% of `epochs` is flagged
        assert t.user_attrs["at_cap"] == (t.user_attrs["best_epoch"] + 1 >= 0.9 * 3)
    assert remaining(job, study) == 0
    assert len(tune(job).get_trials()) == 2  # a finished sweep runs nothing more
    csv_path, md_path = write_trials_tables(study, tmp_path / "tables")
    assert csv_path.name == "tiny-standard-BPR.csv"
    assert "param.learning_rate" in csv_path.read_text().splitlines()[0]
    assert md_path.read_text().count("| complete |") == 2


def test_nothing_to_tune_gets_one_trial(tmp_path):
    job = _job(tmp_path, n_trials=5, epochs=1, model="Pop")
    assert job.budget == 1
    assert len(tune(job).get_trials()) == 1


def test_int_range_becomes_an_int_distribution():
    space = SearchSpace("X", {"a": {"type": "int", "low": 1, "high": 3}})
    assert space.distributions()["a"].high == 3


def test_recover_marks_only_trials_of_dead_local_drivers(tmp_path):
    import socket

    from recbole_llmkg.benchmark.tuning import recover_interrupted

    job = _job(tmp_path, n_trials=3, epochs=1)
    study = job.study()
    dead_pid = subprocess.Popen(["true"])  # a pid that has exited
    dead_pid.wait()
    owners = [f"{socket.gethostname()}:{dead_pid.pid}", "another-host:1",
              f"{socket.gethostname()}:{os.getpid()}"]
    for owner in owners:
        study.ask().set_user_attr("driver", owner)
    assert recover_interrupted(study) == 1
    states = [(t.state.name, t.user_attrs.get("interrupted")) for t in study.get_trials()]
    assert states == [("FAIL", True), ("RUNNING", None), ("RUNNING", None)]
    assert remaining(job, study) == 1  # 3 - 2 running; the interrupted one is not counted


def test_the_objective_is_valid_ndcg_at_10_for_every_model():
    space = load_search_spaces()["BPR"]
    with pytest.raises(ConfigError, match="valid_metric.*MRR@10"):
        TuningJob("BPR", "tiny", "standard", space, "sqlite://", config={"valid_metric": "MRR@10"})


def test_trials_run_in_tasks_keep_the_pruner_warm_up(tmp_path):
    """A slow starter is not cut after one epoch: the trial body uses the board's pruner (with
    its warm-up), not Optuna's default, although the pruner is not stored with the study."""
    job = _job(tmp_path, n_trials=6, epochs=3)
    study = job.study()
    for _ in range(5):  # earlier trials far better at every epoch: a median rule would prune
        study.add_trial(optuna.trial.create_trial(
            params={}, distributions={}, value=1.0,
            intermediate_values={0: 1.0, 1: 1.0, 2: 1.0}))
    trials = tune(job).get_trials()
    assert len(trials) == 6
    assert trials[-1].state == optuna.trial.TrialState.COMPLETE  # 3 epochs < the 10-epoch warm-up
    assert sorted(trials[-1].intermediate_values) == [0, 1, 2]
