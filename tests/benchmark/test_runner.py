"""The benchmark runner on the tiny dataset: outputs, resume, failures, interruption.

Every test runs from its own tmp_path (tests/conftest.py), so RecBole's log/ stays out of the repo.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from recbole_llmkg.benchmark import runner, worker
from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ConfigError

METRICS = ["Recall", "NDCG", "MRR", "Hit", "ItemCoverage", "GiniIndex", "AveragePopularity",
           "TailPercentage"]
VERSION_KEYS = {"python", "torch", "recbole", "numpy", "scipy", "pandas", "transformers",
                "recbole_llmkg"}
# valid config (passes the up-front check) that fails when the model is built: a closed form
# over tiny's items does not fit in a 1-byte memory limit
BROKEN = {"name": "KASimCF", "label": "KASimCF-broken", "config": {"closed_form_max_gib": 1e-9}}


def bench(tmp_path: Path, **changes) -> Path:
    body = {
        "name": "unit",
        "datasets": ["tiny"],
        "models": ["Pop", "BPR"],
        "seeds": [1, 2],
        "protocols": ["standard"],
        "metrics": METRICS,
        "topk": [5, 10],
        "headline": "NDCG@10",
        "eval_batch_size": 4096,
        "isolation": "inline",
        "threads": 1,
        "config": {"epochs": 2, "train_batch_size": 256},
        "output_dir": str(tmp_path / "results"),
        **changes,
    }
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def quiet(_: str) -> None:
    pass


def no_training(*_args, **_kwargs):
    raise AssertionError("a finished run was executed again")


def test_two_models_two_seeds_write_every_output(tmp_path):
    lines: list[str] = []
    summary = run_benchmark(bench(tmp_path), log=lines.append)
    out = tmp_path / "results" / "unit"
    assert summary.executed == 4 and summary.skipped == 0 and not summary.failed
    assert any(line.startswith("run 1/4: Pop tiny seed=1 standard") for line in lines)
    assert any("ETA" in line for line in lines)

    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    for record in records:
        for part in ("valid", "test"):
            assert {"ndcg@10", "recall@5", "itemcoverage@10", "giniindex@10",
                    "averagepopularity@10", "tailpercentage@10"} <= set(record[part])
        assert record["best_epoch"] in (0, 1)
        assert record["epoch_seconds_mean"] > 0 and record["eval_seconds"] > 0
        assert record["wall_seconds"] > 0 and record["peak_rss_mb"] > 50
        assert record["fit_seconds"] >= record["train_seconds"] > 0
        assert record["build_seconds"] >= 0
        assert record["peak_gpu_mb"] is None and record["device"] == "cpu"
        assert record["params"] >= 1 and record["threads"] == 1
        assert record["eval_batch_size"] == 4096
        assert VERSION_KEYS <= set(record["versions"])
        assert record["ours"] is False
        source = (datasets_dir() / "tiny" / "tiny.inter").read_text()
        assert record["protocol_info"]["interactions"] == len(source.splitlines()) - 1
    bpr = [r for r in records if r["model"] == "BPR"]
    assert all(r["params"] > 1000 and r["epochs_run"] == 2 for r in bpr)

    with open(out / "runs.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"Pop", "BPR"}
    assert all(0 <= float(r["test_ndcg@10"]) <= 1 for r in rows)
    jsonl = (out / "runs.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in jsonl) == sorted(r["key"] for r in records)

    board = (out / "leaderboard.md").read_text()
    assert "## tiny · standard" in board and "| Pop |" in board and "| BPR |" in board
    assert "python run_recbole_llmkg.py --benchmark" in board
    assert "eval_batch_size 4096" in board and "torch" in board and "Date:" in board
    assert " ± " in board  # two seeds give a standard deviation
    pop = next(r for r in rows if r["label"] == "Pop")
    assert f"{float(pop['test_ndcg@10']):.4f}"[:4] in board
    for png in (out / "tiny__standard__NDCG-10.png", out / "tiny__standard__accuracy_vs_time.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aggregate = list(csv.DictReader(open(out / "aggregate.csv", encoding="utf-8")))
    assert {r["label"] for r in aggregate} == {"Pop", "BPR"}
    assert all(r["ok"] == "2" for r in aggregate)

    # the leaderboard is sorted by the headline mean
    means = {r["label"]: float(r["test_ndcg@10_mean"]) for r in aggregate}
    first, second = sorted(means, key=means.get, reverse=True)
    assert board.index(f"| 1 | {first} |") < board.index(f"| 2 | {second} |")

    # re-running the same file trains nothing
    original = worker.execute_run
    try:
        worker.execute_run = no_training
        again = run_benchmark(bench(tmp_path), log=quiet, charts=False)
    finally:
        worker.execute_run = original
    assert again.executed == 0 and again.skipped == 4
    # a different setting is a different run: only the changed ones are redone
    more = run_benchmark(bench(tmp_path, seeds=[1, 2, 3]), log=quiet, charts=False)
    assert more.executed == 2 and more.skipped == 4


def test_failed_model_is_recorded_and_retried(tmp_path):
    path = bench(tmp_path, models=["Pop", BROKEN], seeds=[1])
    summary = run_benchmark(path, log=quiet, charts=False)
    assert summary.executed == 2 and len(summary.failed) == 1
    out = tmp_path / "results" / "unit"
    failed = json.loads((out / "runs" / f"{summary.failed[0]}.json").read_text())
    assert failed["status"] == "failed" and failed["label"] == "KASimCF-broken"
    assert failed["error"]["type"] and failed["error"]["message"]
    assert "Traceback" in failed["error"]["traceback"] or "File" in failed["error"]["traceback"]
    board = (out / "leaderboard.md").read_text()
    assert re.search(r"KASimCF-broken\**\s*\| failed:", board) and "## Failed runs" in board
    assert "| 1 | Pop |" in board
    rows = list(csv.DictReader(open(out / "runs.csv", encoding="utf-8")))
    assert {r["label"]: r["status"] for r in rows} == {"Pop": "ok", "KASimCF-broken": "failed"}
    # failed runs are not finished: the next invocation retries them (and only them)
    again = run_benchmark(path, log=quiet, charts=False)
    assert again.executed == 1 and again.skipped == 1
    # --rerun redoes everything
    assert run_benchmark(path, rerun=True, log=quiet, charts=False).executed == 2


def interrupt_third_run(monkeypatch):
    """The worker runs the first two runs, then a Ctrl-C arrives during the third; returns the
    real ``execute_run`` so a test can put it back."""
    calls = {"n": 0}
    original = worker.execute_run

    def interrupted_third(payload, in_child=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(payload, in_child)

    monkeypatch.setattr(worker, "execute_run", interrupted_third)
    return original


def test_interruption_keeps_finished_runs_and_resumes(tmp_path, monkeypatch):
    path = bench(tmp_path, models=["Pop", "EASE"])
    original = interrupt_third_run(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(path, log=quiet, charts=False)
    runs = tmp_path / "results" / "unit" / "runs"
    saved = sorted(runs.iterdir())
    assert len(saved) == 2 and all(p.suffix == ".json" for p in saved)
    assert all(json.loads(p.read_text())["status"] == "ok" for p in saved)
    assert not list((tmp_path / "results").rglob("*.tmp"))
    assert "Runs: 4 planned, 2 ok, 0 failed, 2 not run" in (runs.parent / "leaderboard.md"
                                                           ).read_text()

    monkeypatch.setattr(worker, "execute_run", original)
    resumed = run_benchmark(path, log=quiet, charts=False)
    assert resumed.executed == 2 and resumed.skipped == 2
    assert len(list(runs.iterdir())) == 4


def test_child_process_isolation_crash_and_timeout(tmp_path):
    """Subprocess mode: per-run peak memory and logs; a raising model and a killed (timed
    out) run are both recorded as failed while the others finish."""
    path = bench(tmp_path, isolation="subprocess", models=["Pop", BROKEN], seeds=[1])
    summary = run_benchmark(path, log=quiet, charts=False)
    records = {r["label"]: r for r in summary.records.values()}
    assert records["Pop"]["status"] == "ok" and records["KASimCF-broken"]["status"] == "failed"
    assert records["Pop"]["rss_method"].startswith("ru_maxrss")
    assert records["Pop"]["peak_rss_mb"] > 50
    assert Path(records["Pop"]["log_file"]).is_file()

    slow = bench(tmp_path, isolation="subprocess", models=["EASE"], seeds=[1], timeout=0.5)
    killed = run_benchmark(slow, log=quiet, charts=False)
    (record,) = killed.records.values()
    assert record["status"] == "failed" and record["error"]["type"] == "TimeoutError"
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_cli_runs_a_benchmark(tmp_path, capsys):
    from recbole_llmkg.cli import main

    path = bench(tmp_path, models=["Pop"], seeds=[1])
    assert main(["--benchmark", str(path), "--epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "run 1/1: Pop tiny seed=1 standard" in printed
    assert re.search(r"^ +1  Pop +\d\.\d{4} +\d\.\d{4} +\d+$", printed, re.M)  # console table
    record = json.loads(next((tmp_path / "results" / "unit" / "runs").glob("*.json")).read_text())
    assert record["config"]["epochs"] == 1


def test_report_rewrites_the_board_from_saved_runs_and_runs_nothing(tmp_path, capsys):
    from recbole_llmkg.cli import main

    path = bench(tmp_path, models=["Pop", "EASE"], seeds=[1])
    first = run_benchmark(path, log=quiet, charts=False)
    out = tmp_path / "results" / "unit"
    (out / "runs" / f"{next(k for k in first.records if 'EASE' in k)}.json").unlink()
    (out / "leaderboard.md").unlink()
    assert main(["--benchmark", str(path), "--report"]) == 0
    assert "run 1/" not in capsys.readouterr().out  # nothing trained
    board = (out / "leaderboard.md").read_text()
    assert "| 1 | Pop |" in board and re.search(r"EASE\s*\| not run yet", board)
    assert len(list((out / "runs").glob("*.json"))) == 1


def test_eta_uses_per_model_durations():
    eta = runner._Eta([{"label": "A", "elapsed_seconds": 10.0},
                       {"label": "B", "elapsed_seconds": 100.0}])
    from recbole_llmkg.benchmark.spec import ModelEntry, ProtocolEntry, RunSpec

    def run(label: str) -> RunSpec:
        return RunSpec("tiny", ModelEntry(label, label), 1, ProtocolEntry("standard"), {})

    assert eta.remaining([run("A"), run("B")]) == "1m50s"
    assert eta.remaining([run("C")]) == "55s"  # unknown model: the overall mean


def test_second_runner_on_the_same_folder_is_refused(tmp_path):
    from recbole_llmkg.benchmark.store import BenchmarkBusyError, exclusive
    from recbole_llmkg.errors import LLMKGError

    path = bench(tmp_path, models=["Pop"], seeds=[1])
    with exclusive(tmp_path / "results" / "unit"):
        with pytest.raises(BenchmarkBusyError, match="Another benchmark runner") as caught:
            run_benchmark(path, log=quiet, charts=False)
    assert isinstance(caught.value, LLMKGError)
    assert run_benchmark(path, log=quiet, charts=False).executed == 1  # lock released


# --- crash safety: kills, scratch folders, reruns, exit codes, up-front config checks --------


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition, seconds: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_cli(path: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """The benchmark command in its own process group, with SIGHUP at its default action (as
    a terminal would start it): an ignored SIGHUP is inherited, so a suite run under ``nohup``
    would otherwise start a runner that the terminal-closed test cannot end."""
    code = "import sys; from recbole_llmkg.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "--benchmark", str(path)], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))


def killed_mid_run(tmp_path: Path, env: dict[str, str], kill) -> tuple[Path, dict[str, Any]]:
    """Start a 2-run subprocess board, let Pop finish, ``kill(runner)`` while BPR trains;
    returns the board file and the saved Pop record."""
    # BPR on tiny takes a few ms per epoch: 2000 epochs keep a worker busy for seconds after
    # the kill, so an orphan would still be running when the test looks for it
    slow_bpr = {"name": "BPR", "config": {"epochs": 2000, "stopping_step": 10000}}
    path = bench(tmp_path, isolation="subprocess", models=["Pop", slow_bpr], seeds=[1])
    runs = tmp_path / "results" / "unit" / "runs"
    runner_process = start_cli(path, tmp_path, env)
    try:
        wait_for(lambda: len(list(runs.glob("*.json"))) == 1, what="the Pop run to finish")
        wait_for(lambda: processes_mentioning(str(tmp_path / "results" / "unit" / "tmp")),
                 what="the BPR worker to start")
        time.sleep(1.0)
        kill(runner_process)
        runner_process.wait(timeout=30)
    finally:
        if runner_process.poll() is None:
            os.killpg(runner_process.pid, signal.SIGKILL)
    (pop_file,) = runs.glob("*.json")
    return path, json.loads(pop_file.read_text())


def assert_no_orphan(tmp_path: Path) -> None:
    """Within a few seconds of the kill no process works in the board's scratch folder."""
    scratch = str(tmp_path / "results" / "unit" / "tmp")
    try:
        wait_for(lambda: not processes_mentioning(scratch), seconds=5,
                 what="the orphaned worker to exit")
    finally:
        for pid in processes_mentioning(scratch):  # leave nothing behind, even on failure
            os.kill(pid, signal.SIGKILL)


