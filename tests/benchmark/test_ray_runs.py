"""Ray: a tiny board on a local 2-worker instance equals the sequential run; crashes stay local;
tuning trials run as tasks, report per-epoch values from inside the task, and the board's seed
runs use the best trial."""

from __future__ import annotations

import json
import operator
import os
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
import sqlalchemy
import yaml

from recbole_llmkg.benchmark.ray_runs import run_many, start_ray, tune_on_ray
from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.benchmark.splits import write_standard_split
from recbole_llmkg.benchmark.tuning import TuningJob, counted, load_search_spaces
from recbole_llmkg.config import datasets_dir

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    started = start_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _board(tmp_path, name, **changes):
    body = {"name": name, "datasets": ["tiny"], "models": ["Pop", "BPR", "EASE"],
            "seeds": [2020, 2021], "protocols": ["standard"], "metrics": ["NDCG", "Hit"],
            "topk": [5, 10], "headline": "NDCG@10", "eval_batch_size": 4096, "threads": 1,
            "config": {"epochs": 3, "stopping_step": 3, "state": "ERROR"},
            "output_dir": str(tmp_path / "results"), **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _records(summary):
    return {(r["label"], r["seed"]): r for r in summary.records.values()}


def test_tiny_board_on_ray_equals_sequential(local_ray, tmp_path):
    on_ray = run_benchmark(_board(tmp_path, "ray", isolation="ray", num_cpus=2),
                           log=lambda _: None, charts=False)
    inline = run_benchmark(_board(tmp_path, "inline", isolation="inline"),
                           log=lambda _: None, charts=False)
    got, expected = _records(on_ray), _records(inline)
    assert sorted(got) == sorted(expected) and len(got) == 6
    for key, want in expected.items():
        have = got[key]
        assert want["status"] == have["status"] == "ok", (have.get("error"), want["error"])
        assert have["isolation"] == "ray" and want["isolation"] == "inline"
        assert have["test"] == want["test"] and have["valid"] == want["valid"], key
        assert have["best_epoch"] == want["best_epoch"] is not None
        assert have["split_fingerprint"] == want["split_fingerprint"]
        assert have["per_user"]["users"] == want["per_user"]["users"]
        for metric, values in want["per_user"]["values"].items():
            assert np.array_equal(have["per_user"]["values"][metric], values), metric
        mean = np.mean(have["per_user"]["values"]["ndcg@10"])
        assert abs(mean - have["test"]["ndcg@10"]) < 1e-4  # RecBole rounds to 4 places
    fingerprints = {(r["seed"], r["split_fingerprint"]) for r in got.values()}
    assert len(fingerprints) == 2  # one split per seed, the same for every model


def test_board_tunes_every_row_with_one_budget_then_runs_the_best(local_ray, tmp_path):
    path = _board(tmp_path, "tuned", isolation="ray", num_cpus=2, n_trials=10, seeds=[2020],
                  models=["Pop", "BPR", {"name": "EASE", "tune": False}])
    lines: list[str] = []
    summary = run_benchmark(path, log=lines.append, charts=False)
    assert any("11 trials to run" in line for line in lines)
    trial_lines = [line for line in lines if line.startswith("  trial ")]
    assert trial_lines[0].startswith("  trial 1/11 ") and "[ETA" in trial_lines[0]
    n = len(trial_lines)  # 11, or more when a widened range reran BPR's study
    assert n >= 11 and trial_lines[-1].startswith(f"  trial {n}/{n} ")
    records = _records(summary)
    assert all(r["status"] == "ok" for r in records.values())
    bpr = records[("BPR", 2020)]["tuning"]
    assert bpr["source"] == "tuned" and bpr["trials"] == 10 and "learning_rate" in bpr["params"]
    assert records[("BPR", 2020)]["config"]["learning_rate"] == bpr["params"]["learning_rate"]
    assert records[("Pop", 2020)]["tuning"]["trials"] == 1  # nothing to tune: one trial
    assert records[("EASE", 2020)]["tuning"] is None
    tables = tmp_path / "results" / "tuned" / "tuning"
    assert sorted(p.name for p in tables.iterdir()) == [
        "tiny-standard-BPR.csv", "tiny-standard-BPR.md", "tiny-standard-Pop.csv",
        "tiny-standard-Pop.md"]
    # a second invocation finds the studies at their budget and every run finished
    again = run_benchmark(path, log=lambda _: None, charts=False)
    assert again.executed == 0 and again.skipped == 3


def test_a_crashing_run_fails_alone(local_ray):
    specs = [{"record": {"status": "ok"}}, {"model": "Broken", "seed": 1}]
    records = dict(run_many(specs, operator.itemgetter("record"), progress=False))
    assert records[0] == {"status": "ok"}
    assert records[1]["status"] == "failed" and records[1]["model"] == "Broken"
    assert "KeyError" in records[1]["error"]


def test_tuning_trials_run_as_tasks(local_ray, tmp_path):
    split = write_standard_split(datasets_dir() / "tiny", "tiny", 2020, tmp_path / "splits")
    storage = f"sqlite:///{tmp_path / 'tuning.db'}"
    config = {"use_gpu": False, "state": "ERROR", "epochs": 3, "stopping_step": 3}
    spaces = load_search_spaces()
    jobs = [TuningJob(m, "tiny", "standard", spaces[m], storage, split.config(), config,
                      n_trials=2) for m in ("BPR", "EASE")]
    studies = tune_on_ray(jobs, max_concurrent=2, progress=False)
    for job in jobs:
        trials = studies[job.study_name].get_trials()
        assert sum(counted(t) for t in trials) == 2 == len(trials)
        assert all(t.state.name == "COMPLETE" and t.intermediate_values for t in trials)


def test_killed_board_sweep_resumes_without_redoing_finished_trials(tmp_path, subprocess_env):
    """kill -9 of the board command while a tuning trial runs on a 2-CPU local Ray; the same
    command resumes the study: finished trials kept, the cut one not counted and asked again,
    then seed runs."""
    path = _board(tmp_path, "killed", isolation="ray", num_cpus=2, n_trials=10, seeds=[2020],
                  models=["BPR"], config={"epochs": 20, "stopping_step": 20, "state": "ERROR"})
    command = [sys.executable, "-c", "import sys; from recbole_llmkg.cli import main; "
               "sys.exit(main())", "--benchmark", str(path)]
    storage = f"sqlite:///{(tmp_path / 'results' / 'killed' / 'tuning.db').resolve()}"
    child = subprocess.Popen(command, cwd=tmp_path, env=subprocess_env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # until one trial finished and a later one is under way
            time.sleep(0.2)
            assert child.poll() is None, "the sweep ended before it could be killed"
            try:
                (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)]
                trials = optuna.load_study(study_name=name, storage=storage).get_trials()
            except (KeyError, ValueError, sqlalchemy.exc.OperationalError):
                continue
            done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
            running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
                       and len(t.intermediate_values) >= 2]
            if done and running:
                break
        else:
            pytest.fail("no trial was running after a finished one")
        os.killpg(child.pid, signal.SIGKILL)  # the runner and everything in its session
        child.wait()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    study = optuna.load_study(study_name=name, storage=storage)
    before = study.get_trials()
    finished = {t.number: t.datetime_complete for t in before if t.state.is_finished()}
    cut = [t.number for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert finished and cut, "the kill did not land inside a trial"
    assert not list((tmp_path / "results" / "killed" / "runs").glob("*.json"))  # still tuning

    resumed = subprocess.run(command, cwd=tmp_path, env=subprocess_env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    trials = study.get_trials()
    for number, completed_at in finished.items():
        assert trials[number].datetime_complete == completed_at  # not redone
    for number in cut:
        assert trials[number].user_attrs.get("interrupted") is True and not counted(trials[number])
        redo = [t for t in trials if t.user_attrs.get("redo_of") == number]
        assert len(redo) == 1 and redo[0].params == trials[number].params  # asked again
    assert sum(counted(t) for t in trials) == 10
    (record,) = [json.loads(p.read_text())
                 for p in (tmp_path / "results" / "killed" / "runs").glob("*.json")]
    assert record["status"] == "ok" and record["tuning"]["trials"] == 10


def test_a_run_past_the_timeout_fails_alone(local_ray):
    def _slow(spec):  # local: Ray ships it by value (the test module is not importable there)
        import time

        time.sleep(spec["sleep"])
        return {"status": "ok"}

    specs = [{"sleep": 0.1}, {"sleep": 30, "model": "Slow", "seed": 1}]
    start = time.perf_counter()
    records = dict(run_many(specs, _slow, progress=False, timeout=2))
    assert time.perf_counter() - start < 20
    assert records[0] == {"status": "ok"}
    assert records[1]["status"] == "failed" and "timeout of 2 s" in records[1]["error"]


def _session_processes(sid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of session ``sid``: (pid, command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            found.append((int(entry), command))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ray_agents_die_with_a_killed_runner(subprocess_env):
    """kill -9 of the process that started local Ray (alone, not its group): within seconds
    nothing of its Ray instance runs, the DashboardAgent and RuntimeEnvAgent included (without
    the reaper they lingered 60-90 s)."""
    code = ("from recbole_llmkg.benchmark.ray_runs import start_ray; import ray, time; "
            "start_ray(num_cpus=1); print(ray.get(ray.remote(lambda: 'up').remote()), "
            "flush=True); time.sleep(300)")
    driver = subprocess.Popen([sys.executable, "-c", code], env=subprocess_env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)  # its own session: we count only that
    try:
        assert driver.stdout.readline().strip() == "up"
        commands = " ".join(command for _, command in _session_processes(driver.pid))
        assert "DashboardAgent" in commands and "raylet" in commands
        driver.kill()
        driver.wait()
        deadline = time.time() + 20
        while _session_processes(driver.pid) and time.time() < deadline:
            time.sleep(0.5)
        assert _session_processes(driver.pid) == []
    finally:
        for pid, _ in _session_processes(driver.pid):  # only this test's own session
            os.kill(pid, signal.SIGKILL)


def test_starting_local_ray_prints_nothing(subprocess_env, tmp_path):
    """Ray logs "Started a local Ray instance" and a token-authentication notice on every start:
    not at the plugin's default verbosity."""
    script = ("import ray; from recbole_llmkg.benchmark.ray_runs import start_ray; "
              "start_ray(num_cpus=1); ray.shutdown()")
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Started a local Ray instance" not in done.stderr
    assert done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr[-2000:]
