"""Tuning: search spaces, equal budgets, per-epoch records, a sweep that survives kill -9 and
resumes as the same sweep, study identity, the completed-trial budget, and widening."""

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
    space = load_search_spaces()["KGAT"]
    choice = space.distributions()["layers"].choices[1]
    assert isinstance(choice, str)
    assert space.decode({"layers": choice, "learning_rate": 0.01}) == {
        "layers": [64, 64], "learning_rate": 0.01}
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
    trials = study.get_trials()
    states = [(t.state.name, t.user_attrs.get("interrupted")) for t in trials]
    # the cut-off trial is failed + interrupted, and its parameters are queued to be asked again
    assert states == [("FAIL", True), ("RUNNING", None), ("RUNNING", None), ("WAITING", None)]
    assert trials[3].user_attrs["redo_of"] == 0
    assert trials[3].system_attrs["fixed_params"] == trials[0].params
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


# --- toy objectives: the sweep machinery without RecBole ------------------------------------
class Killed(Exception):
    """Stands in for kill -9 of the driver in the middle of a trial."""


def _toy_job(tmp_path, params, n_trials=4, name="toy.db", **changes):
    space = SearchSpace("Toy", params, "test", {"stopping_step": 2})
    return TuningJob("Toy", "tiny", "standard", space, f"sqlite:///{tmp_path / name}",
                     config={"epochs": 5}, n_trials=n_trials, seed=7, **changes)


def _quadratic(peak):
    def run(spec):
        x = spec["params"]["x"]
        return {"number": spec["number"], "state": "complete", "value": -(x - peak) ** 2}
    return run


def _complete_params(study):
    return [t.params for t in study.get_trials()
            if t.state == optuna.trial.TrialState.COMPLETE]


