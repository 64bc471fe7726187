"""KGAT without DGL: RecBole 1.2.1's KGAT with its graph code on scipy / torch.sparse.

What is replaced: RecBole's KGAT needs DGL in two places, ``dataset.ckg_graph(form="dgl")`` in
``__init__`` and ``dgl.edge_subgraph`` in ``init_graph``. DGL has no wheel that imports on
today's torch (its newest wheels ship kernels for torch <= 2.2 only), so RecBole's KGAT could
not be built. Here:

* ``__init__`` hands RecBole's constructor a thin view of the dataset whose ``ckg_graph`` returns
  one cached scipy COO matrix of the collaborative knowledge graph (CKG) for both the ``"dgl"``
  and the ``"coo"`` requests: the CKG is built once instead of four times, and ``self.ckg`` is
  that COO matrix (relation ids as values) instead of a DGL graph.
* :meth:`KGAT.init_graph` builds the same initial attention matrix as RecBole's, vectorised:
  for every relation ``r``, the row-normalised adjacency ``D_r^-1 A_r`` of the CKG edges of type
  ``r``, summed over relations.
* :meth:`KGAT.update_attentive_A` computes RecBole's relation-aware attention (a softmax over
  every head's out-edges of the TransR score) on the model's own device with
  ``torch.sparse_coo_tensor`` (``torch.sparse.FloatTensor`` is deprecated) instead of a round
  trip through the CPU, and without recording autograd history.

Everything else (layers, losses, RecBole's ``KGAT.yaml`` defaults, ``KGATTrainer``) is RecBole
1.2.1's, and ``state_dict`` keys are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from recbole.model.knowledge_aware_recommender import kgat as recbole_kgat


class _CKGAsCOO:
    """A dataset whose ``ckg_graph`` answers the ``"dgl"`` and ``"coo"`` forms with one cached
    scipy COO matrix; every other attribute is the wrapped dataset's."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset
        self._coo: dict[str | None, sp.coo_matrix] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def ckg_graph(self, form: str = "coo", value_field: str | None = None):
        if form not in ("coo", "dgl"):
            return self._dataset.ckg_graph(form=form, value_field=value_field)
        if value_field not in self._coo:
            self._coo[value_field] = self._dataset.ckg_graph(form="coo", value_field=value_field)
        return self._coo[value_field]


class KGAT(recbole_kgat.KGAT):
    """RecBole's KGAT with its DGL code replaced by scipy / ``torch.sparse`` (same results)."""

    def __init__(self, config, dataset):
        super().__init__(config, _CKGAsCOO(dataset))

    def init_graph(self) -> torch.Tensor:
        """Initial attention matrix: ``sum_r D_r^-1 A_r`` over relations ``1..n_relations-1``.

        ``A_r`` holds the CKG edges of relation ``r`` (a repeated edge counts once per copy, as
        in RecBole's DGL version) and ``D_r`` their out-degrees, so each edge weighs
        ``1 / (number of edges of its relation leaving its head)``.
        """
        rows = np.asarray(self.ckg.row, dtype=np.int64)
        cols = np.asarray(self.ckg.col, dtype=np.int64)
        rels = np.asarray(self.ckg.data).astype(np.int64)
        keep = (rels >= 1) & (rels < self.n_relations)
        rows, cols, rels = rows[keep], cols[keep], rels[keep]

        _, group, degree = np.unique(
            rows * self.n_relations + rels, return_inverse=True, return_counts=True
        )
        weights = 1.0 / degree[group.reshape(-1)]
        n_nodes = self.matrix_size[0]
        # CSR conversion sums repeated (row, col) entries, as summing RecBole's matrices does.
        adj = sp.coo_matrix((weights, (rows, cols)), shape=(n_nodes, n_nodes)).tocsr().tocoo()
        indices = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
        values = torch.from_numpy(adj.data).float()
        graph = torch.sparse_coo_tensor(indices, values, self.matrix_size, check_invariants=False)
        return graph.coalesce().to(self.device)

    @torch.no_grad()
    def update_attentive_A(self) -> None:
        """Attention ``A_in[h, t] = softmax over h's out-edges of g(h, r, t)``, on-device.

        ``g`` is RecBole's ``generate_transE_score``, computed one relation at a time (as RecBole
        does, to bound memory). A repeated (h, t) pair has its scores summed before the softmax,
        exactly as ``torch.sparse.softmax`` treats RecBole's uncoalesced matrix.
        """
        rows, cols, scores = [], [], []
        for rel in range(1, self.n_relations):
            mask = self.all_rs == rel
            heads, tails = self.all_hs[mask], self.all_ts[mask]
            rows.append(heads)
            cols.append(tails)
            scores.append(self.generate_transE_score(heads, tails, rel))
        indices = torch.stack([torch.cat(rows), torch.cat(cols)])
        scores = torch.cat(scores)
        logits = torch.sparse_coo_tensor(
            indices, scores, self.matrix_size, device=scores.device, check_invariants=False
        )
        self.A_in = torch.sparse.softmax(logits.coalesce(), dim=1)
