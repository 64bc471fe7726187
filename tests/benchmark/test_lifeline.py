"""A child under the lifeline dies with its parent: by the kernel's parent-death signal on
Linux, and by the portable watchdog thread alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recbole_llmkg.benchmark import lifeline

LIFELINE_DIR = str(Path(lifeline.__file__).parent)


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a dead child its new parent has not
    reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def orphan_survives(child_code: str, seconds: float = 5.0) -> bool:
    """Start a middle process that starts a child running ``child_code``; kill -9 the middle
    one; return whether the child is still running ``seconds`` later (it is killed then)."""
    child = (f"import sys, time; sys.path.insert(0, {LIFELINE_DIR!r}); import lifeline\n"
             + textwrap.dedent(child_code) + "\nprint('armed', flush=True)\ntime.sleep(60)\n")
    middle = textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {child!r}], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout.readline().strip() == "armed"
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    child_pid = int(process.stdout.readline())
    assert is_running(child_pid)
    process.kill()
    process.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and is_running(child_pid):
        time.sleep(0.05)
    survived = is_running(child_pid)
    if survived:
        os.kill(child_pid, signal.SIGKILL)
    return survived


def test_an_unprotected_child_outlives_its_parent():
    """The control: without the lifeline an orphan keeps running."""
    assert orphan_survives("pass", seconds=1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_parent_death_signal_kills_the_orphan():
    assert not orphan_survives("assert lifeline.set_parent_death_signal()")


def test_watchdog_alone_ends_the_orphan():
    assert not orphan_survives("import os; lifeline.watch_parent(os.getppid(), 0.1)")


def test_command_runs_the_module_as_main_with_its_arguments(tmp_path):
    (tmp_path / "echo_args.py").write_text(
        "import sys\nif __name__ == '__main__':\n    print(sys.argv[1:])\n    sys.exit(3)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(lifeline.command(os.getpid(), "echo_args", "a", "b c"), env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout.strip() == "['a', 'b c']"
    # started by its file path, so the package (torch, RecBole) is not imported before arming
    assert "-m" not in lifeline.command(1, "x")


def test_a_child_whose_parent_is_already_gone_exits_at_once(tmp_path):
    (tmp_path / "never.py").write_text("raise SystemExit('must not run')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(lifeline.command(1, "never"), env=env, capture_output=True,
                          text=True, timeout=60)  # pid 1 is not our parent
    assert done.returncode == lifeline.ORPHANED_EXIT_CODE and "must not run" not in done.stderr


def test_the_reaper_kills_its_targets_once_the_parent_is_gone():
    """``lifeline.py --reap``: what local Ray uses so its agents die with a killed runner. A
    target started by the parent lives while the parent does, and is killed within seconds
    of the parent's kill -9."""
    middle = textwrap.dedent(f"""
        import os, subprocess, sys, time
        import psutil
        sys.path.insert(0, {LIFELINE_DIR!r})
        import lifeline
        target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        start = psutil.Process(target.pid).create_time()
        subprocess.Popen(lifeline.reaper_command(os.getpid(), [f"{{target.pid}}:{{start}}"]))
        print(target.pid, flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    target = int(process.stdout.readline())
    try:
        time.sleep(1.0)
        assert is_running(target)  # the parent lives: nothing is reaped
        process.kill()
        process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and is_running(target):
            time.sleep(0.05)
        assert not is_running(target)
    finally:
        if is_running(target):
            os.kill(target, signal.SIGKILL)
