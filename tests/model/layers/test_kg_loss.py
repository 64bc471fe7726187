"""TransE / TransR loss on triples (layers.kg_loss)."""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.model.layers import KGEmbeddingLoss


@pytest.mark.parametrize("mode", ["transe", "transr"])
def test_kg_loss_prefers_true_tails(mode):
    torch.manual_seed(0)
    loss_fn = KGEmbeddingLoss(mode, n_relations=2, dim=4, reg_weight=0.0)
    head, rel = torch.randn(8, 4), torch.randn(8, 4)
    good = loss_fn(head, rel, head + rel, torch.randn(8, 4) * 3, torch.zeros(8, dtype=torch.long))
    bad = loss_fn(head, rel, torch.randn(8, 4) * 3, head + rel, torch.zeros(8, dtype=torch.long))
    assert good < bad and torch.isfinite(good)
