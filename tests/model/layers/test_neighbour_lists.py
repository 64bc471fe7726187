"""Blended cosine top-k neighbours and their sparse form (layers.similarity)."""

from __future__ import annotations

import torch

from recbole_llmkg.model.layers import (
    blended_cosine_topk,
    sparse_rows,
    to_sparse_coo,
    topk_to_sparse,
)


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
