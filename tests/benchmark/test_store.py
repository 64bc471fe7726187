"""Run records and the --rerun marker on disk."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from recbole_llmkg.benchmark import report, store
from recbole_llmkg.benchmark.store import RerunMarker, RunStore


def test_records_are_written_whole_and_bad_ones_are_ignored(tmp_path):
    runs = RunStore(tmp_path / "runs")
    runs.save({"key": "a", "status": "ok"})
    assert runs.load("a") == {"key": "a", "status": "ok"}
    (tmp_path / "runs" / "b.json").write_text("{half")
    (tmp_path / "runs" / "c.json").write_text('{"key": "other"}')
    assert runs.load_many(["a", "b", "c", "d"]) == {"a": {"key": "a", "status": "ok"}}
    (tmp_path / "runs" / ".a.json.k2j4h5g6.tmp").write_text("left by a kill")
    runs.clean_temp_files()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["a.json", "b.json",
                                                                     "c.json"]


def test_rerun_marker_starts_is_found_again_and_finishes(tmp_path):
    marker = RerunMarker(tmp_path)
    assert marker.current() is None
    rerun = marker.start()
    assert marker.current() == rerun
    records = {"new": {"rerun_id": rerun.id}, "old": {"rerun_id": None}, "older": {}}
    assert rerun.older(["new", "old", "older", "missing"], records) == ["old", "older"]
    assert rerun.covers(records["new"]) and not rerun.covers(None)
    assert marker.start().id != rerun.id  # every rerun has its own id
    marker.finish()
    assert marker.current() is None
    marker.path.write_text("{broken")
    assert marker.current() is None


def test_store_and_report_use_the_one_atomic_write_helper():
    for module in (store, report):
        source = inspect.getsource(module)
        assert "mkstemp" not in source and "os.replace" not in source and ".replace(path)" \
            not in source, module.__name__


def test_stale_temp_files_of_the_board_are_removed_and_no_others(tmp_path):
    """A kill during the seed runs leaves ``.runs.jsonl.<random>.tmp``, one while charts are
    written a 0-byte ``.<chart>.png.<random>.tmp``: the next runner (holding the folder's lock)
    removes these, and nothing that is not an atomic writer's temp file of a board's file."""
    import tempfile

    board = tmp_path / "board"
    (board / "runs").mkdir(parents=True)
    (board / "tmp" / "scratch").mkdir(parents=True)
    left = []
    for folder, name in ((board, "runs.jsonl"), (board, "tiny__standard__NDCG-10.png"),
                         (board / "runs", "tiny__BPR__standard__seed1__abc.json")):
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.close(fd)  # 0 bytes, as a kill right after mkstemp leaves it
        left.append(Path(temp))
    kept = [board / "notes.tmp", board / ".draft.txt.abcdefgh.tmp", board / ".runs.jsonl.tmp",
            board / "tmp" / "scratch" / ".x.json.abcdefgh.tmp", board / "runs.jsonl"]
    for path in kept:
        path.write_text("not ours to remove")
    assert sorted(store.remove_stale_temp_files(board)) == sorted(left)
    assert all(path.exists() for path in kept) and not any(p.exists() for p in left)


def test_a_second_board_with_the_same_folder_is_refused_naming_both(tmp_path):
    import pytest

    folder = tmp_path / "results" / "b"
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("name: b\nmodels: [Pop]\n")
    second.write_text("name: b\nmodels: [BPR]\n")
    store.claim_folder(folder, first)
    store.claim_folder(folder, first)  # the same file again
    first.write_text("name: b\nmodels: [Pop, EASE]\n")
    store.claim_folder(folder, first)  # the same file, edited: the same board
    with pytest.raises(store.BoardCollisionError) as refused:
        store.claim_folder(folder, second)
    message = str(refused.value)
    assert str(first.resolve()) in message and str(second) in message and "--overwrite" in message
    assert "\n" not in message
    store.claim_folder(folder, second, overwrite=True)
    with pytest.raises(store.BoardCollisionError):
        store.claim_folder(folder, first)  # now the folder holds the second board's tables
