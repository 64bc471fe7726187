"""A relational graph grouped by (target, relation), and the sparse kernels that use it.

Relation-aware message passing sends ``h_s * e_r`` along every edge ``s -r-> t``. Done edge by
edge, each layer builds several ``[E, d]`` tensors (gathers, products, scatter-adds): on
ml-100k's collaborative KG (340k edges) that was most of a training step. Grouping the edges by
their ``(target, relation)`` pair (70k pairs there) turns the same sums into

    y_p = sum_{e in p} w_e h_{s_e}          (one CSR sparse-dense product, [P, d])
    h'_t = sum_{p = (t, r)} y_p * e_r       (a [P, d] product and scatter)

and an attention logit ``<h_s * e_r, h_t> = <h_s, h_t * e_r>`` into one sampled dense-dense
product over the edges. Both kernels get explicit backward passes (:class:`_SpMM`,
:class:`_SDDMM`) that reuse a transposed layout built once, so no ``[E, d]`` tensor is formed in
either direction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RelationGraph:
    """Edges sorted by (target, relation) pair, as CSR rows over pairs, plus its transpose.

    ``pair_target`` / ``pair_relation`` ``[P]`` describe the pairs (sorted by target), ``crow``
    ``[P + 1]`` and ``source`` ``[E]`` the CSR rows, ``row`` ``[E]`` each edge's pair,
    ``order`` ``[E]`` each edge's position in the edge list the graph was built from, and
    ``t_crow`` / ``t_row`` / ``t_perm`` the transpose (rows = sources; ``t_perm`` maps its
    entries to edges; ``None`` in the inference-only slices of :meth:`target_range`, which never
    run a backward pass). ``target_start``: outputs are rows ``target - target_start`` (0 except
    in those slices).
    """

    num_nodes: int
    pair_target: torch.Tensor
    pair_relation: torch.Tensor
    crow: torch.Tensor
    source: torch.Tensor
    row: torch.Tensor
    order: torch.Tensor
    t_crow: torch.Tensor | None
    t_row: torch.Tensor | None
    t_perm: torch.Tensor | None
    target_start: int = 0

    @classmethod
    def build(
        cls, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int
    ) -> RelationGraph:
        """Group ``edge_index`` ``[2, E]`` (source, target) with relation ids ``edge_type``."""
        source, target = edge_index[0].long(), edge_index[1].long()
        n_rel = int(edge_type.max()) + 1 if edge_type.numel() else 1
        key = target * n_rel + edge_type.long()
        # one sort: by target, then relation, then source (a training step builds its sampled
        # graph anew, so this runs every step)
        order = torch.sort(key * num_nodes + source, stable=True).indices
        pairs, counts = torch.unique_consecutive(key.index_select(0, order), return_counts=True)
        row = torch.repeat_interleave(torch.arange(pairs.shape[0], device=key.device), counts)
        return cls._assemble(
            num_nodes, pairs // n_rel, pairs % n_rel, row, source.index_select(0, order), order,
        )

    @classmethod
    def _assemble(cls, num_nodes, pair_target, pair_relation, row, source, order):
        n_pairs = pair_target.shape[0]
        crow = _pointers(row, n_pairs)
        t_perm = torch.argsort(source, stable=True)
        return cls(num_nodes, pair_target, pair_relation, crow, source, row, order,
                   _pointers(source, num_nodes), row.index_select(0, t_perm), t_perm)

    @property
    def num_edges(self) -> int:
        return int(self.source.shape[0])

    @property
    def edge_target(self) -> torch.Tensor:
        """``[E]`` target node of every edge (the group of its attention softmax)."""
        return self.pair_target.index_select(0, self.row)

    @property
    def pair_output(self) -> torch.Tensor:
        """``[P]`` output row of every pair: its target, less ``target_start``."""
        return self.pair_target - self.target_start if self.target_start else self.pair_target

    @property
    def edge_output(self) -> torch.Tensor:
        """``[E]`` output row of every edge's target (see :attr:`pair_output`)."""
        return self.pair_output.index_select(0, self.row)

    def target_range(self, start: int, stop: int) -> RelationGraph:
        """The edges into nodes ``start..stop-1``, a contiguous slice, for inference in chunks
        (no transpose: gradients cannot flow through it)."""
        p0, p1 = (int(i) for i in torch.searchsorted(
            self.pair_target, torch.tensor([start, stop], device=self.pair_target.device)))
        e0, e1 = int(self.crow[p0]), int(self.crow[p1])
        return RelationGraph(
            self.num_nodes, self.pair_target[p0:p1], self.pair_relation[p0:p1],
            self.crow[p0: p1 + 1] - e0, self.source[e0:e1], self.row[e0:e1] - p0,
            self.order[e0:e1], None, None, None, start,
        )

    def target_chunks(self, n_targets: int, max_edges: int) -> list[tuple[int, int]]:
        """Ranges ``(start, stop)`` covering targets ``0..n_targets-1`` with about ``max_edges``
        in-edges each (a node with more edges gets a range of its own); one range when
        ``max_edges <= 0`` or the edges fit."""
        if max_edges <= 0 or self.num_edges <= max_edges:
            return [(0, n_targets)]
        node_edges = torch.bincount(self.edge_target, minlength=n_targets)[:n_targets]
        ends = torch.cumsum(node_edges, 0)
        cuts = torch.searchsorted(ends, torch.arange(max_edges, int(ends[-1]), max_edges,
                                                     device=ends.device), right=True)
        bounds = sorted({0, n_targets, *(int(c) for c in cuts if 0 < int(c) < n_targets)})
        return list(zip(bounds[:-1], bounds[1:], strict=True))

    def subgraph(self, keep: torch.Tensor) -> RelationGraph:
        """The edges where ``keep`` (``[E]`` bool, this graph's edge order) is true; same pairs."""
        kept = torch.nonzero(keep).squeeze(1)
        t_kept = torch.nonzero(keep.index_select(0, self.t_perm)).squeeze(1)
        new_index = torch.cumsum(keep, 0) - 1
        row, source = self.row.index_select(0, kept), self.source.index_select(0, kept)
        return RelationGraph(
            self.num_nodes, self.pair_target, self.pair_relation,
            _pointers(row, self.pair_target.shape[0]), source, row,
            self.order.index_select(0, kept),
            _pointers(source, self.num_nodes), self.t_row.index_select(0, t_kept),
            new_index.index_select(0, self.t_perm.index_select(0, t_kept)),
        )

    def restrict_targets(self, n_targets: int, n_sources: int | None = None) -> RelationGraph:
        """Only the edges into nodes ``0..n_targets-1``: a prefix of the pairs and edges.
        ``n_sources``: the graph reads inputs of nodes ``0..n_sources-1`` only (every source of a
        kept edge must be below it), as a trimmed layer of a sampled computation graph does."""
        num_nodes = self.num_nodes if n_sources is None else n_sources
        n_pairs = int(torch.searchsorted(self.pair_target, n_targets))
        n_edges = int(self.crow[n_pairs])
        t_kept = torch.nonzero(self.t_row < n_pairs).squeeze(1)
        source = self.source[:n_edges]
        return RelationGraph(
            num_nodes, self.pair_target[:n_pairs], self.pair_relation[:n_pairs],
            self.crow[: n_pairs + 1], source, self.row[:n_edges], self.order[:n_edges],
            _pointers(source, num_nodes), self.t_row.index_select(0, t_kept),
            self.t_perm.index_select(0, t_kept),
        )

    def drop_edges(self, rate: float, training: bool) -> RelationGraph:
        """Keep a random ``1 - rate`` share of the edges during training (KGIN's node dropout).

        The draw is made in the original edge order, so the same edges are kept as
        :func:`drop_edges` keeps for the ``edge_index`` the graph was built from.
        """
        if not training or rate <= 0:
            return self
        keep = torch.rand(self.num_edges, device=self.source.device) >= rate
        return self.subgraph(keep.index_select(0, self.order))


