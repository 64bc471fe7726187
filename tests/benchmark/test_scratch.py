"""Scratch folders: one per attempt, owners recorded, only dead owners' folders removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from recbole_llmkg.benchmark.scratch import (
    OWNER_FILE,
    Scratch,
    clean_stale,
    is_alive,
    owners,
    process_identity,
)


def dead_identity() -> dict:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(process.pid)
    process.wait()
    return identity


def test_attempts_of_one_run_get_distinct_folders_owned_by_their_process(tmp_path):
    first, second = Scratch(tmp_path / "tmp", "key"), Scratch(tmp_path / "tmp", "key")
    assert first.path != second.path
    assert first.path.name.startswith(f"key.{os.getpid()}.")
    assert [o["pid"] for o in owners(first.path)] == [os.getpid()]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        first.add_owner(child.pid)
        assert [o["pid"] for o in owners(first.path)] == [os.getpid(), child.pid]
    finally:
        child.kill()
        child.wait()
    first.remove()
    assert not first.path.exists() and second.path.exists()
    second.remove()
    assert not (tmp_path / "tmp").exists()  # the last attempt removes tmp/ too


def test_a_reused_pid_is_not_the_owner():
    me = process_identity(os.getpid())
    assert is_alive(me)
    assert not is_alive({**me, "started": me["started"] - 50})
    assert not is_alive(dead_identity())
    assert not is_alive({"pid": "junk"}) and not is_alive({})


def test_clean_stale_removes_only_folders_no_live_process_owns(tmp_path):
    root = tmp_path / "tmp"
    live = Scratch(root, "live")
    for name, content in {"dead": json.dumps({"owners": [dead_identity()]}),
                          "broken": "{not json", "none": None}.items():
        (root / name).mkdir()
        if content is not None:
            (root / name / OWNER_FILE).write_text(content)
    # a live child keeps a folder whose runner died
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (root / "child").mkdir()
        (root / "child" / OWNER_FILE).write_text(json.dumps(
            {"owners": [dead_identity(), process_identity(child.pid)]}))
        removed = clean_stale(root)
    finally:
        child.kill()
        child.wait()
    assert sorted(p.name for p in removed) == ["broken", "dead", "none"]
    assert sorted(p.name for p in root.iterdir()) == sorted(["child", live.path.name])
    assert clean_stale(tmp_path / "missing") == []
