"""LightGCN smoothing over the user-item training graph.

He et al., "LightGCN" (SIGIR 2020): ``E^(k+1) = D^-1/2 A D^-1/2 E^(k)`` over the bipartite graph
of training interactions, final embedding the mean of layers ``0..K``. Because the graph is
bipartite, a user's layer ``k >= 1`` is a weighted sum over its own history items only,
``e_u^(k) = sum_j a_uj e_j^(k-1)`` with ``a_uj = 1 / sqrt(d_u d_j)``, so its final vector splits
exactly into its own ego part and one term per history item
(:meth:`BipartiteSmoothing.history_terms`): what explanations and fold-in read.

A training step may instead propagate over the sampled computation graph of its batch
(:meth:`BipartiteSmoothing.forward_sampled`, :mod:`.sampling`): each sampled sum is rescaled by
``degree / sampled`` so it estimates the full one, and with every neighbour kept it is exact.
Inference needs no chunking here: a layer is one CSR product with no per-edge feature buffer.

A full-graph layer is :func:`symmetric_spmm`, not PyG's ``LGConv``: the normalised adjacency is
symmetric, so the backward pass reuses the same CSR matrix, where ``torch.sparse.mm``'s backward
transposes it on every step (that transpose was over half of LLMAugRec's training step on
ml-100k; the product itself is the same).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from recbole_llmkg.model.layers.sampling import ComputationGraph, NeighbourSampler
from recbole_llmkg.model.layers.sparse import symmetric_spmm


class BipartiteSmoothing(nn.Module):
    """``K`` parameter-free LightGCN layers over the training interactions of ``n_users`` users
    and ``n_items`` items (users are nodes ``0..n_users-1``, items follow)."""

    def __init__(self, interactions: sp.spmatrix, n_layers: int, device: torch.device | str,
                 fanouts: list[int] | None = None):
        """``fanouts``: per-hop fan-outs of :meth:`sample` (``None``: full-graph training)."""
        super().__init__()
        self.n_layers = n_layers
        binary = (sp.csr_matrix(interactions) > 0).astype(np.float32)
        self.n_users, self.n_items = binary.shape
        user_degree = np.asarray(binary.sum(axis=1)).ravel()
        item_degree = np.asarray(binary.sum(axis=0)).ravel()
        self.register_buffer("user_norm", _rsqrt(user_degree, device), persistent=False)
        self.register_buffer("item_norm", _rsqrt(item_degree, device), persistent=False)
        rows, cols = binary.nonzero()
        weights = self.user_norm[rows] * self.item_norm[cols]
        users = torch.as_tensor(rows, dtype=torch.long, device=device)
        items = torch.as_tensor(cols, dtype=torch.long, device=device) + self.n_users
        # adj_t (target x source) of the symmetric normalised graph, as one CSR for spmm
        index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
        size = self.n_users + self.n_items
        adjacency = torch.sparse_coo_tensor(index, torch.cat([weights, weights]), (size, size),
                                            check_invariants=False).coalesce()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            adjacency = adjacency.to_sparse_csr()
            # int32 indices: the CPU kernel (MKL) reads int32, and converts int64 ones on every
            # product (a fifth of the product's time at 1M interactions)
            adjacency = torch.sparse_csr_tensor(
                adjacency.crow_indices().int(), adjacency.col_indices().int(),
                adjacency.values(), adjacency.shape, check_invariants=False).to(device)
        # a plain attribute, not a buffer: DDP broadcasts buffers and cannot broadcast a CSR
        # tensor; it is rebuilt from the interactions, on the model's device, never saved
        self.adjacency = adjacency
        self.sampler = None
        if fanouts is not None:
            self.sampler = NeighbourSampler(index.flip(0), size, fanouts)  # (source, target)
            self.edge_weights = torch.cat([weights, weights])  # in ``index``'s edge order

    def sample(self, nodes: torch.Tensor) -> ComputationGraph:
        """The sampled computation graph of distinct nodes (users ``0..n_users-1``, items
        after them)."""
        return self.sampler.sample(nodes)

    def forward_sampled(self, computation: ComputationGraph, ego: torch.Tensor) -> torch.Tensor:
        """Final (layer-mean) vectors ``[n_seeds, d]`` of the computation graph's seeds from the
        layer-0 rows ``ego`` of its nodes; layer ``k`` runs over the edges into the nodes within
        ``K - k`` hops only."""
        weights = self.edge_weights.index_select(0, computation.edges) * computation.weight_scale
        seeds = computation.n_seeds
        outputs, h = [ego[:seeds]], ego
        for layer in range(1, self.n_layers + 1):
            n_targets, n_sources, n_edges = computation.layer_sizes(layer)
            index = torch.stack([computation.target[:n_edges], computation.source[:n_edges]])
            block = torch.sparse_coo_tensor(index, weights[:n_edges], (n_targets, n_sources),
                                            check_invariants=False)
            h = torch.sparse.mm(block, h[:n_sources])
            outputs.append(h[:seeds])
        return torch.stack(outputs).mean(dim=0)

    def layers(self, users: torch.Tensor, items: torch.Tensor) -> list[torch.Tensor]:
        """Layer outputs ``0..K`` over all nodes (``[n_users + n_items, d]`` each)."""
        out = [torch.cat([users, items])]
        for _ in range(self.n_layers):
            out.append(symmetric_spmm(self.adjacency, out[-1]))
        return out

    def forward(self, users: torch.Tensor, items: torch.Tensor, messages: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(users [n_users, d], items [n_items, d], item messages [n_items, d])``: the final
        (layer-mean) vectors, and each item's message to its users, ``m_j = 1/(K+1)
        sum_{k<K} e_j^(k)``, so that ``final_u = ego_u / (K+1) + sum_{j in H_u} a_uj m_j``
        (``None`` with ``messages=False``: a training step never reads them)."""
        layers = self.layers(users, items)
        final = torch.stack(layers).mean(dim=0)
        item_messages = None
        if messages:
            item_messages = (torch.stack(layers[:-1]).sum(dim=0)[self.n_users:]
                             / (self.n_layers + 1))
        return final[: self.n_users], final[self.n_users:], item_messages

    def edge_weight(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``a_uj = 1 / sqrt(d_u d_j)`` for training pairs ``(users, items)``."""
        return self.user_norm[users] * self.item_norm[items]

    def history_terms(self, users: torch.Tensor, items: torch.Tensor,
                      messages: torch.Tensor) -> torch.Tensor:
        """``[len(items), d]``: each history item's term ``a_uj m_j`` in its user's final
        vector (``users`` one user as a 0-d tensor, or one per item)."""
        return self.edge_weight(users.expand_as(items), items).unsqueeze(1) * messages[items]

    def ego_share(self) -> float:
        """Weight of a node's own ego embedding in its final vector, ``1 / (K + 1)``."""
        return 1.0 / (self.n_layers + 1)


def _rsqrt(degree: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """``1 / sqrt(degree)``, 0 where the degree is 0 (a node without edges gets no messages)."""
    degree = torch.as_tensor(degree, dtype=torch.float32, device=device)
    return torch.where(degree > 0, degree.clamp_min(1.0).rsqrt(), torch.zeros_like(degree))
