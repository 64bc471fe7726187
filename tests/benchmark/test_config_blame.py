"""A bad value in a board is blamed on where it was written: the file's ``config``, a model's
``config`` or the command line (it used to be blamed on ``models[0].config`` and
``(config_dict)`` whatever its source)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recbole_llmkg.benchmark.runner import run_benchmark
from recbole_llmkg.config import Config
from recbole_llmkg.config.checks import blamed_key, layer_origins
from recbole_llmkg.errors import ConfigError


def _board(tmp_path: Path, **changes) -> Path:
    body = {
        "name": "blame", "datasets": ["tiny"], "models": ["Pop", "BPR"], "seeds": [1],
        "protocols": ["standard"], "metrics": ["Recall", "NDCG"], "topk": [10],
        "headline": "NDCG@10", "eval_batch_size": 4096, "isolation": "inline", "threads": 1,
        "config": {"epochs": 2}, "output_dir": str(tmp_path / "results"), **changes,
    }
    path = tmp_path / "blame.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _refusal(path: Path, *cmd_args: str) -> str:
    with pytest.raises(ConfigError) as caught:
        run_benchmark(path, cmd_args=list(cmd_args), log=lambda _: None, charts=False)
    return str(caught.value)


def test_bad_top_level_board_config_is_blamed_on_config_not_models0(tmp_path):
    path = _board(tmp_path, config={"epochs": 0})
    message = _refusal(path)
    assert "2 run config(s) are invalid" in message
    assert "key 'config': models 'Pop', 'BPR', dataset 'tiny'" in message
    assert f"Config key 'epochs' = 0 ({path}: key 'config')" in message
    assert "models[0]" not in message and "config_dict" not in message


def test_bad_command_line_value_on_a_board_is_blamed_on_the_command_line(tmp_path):
    message = _refusal(_board(tmp_path), "--learning_rate=-1")
    assert "command line: models 'Pop', 'BPR'" in message
    assert "Config key 'learning_rate' = -1 (command line)" in message
    assert "models[0]" not in message and "config_dict" not in message


def test_command_line_beats_a_model_config_and_takes_the_blame(tmp_path):
    path = _board(tmp_path, models=["Pop", {"name": "BPR", "config": {"epochs": 3}}])
    message = _refusal(path, "--epochs=0")
    assert "command line: models 'Pop', 'BPR'" in message and "models[1]" not in message


def test_a_models_own_bad_value_is_still_blamed_on_that_model(tmp_path):
    path = _board(tmp_path, models=["Pop", {"name": "BPR", "config": {"epochs": 0}}])
    message = _refusal(path)
    assert "1 run config(s) are invalid" in message
    assert "key 'models[1].config': model 'BPR'" in message
    assert f"({path}: key 'models[1].config')" in message


def test_config_names_the_origins_it_is_given(tiny_config):
    with pytest.raises(ConfigError, match=r"'epochs' = 0 \(board\.yaml: key 'config'\)"):
        Config("BPR", "tiny", config_dict=tiny_config(epochs=0), cmd_args=[],
               key_origins={"epochs": "board.yaml: key 'config'"})


def test_layer_origins_and_blamed_key():
    final = {"a": 1, "b": 2, "c": 3}
    assert layer_origins(final, [("low", {"a": 1, "b": 5}), ("high", {"b": 2})], "cli") == \
        {"a": "low", "b": "high", "c": "cli"}
    assert blamed_key("Config key 'epochs' = 0 ...", ["epochs"]) == "epochs"
    assert blamed_key("The distribution [x] of train_neg_sample_args should in [...]",
                      ["train_neg_sample_args", "neg"]) == "train_neg_sample_args"
    assert blamed_key("something else", ["epochs"]) is None
