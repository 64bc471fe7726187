"""Checkpoints: one unique file per run, and only a run's own file is unpickled fully."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO_ROOT
from recbole.data import data_preparation
from recbole.utils import init_seed

from recbole_llmkg import Config, create_dataset, trainer_for
from recbole_llmkg.checkpoint import load_checkpoint, new_checkpoint_path
from recbole_llmkg.errors import CheckpointError


class RunsCode:
    """Unpickling this would run code: ``__reduce__`` names a callable and its arguments."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_new_checkpoint_paths_are_unique_and_reserved(tmp_path):
    paths = {new_checkpoint_path(str(tmp_path), "BPR") for _ in range(50)}
    assert len(paths) == 50
    for path in paths:
        name = Path(path).name
        assert re.fullmatch(rf"BPR-.+-{os.getpid()}-[0-9a-f]{{8}}\.pth", name), name
        assert Path(path).is_file() and Path(path).stat().st_size == 0  # created exclusively


def _trainer(tiny_config, epochs=1):
    config = Config("BPR", "tiny", config_dict=tiny_config(epochs=epochs), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    train, valid, test = data_preparation(config, create_dataset(config))
    model = config.model_class(config, train._dataset)
    return trainer_for(config.model_class)(config, model), train, valid, test


def test_two_trainers_never_share_a_checkpoint(tiny_config):
    first, train, valid, _ = _trainer(tiny_config)
    second, *_ = _trainer(tiny_config)  # same model, same second
    first.fit(train, valid, saved=True)
    second.fit(train, valid, saved=True)
    assert first.saved_model_file != second.saved_model_file
    assert Path(first.saved_model_file).stat().st_size > 0
    assert Path(second.saved_model_file).stat().st_size > 0


def test_own_checkpoints_load_through_the_safe_loader(tiny_config):
    trainer, train, valid, test = _trainer(tiny_config)
    trainer.fit(train, valid, saved=True)
    state = load_checkpoint(trainer.saved_model_file)
    assert state["config"]["model"] == "BPR"
    assert set(state["state_dict"]) == set(trainer.model.state_dict())
    # a file given by path (not written by this trainer) is evaluated through the same loader
    other, *_ = _trainer(tiny_config)
    assert other.evaluate(test, model_file=trainer.saved_model_file) == \
        trainer.evaluate(test, load_best_model=True)
    other.resume_checkpoint(trainer.saved_model_file)
    assert other.start_epoch == 1


def test_malicious_checkpoint_is_refused_without_running_code(tiny_config, tmp_path):
    trainer, train, valid, test = _trainer(tiny_config)
    saved = Path(tiny_config()["checkpoint_dir"])
    marker = tmp_path / "code-ran"
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {}, "config": RunsCode(marker)}, bad)
    with pytest.raises(CheckpointError, match=r"bad\.pth"):
        trainer.evaluate(test, model_file=str(bad))
    with pytest.raises(CheckpointError, match=r"bad\.pth"):
        trainer.resume_checkpoint(str(bad))
    with pytest.raises(CheckpointError, match=r"bad\.pth"):
        load_checkpoint(bad)
    assert not marker.exists()
    assert not list(saved.glob("*.pth"))  # a trainer that only evaluates creates no file


def test_plain_recbole_checkpoint_gets_a_clear_error(tmp_path):
    old = tmp_path / "recbole.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}}, old, pickle_protocol=4)  # RecBole's choice
    with pytest.raises(CheckpointError, match=r"recbole\.pth.*protocol 4.*re-save"):
        load_checkpoint(old)


def test_unused_reservation_is_removed_and_a_missing_best_model_is_named(tiny_config):
    trainer, train, valid, test = _trainer(tiny_config)
    trainer.fit(train, valid, saved=False)
    assert not Path(trainer.saved_model_file).exists()
    with pytest.raises(FileNotFoundError, match="saved=True"):
        trainer.evaluate(test, load_best_model=True)


