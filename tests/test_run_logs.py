"""RecBole's per-run logs go under the run's own folder (``log_root``, by default its
``checkpoint_dir``), never the working directory; atomically written files keep the umask's
permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from out_of_tree import write_model

from recbole_llmkg.files import current_umask, write_text_atomic


def _cli(args, cwd, env):
    return subprocess.run([sys.executable, str(REPO_ROOT / "run_recbole_llmkg.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_out_of_tree_model_trains_from_its_folder_with_logs_under_checkpoint_dir(
        tmp_path, subprocess_env):
    """`-m module:Class` from the folder that holds the module (the working directory is on
    the import path); RecBole's log/ and log_tensorboard/ land under checkpoint_dir."""
    folder = write_model(tmp_path / "scratch")
    before = set(os.listdir(folder))
    done = _cli(["-m", "pop_kasimcf:PopKASimCF", "-d", "tiny", "--epochs=1", "--use_gpu=False",
                 "--state=ERROR", "--checkpoint_dir=saved"], folder, subprocess_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test result:" in done.stdout
    assert set(os.listdir(folder)) - before == {"saved"}  # no log/, no log_tensorboard/
    saved = folder / "saved"
    assert list((saved / "log" / "PopKASimCF").glob("PopKASimCF-tiny-*.log"))
    assert [p for p in (saved / "log_tensorboard").iterdir() if p.is_dir()]
    assert list(saved.glob("PopKASimCF-*.pth"))


def test_log_root_key_puts_logs_in_the_folder_it_names(tmp_path, subprocess_env):
    results = tmp_path / "results" / "board"
    done = _cli(["-m", "Pop", "-d", "tiny", "--epochs=1", "--use_gpu=False", "--state=ERROR",
                 f"--checkpoint_dir={tmp_path / 'work'}", f"--log_root={results}"],
                tmp_path, subprocess_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["results", "work"]
    assert list((results / "log" / "Pop").glob("*.log"))
    assert (results / "log_tensorboard").is_dir()
    assert not (tmp_path / "work" / "log").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_writes_keep_the_umask_permissions(tmp_path, umask):
    saved = os.umask(umask)
    try:
        assert current_umask() == umask
        target = tmp_path / "out" / "board.md"
        write_text_atomic(target, "x\n")
        plain = tmp_path / "plain.md"
        plain.write_text("x\n")  # what open() gives under this umask
    finally:
        os.umask(saved)
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(plain.stat().st_mode)
