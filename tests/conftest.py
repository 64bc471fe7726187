"""Shared fixtures: every test runs in its own temp directory on the ``tiny`` dataset, on CPU.

RecBole's Config parses ``sys.argv`` for ``--key=value`` overrides, so pytest's own arguments are
hidden from it; RecBole's loggers write ``log/`` and ``log_tensorboard/`` under the working
directory, so each test runs from its ``tmp_path`` and nothing lands in the repository.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

sys.argv = ["pytest"]


def cpu_config(tmp_path: Path, epochs: int = 1, **overrides: Any) -> dict[str, Any]:
    """The config_dict for a short CPU run whose checkpoints go under ``tmp_path``."""
    config = {
        "epochs": epochs,
        "device": "cpu",
        "use_gpu": False,
        "checkpoint_dir": str(tmp_path / "saved"),
        "show_progress": False,
    }
    config.update(overrides)
    return config


def assert_metrics_valid(metrics: dict[str, Any]) -> None:
    """Every metric is a finite number in [0, 1]; there is at least one."""
    assert metrics, "no metrics returned"
    for name, value in metrics.items():
        value = float(value)
        assert math.isfinite(value) and 0.0 <= value <= 1.0, f"{name} = {value}"


@pytest.fixture
def check_metrics():
    """``check_metrics(result_dict)``: all metrics finite and in [0, 1]."""
    return assert_metrics_valid


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_home(tmp_path_factory):
    """Text-embedding caches go to one session temp dir, never the user's ``~/.cache``
    (shared across tests, so the encoder runs once per text set)."""
    home = tmp_path_factory.mktemp("xdg_cache")
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture(autouse=True)
def isolated_cwd(tmp_path, monkeypatch):
    """Run from ``tmp_path`` with an argv RecBole will not misread."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest"])
    yield tmp_path


@pytest.fixture
def tiny_config(tmp_path):
    """``tiny_config(epochs=1, **overrides)`` -> config_dict for a CPU run on tiny."""

    def make(epochs: int = 1, **overrides: Any) -> dict[str, Any]:
        return cpu_config(tmp_path, epochs=epochs, **overrides)

    return make


@pytest.fixture
def run_tiny(tiny_config):
    """``run_tiny(model, epochs=1, saved=False, **overrides)`` -> result dict of
    :func:`recbole_llmkg.run_recbole_llmkg` on the tiny dataset."""
    from recbole_llmkg import run_recbole_llmkg

    def run(model, epochs: int = 1, saved: bool = False, **overrides: Any) -> dict[str, Any]:
        return run_recbole_llmkg(
            model,
            "tiny",
            config_dict=tiny_config(epochs=epochs, **overrides),
            cmd_args=[],
            saved=saved,
        )

    return run


@pytest.fixture
def subprocess_env():
    """Environment for a child Python that imports the checkout's ``recbole_llmkg``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


# ---------------------------------------------------------------------------------------------
# Shared builders (import them with ``from conftest import ...``)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_copy(tmp_path) -> Path:
    """A private copy of datasets/tiny; returns the folder to use as ``data_path``."""
    from recbole_llmkg.config import datasets_dir

    shutil.copytree(datasets_dir() / "tiny", tmp_path / "data" / "tiny")
    return tmp_path / "data"


def make_config(tmp_path: Path, model: Any = "BPR", data_path: Path | None = None,
                **overrides: Any):
    """A plugin :class:`~recbole_llmkg.config.Config` on tiny, embedding cache under tmp."""
    from recbole_llmkg.config import Config

    config_dict = {"llm_cache_dir": str(tmp_path / "cache"), "show_progress": False, **overrides}
    if data_path is not None:
        config_dict["data_path"] = str(data_path)
    return Config(model=model, dataset="tiny", config_dict=config_dict, cmd_args=[])


def rewrite_lines(path: Path, fn: Callable[[list[str]], list[str]]) -> None:
    """Replace the lines of a text file by ``fn(lines)``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(fn(lines)) + "\n", encoding="utf-8")


def warning_messages(caplog) -> list[str]:
    """The messages of the WARNING records ``caplog`` captured."""
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def build_run(name: Any, tmp_path: Path, **overrides: Any):
    """Config, model, trainer and (train, valid, test) loaders for ``name`` on tiny (2 epochs)."""
    from recbole.data import data_preparation
    from recbole.utils import init_seed

    from recbole_llmkg import Config, create_dataset, get_trainer

    config_dict = {
        "epochs": 2,
        "use_gpu": False,
        "state": "ERROR",
        "checkpoint_dir": str(tmp_path / "saved"),
        "train_batch_size": 128,
        **overrides,
    }
    config = Config(name, "tiny", config_dict=config_dict, cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    return config, model, trainer, (train_data, valid_data, test_data)


@pytest.fixture(scope="session")
def served_checkpoints(tmp_path_factory, embedding_cache_home):
    """``served_checkpoints(model, **overrides)`` -> path of a checkpoint trained on tiny
    (2 epochs; trained once per session and argument set)."""
    from recbole_llmkg.config import Config
    from recbole_llmkg.quick_start import run

    folder = tmp_path_factory.mktemp("served")
    trained: dict[tuple, str] = {}

    def get(model: str, **overrides: Any) -> str:
        key = (model, *sorted(overrides.items()))
        if key not in trained:
            saved_cwd, saved_argv = os.getcwd(), sys.argv
            os.chdir(folder)
            sys.argv = ["pytest"]
            try:
                config = Config(model, "tiny", config_dict={
                    **cpu_config(folder, epochs=2), "state": "ERROR", **overrides,
                }, cmd_args=[])
                trained[key] = run(config, saved=True)["checkpoint"]
            finally:
                os.chdir(saved_cwd)
                sys.argv = saved_argv
        return trained[key]

    return get


@pytest.fixture(scope="session")
def served_recommenders(served_checkpoints):
    """``served_recommenders(model)`` -> a :class:`~recbole_llmkg.serve.Recommender` loaded
    from a tiny checkpoint (loaded once per session and model)."""
    from recbole_llmkg.serve import Recommender

    cache: dict[str, Any] = {}

    def get(model: str):
        if model not in cache:
            cache[model] = Recommender.load(served_checkpoints(model))
        return cache[model]

    return get


@pytest.fixture
def data_reads(monkeypatch):
    """Configs that reached ``quick_start.prepare_data`` (the first step that reads data), so a
    test can tell an error raised before any data was read from one raised after."""
    from recbole_llmkg import quick_start

    reads: list[object] = []
    real = quick_start.prepare_data

    def recording(config):
        reads.append(config)
        return real(config)

    monkeypatch.setattr(quick_start, "prepare_data", recording)
    return reads


@pytest.fixture
def variant(tmp_path, monkeypatch):
    """The out-of-tree KASimCF subclass of ``tests/out_of_tree.py``, importable for the test."""
    from out_of_tree import write_model

    folder = write_model(tmp_path / "variant")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("pop_kasimcf", None)
