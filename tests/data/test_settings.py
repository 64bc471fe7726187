"""Defaults of the text/LLM/CKG keys come from properties/overall.yaml, and the user's keys win."""

from __future__ import annotations

import pytest
import yaml
from conftest import make_config

from recbole_llmkg.config import properties_dir
from recbole_llmkg.data import settings
from recbole_llmkg.errors import ConfigError

KEYS = (
    "llm_model_path", "llm_pooling", "llm_max_length", "llm_batch_size", "llm_normalize",
    "llm_cache_dir", "llm_progress_min_texts", "item_text_template", "user_text_template",
    "item_title_field", "user_history_len", "user_history_template", "text_placeholder",
    "ckg_reverse_edges",
)


def test_defaults_live_in_overall_yaml_only(tmp_path):
    overall = yaml.safe_load((properties_dir() / "overall.yaml").read_text(encoding="utf-8"))
    assert set(KEYS) <= set(overall)
    assert not hasattr(settings, "DEFAULTS")
    config = make_config(tmp_path, model="BPR")  # a RecBole model gets them too
    for key in KEYS:
        if key not in ("item_text_template", "user_text_template", "item_title_field",
                       "llm_cache_dir"):  # tiny's dataset YAML / make_config set these
            assert config[key] == overall[key], key


def test_user_values_beat_the_yaml_and_runtime_defaults_are_computed(tmp_path):
    config = make_config(tmp_path, llm_pooling="cls", ckg_reverse_edges=False)
    assert settings.encoder_settings(config)["pooling"] == "cls"
    assert settings.setting(config, "ckg_reverse_edges") is False
    assert settings.model_path(config) == settings.default_model_path()  # llm_model_path: ~
    config = make_config(tmp_path, llm_cache_dir=None)
    assert settings.cache_dir(config) == settings.default_cache_dir()
    assert settings.cache_dir(make_config(tmp_path, llm_cache_dir=False)) is None


def test_a_config_without_the_plugin_defaults_names_the_key():
    with pytest.raises(ConfigError, match="'llm_pooling' is missing.*overall.yaml"):
        settings.setting({}, "llm_pooling")
