"""Tie a child process's life to its parent's, so no run outlives the runner that started it.

(``lifeline.py --reap PARENT_PID PID:START ...`` is the other direction: it waits for its
parent to die, then kills the listed processes; :func:`reaper_command` builds that line.)

``python .../benchmark/lifeline.py PARENT_PID MODULE [ARGS...]`` arms two checks, then runs
``MODULE`` as ``__main__`` with ``ARGS`` (:func:`command` builds that line). It is started by
file path, not with ``-m``, so it is armed before the package (torch, RecBole) is imported,
which takes seconds; it imports nothing from the package itself. The checks:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills this process the moment the
  parent thread that started it exits (also after ``kill -9`` of the parent alone).
- Everywhere: a daemon thread that exits the process once the parent is gone
  (``os.getppid()`` changed because the child was re-parented, or the parent pid no longer
  exists).

An orphaned run would otherwise keep training, compete for the CPU with the resumed benchmark,
and could write into folders that a newer attempt uses.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ORPHANED_EXIT_CODE = 125
WATCH_INTERVAL_SECONDS = 0.5


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the Linux kernel to send ``sig`` when the parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int, interval: float = WATCH_INTERVAL_SECONDS) -> None:
    """Exit now if ``parent_pid`` is no longer the parent, and whenever it stops being it."""
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(ORPHANED_EXIT_CODE)
    watch_parent(parent_pid, interval)


def watch_parent(parent_pid: int, interval: float = WATCH_INTERVAL_SECONDS) -> None:
    """Start a daemon thread that exits the process once ``parent_pid`` stops being its parent
    (the portable check: works where ``prctl`` does not exist)."""
    threading.Thread(target=_watch, args=(parent_pid, interval), daemon=True,
                     name="lifeline").start()


def _watch(parent_pid: int, interval: float) -> None:
    import psutil  # here, not at the top: the watchdog must not slow the child's start

    while True:
        time.sleep(interval)
        # POSIX re-parents an orphan; Windows keeps the dead parent's pid in getppid()
        if os.getppid() != parent_pid or not psutil.pid_exists(parent_pid):
            os._exit(ORPHANED_EXIT_CODE)  # no clean-up: the next runner clears the scratch


def reap_when_gone(parent_pid: int, targets: list[str],
                   interval: float = WATCH_INTERVAL_SECONDS) -> None:
    """Wait until ``parent_pid`` is no longer this process's parent, then SIGKILL every
    ``PID:START_TIME`` of ``targets`` still running (the start time guards against a reused
    pid). Started beside a local Ray instance: Ray's per-node agents (DashboardAgent,
    RuntimeEnvAgent) were measured to outlive a ``kill -9`` of the runner by 60-90 s."""
    import psutil

    def alive() -> list[psutil.Process]:
        found = []
        for target in targets:
            pid, _, started = target.partition(":")
            try:
                process = psutil.Process(int(pid))
                if abs(process.create_time() - float(started)) < 0.01 \
                        and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
            except (psutil.Error, ValueError):
                continue
        return found

    while os.getppid() == parent_pid and psutil.pid_exists(parent_pid):
        time.sleep(interval)
        if not alive():  # Ray was shut down: nothing left to guard
            return
    for process in alive():
        try:
            process.kill()
        except psutil.Error:
            continue


def reaper_command(parent_pid: int, targets: list[str]) -> list[str]:
    """The command line of a process that kills ``targets`` once ``parent_pid`` is gone."""
    return [sys.executable, os.path.abspath(__file__), "--reap", str(parent_pid), *targets]


def command(parent_pid: int, module: str, *args: str) -> list[str]:
    """The child's command line: this file under the current interpreter, then the module."""
    return [sys.executable, os.path.abspath(__file__), str(parent_pid), module, *args]


def main(argv: list[str] | None = None) -> None:
    """Arm :func:`die_with_parent`, then run the given module as the main program."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--reap"] and len(args) >= 2 and args[1].isdigit():
        reap_when_gone(int(args[1]), args[2:])
        return
    if len(args) < 2 or not args[0].isdigit():
        raise SystemExit("usage: lifeline.py PARENT_PID MODULE [ARGS...]")
    parent_pid, module, *rest = args
    die_with_parent(int(parent_pid))
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # run by path: the package's folder must not shadow top-level modules
    main()
