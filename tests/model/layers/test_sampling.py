"""Neighbour sampling (layers.sampling) and the propagation paths that use it.

The sampled computation graph must hold exactly the L-hop in-neighbourhood of the seeds (with
fan-outs of -1), respect the fan-out bounds otherwise, and propagating over it must give the
seeds the same vectors as propagating over the whole graph; chunked inference must give the
same vectors as one pass.
"""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers import RelationGraph, RelationPropagation
from recbole_llmkg.model.layers.sampling import (
    NeighbourSampler,
    check_fanouts,
    expand_ranges,
    sample_slots,
)

N_NODES = 40


def random_graph(seed: int = 0, n_edges: int = 300, n_relations: int = 4):
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, N_NODES, (2, n_edges * 2), generator=generator)
    pairs = pairs[:, pairs[0] != pairs[1]]
    pairs = torch.unique(pairs, dim=1)[:, :n_edges]  # no duplicate (source, target) edges
    # a few nodes with many in-edges, so fan-outs bind
    edge_type = torch.randint(0, n_relations, (pairs.shape[1],), generator=generator)
    return pairs, edge_type


def in_neighbourhood(edge_index: torch.Tensor, seeds: torch.Tensor, hops: int) -> list[set]:
    """Nodes reached within 0..hops hops against the edge direction (the reference BFS)."""
    reached = [set(seeds.tolist())]
    for _ in range(hops):
        into = torch.isin(edge_index[1], torch.tensor(sorted(reached[-1])))
        reached.append(reached[-1] | set(edge_index[0, into].tolist()))
    return reached


def test_expand_ranges_matches_a_loop_of_aranges():
    start, length = torch.tensor([5, 0, 9, 2]), torch.tensor([2, 0, 3, 1])
    expected = [5, 6, 9, 10, 11, 2]
    assert expand_ranges(start, length).tolist() == expected


def test_sample_slots_keeps_small_neighbourhoods_and_draws_distinct_slots_from_big_ones():
    torch.manual_seed(0)
    start, degree = torch.tensor([0, 3, 100]), torch.tensor([3, 2, 50])
    kept = sample_slots(start, degree, 4)
    assert sorted(kept[kept < 5].tolist()) == [0, 1, 2, 3, 4]  # both small nodes: every slot
    big = kept[kept >= 100]
    assert big.shape[0] == 4 and big.unique().shape[0] == 4 and int(big.max()) < 150


def test_sample_slots_draws_every_slot_equally_often():
    torch.manual_seed(0)
    draws = 4000
    kept = sample_slots(torch.zeros(draws, dtype=torch.long), torch.full((draws,), 10), 3)
    share = torch.bincount(kept, minlength=10).float() / draws  # each slot: 3 / 10
    assert torch.allclose(share, torch.full((10,), 0.3), atol=0.03)


def test_full_fanouts_give_exactly_the_l_hop_neighbourhood_and_all_its_in_edges():
    edge_index, _ = random_graph()
    seeds = torch.tensor([3, 17, 25])
    hops = 2
    computation = NeighbourSampler(edge_index, N_NODES, [-1] * hops).sample(seeds)
    reached = in_neighbourhood(edge_index, seeds, hops)
    nodes = computation.nodes
    assert nodes[:3].tolist() == seeds.tolist()
    assert nodes.unique().shape[0] == nodes.shape[0]
    for hop in range(hops + 1):  # nodes are ordered by the hop that first reached them
        assert set(nodes[: computation.node_counts[hop]].tolist()) == reached[hop]
    # edges: every in-edge of the nodes within hops - 1, each once, ends mapped to local ids
    inner = torch.tensor(sorted(reached[hops - 1]))
    expected = set(torch.nonzero(torch.isin(edge_index[1], inner)).squeeze(1).tolist())
    assert sorted(computation.edges.tolist()) == sorted(expected)
    assert torch.equal(nodes[computation.source], edge_index[0, computation.edges])
    assert torch.equal(nodes[computation.target], edge_index[1, computation.edges])
    assert torch.all(computation.weight_scale == 1)


def test_fanouts_bound_the_in_edges_of_every_node_and_rescale_their_sum():
    edge_index, _ = random_graph(seed=1, n_edges=600)
    seeds = torch.tensor([0, 1, 2, 3])
    fanouts = [3, 2]
    computation = NeighbourSampler(edge_index, N_NODES, fanouts).sample(seeds)
    degree = torch.bincount(edge_index[1], minlength=N_NODES)
    edges = computation.edges
    assert edges.unique().shape[0] == edges.shape[0]  # without replacement
    assert torch.equal(computation.nodes[computation.target], edge_index[1, edges])
    begin = 0
    for hop, fanout in enumerate(fanouts):
        end = computation.edge_counts[hop]
        hop_targets = computation.target[begin:end]
        frontier = torch.arange(computation.node_counts[hop - 1] if hop else 0,
                                computation.node_counts[hop])
        counts = torch.bincount(hop_targets, minlength=computation.nodes.shape[0])[frontier]
        full = degree[computation.nodes[frontier]]
        assert torch.equal(counts, full.clamp(max=fanout))  # min(degree, fan-out) each
        scale = computation.weight_scale[begin:end]
        expected = (full.float() / counts.clamp_min(1).float())
        lookup = {int(n): float(s) for n, s in zip(frontier, expected, strict=True)}
        assert [lookup[int(t)] for t in hop_targets] == pytest.approx(scale.tolist())
        begin = end
    # every node reached is a source of a sampled edge (or a seed)
    assert set(computation.nodes[4:].tolist()) <= set(computation.nodes[computation.source]
                                                      .tolist())


