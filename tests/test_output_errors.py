"""Writes that cannot happen (read-only folder, full disk, a folder in a file's place) end in one
line naming the path and the cause, never a traceback naming a temporary file or torch's
``unexpected pos``.

A read-only folder is made with ``chmod`` where that binds (not as root, which ignores it); as
root the same refusal is simulated at the point the plugin creates files.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import types
from pathlib import Path

import pytest

from recbole_llmkg import files
from recbole_llmkg.cli import main
from recbole_llmkg.errors import OutputError

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _refuse(error_number: int):
    def refuse(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))

    return refuse


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: nothing can be created in ``folder`` from now on (chmod, or as
    root a simulated EACCES from every file creation in it)."""
    made: list[Path] = []
    refused: list[Path] = []

    def under(path) -> bool:
        return any(Path(path).resolve().is_relative_to(f.resolve()) for f in refused)

    def guard(real):
        def create(*args, dir=None, **kwargs):
            if dir is not None and under(dir):
                _refuse(errno.EACCES)()
            return real(*args, dir=dir, **kwargs)

        return create

    shim = types.SimpleNamespace(mkstemp=guard(tempfile.mkstemp),
                                 TemporaryFile=guard(tempfile.TemporaryFile))

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if ROOT:
            refused.append(folder)
            monkeypatch.setattr(files, "tempfile", shim)
        else:
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
            made.append(folder)
        return folder

    yield make
    for folder in made:
        folder.chmod(stat.S_IRWXU)


def _bpr(tmp_path: Path, *options: str) -> int:
    return main(["-m", "BPR", "-d", "tiny", "--epochs=1", "--state=ERROR",
                 "--show_progress=False", "--use_gpu=False", *options])


def _one_error_line(capsys, prefix: str = "recbole-llmkg: error: ") -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(prefix), err
    return err[0]


@pytest.mark.skipif(ROOT, reason="root ignores chmod; the simulated test below covers it")
def test_read_only_checkpoint_folder_with_chmod(tmp_path, read_only, capsys, data_reads):
    saved = read_only(tmp_path / "saved")
    assert _bpr(tmp_path, f"--checkpoint_dir={saved}") == 2
    line = _one_error_line(capsys)
    assert str(saved) in line and "--checkpoint_dir" in line


def test_read_only_output_folder_stops_before_data(tmp_path, read_only, capsys, data_reads):
    """A checkpoint folder that takes no files used to fail with an OSError traceback when the
    first checkpoint was saved; now the run stops before reading data, naming the folder."""
    saved = read_only(tmp_path / "saved")
    assert _bpr(tmp_path, f"--checkpoint_dir={saved}") == 2
    line = _one_error_line(capsys)
    assert f"Cannot write '{saved}'" in line and "--checkpoint_dir=" in line
    assert len(data_reads) == 1  # prepare_data started, but create_dataset never ran
    assert not (tmp_path / "log" / "BPR").exists() or not list((tmp_path / "log").rglob("*.log"))


def test_read_only_log_folder_is_named(tmp_path, read_only, capsys):
    read_only(tmp_path / "logs" / "log")
    assert _bpr(tmp_path, f"--checkpoint_dir={tmp_path / 'saved'}",
                f"--log_root={tmp_path / 'logs'}") == 2
    line = _one_error_line(capsys)
    assert str(tmp_path / "logs" / "log") in line and "--log_root=" in line


class _FullDiskFile:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, file, room: int) -> None:
        self._file, self._room = file, room

    def write(self, data) -> int:
        self._room -= len(data)
        if self._room < 0:
            _refuse(errno.ENOSPC)()
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def test_full_disk_during_a_run_says_no_space_and_the_path(tmp_path, monkeypatch, capsys):
    """A full disk while the checkpoint is written used to surface as torch's
    ``RuntimeError: unexpected pos 91392 vs 91344``."""
    real = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: _FullDiskFile(real(fd, mode), 4096))
    saved = tmp_path / "saved"
    assert _bpr(tmp_path, f"--checkpoint_dir={saved}") == 2
    line = _one_error_line(capsys)
    assert "no space left on device" in line and f"Cannot write '{saved}" in line
    assert ".tmp" not in line and not list(saved.glob(".*.tmp"))


def test_write_atomic_names_the_target_not_the_temp_file(tmp_path, read_only):
    folder = read_only(tmp_path / "out")
    with pytest.raises(OutputError) as caught:
        files.write_text_atomic(folder / "a.txt", "x")
    assert str(caught.value).startswith(f"Cannot write '{folder / 'a.txt'}'")
    assert ".tmp" not in str(caught.value)