def _pointers(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """CSR row pointers ``[n_rows + 1]`` for entries with row ids ``rows`` (counted, any order)."""
    counts = torch.bincount(rows, minlength=n_rows)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _csr(crow, col, values, shape) -> torch.Tensor:
    with warnings.catch_warnings():  # torch calls CSR support "beta"; these kernels are tested
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _spmm_raw(graph: RelationGraph, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    shape = (graph.pair_target.shape[0], graph.num_nodes)
    return torch.sparse.mm(_csr(graph.crow, graph.source, values, shape), dense)


def _spmm_t_raw(graph: RelationGraph, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    shape = (graph.num_nodes, graph.pair_target.shape[0])
    values = values.index_select(0, graph.t_perm)
    return torch.sparse.mm(_csr(graph.t_crow, graph.t_row, values, shape), dense)


def _sddmm_raw(graph: RelationGraph, rows: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    pattern = _csr(graph.crow, graph.source, rows.new_zeros(graph.num_edges),
                   (graph.pair_target.shape[0], graph.num_nodes))
    return torch.sparse.sampled_addmm(pattern, rows, nodes.T).values()


class _SpMM(torch.autograd.Function):
    """``y_p = sum_{e in p} w_e x_{s_e}``; gradients for ``w`` (SDDMM) and ``x`` (transpose)."""

    @staticmethod
    def forward(ctx, values, dense, graph):
        ctx.graph = graph
        ctx.save_for_backward(values, dense)
        return _spmm_raw(graph, values, dense)

    @staticmethod
    def backward(ctx, grad):
        values, dense = ctx.saved_tensors
        grad = grad.contiguous()
        grad_values = _sddmm_raw(ctx.graph, grad, dense) if ctx.needs_input_grad[0] else None
        grad_dense = _spmm_t_raw(ctx.graph, values, grad) if ctx.needs_input_grad[1] else None
        return grad_values, grad_dense, None


class _SDDMM(torch.autograd.Function):
    """``s_e = <a_{p_e}, b_{s_e}>`` for every edge; gradients by CSR products."""

    @staticmethod
    def forward(ctx, rows, nodes, graph):
        ctx.graph = graph
        ctx.save_for_backward(rows, nodes)
        return _sddmm_raw(graph, rows.contiguous(), nodes.contiguous())

    @staticmethod
    def backward(ctx, grad):
        rows, nodes = ctx.saved_tensors
        grad = grad.contiguous()
        grad_rows = _spmm_raw(ctx.graph, grad, nodes) if ctx.needs_input_grad[0] else None
        grad_nodes = _spmm_t_raw(ctx.graph, grad, rows) if ctx.needs_input_grad[1] else None
        return grad_rows, grad_nodes, None


def pair_spmm(graph: RelationGraph, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[P, d]``: ``y_p = sum_{e in p} weights_e x_{source_e}`` (weights in the graph's order)."""
    return _SpMM.apply(weights, x.contiguous(), graph)


def pair_sddmm(graph: RelationGraph, pair_rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[E]``: ``<pair_rows_{p_e}, x_{source_e}>`` for every edge ``e`` (the graph's order)."""
    return _SDDMM.apply(pair_rows, x, graph)


def drop_edges(
    edge_index: torch.Tensor, edge_type: torch.Tensor, rate: float, training: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep a random ``1 - rate`` share of the edges during training (KGIN's node dropout)."""
    if not training or rate <= 0:
        return edge_index, edge_type
    keep = torch.rand(edge_type.shape[0], device=edge_type.device) >= rate
    return edge_index[:, keep], edge_type[keep]
