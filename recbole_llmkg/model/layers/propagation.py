"""Relation-aware message passing over a (collaborative) knowledge graph, as PyG layers.

Each conv is a PyTorch Geometric ``MessagePassing`` layer: ``message`` / ``aggregate`` /
``update`` on an ``edge_index`` (the reference path, edge by edge), and a fused
``message_and_aggregate`` on a :class:`~recbole_llmkg.model.layers.graph.RelationGraph` that
computes the same sums with CSR kernels (the fast path models train with). In the spirit of
KGAT (Wang et al., KDD 2019) and KGIN (Wang et al., WWW 2021); no DGL, no torch_scatter.

Importing this module imports PyG (~1.7 s): models import it when they are built, and
``recbole_llmkg.model.layers`` re-exports it lazily.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from recbole_llmkg.model.layers.dropout import FastDropout
from recbole_llmkg.model.layers.graph import RelationGraph, pair_sddmm, pair_spmm
from recbole_llmkg.model.layers.sampling import ComputationGraph
from recbole_llmkg.model.layers.segment import scatter_softmax


class RelationMeanConv(MessagePassing):
    r"""Mean of relation-modulated messages: ``h'_t = 1/|N(t)| sum_{(s, r, t)} h_s * e_r``.

    ``N(t)`` is the set of edges into ``t`` (``edge_index[0]`` sources, ``edge_index[1]``
    targets, ``edge_type`` their relations); a node without incoming edges gets zeros. KGIN's
    entity aggregation is this layer with its edges read tail -> head.
    """

    def __init__(self, aggr: str = "mean"):
        super().__init__(aggr=aggr, node_dim=0)

    def forward(
        self,
        x: torch.Tensor,
        graph: torch.Tensor | RelationGraph,
        relation: torch.Tensor,
        edge_type: torch.Tensor | None = None,
        num_targets: int | None = None,
    ) -> torch.Tensor:
        """``[num_targets, d]`` outputs for nodes ``0..num_targets-1`` (default: all nodes).

        ``graph`` is an ``edge_index`` (with ``edge_type``; edges must end below
        ``num_targets``) or a :class:`RelationGraph` (fused path, restricted to the targets).
        """
        num_targets = x.shape[0] if num_targets is None else num_targets
        if isinstance(graph, RelationGraph):
            return self.message_and_aggregate(graph, x, relation, num_targets)
        return self.propagate(graph, x=(x, x[:num_targets]), edge_type=edge_type,
                              relation=relation, size=(x.shape[0], num_targets))

    def message(self, x_j: torch.Tensor, edge_type: torch.Tensor, relation: torch.Tensor):
        return x_j * relation[edge_type]

    def edge_weights(self, graph: RelationGraph, x: torch.Tensor, rel: torch.Tensor,
                     num_targets: int) -> torch.Tensor:
        """``[E]`` weight of each edge in the fused path: ``1 / |N(t)|``."""
        target = graph.edge_output
        degree = torch.bincount(target, minlength=num_targets).clamp_min(1).to(x.dtype)
        return degree.reciprocal().index_select(0, target)

    def message_and_aggregate(
        self, graph: RelationGraph, x: torch.Tensor, relation: torch.Tensor, num_targets: int
    ) -> torch.Tensor:
        """Fused path: ``h'_t = sum_{p = (t, r)} e_r * sum_{e in p} w_e h_{s_e}``."""
        rel = relation.index_select(0, graph.pair_relation)  # [P, d]
        weights = self.edge_weights(graph, x, rel, num_targets)
        grouped = pair_spmm(graph, weights, x)  # [P, d]
        out = x.new_zeros(num_targets, x.shape[1])
        return out.index_add_(0, graph.pair_output, grouped * rel)


class RelationAttentiveConv(RelationMeanConv):
    r"""Attentive sum of relation-modulated messages (edge softmax per target).

    ``m_st = h_s * e_r``, ``a_st = softmax_{s in N(t)}(<m_st, h_t> / sqrt(d))`` and
    ``h'_t = sum_{s in N(t)} a_st m_st``: KGIN's relation-modulated message with KGAT's
    attention idea, without per-relation matrices.
    """

    def __init__(self, dim: int):
        super().__init__(aggr="add")
        self.scale = 1.0 / math.sqrt(dim)

    def message(self, x_i: torch.Tensor, x_j: torch.Tensor, edge_type: torch.Tensor,
                relation: torch.Tensor, index: torch.Tensor, size_i: int | None):
        messages = x_j * relation[edge_type]
        logits = (messages * x_i).sum(dim=-1) * self.scale
        return messages * scatter_softmax(logits, index, num_nodes=size_i).unsqueeze(-1)

    def edge_weights(self, graph: RelationGraph, x: torch.Tensor, rel: torch.Tensor,
                     num_targets: int) -> torch.Tensor:
        """``[E]`` attention ``a_st``; the logit ``<h_s * e_r, h_t>`` is ``<h_s, h_t * e_r>``."""
        logits = pair_sddmm(graph, x.index_select(0, graph.pair_target) * rel, x) * self.scale
        return scatter_softmax(logits, graph.edge_output, num_nodes=num_targets)


