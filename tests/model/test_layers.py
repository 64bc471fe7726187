"""Unit tests of the shared model layers (synthetic tensors, no dataset)."""

from __future__ import annotations

import math

import pytest
import torch

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers import (
    IDTextFusion,
    KGEmbeddingLoss,
    RelationAttentivePropagation,
    TextAdapter,
    blended_cosine_topk,
    drop_edges,
    drop_rows,
    project_rows,
    sparse_rows,
    to_sparse_coo,
    topk_to_sparse,
)


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


def test_drop_edges_keeps_share_and_alignment():
    torch.manual_seed(0)
    edge_index = torch.arange(2000).view(2, 1000)
    edge_type = torch.arange(1000)
    kept_index, kept_type = drop_edges(edge_index, edge_type, 0.5, training=True)
    assert 400 < kept_type.numel() < 600
    assert torch.equal(kept_index[0], kept_type)  # columns stay aligned with their types
    assert drop_edges(edge_index, edge_type, 0.5, training=False)[1] is edge_type


def _toy_graph():
    # 4 nodes; node 0 receives from 1 and 2, node 1 from 3, node 3 from 0
    edge_index = torch.tensor([[1, 2, 3, 0], [0, 0, 1, 3]])
    edge_type = torch.tensor([0, 1, 0, 1])
    return edge_index, edge_type


def test_propagation_mean_aggregation_by_hand():
    ego = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 0.0], [1.0, 1.0]])
    relations = torch.tensor([[1.0, 1.0], [0.5, 0.5]])
    edge_index, edge_type = _toy_graph()
    prop = RelationAttentivePropagation(1, 2, attention=False)
    layers = prop(ego, edge_index, edge_type, relations)
    assert len(layers) == 2 and torch.equal(layers[0], ego)
    expected = torch.tensor([
        [(0.0 + 2.0) / 2, (2.0 + 0.0) / 2],  # mean of h1*r0 = (0,2) and h2*r1 = (2,0)
        [1.0, 1.0],  # h3 * r0
        [0.0, 0.0],  # no incoming edge
        [0.5, 0.0],  # h0 * r1
    ])
    assert torch.allclose(layers[1], expected)


def test_propagation_attention_weights_form_a_softmax():
    ego = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 0.0], [1.0, 1.0]])
    relations = torch.tensor([[1.0, 1.0], [0.5, 0.5]])
    edge_index, edge_type = _toy_graph()
    prop = RelationAttentivePropagation(1, 2, attention=True)
    out = prop(ego, edge_index, edge_type, relations)[1]
    # node 0: messages m1 = (0, 2), m2 = (2, 0); logits <m, h0>/sqrt(2) = 0 and 2/sqrt(2)
    a2 = math.exp(2 / math.sqrt(2)) / (1 + math.exp(2 / math.sqrt(2)))
    expected0 = torch.tensor([2.0 * a2, 2.0 * (1 - a2)])
    assert torch.allclose(out[0], expected0, atol=1e-6)
    assert torch.allclose(out[1], torch.tensor([1.0, 1.0]))  # single edge: weight 1


def test_propagation_keep_nodes_restricts_only_the_output_rows():
    torch.manual_seed(0)
    ego = torch.randn(6, 4)
    edge_index = torch.randint(0, 6, (2, 30))
    edge_type = torch.randint(0, 3, (30,))
    relations = torch.randn(3, 4)
    prop = RelationAttentivePropagation(2, 4, attention=True)
    full = prop(ego, edge_index, edge_type, relations)
    part = prop(ego, edge_index, edge_type, relations, keep_nodes=3)
    for a, b in zip(full, part, strict=True):
        assert torch.allclose(a[:3], b, atol=1e-6)


@pytest.mark.parametrize("mode", ["transe", "transr"])
def test_kg_loss_prefers_true_tails(mode):
    torch.manual_seed(0)
    loss_fn = KGEmbeddingLoss(mode, n_relations=2, dim=4, reg_weight=0.0)
    head, rel = torch.randn(8, 4), torch.randn(8, 4)
    good = loss_fn(head, rel, head + rel, torch.randn(8, 4) * 3, torch.zeros(8, dtype=torch.long))
    bad = loss_fn(head, rel, torch.randn(8, 4) * 3, head + rel, torch.zeros(8, dtype=torch.long))
    assert good < bad and torch.isfinite(good)


def test_project_rows_shape_and_scale():
    torch.manual_seed(0)
    out = project_rows(torch.randn(5, 32), 8, std=0.1)
    assert out.shape == (5, 8)
    assert abs(out.std().item() - 0.1) < 1e-4


def test_blended_cosine_single_part_is_cosine_and_chunking_is_exact():
    torch.manual_seed(0)
    x = torch.rand(9, 5)
    index, value = blended_cosine_topk([x], [1.0], topk=8, chunk_size=4)
    cosine = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    cosine.fill_diagonal_(-float("inf"))
    ref_value, ref_index = cosine.topk(8, dim=1)
    assert torch.allclose(value, ref_value, atol=1e-6)
    assert torch.equal(index, ref_index)
    index1, value1 = blended_cosine_topk([to_sparse_coo(x, "cpu")], [1.0], topk=8, chunk_size=1)
    assert torch.allclose(value1, value, atol=1e-6) and torch.equal(index1, index)


def test_blended_cosine_matches_the_seed_formula():
    torch.manual_seed(0)
    x, t = torch.rand(4, 6), torch.randn(4, 3)
    index, value = blended_cosine_topk([x, t], [1.0, 2.0], topk=3)
    i, j = 0, int(index[0, 0])
    expected = (x[i] @ x[j] + 2 * t[i] @ t[j]) / (
        x[i].norm() * x[j].norm() + 2 * t[i].norm() * t[j].norm()
    )
    assert torch.allclose(value[0, 0], expected, atol=1e-6)


def test_topk_to_sparse_and_sparse_rows():
    index = torch.tensor([[1, 2], [0, 2], [0, 1]])
    value = torch.tensor([[0.5, 0.1], [0.5, 0.2], [0.1, 0.2]])
    dense = topk_to_sparse(index, value, 3).to_dense()
    assert torch.allclose(dense, torch.tensor([[0, 0.5, 0.1], [0.5, 0, 0.2], [0.1, 0.2, 0]]))
    assert torch.allclose(sparse_rows(topk_to_sparse(index, value, 3), torch.tensor([2, 0])),
                          dense[[2, 0]])