def _cli(seed: int, checkpoint_dir: Path, env: dict, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, str(REPO_ROOT / "run_recbole_llmkg.py"), "-m", "BPR", "-d", "tiny",
               "--epochs=2", "--use_gpu=False", "--device=cpu", "--show_progress=False",
               f"--seed={seed}", f"--checkpoint_dir={checkpoint_dir}"]
    return subprocess.Popen(command, env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_cli_runs_in_the_same_second_print_their_own_metrics(tmp_path, subprocess_env,
                                                                 run_tiny):
    shared = tmp_path / "cli-saved"  # same model, dataset and checkpoint folder
    runs = {seed: _cli(seed, shared, subprocess_env, tmp_path) for seed in (1, 2)}
    outputs = {seed: run.communicate(timeout=600) for seed, run in runs.items()}
    for seed, (out, err) in outputs.items():
        assert runs[seed].returncode == 0, err[-2000:]
        assert "Warning" not in err, err[-2000:]  # the host's deprecation warnings are silenced
        alone = run_tiny("BPR", epochs=2, saved=True, seed=seed)["test_result"]
        expected = "  ".join(f"{k}={float(v):.4f}" for k, v in alone.items())
        assert f"test result: {expected}" in out, (seed, out)
    assert len(list(shared.glob("BPR-*.pth"))) == 2


class CallsConfig:
    """Pickles as a REDUCE of a Config class with a string its ``__init__`` would ``eval``: what
    a tampered checkpoint does to run code through an allow-listed class."""

    def __init__(self, config_class: type, marker: Path):
        self.config_class = config_class
        self.marker = marker

    def __reduce__(self):
        payload = f"__import__('pathlib').Path({str(self.marker)!r}).touch() or 0.001"
        return (self.config_class, (None, None, None, {"learning_rate": payload}))


def _tampered(tiny_config, tmp_path: Path, config_class: type) -> tuple[Path, Path, Any]:
    """A real checkpoint whose config is replaced by ``CallsConfig``; the marker it would make."""
    trainer, train, valid, test = _trainer(tiny_config)
    trainer.fit(train, valid, saved=True)
    state = torch.load(trainer.saved_model_file, weights_only=False)
    marker = tmp_path / "code-ran"
    state["config"] = CallsConfig(config_class, marker)
    bad = tmp_path / "tampered.pth"
    torch.save(state, bad)
    return bad, marker, (trainer, test)


@pytest.mark.parametrize("config_class", ["plugin", "recbole"])
def test_tampered_config_checkpoint_is_refused_on_every_loading_path(
        tiny_config, tmp_path, config_class):
    from recbole.config import Config as RecBoleConfig

    from recbole_llmkg.errors import ServeError
    from recbole_llmkg.serve import Recommender

    cls = Config if config_class == "plugin" else RecBoleConfig
    bad, marker, (trainer, test) = _tampered(tiny_config, tmp_path, cls)
    refused = rf"tampered\.pth.*{cls.__module__}\.{cls.__qualname__}"
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(bad)
    other, *_ = _trainer(tiny_config)
    with pytest.raises(CheckpointError, match=refused):
        other.evaluate(test, model_file=str(bad))
    with pytest.raises(CheckpointError, match=refused):
        other.resume_checkpoint(str(bad))
    with pytest.raises(ServeError, match=refused):
        Recommender.load(bad)
    assert not marker.exists()


def test_recommend_refuses_a_tampered_checkpoint(tiny_config, tmp_path, capsys):
    from recbole_llmkg.cli import main

    bad, marker, _ = _tampered(tiny_config, tmp_path, Config)
    assert main(["recommend", "--checkpoint", str(bad), "--user", "1"]) == 2
    err = capsys.readouterr().err
    assert "tampered.pth" in err and f"{Config.__module__}.Config" in err
    assert not marker.exists()


def test_loaded_config_is_rebuilt_without_running_its_init(tiny_config, monkeypatch):
    trainer, train, valid, _ = _trainer(tiny_config)
    trainer.fit(train, valid, saved=True)

    def never(*args, **kwargs):
        raise AssertionError("Config.__init__ ran while loading a checkpoint")

    monkeypatch.setattr(Config, "__init__", never)
    state = load_checkpoint(trainer.saved_model_file)
    assert type(state["config"]) is Config
    assert state["config"]["learning_rate"] == trainer.config["learning_rate"]
    assert state["config"].model_class is trainer.config.model_class
    assert isinstance(state["state_dict"], type(trainer.model.state_dict()))  # OrderedDict kept


def test_out_of_tree_model_class_is_named_and_loads_once_trusted(tiny_config, tmp_path,
                                                                 monkeypatch):
    module_dir = tmp_path / "outside"
    module_dir.mkdir()
    (module_dir / "my_bpr_model.py").write_text(
        "from recbole.model.general_recommender import BPR\n\nclass MyBPR(BPR):\n    pass\n")
    monkeypatch.syspath_prepend(str(module_dir))
    import my_bpr_model

    config = Config(my_bpr_model.MyBPR, "tiny", config_dict=tiny_config(), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    train, valid, _ = data_preparation(config, create_dataset(config))
    trainer = trainer_for(config.model_class)(config, config.model_class(config, train._dataset))
    trainer.fit(train, valid, saved=True)
    monkeypatch.delitem(sys.modules, "my_bpr_model")  # a fresh process that never imported it
    with pytest.raises(CheckpointError, match=r"my_bpr_model\.MyBPR.*trusted_modules"):
        load_checkpoint(trainer.saved_model_file)
    state = load_checkpoint(trainer.saved_model_file, trusted_modules=["my_bpr_model"])
    assert state["config"].model_class.__name__ == "MyBPR"
