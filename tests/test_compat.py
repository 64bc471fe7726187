"""One test per fix in ``recbole_llmkg/compat.py``; each would fail without its fix."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data import data_preparation
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


class Payload:
    """An arbitrary pickled object: torch's weights-only loader must refuse it."""

    def __init__(self, value):
        self.value = value


def _train_bpr(tiny_config, epochs=2):
    config = Config("BPR", "tiny", config_dict=tiny_config(epochs=epochs), cmd_args=[])
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = config.model_class(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return trainer, model, test


def test_best_model_reload_works_and_restores_the_saved_weights(tiny_config):
    trainer, model, test = _train_bpr(tiny_config, epochs=1)
    checkpoint = trainer.saved_model_file
    # The checkpoint pickles the Config: torch's default (weights-only) loader refuses it.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(checkpoint)

    best_in_memory = trainer.evaluate(test, load_best_model=False)  # 1 epoch: memory == best
    with torch.no_grad():  # spoil the in-memory weights: only a real reload can undo this
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    spoiled = trainer.evaluate(test, load_best_model=False)
    reloaded = trainer.evaluate(test, load_best_model=True)
    assert dict(reloaded) == dict(best_in_memory)
    assert dict(spoiled) != dict(best_in_memory)
    with pytest.raises(pickle.UnpicklingError):  # the trust ended with the reload
        torch.load(checkpoint)


def test_trusted_checkpoint_only_trusts_the_named_file(tmp_path, tiny_config):
    trainer, _, _ = _train_bpr(tiny_config, epochs=1)
    other = tmp_path / "other.pth"
    torch.save({"payload": Payload(3)}, other)
    original_load = torch.load

    with compat.trusted_checkpoint(trainer.saved_model_file):
        state = torch.load(trainer.saved_model_file)
        assert state["config"]["model"] == "BPR"
        with pytest.raises(pickle.UnpicklingError):
            torch.load(other)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(str(other), map_location="cpu")
    assert torch.load is original_load  # restored on exit
    with pytest.raises(pickle.UnpicklingError):
        torch.load(trainer.saved_model_file)


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