def assert_no_orphan_then_resume(tmp_path: Path, path: Path, pop: dict[str, Any],
                                 env: dict[str, str]) -> None:
    """No worker outlives the runner; the same command then finishes only the missing run."""
    assert_no_orphan(tmp_path)

    resumed = subprocess.run([sys.executable, "-c", "import sys; from recbole_llmkg.cli "
                              "import main; sys.exit(main())", "--benchmark", str(path)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "1 of 2 runs already finished: skipped" in resumed.stdout
    assert "run 1/1: BPR tiny seed=1 standard" in resumed.stdout
    out = tmp_path / "results" / "unit"
    records = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    assert {r["label"]: r["status"] for r in records} == {"Pop": "ok", "BPR": "ok"}
    again = next(r for r in records if r["label"] == "Pop")
    assert again == pop  # the finished run was not redone
    bpr = next(r for r in records if r["label"] == "BPR")
    assert bpr["epochs_run"] == 2000
    assert "Runs: 2 planned, 2 ok, 0 failed, 0 not run" in (out / "leaderboard.md").read_text()
    assert not (out / "tmp").exists()  # the killed attempt's scratch was cleaned


def test_killing_the_runner_process_group_leaves_no_orphan_and_resumes(tmp_path,
                                                                        subprocess_env):
    """kill -9 of the runner's process group mid-run: the worker dies with it (on the old code
    it ran in its own session and survived), and the same command completes the board."""
    path, pop = killed_mid_run(tmp_path, subprocess_env,
                               lambda p: os.killpg(p.pid, signal.SIGKILL))
    assert_no_orphan_then_resume(tmp_path, path, pop, subprocess_env)


@pytest.mark.parametrize("kill", [
    pytest.param(lambda p: p.kill(), id="kill-9-runner-only"),
    pytest.param(lambda p: os.killpg(p.pid, signal.SIGHUP), id="terminal-closed-SIGHUP"),
])
def test_killing_only_the_runner_takes_its_worker_with_it(tmp_path, subprocess_env, kill):
    """kill -9 of the runner process alone (the parent-death check ends the worker), or the
    terminal's SIGHUP to the runner's process group (the worker is in it and gets it too)."""
    killed_mid_run(tmp_path, subprocess_env, kill)
    assert_no_orphan(tmp_path)


def test_each_attempt_gets_its_own_scratch_folder(tmp_path, monkeypatch):
    """Two attempts at one run (a rerun) never share a scratch folder: an older attempt's
    clean-up cannot delete a newer one's checkpoints."""
    folders: list[Path] = []
    original = worker.execute_run

    def remember(payload, in_child=False):
        folders.append(Path(payload["work_dir"]).parent)
        assert (folders[-1] / "owner.json").is_file()
        return original(payload, in_child)

    monkeypatch.setattr(worker, "execute_run", remember)
    path = bench(tmp_path, models=["Pop"], seeds=[1])
    run_benchmark(path, log=quiet, charts=False)
    run_benchmark(path, rerun=True, log=quiet, charts=False)
    key = next((tmp_path / "results" / "unit" / "runs").glob("*.json")).stem
    assert len(folders) == 2 and folders[0] != folders[1]
    assert all(f.name.startswith(f"{key}.{os.getpid()}.") for f in folders)
    assert not (tmp_path / "results" / "unit" / "tmp").exists()


def test_stale_scratch_is_cleaned_at_start_unless_a_live_process_owns_it(tmp_path):
    from recbole_llmkg.benchmark.scratch import OWNER_FILE, process_identity

    tmp = tmp_path / "results" / "unit" / "tmp"
    dead_process = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = process_identity(dead_process.pid)
    dead_process.wait()
    live = process_identity(os.getpid())
    folders = {"dead": [dead], "live": [live], "none": None, "reused_pid":
               [{"pid": os.getpid(), "started": live["started"] - 100}]}
    for name, owners in folders.items():
        (tmp / name / "checkpoints").mkdir(parents=True)
        if owners is not None:
            (tmp / name / OWNER_FILE).write_text(json.dumps({"owners": owners}))
    lines: list[str] = []
    run_benchmark(bench(tmp_path, models=["Pop"], seeds=[1]), log=lines.append, charts=False)
    assert sorted(p.name for p in tmp.iterdir()) == ["live"]
    assert sum("removed scratch folder" in line for line in lines) == 3


def test_interrupted_rerun_is_resumed_and_the_board_names_older_runs(tmp_path, monkeypatch):
    """A rerun replaces records only as its runs finish; after an interruption the board lists
    the runs still from the older attempt, and the same --rerun redoes only those."""
    path = bench(tmp_path, models=["Pop", "EASE"])
    first = run_benchmark(path, log=quiet, charts=False)
    out = tmp_path / "results" / "unit"
    before = {k: r["invocation"] for k, r in first.records.items()}
    assert all(r["rerun_id"] is None for r in first.records.values())

    original = interrupt_third_run(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(path, rerun=True, log=quiet, charts=False)
    marker = json.loads((out / "rerun.json").read_text())
    records = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    redone = {k for k, r in records.items() if r["rerun_id"] == marker["id"]}
    older = set(records) - redone
    assert len(redone) == 2 and len(older) == 2
    assert all(records[k]["invocation"] == before[k] for k in older)
    board = (out / "leaderboard.md").read_text()
    assert "## Unfinished rerun" in board and f"`--rerun` {marker['id']}" in board
    assert all(f"`{k}`" in board.split("## Unfinished rerun")[1] for k in older)
    assert not any(f"`{k}`" in board.split("## Unfinished rerun")[1] for k in redone)

    # a plain resume keeps the older runs and keeps saying so
    monkeypatch.setattr(worker, "execute_run", no_training)
    lines: list[str] = []
    plain = run_benchmark(path, log=lines.append, charts=False)
    assert plain.executed == 0 and plain.rerun is not None
    assert any("2 runs are from before the unfinished --rerun" in line for line in lines)
    assert "## Unfinished rerun" in (out / "leaderboard.md").read_text()

    # the same --rerun command redoes only the two older runs, then the rerun is complete
    monkeypatch.setattr(worker, "execute_run", original)
    resumed = run_benchmark(path, rerun=True, log=quiet, charts=False)
    assert resumed.executed == 2 and resumed.skipped == 2 and resumed.rerun is None
    assert set(resumed.records) == set(records)
    assert {r["rerun_id"] for r in resumed.records.values()} == {marker["id"]}
    assert all(resumed.records[k] == records[k] for k in redone)
    assert not (out / "rerun.json").exists()
    assert "## Unfinished rerun" not in (out / "leaderboard.md").read_text()
    # a later --rerun starts a new rerun of everything
    assert run_benchmark(path, rerun=True, log=quiet, charts=False).executed == 4


def test_cli_exits_nonzero_and_names_failed_runs(tmp_path, capsys):
    from recbole_llmkg.cli import main

    path = bench(tmp_path, models=["Pop", BROKEN], seeds=[1])
    assert main(["--benchmark", str(path)]) == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err
    (line,) = [line for line in err.splitlines() if "KASimCF-broken tiny seed=1 standard:" in line]
    record = next(json.loads(p.read_text()) for p in
                  (tmp_path / "results" / "unit" / "runs").glob("*.json")
                  if "KASimCF-broken" in p.name)
    assert record["error"]["traceback"].strip().splitlines()[-1].strip() in line
    assert record["key"] in line


def test_bad_model_config_fails_before_any_run_trains(tmp_path, monkeypatch):
    """A value RecBole's config rejects in the third model is reported at once, with the file
    and the key path of every bad model, before the first model trains."""
    monkeypatch.setattr(worker, "execute_run", no_training)
    bad = {"train_neg_sample_args": {"distribution": "bogus"}}
    path = bench(tmp_path, models=["Pop", "BPR", {"name": "BPR", "label": "BPR-bad",
                                                   "config": bad},
                                   {"name": "NeuMF", "config": bad}])
    with pytest.raises(ConfigError) as caught:
        run_benchmark(path, log=quiet, charts=False)
    message = str(caught.value)
    assert str(path) in message and "2 run config(s) are invalid" in message
    assert "key 'models[2].config': model 'BPR-bad'" in message
    assert "key 'models[3].config': model 'NeuMF'" in message
    assert "bogus" in message
    assert not (tmp_path / "results" / "unit" / "runs").exists()
    with pytest.raises(ConfigError):  # a --rerun that cannot start leaves no rerun marker
        run_benchmark(path, rerun=True, log=quiet, charts=False)
    assert not (tmp_path / "results" / "unit" / "rerun.json").exists()


def test_a_skipped_row_is_listed_with_its_reason_and_never_run(tmp_path):
    path = bench(tmp_path, seeds=[1], models=[
        "Pop", {"name": "BPR", "table": "untuned", "skip": "too slow here: 375 s/epoch"}])
    lines: list[str] = []
    summary = run_benchmark(path, log=lines.append, charts=False)
    assert summary.executed == 1 and summary.listed_only == 1 and not summary.failed
    out = tmp_path / "results" / "unit"
    assert [p.name.split("__")[1] for p in (out / "runs").glob("*.json")] == ["Pop"]
    board = (out / "leaderboard.md").read_text()
    assert re.search(r"\| – \| BPR \| not run: too slow here: 375 s/epoch \|", board)
    assert "2 planned, 1 ok, 0 failed, 0 not run, 1 of rows listed with `skip:`" in board
    assert any("skip: not run: BPR (too slow here" in line for line in lines)
    # resuming starts nothing, and the skipped row does not hold a --rerun open
    assert run_benchmark(path, log=quiet, charts=False).executed == 0
    run_benchmark(path, rerun=True, log=quiet, charts=False)
    assert not (out / "rerun.json").exists()


# --- provenance, leftovers, one board per folder, records of older keys ----------------------


def test_full_profile_refuses_a_dirty_tree_and_records_the_code(tmp_path, monkeypatch):
    from recbole_llmkg.benchmark.provenance import DirtyTreeError, GitState, code_identity

    path = bench(tmp_path, models=["Pop"], seeds=[1], profiles={"full": {}})
    dirty = GitState("0123abc", True, ("recbole_llmkg/trainer.py",))
    monkeypatch.setattr(runner, "git_state", lambda: dirty)
    with pytest.raises(DirtyTreeError, match=r"profile 'full'.*trainer\.py.*--allow-dirty"):
        run_benchmark(path, profile="full", log=quiet, charts=False)
    assert not (tmp_path / "results" / "unit" / "runs").exists()  # refused before anything ran
    summary = run_benchmark(path, profile="full", allow_dirty=True, log=quiet, charts=False)
    (record,) = summary.records.values()
    assert record["code"] == {"commit": "0123abc", "dirty": True,
                              "changed": ["recbole_llmkg/trainer.py"],
                              "identity": code_identity("Pop")}
    monkeypatch.setattr(runner, "git_state", lambda: GitState("0123abc", False))
    run_benchmark(path, log=quiet, charts=False, rerun=True)  # no profile: not refused


def test_leftover_temp_files_are_removed_at_start(tmp_path):
    """A kill while runs.jsonl or a chart was written leaves a temp file beside it."""
    out = tmp_path / "results" / "unit"
    (out / "runs").mkdir(parents=True)
    leftovers = [out / ".runs.jsonl.a1b2c3d4.tmp",
                 out / ".unit__standard__NDCG-10.png.zz9y8x7w.tmp",
                 out / "runs" / ".unit__Pop__x.json.q1w2e3r4.tmp"]
    for path in leftovers:
        path.write_bytes(b"")
    (out / "notes.tmp").write_text("someone else's")
    lines: list[str] = []
    run_benchmark(bench(tmp_path, models=["Pop"], seeds=[1]), log=lines.append, charts=False)
    assert not any(path.exists() for path in leftovers) and (out / "notes.tmp").exists()
    assert sum("removed a temp file left by a stopped runner" in line for line in lines) == 3


def test_a_second_board_file_with_the_same_name_and_folder_is_refused(tmp_path):
    from recbole_llmkg.benchmark.store import BoardCollisionError

    first = bench(tmp_path, models=["Pop"], seeds=[1])
    run_benchmark(first, log=quiet, charts=False)
    other = tmp_path / "other"
    other.mkdir()
    second = bench(other, models=["EASE"], seeds=[1], output_dir=str(tmp_path / "results"))
    with pytest.raises(BoardCollisionError) as refused:
        run_benchmark(second, log=quiet, charts=False)
    assert str(first.resolve()) in str(refused.value) and str(second) in str(refused.value)
    assert "EASE" not in (tmp_path / "results" / "unit" / "leaderboard.md").read_text()
    summary = run_benchmark(second, log=quiet, charts=False, overwrite=True)
    assert summary.executed == 1


def test_report_shows_records_of_older_run_keys_and_the_runner_redoes_them(tmp_path,
                                                                           monkeypatch):
    """After a code change every run key changes: --report still renders the saved records
    (as stored), while a normal invocation counts them as not run and redoes them."""
    from recbole_llmkg.benchmark import spec as spec_module

    path = bench(tmp_path, models=["Pop", "EASE"], seeds=[1])
    first = run_benchmark(path, log=quiet, charts=False)
    scores = {r["label"]: r["test"]["ndcg@10"] for r in first.records.values()}
    monkeypatch.setattr(spec_module, "code_identity", lambda model: f"changed-{model}")
    lines: list[str] = []
    report = run_benchmark(path, report_only=True, log=lines.append, charts=False)
    assert report.executed == 0
    assert any("--report: 2 of 2 cells show records saved under an older run key" in line
               for line in lines)
    assert {r["label"]: r["test"]["ndcg@10"] for r in report.records.values()} == scores
    board = (tmp_path / "results" / "unit" / "leaderboard.md").read_text()
    assert "2 ok, 0 failed, 0 not run" in board
    redone = run_benchmark(path, log=quiet, charts=False)
    assert redone.executed == 2 and redone.skipped == 0
    assert len(list((tmp_path / "results" / "unit" / "runs").glob("*.json"))) == 4
