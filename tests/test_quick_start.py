"""quick_start: plain steps (prepare, run) that know nothing of the leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbole_llmkg import Config
from recbole_llmkg.checkpoint import load_checkpoint
from recbole_llmkg.quick_start import prepare, run


def test_prepare_builds_what_a_run_is_made_of(tiny_config):
    parts = prepare(Config("BPR", "tiny", config_dict=tiny_config(), cmd_args=[]))
    assert type(parts.model).__name__ == "BPR" and parts.trainer.model is parts.model
    assert parts.train_data._dataset.inter_num > 0 and parts.test_data is not None


def test_run_returns_recboles_keys_and_its_own_checkpoint(tiny_config):
    config = Config("BPR", "tiny", config_dict=tiny_config(epochs=2), cmd_args=[])
    result = run(config)
    assert set(result) == {"best_valid_score", "valid_score_bigger", "best_valid_result",
                           "test_result", "checkpoint", "pretrained_model"}
    assert result["pretrained_model"] is None
    state = load_checkpoint(result["checkpoint"])
    assert state["config"]["model"] == "BPR"
    assert Path(result["checkpoint"]).parent == Path(config["checkpoint_dir"])


def test_run_without_saving_leaves_no_checkpoint(tiny_config):
    config = Config("BPR", "tiny", config_dict=tiny_config(), cmd_args=[])
    result = run(config, saved=False)
    assert result["checkpoint"] is None
    assert not list(Path(config["checkpoint_dir"]).glob("*.pth"))


def test_pretraining_stage_has_no_test_and_returns_its_saved_model(tiny_config):
    # pretrain_epochs below save_step: RecBole alone would save nothing at all
    config = Config("S3Rec", "tiny", config_dict=tiny_config(
        pretrain_epochs=1, save_step=5, train_neg_sample_args=None, MAX_ITEM_LIST_LENGTH=10,
        load_col={"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "class"]},
    ), cmd_args=[])
    result = run(config)
    assert result["test_result"] == {} and result["checkpoint"] is None
    pretrained = Path(result["pretrained_model"])
    assert pretrained == Path(config["checkpoint_dir"]) / "S3Rec-tiny-1.pth"
    state = load_checkpoint(pretrained)
    assert state["config"]["train_stage"] == "pretrain" and state["epoch"] == 0


def test_run_takes_a_name_a_class_path_or_a_class_and_refuses_other_classes(
        tmp_path, tiny_config, monkeypatch):
    import sys

    from out_of_tree import write_model

    from recbole_llmkg import run_recbole_llmkg
    from recbole_llmkg.errors import ConfigError

    monkeypatch.syspath_prepend(str(write_model(tmp_path / "variant")))
    try:
        result = run_recbole_llmkg("pop_kasimcf:PopKASimCF", "tiny",
                                   config_dict=tiny_config(), cmd_args=[])
        assert result["test_result"]["ndcg@10"] >= 0
        import pop_kasimcf

        config = Config(pop_kasimcf.PopKASimCF, "tiny", config_dict=tiny_config(), cmd_args=[])
        assert config["pop_penalty"] == 0.01
        with pytest.raises(ConfigError, match="not a recommender class"):
            Config(dict, "tiny", config_dict=tiny_config(), cmd_args=[])
    finally:
        sys.modules.pop("pop_kasimcf", None)