def test_a_resumed_sweep_asks_what_an_uninterrupted_one_asks(tmp_path):
    """A trial cut off by a dead driver is asked again, and every later trial gets the same
    parameters as in a sweep that was never interrupted."""
    import socket

    space = {"x": {"type": "uniform", "low": 0.0, "high": 10.0},
             "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1}}
    whole = tune(_toy_job(tmp_path, space, n_trials=8, name="whole.db"), _quadratic(3.0))
    job = _toy_job(tmp_path, space, n_trials=8, name="cut.db")

    def dies_at_trial_5(spec):
        if spec["number"] == 5:  # the driver "dies" mid-trial: its pid no longer exists
            study = optuna.load_study(study_name=spec["study_name"], storage=spec["storage"])
            gone = subprocess.Popen(["true"])
            gone.wait()
            optuna.trial.Trial(study, spec["trial_id"]).set_user_attr(
                "driver", f"{socket.gethostname()}:{gone.pid}")
            raise Killed
        return _quadratic(3.0)(spec)

    with pytest.raises(Killed):
        tune(job, dies_at_trial_5)
    resumed = tune(job, _quadratic(3.0))
    assert _complete_params(resumed) == _complete_params(whole)
    assert len(_complete_params(resumed)) == 8
    redo = [t for t in resumed.get_trials() if t.user_attrs.get("redo_of") == 5]
    assert len(redo) == 1 and redo[0].params == resumed.get_trials()[5].params
    assert resumed.best_params == whole.best_params


def test_only_completed_trials_use_the_budget_and_attempts_are_capped(tmp_path):
    from recbole_llmkg.benchmark.tuning import ATTEMPTS_PER_TRIAL, Progress

    space = {"x": {"type": "uniform", "low": 0.0, "high": 10.0}}

    def every_other_pruned(spec):
        if spec["number"] % 2:
            return {"state": "pruned", "value": 0.1}
        return {"state": "complete", "value": spec["params"]["x"] % 1}

    study = tune(_toy_job(tmp_path, space, n_trials=3, name="a.db"), every_other_pruned)
    assert Progress.of(study) == Progress(completed=3, attempts=5, running=0)

    def always_fails(spec):
        return {"state": "fail", "error": "ValueError: no"}

    study = tune(_toy_job(tmp_path, space, n_trials=3, name="b.db"), always_fails)
    assert Progress.of(study) == Progress(0, 3 * ATTEMPTS_PER_TRIAL, 0)


def test_no_pruning_before_patience_plus_warm_up():
    from recbole_llmkg.benchmark.tuning import PRUNER_WARMUP_EPOCHS, make_pruner

    job = TuningJob("BPR", "tiny", "standard", load_search_spaces()["BPR"], "sqlite://",
                    config={"stopping_step": 4, "eval_step": 2})
    assert job.pruner_warmup == 4 * 2 + PRUNER_WARMUP_EPOCHS
    assert make_pruner(job.pruner_warmup)._n_warmup_steps == job.pruner_warmup
    # the board's own settings: patience 10 evaluations of one epoch each, then 10 more epochs
    assert TuningJob("BPR", "tiny", "standard", load_search_spaces()["BPR"],
                     "sqlite://").pruner_warmup == 20


def test_study_identity_covers_the_settings_and_a_change_starts_a_new_study(tmp_path):
    from recbole_llmkg.benchmark.tuning import changed_settings

    space = {"x": {"type": "uniform", "low": 0.0, "high": 10.0}}
    first = _toy_job(tmp_path, space, n_trials=2)
    tune(first, _quadratic(3.0))
    same = _toy_job(tmp_path, space, n_trials=2)
    assert same.study_name == first.study_name and changed_settings(same) is None
    assert len(tune(same, _quadratic(3.0)).get_trials()) == 2  # resumed: nothing more to run
    assert _toy_job(tmp_path, space, n_trials=5).study_name == first.study_name  # budget: same
    variants = {
        "config": _toy_job(tmp_path, space, n_trials=2).__class__(
            **{**vars(first), "config": {"epochs": 6}}),
        "space": _toy_job(tmp_path, {"x": {"type": "uniform", "low": 0.0, "high": 9.0}}),
        "split": _toy_job(tmp_path, space, split_fingerprint="other"),
        "code": _toy_job(tmp_path, space, code="other"),
        "threads": _toy_job(tmp_path, space, threads=2),
    }
    for what, job in variants.items():
        assert job.study_name != first.study_name, what
        assert job.base_name == first.base_name
    message = changed_settings(variants["config"])
    assert "config.epochs 5 -> 6" in message and first.study_name in message
    new = tune(variants["config"], _quadratic(3.0))
    assert new.study_name != first.study_name and len(new.get_trials()) == 2  # its own trials
    assert len(first.study().get_trials()) == 2  # the old study is kept, nothing mixed in
    assert changed_settings(variants["config"]) is None  # said once, when it is created


def test_a_best_value_on_an_edge_widens_the_space_and_reruns(tmp_path):
    from recbole_llmkg.benchmark.tuning import MAX_WIDENINGS, sweep_studies

    space = {"x": {"type": "uniform", "low": 1.0, "high": 10.0, "limits": [0.0, 100.0]},
             "mode": {"type": "choice", "values": [1, 2]}}
    job = _toy_job(tmp_path, space, n_trials=6)
    last = tune(job, _quadratic(30.0))  # the optimum lies far above the range
    studies = sweep_studies(job)
    assert len(studies) == MAX_WIDENINGS + 1 and studies[-1].study_name == last.study_name
    highs = [s.user_attrs["identity"]["space"]["x"]["high"] for s in studies]
    assert highs == [10.0, 14.5, 21.25]  # half the span each time, bounded number of rounds
    assert all(len(_complete_params(s)) == 6 for s in studies)
    assert max(t.params["x"] for t in last.get_trials()) > 10.0
    _, md_path = write_trials_tables(studies, tmp_path / "tables")
    text = md_path.read_text()
    assert "widened, round 1: x: best" in text and "high -> 14.5" in text
    assert text.count("| 2 | ") >= 6 and "round 2: study" in text

    inside = _toy_job(tmp_path, space, n_trials=6, name="inside.db")
    assert len(sweep_studies(inside)) == 0
    tune(inside, _quadratic(5.0))  # optimum inside: one round
    assert len(sweep_studies(inside)) == 1


def test_widening_stays_within_limits_and_never_widens_choices():
    space = SearchSpace("X", {
        "p": {"type": "uniform", "low": 0.0, "high": 0.5, "limits": [0.0, 1.0]},
        "n": {"type": "int", "low": 1, "high": 3, "limits": [1, 4]},
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
        "free": {"type": "uniform", "low": 0.0, "high": 1.0},  # no limits: never widened
        "c": {"type": "choice", "values": [1, 2]}})
    assert space.widened({"p": 0.0, "n": 2, "lr": 1e-3, "free": 0.0, "c": 2}) is None
    wider, notes = space.widened({"p": 0.49, "n": 3, "lr": 1.01e-4, "free": 1.0, "c": 2})
    assert wider.params["p"]["high"] == 0.75 and wider.params["n"]["high"] == 4
    assert wider.params["lr"]["low"] == pytest.approx(1e-5) and wider.params["free"]["high"] == 1
    assert len(notes) == 3
    again, _ = wider.widened({"p": 0.75, "n": 4, "lr": 1e-3})
    assert again.params["p"]["high"] == 1.0 and again.params["n"]["high"] == 4  # at the limit


def test_board_n_trials_is_zero_or_at_least_the_minimum(tmp_path):
    import yaml

    from recbole_llmkg.benchmark.spec import load_benchmark
    from recbole_llmkg.benchmark.tuning import MIN_COMPLETED_TRIALS

    body = {"name": "t", "datasets": ["tiny"], "seeds": [1], "protocols": ["standard"],
            "metrics": ["NDCG"], "topk": [10], "headline": "NDCG@10", "eval_batch_size": 64,
            "models": ["BPR"], "n_trials": MIN_COMPLETED_TRIALS - 1}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match=f"n_trials.*at least {MIN_COMPLETED_TRIALS}"):
        load_benchmark(path)
    path.write_text(yaml.safe_dump({**body, "n_trials": MIN_COMPLETED_TRIALS}))
    assert load_benchmark(path).n_trials == MIN_COMPLETED_TRIALS