@pytest.mark.parametrize("attention", [True, False])
def test_sampled_propagation_with_full_fanouts_equals_full_graph_propagation(attention):
    torch.manual_seed(0)
    edge_index, edge_type = random_graph(seed=2)
    n_layers, dim = 3, 8
    x = torch.randn(N_NODES, dim)
    relations = torch.randn(4, dim)
    propagation = RelationPropagation(n_layers, dim, attention=attention).eval()
    full = torch.cat(propagation(x, RelationGraph.build(edge_index, edge_type, N_NODES),
                                 relations), dim=1)
    seeds = torch.tensor([5, 0, 33, 12])
    computation = NeighbourSampler(edge_index, N_NODES, [-1] * n_layers).sample(seeds)
    local = RelationGraph.build(torch.stack([computation.source, computation.target]),
                                edge_type[computation.edges], computation.nodes.shape[0])
    sampled = torch.cat(propagation.forward_sampled(x[computation.nodes], local, relations,
                                                    computation), dim=1)
    assert torch.allclose(sampled, full[seeds], atol=1e-5)
    # with a fan-out below the degrees the result differs (the test can fail)
    small = NeighbourSampler(edge_index, N_NODES, [1] * n_layers).sample(seeds)
    local = RelationGraph.build(torch.stack([small.source, small.target]),
                                edge_type[small.edges], small.nodes.shape[0])
    approx = torch.cat(propagation.forward_sampled(x[small.nodes], local, relations, small), 1)
    assert not torch.allclose(approx, full[seeds], atol=1e-3)


def test_sampled_propagation_passes_gradients_to_the_sampled_nodes_only():
    torch.manual_seed(0)
    edge_index, edge_type = random_graph(seed=3)
    propagation = RelationPropagation(2, 4)
    x = torch.randn(N_NODES, 4, requires_grad=True)
    computation = NeighbourSampler(edge_index, N_NODES, [2, 2]).sample(torch.tensor([1, 2]))
    local = RelationGraph.build(torch.stack([computation.source, computation.target]),
                                edge_type[computation.edges], computation.nodes.shape[0])
    out = propagation.forward_sampled(x[computation.nodes], local, torch.randn(4, 4),
                                      computation)
    torch.cat(out, dim=1).sum().backward()
    touched = torch.nonzero(x.grad.abs().sum(dim=1)).squeeze(1)
    assert set(touched.tolist()) <= set(computation.nodes.tolist())
    assert {1, 2} <= set(touched.tolist())


@pytest.mark.parametrize("chunk_edges", [1, 7, 50, 0])
def test_chunked_inference_equals_one_pass(chunk_edges):
    torch.manual_seed(0)
    edge_index, edge_type = random_graph(seed=4)
    graph = RelationGraph.build(edge_index, edge_type, N_NODES)
    x, relations = torch.randn(N_NODES, 6), torch.randn(4, 6)
    propagation = RelationPropagation(3, 6, mess_dropout=0.5).eval()
    whole = propagation(x, graph, relations, keep_nodes=30)
    chunked = propagation.forward_chunked(x, graph, relations, 30, chunk_edges)
    assert (len(graph.target_chunks(N_NODES, chunk_edges)) > 1) == (chunk_edges > 0)
    for a, b in zip(whole, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_target_chunks_cover_the_targets_in_bounded_ranges():
    edge_index, edge_type = random_graph(seed=5)
    graph = RelationGraph.build(edge_index, edge_type, N_NODES)
    chunks = graph.target_chunks(N_NODES, 40)
    assert chunks[0][0] == 0 and chunks[-1][1] == N_NODES and len(chunks) > 3
    assert all(a[1] == b[0] for a, b in zip(chunks[:-1], chunks[1:], strict=True))
    degree = torch.bincount(edge_index[1], minlength=N_NODES)
    for start, stop in chunks:  # at most the budget, or one node over it
        assert degree[start:stop].sum() <= 40 + degree[start:stop].max()
        assert graph.target_range(start, stop).num_edges == int(degree[start:stop].sum())


def test_bipartite_sampled_smoothing_with_full_fanouts_equals_full_smoothing():
    import scipy.sparse as sp

    from recbole_llmkg.model.layers.bipartite import BipartiteSmoothing

    generator = torch.Generator().manual_seed(6)
    dense = (torch.rand(12, 9, generator=generator) < 0.35).float()
    dense[0, 0] = 1  # user 0 and item 0 have edges
    users, items = torch.randn(12, 4), torch.randn(9, 4)
    seeds = torch.tensor([0, 4, 12 + 0, 12 + 5])
    smoothing = BipartiteSmoothing(sp.csr_matrix(dense.numpy()), 2, "cpu", [-1, -1])
    user_all, item_all, _ = smoothing(users, items)
    full = torch.cat([user_all, item_all])[seeds]
    computation = smoothing.sample(seeds)
    ego = torch.cat([users, items])[computation.nodes]
    assert torch.allclose(smoothing.forward_sampled(computation, ego), full, atol=1e-6)
    smoothing = BipartiteSmoothing(sp.csr_matrix(dense.numpy()), 2, "cpu", [1, 1])
    computation = smoothing.sample(seeds)
    ego = torch.cat([users, items])[computation.nodes]
    assert not torch.allclose(smoothing.forward_sampled(computation, ego), full, atol=1e-3)


@pytest.mark.parametrize("bad", [[10, 10], [0, 5, 5], "10", [10, -2, 3], [True, 1, 1]])
def test_fanouts_must_be_one_positive_int_or_minus_one_per_layer(bad):
    with pytest.raises(ConfigError, match="'train_fanouts' must be one integer or a list of 3"):
        check_fanouts(bad, 3)
    assert check_fanouts([10, -1, 5], 3) == [10, -1, 5]
    assert check_fanouts(7, 2) == [7, 7]
