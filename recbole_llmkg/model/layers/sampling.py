"""Layer-wise neighbour sampling: the L-hop computation graph of a batch, in plain torch.

A training step only needs the final vectors of the batch's users and items. Those depend on
their L-hop in-neighbourhood alone, so a step can propagate over that computation graph instead of
the whole graph (Hamilton et al., "Inductive Representation Learning on Large Graphs", GraphSAGE,
NeurIPS 2017; the layer-wise trimming of PyG's ``trim_to_layer``). With per-hop fan-outs the cost
of a step is bounded by ``batch x prod(fanouts)`` instead of the number of edges.

Why not PyG's ``NeighborSampler``: on this stack (torch_geometric 2.8 without pyg-lib or
torch-sparse, which have no wheels for today's torch) ``torch_geometric.sampler.NeighborSampler``
raises at its first sample, because it calls ``torch.ops.pyg.neighbor_sample`` or
``torch.ops.torch_sparse.neighbor_sample``. So the sampler is written here, vectorised over
nodes: the only Python loops run over hops and over the (few) fan-out slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recbole_llmkg.errors import ConfigError

TRAIN_SAMPLING_MODES = ("full", "sampled")


def check_fanouts(fanouts: object, n_layers: int, key: str = "train_fanouts") -> list[int]:
    """``fanouts`` as a list of ``n_layers`` ints (``-1`` = the whole neighbourhood; one int is
    used for every layer, so ``n_layers`` can change alone), or a :class:`ConfigError` naming
    ``key``."""
    if isinstance(fanouts, int) and not isinstance(fanouts, bool):
        fanouts = [fanouts] * n_layers
    ok = (isinstance(fanouts, (list, tuple)) and len(fanouts) == n_layers
          and all(isinstance(f, int) and not isinstance(f, bool) and (f == -1 or f > 0)
                  for f in fanouts))
    if not ok:
        raise ConfigError(f"Config key '{key}' must be one integer or a list of {n_layers} "
                          f"integers (one per layer, nearest hop first; each > 0, or -1 for every "
                          f"neighbour), got {fanouts!r}.")
    return [int(f) for f in fanouts]


def expand_ranges(start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """``cat([arange(s, s + n) for s, n in zip(start, length)])`` without a Python loop."""
    total = int(length.sum())
    if total == 0:
        return start.new_zeros(0)
    offsets = torch.cumsum(length, 0) - length
    return (torch.arange(total, device=start.device)
            + torch.repeat_interleave(start - offsets, length))


def sample_slots(start: torch.Tensor, degree: torch.Tensor, fanout: int) -> torch.Tensor:
    """Positions of the sampled in-edges of each node: node ``i`` owns positions
    ``start_i .. start_i + degree_i - 1``; it keeps all of them when ``degree_i <= fanout``
    (or ``fanout == -1``), else ``fanout`` distinct ones drawn uniformly without replacement.

    The draw is Floyd's algorithm run for every node at once: for slot ``j`` in
    ``degree - fanout .. degree - 1`` pick ``t`` uniform in ``[0, j]`` and keep ``t``, or ``j``
    when ``t`` was already kept; every ``fanout``-subset is equally likely.
    """
    if fanout < 0:
        return expand_ranges(start, degree)
    small = degree <= fanout
    every = expand_ranges(start[small], degree[small])
    big_start, big_degree = start[~small], degree[~small]
    if big_start.numel() == 0:
        return every
    chosen = big_degree.new_empty(big_start.shape[0], fanout)
    for slot in range(fanout):  # a loop over fan-out slots, vectorised over nodes
        top = big_degree - fanout + slot  # j
        pick = (torch.rand(top.shape, device=top.device) * (top + 1)).long().minimum(top)
        taken = (chosen[:, :slot] == pick.unsqueeze(1)).any(dim=1)
        chosen[:, slot] = torch.where(taken, top, pick)
    return torch.cat([every, (big_start.unsqueeze(1) + chosen).view(-1)])


@dataclass(frozen=True)
class ComputationGraph:
    """The sampled L-hop computation graph of a set of seed nodes, with local node ids.

    ``nodes`` ``[n]`` global ids in the order they were reached: the seeds first (local ids
    ``0..n_seeds-1``, in the order given), then the nodes first reached at hop 1, hop 2, ...
    ``node_counts[h]`` is the number of nodes reached within ``h`` hops (``node_counts[0]`` =
    seeds). ``edges`` ``[m]`` are ids into the sampled graph's edge list, ``source`` / ``target``
    their local ends and ``weight_scale`` ``degree / sampled`` of their target (1 where a node
    kept all its in-edges). Edges are ordered by the hop that sampled them: the in-edges of the
    nodes reached at hop ``h`` come at hop ``h + 1``, and ``edge_counts[h]`` counts those of
    hops ``1..h+1``.

    Layer ``l`` of ``L`` (1-based) needs outputs for the nodes within ``L - l`` hops, computed
    over their edges: the first ``node_counts[L - l]`` nodes as targets, the first
    ``edge_counts[L - l]`` edges, reading inputs of the first ``node_counts[L - l + 1]`` nodes.
    """

    nodes: torch.Tensor
    node_counts: list[int]
    edges: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor
    weight_scale: torch.Tensor
    edge_counts: list[int]

    @property
    def n_seeds(self) -> int:
        return self.node_counts[0]

    def layer_sizes(self, layer: int) -> tuple[int, int, int]:
        """``(targets, sources, edges)`` counts for layer ``layer`` (1-based) of
        ``len(node_counts) - 1`` layers."""
        depth = len(self.node_counts) - 1 - layer
        return self.node_counts[depth], self.node_counts[depth + 1], self.edge_counts[depth]


class NeighbourSampler:
    """Samples the in-neighbourhood of seed nodes, hop by hop, with per-hop fan-outs.

    ``edge_index`` ``[2, E]`` (source, target): messages flow source -> target, so a node's
    sampled neighbours are the sources of its in-edges. ``fanouts[h]`` bounds the in-edges kept
    per node at hop ``h + 1`` from the seeds (``-1``: all).
    """

    def __init__(self, edge_index: torch.Tensor, num_nodes: int, fanouts: list[int]):
        source, target = edge_index[0].long(), edge_index[1].long()
        self.edge_order = torch.argsort(target, stable=True)  # in-edges of a node: a range
        self.sorted_source = source.index_select(0, self.edge_order)
        counts = torch.bincount(target, minlength=num_nodes)
        self.pointer = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        self.num_nodes = num_nodes
        self.fanouts = list(fanouts)

    def sample(self, seeds: torch.Tensor) -> ComputationGraph:
        """The computation graph of ``seeds`` (distinct global node ids)."""
        device = seeds.device
        local = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)
        local[seeds] = torch.arange(seeds.shape[0], device=device)
        nodes, node_counts = [seeds], [seeds.shape[0]]
        positions, targets, scales, edge_counts = [], [], [], []
        frontier, n_edges = seeds, 0
        for fanout in self.fanouts:  # a loop over hops
            start = self.pointer.index_select(0, frontier)
            degree = self.pointer.index_select(0, frontier + 1) - start
            kept = sample_slots(start, degree, fanout)
            # each frontier node's kept count, to rescale its sampled sum to the full sum
            owner = torch.searchsorted(self.pointer, kept, right=True) - 1
            n_kept = degree.clamp(max=fanout) if fanout >= 0 else degree
            scale = degree.float() / n_kept.clamp_min(1).float()
            positions.append(kept)
            targets.append(owner)
            scales.append(_lookup(frontier, owner, scale))
            n_edges += kept.shape[0]
            edge_counts.append(n_edges)
            sources = self.sorted_source.index_select(0, kept)
            new = torch.unique(sources[local.index_select(0, sources) < 0])
            local[new] = torch.arange(node_counts[-1], node_counts[-1] + new.shape[0],
                                      device=device)
            nodes.append(new)
            node_counts.append(node_counts[-1] + new.shape[0])
            frontier = new
        kept = torch.cat(positions)
        return ComputationGraph(
            nodes=torch.cat(nodes), node_counts=node_counts,
            edges=self.edge_order.index_select(0, kept),
            source=local.index_select(0, self.sorted_source.index_select(0, kept)),
            target=local.index_select(0, torch.cat(targets)),
            weight_scale=torch.cat(scales), edge_counts=edge_counts,
        )


def _lookup(keys: torch.Tensor, query: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values[i]`` where ``keys[i] == query`` for every query (``keys`` distinct)."""
    order = torch.argsort(keys)
    return values.index_select(
        0, order.index_select(0, torch.searchsorted(keys.index_select(0, order), query)))