NEURAL_ROWS = ["BPR", "NeuMF", "MultiVAE", "LightGCN", "CKE", "KGIN", "KGAT", "LLMAugRec",
               "KGLLMGNN"]
PROPAGATING_ROWS = {"LightGCN", "KGIN", "KGAT", "LLMAugRec", "KGLLMGNN"}


def test_every_neural_row_is_tuned_over_the_same_kinds_of_knobs():
    """One learning rate and one L2 strength each, depth exactly for the rows that propagate,
    no embedding size and no dropout for anyone (search_spaces.yaml says why)."""
    spaces = load_search_spaces()
    for model in NEURAL_ROWS:
        params = spaces[model].params
        kinds = [spec.get("kind") for spec in params.values()]
        assert kinds.count("rate") == 1 and kinds.count("l2") == 1, model
        assert kinds.count("depth") == (model in PROPAGATING_ROWS), model
        assert set(kinds) <= {"rate", "l2", "depth", "side"}, model
        assert not any("embedding" in key or "dropout" in key for key in params), model
        for key, spec in params.items():  # every numeric range can be widened, within limits
            assert spec["type"] == "choice" or spec.get("limits"), (model, key)


def test_a_sweep_is_not_done_while_its_last_trial_runs(tmp_path):
    """The trial table is written (and said to be) only once the last trial has finished."""
    from recbole_llmkg.benchmark.tuning import ask, sweep_done, tell

    job = _toy_job(tmp_path, {"x": {"type": "uniform", "low": 0.0, "high": 10.0}}, n_trials=2)
    study, trial, spec = ask(job)
    tell(study, trial, _quadratic(3.0)(spec))
    study, trial, spec = ask(job)  # the last trial runs (its driver, this process, is alive)
    assert remaining(job, study) == 0 and not sweep_done(job)
    tell(study, trial, _quadratic(3.0)(spec))
    assert sweep_done(job)


def test_the_sweeps_outcome_is_the_best_trial_of_any_round(tmp_path):
    from recbole_llmkg.benchmark.tuning import best_trial, finished_study, sweep_studies

    space = {"x": {"type": "uniform", "low": 1.0, "high": 10.0, "limits": [0.0, 100.0]}}
    job = _toy_job(tmp_path, space, n_trials=4)
    tune(job, _quadratic(12.0))  # round 0 ends near 10, round 1 reaches past it
    values = [best_trial(study).value for study in sweep_studies(job)]
    assert len(values) >= 2
    chosen = finished_study(job)
    assert best_trial(chosen).value == max(values)
