"""Building blocks shared by the plugin's models, one module per concept, re-exported here.

* :mod:`.text`: :class:`TextAdapter`, :class:`IDTextFusion`, row dropout, text-initialised
  embeddings (how language-model embeddings enter a model).
* :mod:`.propagation`: relation-aware PyG ``MessagePassing`` convs and their stack (imported on
  first use: it loads PyG).
* :mod:`.graph`: the (target, relation)-grouped graph layout and its CSR kernels; edge dropout.
* :mod:`.sampling`: layer-wise neighbour sampling of a batch's L-hop computation graph (a torch
  CSR sampler: PyG's ``NeighborSampler`` needs pyg-lib or torch-sparse, absent on this stack).
* :mod:`.segment`: segment mean / softmax over edge lists (the one scatter path).
* :mod:`.kg_loss`: TransE / TransR loss on triples.
* :mod:`.similarity`: chunked blended-cosine top-k, the collective-EASE closed form, and
  top-k neighbour lists as sparse matrices.
* :mod:`.sparse`: sparse-matrix conversions, row access, per-user history sums.
"""

from __future__ import annotations

from typing import Any

from recbole_llmkg.model.layers.graph import RelationGraph, drop_edges, pair_sddmm, pair_spmm
from recbole_llmkg.model.layers.kg_loss import KG_LOSSES, KGEmbeddingLoss
from recbole_llmkg.model.layers.segment import scatter_mean, scatter_softmax
from recbole_llmkg.model.layers.similarity import blended_cosine_topk, topk_to_sparse
from recbole_llmkg.model.layers.sparse import (
    dense_rows,
    history_sum,
    padded_rows,
    sparse_row_norms,
    sparse_rows,
    to_sparse_coo,
)
from recbole_llmkg.model.layers.text import (
    FUSION_MODES,
    IDTextFusion,
    TextAdapter,
    drop_rows,
    principal_basis,
    project_rows,
    to_principal,
)

_LAZY = ("RelationMeanConv", "RelationAttentiveConv", "RelationPropagation")


def __getattr__(name: str) -> Any:
    """The PyG layers of :mod:`.propagation`, imported on first access (PyG takes ~1.7 s)."""
    if name in _LAZY:
        from recbole_llmkg.model.layers import propagation

        return getattr(propagation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FUSION_MODES",
    "KG_LOSSES",
    "IDTextFusion",
    "KGEmbeddingLoss",
    "RelationGraph",
    "TextAdapter",
    "blended_cosine_topk",
    "dense_rows",
    "drop_edges",
    "drop_rows",
    "history_sum",
    "padded_rows",
    "pair_sddmm",
    "pair_spmm",
    "principal_basis",
    "project_rows",
    "to_principal",
    "scatter_mean",
    "scatter_softmax",
    "sparse_row_norms",
    "sparse_rows",
    "to_sparse_coo",
    "topk_to_sparse",
    *_LAZY,
]
