"""Text adapter, ID/text fusion, row dropout and text-initialised rows (layers.text)."""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers import IDTextFusion, TextAdapter, drop_rows, project_rows


@pytest.mark.parametrize("hidden", [0, 16])
def test_text_adapter_maps_to_embedding_size(hidden):
    adapter = TextAdapter(12, 8, hidden, dropout=0.1)
    assert adapter(torch.randn(5, 12)).shape == (5, 8)


@pytest.mark.parametrize("mode", ["add", "concat", "gate"])
def test_fusion_modes_shapes_and_text_only_path(mode):
    torch.manual_seed(0)
    fusion = IDTextFusion(8, mode, alpha=0.5)
    ids, text = torch.randn(4, 8), torch.randn(4, 8)
    assert fusion(ids, text).shape == (4, 8)
    # with the ID part zeroed, the output still depends on the text
    zero = torch.zeros_like(ids)
    assert not torch.allclose(fusion(zero, text), fusion(zero, text + 1.0))


def test_fusion_add_is_id_plus_weighted_text():
    fusion = IDTextFusion(3, "add", alpha=0.25)
    ids, text = torch.ones(2, 3), torch.full((2, 3), 4.0)
    assert torch.allclose(fusion(ids, text), torch.full((2, 3), 2.0))


def test_fusion_rejects_unknown_mode():
    with pytest.raises(ConfigError, match="fusion"):
        IDTextFusion(4, "multiply")


def test_drop_rows_zeroes_whole_rows_only_in_training():
    torch.manual_seed(0)
    x = torch.ones(1000, 4)
    dropped = drop_rows(x, 0.3, training=True)
    row_sums = dropped.sum(dim=1)
    assert set(row_sums.unique().tolist()) <= {0.0, 4.0}
    assert 0.2 < (row_sums == 0).float().mean() < 0.4
    assert torch.equal(drop_rows(x, 0.3, training=False), x)


def test_project_rows_shape_and_scale():
    torch.manual_seed(0)
    out = project_rows(torch.randn(5, 32), 8, std=0.1)
    assert out.shape == (5, 8)
    assert abs(out.std().item() - 0.1) < 1e-4
