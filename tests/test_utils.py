"""Model lookup (:mod:`recbole_llmkg.registry`): exactly RecBole's names, optional packages named
with the command that installs them, and every RecBole built-in run for one epoch on ``tiny``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from recbole.utils import ModelType

from recbole_llmkg import registry
from recbole_llmkg.errors import ConfigError, DataError, DatasetFileNotFoundError
from recbole_llmkg.registry import get_model, recbole_model_names

# ------------------------------------------------------------------------- RecBole's names


def test_models_without_a_yaml_file_resolve_as_in_recbole():
    from recbole.model.general_recommender.random import Random

    assert get_model("Random") is Random
    assert {"Random", "LightGBM", "XGBoost"} <= set(recbole_model_names())
    assert "lightgbm" not in recbole_model_names()  # the YAML's name, not the class's


@pytest.mark.parametrize("name", ["LightGBM", "XGBoost"])
def test_exlib_models_resolve_by_class_name_or_name_their_packages(name):
    missing = registry.missing(["lightgbm", "xgboost"])
    if not missing:
        assert get_model(name).__name__ == name
        return
    with pytest.raises(ConfigError) as caught:
        get_model(name)
    assert f"pip install {' '.join(missing)}" in str(caught.value)
    assert name in str(caught.value)


def test_model_needing_a_lazily_imported_package_fails_at_config_time(tiny_config):
    from recbole_llmkg import Config

    if registry.is_installed("faiss"):
        pytest.skip("faiss is installed here")
    with pytest.raises(ConfigError, match=r"'NCL'.*faiss.*pip install faiss-cpu"):
        Config("NCL", "tiny", config_dict=tiny_config(), cmd_args=[])


def test_model_lookup_imports_no_model_package_it_does_not_need():
    recbole_model_names()
    assert "recbole.model.exlib_recommender" not in sys.modules


# ------------------------------------------------------------------------- dataset files


def test_header_only_inter_file_is_a_data_error_naming_it(tiny_copy, tiny_config):
    from recbole_llmkg import run_recbole_llmkg

    inter = tiny_copy / "tiny" / "tiny.inter"
    inter.write_text(inter.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="tiny.inter.*no interactions"):
        run_recbole_llmkg("BPR", "tiny", config_dict=tiny_config(data_path=str(tiny_copy)),
                          cmd_args=[])


def test_every_additional_feat_suffix_file_is_required_before_training(tiny_copy, tiny_config):
    from recbole_llmkg import Config, run_recbole_llmkg
    from recbole_llmkg.registry import required_dataset_files

    overrides = tiny_config(data_path=str(tiny_copy), additional_feat_suffix=["ent"],
                            load_col={"inter": ["user_id", "item_id"], "ent": ["ent_id"]})
    config = Config("BPR", "tiny", config_dict=overrides, cmd_args=[])
    assert list(required_dataset_files(config)) == ["inter", "ent"]
    with pytest.raises(DatasetFileNotFoundError,
                       match=r"tiny\.ent'.*model BPR.*'additional_feat_suffix'"):
        run_recbole_llmkg("BPR", "tiny", config_dict=overrides, cmd_args=[])


# ------------------------------------------------------------------------- every built-in

# One epoch on tiny; per-type settings as RecBole's own model tests use them.
SMALL = {"epochs": 1, "train_batch_size": 64, "eval_batch_size": 256, "state": "ERROR",
         "log_flops": False}
CONTEXT = {"threshold": {"rating": 4}, "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]},
                                                      "order": "RO", "mode": "labeled"},
           "metrics": ["AUC", "LogLoss"], "valid_metric": "AUC",
           "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"],
                        "item": ["item_id", "release_year", "class"],
                        "user": ["user_id", "age", "gender", "occupation"]}}
SEQUENTIAL = {"train_neg_sample_args": None, "MAX_ITEM_LIST_LENGTH": 10,
              "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"],
                           "item": ["item_id", "release_year", "class"]},
              "selected_features": ["class"]}
KNOWLEDGE: dict = {}
SAMPLED = {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1, "alpha": 1.0,
                                     "dynamic": False, "candidate_num": 0}}
LABELLED = {"threshold": {"rating": 4}, "train_batch_size": 50}  # no batch of 1 for BatchNorm
# Pretrained KG embeddings as RecBole's own tests load them; tiny ships no .ent/.rel files.
KG_EMBEDDINGS = {"additional_feat_suffix": ["ent", "rel"],
                 "load_col": {**SEQUENTIAL["load_col"], "ent": ["ent_id", "ent_emb"],
                              "rel": ["rel_id", "rel_emb"]},
                 "preload_weight": {"ent_id": "ent_emb", "rel_id": "rel_emb"}}
SMALL_CPR = {"reranker_CAN_NUM": "20"}  # softmax-CPR's default 100 candidates > tiny's 80 items
TWEAKS = {
    "S3Rec": {"pretrain_epochs": 1}, "RaCT": {"pretrain_epochs": 1},  # pre-training ignores epochs
    "FPMC": SAMPLED, "TransRec": SAMPLED,  # sequential models with a BPR loss
    "DIN": LABELLED, "DIEN": LABELLED,  # click-through models: need a label field
    "GRU4RecKG": KG_EMBEDDINGS, "KSR": KG_EMBEDDINGS,
    "GRU4RecCPR": SMALL_CPR, "SASRecCPR": SMALL_CPR,
}
PER_TYPE = {ModelType.CONTEXT: CONTEXT, ModelType.DECISIONTREE: CONTEXT,
            ModelType.SEQUENTIAL: SEQUENTIAL, ModelType.KNOWLEDGE: KNOWLEDGE}


def _model_type(name: str):
    try:
        return get_model(name).type
    except ConfigError:
        return None


@pytest.mark.parametrize("name", recbole_model_names())
def test_every_recbole_model_trains_or_names_the_package_to_install(name, tiny_config):
    """Each built-in trains and tests, or pre-trains and saves its file, or fails with the
    plugin's own error: an install hint, or the dataset file it needs and tiny lacks."""
    from recbole_llmkg import run_recbole_llmkg

    overrides = {**SMALL, **PER_TYPE.get(_model_type(name), {}), **TWEAKS.get(name, {})}
    try:
        result = run_recbole_llmkg(name, "tiny", config_dict=tiny_config(**overrides),
                                   cmd_args=[])
    except ConfigError as error:
        assert "pip install" in str(error), str(error)
        return
    except DatasetFileNotFoundError as error:
        assert "tiny.ent" in str(error) and "additional_feat_suffix" in str(error), str(error)
        return
    if result["pretrained_model"] is not None:
        assert result["test_result"] == {} and Path(result["pretrained_model"]).is_file(), name
        return
    assert result["test_result"], name