class RelationPropagation(nn.Module):
    """``n_layers`` relation-aware convs; returns the layer outputs ``[h^0, ..., h^L]``.

    Outputs are restricted to the first ``keep_nodes`` rows (e.g. users and items): the last
    layer only computes those rows, which skips the edges into the other nodes there.
    ``attention`` picks :class:`RelationAttentiveConv` over :class:`RelationMeanConv`.
    """

    def __init__(self, n_layers: int, dim: int, mess_dropout: float = 0.0, attention: bool = True):
        super().__init__()
        self.n_layers = n_layers
        self.convs = nn.ModuleList(
            RelationAttentiveConv(dim) if attention else RelationMeanConv()
            for _ in range(n_layers)
        )
        self.dropout = FastDropout(mess_dropout)

    @torch.no_grad()
    def edge_weights(self, ego: torch.Tensor, graph: RelationGraph,
                     relation_embedding: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, ``[E]`` weight of every edge of ``graph`` (its edge order) in that layer's
        sum: the attention ``a_st`` (or ``1 / |N(t)|`` for mean convs), without dropout. Edges
        into nodes the last layer skips get the weights they would have had."""
        weights, h = [], ego
        for conv in self.convs:
            rel = relation_embedding.index_select(0, graph.pair_relation)
            weights.append(conv.edge_weights(graph, h, rel, h.shape[0]))
            h = conv(h, graph, relation_embedding)
        return weights

    def forward(
        self,
        ego: torch.Tensor,
        graph: RelationGraph | torch.Tensor,
        relation_embedding: torch.Tensor,
        edge_type: torch.Tensor | None = None,
        keep_nodes: int | None = None,
    ) -> list[torch.Tensor]:
        """``graph``: a :class:`RelationGraph`, or an ``edge_index`` with ``edge_type``."""
        keep_nodes = ego.shape[0] if keep_nodes is None else keep_nodes
        if isinstance(graph, RelationGraph):
            last_graph, last_type = graph.restrict_targets(keep_nodes), None
        else:
            last = graph[1] < keep_nodes
            last_graph, last_type = graph[:, last], edge_type[last]
        outputs, h = [ego[:keep_nodes]], ego
        for depth, conv in enumerate(self.convs):
            if depth == self.n_layers - 1:
                h = conv(h, last_graph, relation_embedding, last_type, keep_nodes)
            else:
                h = conv(h, graph, relation_embedding, edge_type)
            h = self.dropout(h)
            outputs.append(h[:keep_nodes])
        return outputs

    def forward_sampled(
        self, ego: torch.Tensor, graph: RelationGraph, relation_embedding: torch.Tensor,
        computation: ComputationGraph,
    ) -> list[torch.Tensor]:
        """Layer outputs ``[h^0, ..., h^L]`` of the seeds of a sampled computation graph.

        ``ego`` ``[n, d]``: layer-0 rows of ``computation.nodes``; ``graph``: its edges as a
        :class:`RelationGraph` over local ids (edge dropout already applied). Layer ``l`` runs
        over the edges into the nodes within ``L - l`` hops only (PyG's ``trim_to_layer``): with
        fan-outs of -1 the seeds' outputs equal :meth:`forward`'s on the whole graph.
        """
        seeds = computation.n_seeds
        outputs, h = [ego[:seeds]], ego
        for layer, conv in enumerate(self.convs, start=1):
            n_targets, n_sources, _ = computation.layer_sizes(layer)
            block = graph.restrict_targets(n_targets, n_sources)
            h = self.dropout(conv(h[:n_sources], block, relation_embedding, None, n_targets))
            outputs.append(h[:seeds])
        return outputs

    @torch.no_grad()
    def forward_chunked(
        self, ego: torch.Tensor, graph: RelationGraph, relation_embedding: torch.Tensor,
        keep_nodes: int, chunk_edges: int,
    ) -> list[torch.Tensor]:
        """:meth:`forward` for inference, layer by layer over target ranges of about
        ``chunk_edges`` in-edges each, so the per-edge buffers stay bounded (0: one range)."""
        outputs, h = [ego[:keep_nodes]], ego
        for layer, conv in enumerate(self.convs, start=1):
            n_targets = keep_nodes if layer == self.n_layers else h.shape[0]
            out = h.new_empty(n_targets, h.shape[1])
            for start, stop in graph.target_chunks(n_targets, chunk_edges):
                part = graph.target_range(start, stop)
                out[start:stop] = conv(h, part, relation_embedding, None, stop - start)
            h = self.dropout(out)
            outputs.append(h[:keep_nodes])
        return outputs
