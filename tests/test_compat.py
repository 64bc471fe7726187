"""One test per fix in ``recbole_llmkg/compat.py``; each would fail without its fix."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data import data_preparation
from recbole.evaluator.collector import Collector
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import init_seed

from recbole_llmkg import Config, compat, create_dataset, get_trainer

# --------------------------------------------------------------------------- numpy aliases


def test_numpy_aliases_restored_without_touching_removed_names(tiny_config):
    # RecBole's own compatibility_settings reads np.float_, which numpy 2 removed.
    if int(np.__version__.split(".")[0]) >= 2:
        with pytest.raises(AttributeError, match="float_"):
            RecBoleConfig.compatibility_settings(None)

    config = Config("BPR", "tiny", config_dict=tiny_config(), cmd_args=[])
    assert config["model"] == "BPR"
    assert np.float is np.float64  # read by RecBole's metrics and Dataset._fill_nan
    assert np.int is np.int_ and np.str is np.str_ and np.object is np.object_
    if int(np.__version__.split(".")[0]) >= 2:
        for removed in ("float_", "complex_", "unicode_"):
            assert removed not in np.__dict__, f"np.{removed} must stay removed"


# --------------------------------------------------------------------------- scipy dok


def test_dok_update_has_dict_update_semantics():
    assert hasattr(sp.dok_matrix, "_update")  # RecBole's graph models call it
    matrix = sp.dok_matrix((4, 5), dtype=np.float32)
    matrix[0, 1] = 9.0
    matrix[1, 1] = 4.0
    data = {(0, 1): 1.0, (3, 4): 2.5, (2, 0): -1.0}
    matrix._update(data)

    expected = {(0, 1): 1.0, (1, 1): 4.0}  # what dict.update does
    expected.update(data)
    assert {k: float(v) for k, v in matrix.items()} == expected
    assert matrix.dtype == np.float32
    matrix._update({})  # no-op
    assert matrix.nnz == 4


def test_dok_update_builds_kgin_adjacency(tiny_config):
    """KGIN builds its user-item graph with ``A._update``; its rows are D^-1 A."""
    config = Config("KGIN", "tiny", config_dict=tiny_config(), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, _, _ = data_preparation(config, dataset)
    model = config.model_class(config, train._dataset)
    interact = model.interact_mat.to_dense()  # [n_users, n_entities], row-normalised
    inter = train._dataset.inter_matrix(form="coo")
    seen = np.zeros(interact.shape, dtype=bool)
    seen[inter.row, inter.col] = True
    assert torch.equal(interact > 0, torch.from_numpy(seen))
    rows = torch.from_numpy(seen.any(1))
    torch.testing.assert_close(interact.sum(1)[rows], torch.ones(int(rows.sum())))


# --------------------------------------------------------------------------- torch.load


def _train(tiny_config, model="BPR", epochs=2, **overrides):
    config = Config(model, "tiny", config_dict=tiny_config(epochs=epochs, **overrides),
                    cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return trainer, model, test


def test_best_model_reload_works_and_restores_the_saved_weights(tiny_config):
    trainer, model, test = _train(tiny_config, epochs=1)
    # RecBole's own save and reload (torch.load with torch's weights-only default) fail
    recbole_file = str(Path(trainer.saved_model_file).with_name("recbole-format.pth"))
    RecBoleTrainer._save_checkpoint(trainer, 0, verbose=False, saved_model_file=recbole_file)
    with pytest.raises(pickle.UnpicklingError):
        RecBoleTrainer.evaluate(trainer, test, load_best_model=True, model_file=recbole_file)

    best_in_memory = trainer.evaluate(test, load_best_model=False)  # 1 epoch: memory == best
    with torch.no_grad():  # spoil the in-memory weights: only a real reload can undo this
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    spoiled = trainer.evaluate(test, load_best_model=False)
    reloaded = trainer.evaluate(test, load_best_model=True)
    assert dict(reloaded) == dict(best_in_memory)
    assert dict(spoiled) != dict(best_in_memory)
    assert torch.load is torch.serialization.load  # nothing replaced torch's loader


# --------------------------------------------------------------------------- Collector

BEYOND_ACCURACY = ["Recall", "ItemCoverage", "GiniIndex", "AveragePopularity", "TailPercentage"]


@pytest.mark.parametrize("model", ["BPR", "CKE"])  # CKE: knowledge-aware training loader
def test_beyond_accuracy_metrics_need_the_repaired_collector(model, tiny_config):
    trainer, _, test = _train(tiny_config, model=model, epochs=1, metrics=BEYOND_ACCURACY,
                              valid_metric="Recall@10")
    assert isinstance(trainer.eval_collector, compat.RepairedCollector)
    result = trainer.evaluate(test, load_best_model=False)
    assert 0 < result["itemcoverage@10"] <= 1 and 0 <= result["giniindex@10"] <= 1
    assert Collector.get_data_struct is not compat.RepairedCollector.get_data_struct

    # RecBole's own Collector, used the same way, breaks on both bugs
    plain = Collector(trainer.config)
    with pytest.raises(AttributeError):
        plain.data_collect(trainer_train_loader(tiny_config, model))
    trainer.eval_collector = Collector(trainer.config)
    trainer.eval_collector.data_collect(SimpleNamespace(dataset=test._dataset))
    with pytest.raises(AttributeError, match="cpu"):
        trainer.evaluate(test, load_best_model=False)


def trainer_train_loader(tiny_config, model):
    """A knowledge-aware model's training loader has no ``dataset``; others' do (then the
    missing attribute is faked, so the test checks the same failure for both)."""
    config = Config(model, "tiny", cmd_args=[],
                    config_dict=tiny_config(metrics=BEYOND_ACCURACY, valid_metric="Recall@10"))
    train, _, _ = data_preparation(config, create_dataset(config))
    return train if not hasattr(train, "dataset") else SimpleNamespace(_dataset=train.dataset)


# --------------------------------------------------------------------------- warnings


def _record_warnings(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.silence_host_warnings()  # what importing recbole_llmkg installs
        run()
    # ResourceWarning (hidden by default) is RecBole's logger leaving its previous log file open
    return [str(w.message) for w in caught if w.category is not ResourceWarning]


def test_known_host_warnings_are_silenced_and_others_are_not(run_tiny):
    def runs():
        run_tiny("BPR")
        run_tiny("KGIN")
        warnings.warn("an unrelated deprecation", FutureWarning, stacklevel=1)
        warnings.warn("torch.cuda.amp.GradScaler(args...) is deprecated", FutureWarning,
                      stacklevel=1)  # same text, other module: still shown

    shown = _record_warnings(runs)
    assert shown == ["an unrelated deprecation",
                     "torch.cuda.amp.GradScaler(args...) is deprecated"], shown


def test_without_the_filters_recbole_warns(run_tiny, monkeypatch):
    """The filters are needed: the same run with torch's and pandas' defaults warns."""
    monkeypatch.setattr(compat, "silence_host_warnings", lambda: None)  # Config re-applies
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_tiny("BPR")
    shown = " | ".join(str(w.message) for w in caught)
    assert "torch.cuda.amp.GradScaler" in shown and "chained assignment" in shown


# --------------------------------------------------------------------------- pandas


def _write_dataset_with_gaps(folder):
    (folder / "gaps").mkdir()
    inter = ["user_id:token\titem_id:token"]
    inter += [f"u{u}\ti{(u * 3 + k) % 6}" for u in range(8) for k in range(4)]
    (folder / "gaps" / "gaps.inter").write_text("\n".join(inter) + "\n")
    items = [
        "item_id:token\tbrand:token\ttags:token_seq",
        "i0\tacme\tred blue",
        "i1\t\tgreen",  # missing token
        "i2\tzenith\t",  # missing token_seq
        "i3\tacme\tred",
        "i4\tzenith\tblue green",
        "i5\tacme\tred",
    ]
    (folder / "gaps" / "gaps.item").write_text("\n".join(items) + "\n")


def test_missing_token_and_token_seq_values_are_filled(tmp_path, tiny_config):
    _write_dataset_with_gaps(tmp_path)
    config = Config(
        "BPR",
        "gaps",
        config_dict=tiny_config(
            data_path=str(tmp_path),
            load_col={"inter": ["user_id", "item_id"], "item": ["item_id", "brand", "tags"]},
            user_inter_num_interval="[0,inf)",
            item_inter_num_interval="[0,inf)",
        ),
        cmd_args=[],
    )
    dataset = create_dataset(config)
    items = dataset.item_feat  # DataFrame after RecBole's _fill_nan and id remapping
    row = {token: items[items["item_id"] == dataset.token2id("item_id", token)].iloc[0]
           for token in ("i0", "i1", "i2")}
    assert not items["brand"].isna().any()
    assert row["i1"]["brand"] == 0  # missing token -> [PAD], id 0
    assert dataset.id2token("brand", int(row["i0"]["brand"])) == "acme"
    assert isinstance(row["i2"]["tags"], np.ndarray) and len(row["i2"]["tags"]) == 0
    assert dataset.id2token("tags", row["i1"]["tags"]).tolist() == ["green"]
    assert dataset.id2token("tags", row["i0"]["tags"]).tolist() == ["red", "blue"]


def test_check_pandas_refuses_pandas_3(monkeypatch):
    monkeypatch.setattr(pd, "__version__", "3.0.1")
    with pytest.raises(RuntimeError, match=r"pandas<3"):
        compat.check_pandas()
    monkeypatch.setattr(pd, "__version__", "2.3.3")
    compat.check_pandas()
