"""The (target, relation)-grouped graph layout and its CSR kernels (layers.graph)."""

from __future__ import annotations

import torch

from recbole_llmkg.model.layers import RelationGraph, drop_edges, pair_sddmm, pair_spmm


def random_graph(n=12, e=60, r=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_type = torch.randint(0, r, (e,), generator=g)
    return edge_index, edge_type, RelationGraph.build(edge_index, edge_type, n)


def test_build_groups_edges_by_target_and_relation():
    edge_index, edge_type, graph = random_graph()
    src, dst = edge_index
    # every edge sits in the row of its own (target, relation) pair, sources in CSR order
    assert torch.equal(graph.source, src[graph.order])
    assert torch.equal(graph.edge_target, dst[graph.order])
    assert torch.equal(graph.pair_relation[graph.row], edge_type[graph.order])
    pairs = graph.pair_target * 10 + graph.pair_relation
    assert torch.equal(pairs, torch.unique(dst * 10 + edge_type))
    assert torch.equal(graph.crow[1:] - graph.crow[:-1], torch.bincount(graph.row))


def test_kernels_match_dense_sums_and_their_gradients():
    edge_index, _, graph = random_graph()
    n_pairs = graph.pair_target.shape[0]
    weights = torch.rand(graph.num_edges, dtype=torch.float64, requires_grad=True)
    x = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    rows = torch.randn(n_pairs, 5, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(n_pairs, 12, dtype=torch.float64)
    dense.index_put_((graph.row, graph.source), weights.detach(), accumulate=True)
    assert torch.allclose(pair_spmm(graph, weights, x), dense @ x)
    expected = (rows[graph.row] * x[graph.source]).sum(dim=1)
    assert torch.allclose(pair_sddmm(graph, rows, x), expected)
    assert torch.autograd.gradcheck(lambda w, h: pair_spmm(graph, w, h), (weights, x))
    assert torch.autograd.gradcheck(lambda a, h: pair_sddmm(graph, a, h), (rows, x))


def test_subgraph_and_restrict_targets_keep_the_layout_consistent():
    edge_index, edge_type, graph = random_graph()
    keep = torch.rand(graph.num_edges, generator=torch.Generator().manual_seed(3)) > 0.4
    sub = graph.subgraph(keep)
    rebuilt_order = graph.order[keep]
    assert torch.equal(sub.order, rebuilt_order)
    assert torch.equal(sub.source, edge_index[0][rebuilt_order])
    x = torch.randn(12, 3)
    w = torch.ones(sub.num_edges)
    dense = torch.zeros(graph.pair_target.shape[0], 12).index_put_(
        (sub.row, sub.source), w, accumulate=True)
    assert torch.allclose(pair_spmm(sub, w, x), dense @ x)
    # the transpose is consistent too: the gradient of x goes through it
    x.requires_grad_(True)
    pair_spmm(sub, w, x).sum().backward()
    assert torch.allclose(x.grad, dense.sum(dim=0, keepdim=True).T.expand(-1, 3))

    part = graph.restrict_targets(5)
    assert (part.pair_target < 5).all() and (part.edge_target < 5).all()
    assert part.num_edges == int((edge_index[1] < 5).sum())


def test_graph_drop_edges_keeps_the_same_edges_as_edge_index_drop():
    edge_index, edge_type, graph = random_graph(e=400)
    torch.manual_seed(7)
    kept_index, _ = drop_edges(edge_index, edge_type, 0.5, training=True)
    torch.manual_seed(7)
    sub = graph.drop_edges(0.5, training=True)
    ours = sorted(zip(sub.source.tolist(), sub.edge_target.tolist(), strict=True))
    theirs = sorted(zip(kept_index[0].tolist(), kept_index[1].tolist(), strict=True))
    assert ours == theirs
    assert graph.drop_edges(0.5, training=False) is graph


def test_drop_edges_keeps_share_and_alignment():
    torch.manual_seed(0)
    edge_index = torch.arange(2000).view(2, 1000)
    edge_type = torch.arange(1000)
    kept_index, kept_type = drop_edges(edge_index, edge_type, 0.5, training=True)
    assert 400 < kept_type.numel() < 600
    assert torch.equal(kept_index[0], kept_type)  # columns stay aligned with their types
    assert drop_edges(edge_index, edge_type, 0.5, training=False)[1] is edge_type


