"""A resumed sweep is the same sweep: kill -9 of the board command during the trial that would
have been the best one, then the same command, gives the leaderboard of a board that was never
interrupted (issue 25.2); and a changed board config starts a new study (25.3)."""

from __future__ import annotations

import signal
import subprocess
import sys

import optuna
import yaml

from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.benchmark.tuning import MIN_COMPLETED_TRIALS

# The kill hook lives in this script only (no test hook in the package): it wraps Optuna's
# Trial.report so that the process SIGKILLs itself once the chosen BPR trial has reported its
# second epoch, i.e. in the middle of that trial's training.
KILLING_CLI = """
import os, signal, sys
import optuna
from recbole_llmkg.cli import main

kill_at = int(os.environ["TEST_KILL_AT_BPR_TRIAL"])
report = optuna.trial.Trial.report

def report_then_die(self, value, step):
    report(self, value, step)
    if "/BPR@" in self.study.study_name and self.number == kill_at and step >= 1:
        os.kill(os.getpid(), signal.SIGKILL)

optuna.trial.Trial.report = report_then_die
sys.exit(main())
"""


def _board(tmp_path, name, epochs=3):
    body = {"name": name, "datasets": ["tiny"], "models": ["EASE", "BPR"], "seeds": [2020, 2021],
            "protocols": ["standard"], "metrics": ["NDCG", "Hit"], "topk": [5, 10],
            "headline": "NDCG@10", "eval_batch_size": 4096, "threads": 1, "isolation": "inline",
            "n_trials": MIN_COMPLETED_TRIALS,
            "config": {"epochs": epochs, "stopping_step": epochs, "state": "ERROR"},
            "output_dir": str(tmp_path / "results")}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _leaderboard(summary):
    return {(r["label"], r["seed"]): round(r["test"]["ndcg@10"], 4)
            for r in summary.records.values()}


def _tuned(summary):
    return {r["label"]: ({k: round(v, 4) for k, v in r["tuning"]["params"].items()},
                         round(r["tuning"]["best_value"], 4))
            for r in summary.records.values()}


def test_kill_during_the_best_trial_then_resume_equals_an_uninterrupted_board(
        tmp_path, subprocess_env):
    whole = run_benchmark(_board(tmp_path, "whole"), log=lambda _: None, charts=False)
    bpr = next(r for r in whole.records.values() if r["label"] == "BPR")
    best = bpr["tuning"]["best_trial"]

    path = _board(tmp_path, "killed")
    killed = subprocess.run([sys.executable, "-c", KILLING_CLI, "--benchmark", str(path)],
                            cwd=tmp_path, env={**subprocess_env,
                                               "TEST_KILL_AT_BPR_TRIAL": str(best)},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    storage = f"sqlite:///{(tmp_path / 'results' / 'killed' / 'tuning.db').resolve()}"
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)
               if "/BPR@" in s.study_name]
    cut = optuna.load_study(study_name=name, storage=storage).get_trials()[best]
    assert cut.state == optuna.trial.TrialState.RUNNING and len(cut.intermediate_values) == 2

    lines: list[str] = []
    resumed = run_benchmark(path, log=lines.append, charts=False)
    assert any(f"1 trial(s) of {name} cut off by a stopped runner" in line for line in lines)
    (counting,) = [line for line in lines if "trials to run" in line]
    total = int(counting.split("; ")[1].split()[0])
    assert total == MIN_COMPLETED_TRIALS - best  # the cut trial and the ones after it
    trial_lines = [line for line in lines if line.startswith("  trial ")]
    assert trial_lines[0].startswith(f"  trial 1/{total} ")
    widened = sum("widened and rerun" in line for line in lines)  # a round adds its budget
    assert len(trial_lines) >= total + widened * (MIN_COMPLETED_TRIALS - 1)
    assert trial_lines[-1].startswith(f"  trial {len(trial_lines)}/{len(trial_lines)} ")

    assert _tuned(resumed) == _tuned(whole)
    assert _leaderboard(resumed) == _leaderboard(whole)
    assert {r["key"] for r in resumed.records.values()} == set(whole.records)  # same run keys
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert trials[best].user_attrs["interrupted"] is True
    redo = [t for t in trials if t.user_attrs.get("redo_of") == best]
    assert len(redo) == 1 and redo[0].params == trials[best].params
    assert resumed.records[next(k for k, r in resumed.records.items()
                                if r["label"] == "BPR")]["tuning"]["trials"] == 10


def test_an_edited_board_config_starts_a_new_study_and_the_same_one_resumes(tmp_path):
    """epochs 2 -> 3 in the board's config: a new study, said once; the same file again: the
    study is found and nothing more runs. EASE alone keeps it fast (its trials train nothing)."""
    path = _board(tmp_path, "edited", epochs=2)
    body = yaml.safe_load(path.read_text())
    body["models"] = ["EASE"]
    body["seeds"] = [2020]
    path.write_text(yaml.safe_dump(body))
    run_benchmark(path, log=lambda _: None, charts=False)
    lines: list[str] = []
    run_benchmark(path, log=lines.append, charts=False)
    assert any("0 trials to run" in line for line in lines)
    assert not any("settings of" in line for line in lines)

    body["config"]["epochs"] = 3
    path.write_text(yaml.safe_dump(body))
    lines = []
    run_benchmark(path, log=lines.append, charts=False)
    (changed,) = [line for line in lines if "settings of tiny/standard/EASE changed" in line]
    assert "config.epochs 2 -> 3" in changed
    assert any(f"{MIN_COMPLETED_TRIALS} trials to run" in line for line in lines)
    storage = f"sqlite:///{(tmp_path / 'results' / 'edited' / 'tuning.db').resolve()}"
    first_rounds = [s for s in optuna.get_all_study_summaries(storage)
                    if s.user_attrs["round"] == 0]  # (a widened rerun would be round 1)
    assert len(first_rounds) == 2
    assert all(s.n_trials == MIN_COMPLETED_TRIALS for s in first_rounds)
