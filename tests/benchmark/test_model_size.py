"""The board's ``params``: the weights a model stores, closed forms' item x item matrices too."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recbole_llmkg import Config
from recbole_llmkg.benchmark.model_size import stored_weights
from recbole_llmkg.quick_start import prepare


def _model(name, tmp_path):
    config = Config(name, "tiny", cmd_args=[], config_dict={
        "use_gpu": False, "state": "ERROR", "epochs": 1, "checkpoint_dir": str(tmp_path),
        "llm_cache_dir": str(tmp_path / "cache")})
    return prepare(config)


def test_closed_forms_count_their_item_by_item_matrix(tmp_path):
    run = _model("EASE", tmp_path)
    n_items = run.model.n_items
    assert sum(p.numel() for p in run.model.parameters()) == 1  # what the board showed before
    training_values = run.model.interaction_matrix.nnz
    assert stored_weights(run.model) == 1 + n_items * n_items + training_values


def test_a_neural_model_counts_its_parameters(tmp_path):
    run = _model("BPR", tmp_path)
    assert stored_weights(run.model) == sum(p.numel() for p in run.model.parameters())


@pytest.mark.parametrize(("value", "count"), [
    (torch.zeros(3, 4), 12),
    (torch.zeros(5, dtype=torch.long), 0),  # indices are structure, not weights
    (torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2), check_invariants=True), 2),
    (sp.csr_matrix(np.eye(4, dtype=np.float32)), 4),
    (np.ones((2, 3)), 6),
])
def test_other_parameters_count_their_floating_point_values(value, count):
    class Holder(torch.nn.Module):
        def other_parameter(self):
            return {"value": value}

    assert stored_weights(Holder()) == count