# ------------------------------------------------------------------------------ recommend
@pytest.fixture
def no_model_load(monkeypatch):
    """Recommender.load fails the test if it is reached."""
    from recbole_llmkg.serve import Recommender

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(Recommender, "load", load)


def _recommend(*options: str) -> int:
    return main(["recommend", "--checkpoint", "missing.pth", "--user", "1", *options])


def test_recommend_output_into_unwritable_place(tmp_path, read_only, capsys, no_model_load):
    """``recommend -o`` into a place that takes no file used to print a traceback naming a
    temporary file, after the model had loaded and ranked."""
    folder = read_only(tmp_path / "locked")
    assert _recommend("-o", str(folder / "top.json")) == 2
    line = _one_error_line(capsys, "recbole-llmkg recommend: error: ")
    assert f"Cannot write '{folder}'" in line and "--output" in line
    assert _recommend("-o", str(tmp_path)) == 2
    assert "is a folder" in _one_error_line(capsys, "recbole-llmkg recommend: error: ")
    (tmp_path / "file").write_text("x")
    assert _recommend("-o", str(tmp_path / "file" / "top.json")) == 2
    assert "is a file, not a folder" in _one_error_line(capsys, "recbole-llmkg recommend: ")


def test_recommend_output_write_failing_after_ranking_is_one_line(tmp_path, monkeypatch,
                                                                  capsys):
    import recbole_llmkg.cli as cli

    monkeypatch.setattr(cli, "run_recommend", lambda args: "ranked")
    monkeypatch.setattr(files.os, "replace", _refuse(errno.EROFS))
    target = tmp_path / "top.json"
    assert _recommend("-o", str(target)) == 2
    line = _one_error_line(capsys, "recbole-llmkg recommend: error: ")
    assert f"Cannot write '{target}'" in line and "read-only" in line
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("weight", ["5", "-0.5"])
def test_query_weight_out_of_range_refused_before_model_loads(weight, capsys, no_model_load):
    """``--query-weight 5`` used to be refused only after the model and encoder loaded (5.5 s)."""
    assert _recommend("--query", "a comedy", "--query-weight", weight) == 2
    assert "--query-weight must be between 0 and 1" in _one_error_line(
        capsys, "recbole-llmkg recommend: error: ")


# ------------------------------------------------------------------------------ boards
def test_report_on_read_only_results_folder_is_one_line(tmp_path, read_only, capsys):
    """``--report`` (and a run) on a results folder that takes no files used to end in an
    OSError traceback from the lock file."""
    import yaml

    board = tmp_path / "board.yaml"
    board.write_text(yaml.safe_dump({
        "name": "ro", "datasets": ["tiny"], "models": ["Pop"], "seeds": [1],
        "protocols": ["standard"], "metrics": ["Recall", "NDCG"], "topk": [10],
        "headline": "NDCG@10", "eval_batch_size": 4096, "isolation": "inline",
        "output_dir": str(tmp_path / "results")}), encoding="utf-8")
    results = read_only(tmp_path / "results" / "ro")
    for extra in (["--report"], []):
        assert main(["--benchmark", str(board), *extra]) == 2
        line = _one_error_line(capsys)
        assert f"Cannot write '{results}'" in line and "output_dir" in line


def test_full_disk_at_study_creation_is_one_line(tmp_path, monkeypatch):
    """A full disk when a board creates its Optuna study used to print SQLAlchemy's 93-line
    traceback; SQLite's words are mapped to the same line as any other full disk."""
    import sqlite3

    import optuna
    from sqlalchemy.exc import OperationalError

    from recbole_llmkg.benchmark.tuning import open_storage

    def full(*args, **kwargs):
        raise OperationalError("CREATE TABLE studies ...", {},
                               sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", full)
    db = tmp_path / "results" / "tuning.db"
    with pytest.raises(OutputError) as caught:
        open_storage(f"sqlite:///{db}")
    assert str(caught.value).startswith(f"Cannot write '{db}': no space left on device.")


def test_study_storage_under_a_file_is_one_line(tmp_path):
    from recbole_llmkg.benchmark.tuning import open_storage

    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(OutputError, match="a part of that path is a file"):
        open_storage(f"sqlite:///{tmp_path / 'results' / 'board' / 'tuning.db'}")
