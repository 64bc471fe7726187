"""Run records and the --rerun marker on disk."""

from __future__ import annotations

import inspect

from recbole_llmkg.benchmark import report, store
from recbole_llmkg.benchmark.store import RerunMarker, RunStore


def test_records_are_written_whole_and_bad_ones_are_ignored(tmp_path):
    runs = RunStore(tmp_path / "runs")
    runs.save({"key": "a", "status": "ok"})
    assert runs.load("a") == {"key": "a", "status": "ok"}
    (tmp_path / "runs" / "b.json").write_text("{half")
    (tmp_path / "runs" / "c.json").write_text('{"key": "other"}')
    assert runs.load_many(["a", "b", "c", "d"]) == {"a": {"key": "a", "status": "ok"}}
    (tmp_path / "runs" / ".a.json.123.tmp").write_text("left by a kill")
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
