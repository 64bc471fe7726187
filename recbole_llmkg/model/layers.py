"""Building blocks shared by the plugin's models (one place for each, no copies per model).

* :class:`TextAdapter` maps frozen language-model embeddings into a model's embedding space
  (the adapter of LLMAugRec and KGLLMGNN).
* :class:`IDTextFusion` combines an ID embedding with an adapted text embedding (``add``,
  ``concat`` or ``gate``), with a weight on the language-model part and row-wise ID dropout.
* :class:`RelationAttentivePropagation` is relation-aware attentive message passing over a
  collaborative knowledge graph given as ``edge_index`` / ``edge_type`` (an edge softmax from
  PyTorch Geometric, imported lazily; aggregation with ``index_add_``; no DGL, no
  torch_scatter), in the spirit of KGAT (Wang et al., KDD 2019) and KGIN (Wang et al., WWW 2021).
* :class:`KGEmbeddingLoss` is a TransE (Bordes et al., NeurIPS 2013) or TransR (Lin et al.,
  AAAI 2015) margin-free pairwise loss on knowledge-graph triples.
* :func:`blended_cosine_topk` computes the KASimCF similarity
  ``(X_i.X_j + T_i.T_j + K_i.K_j) / (|X_i||X_j| + |T_i||T_j| + |K_i||K_j|)`` (weighted parts) in
  row chunks and keeps the top-k neighbours, so peak memory is O(chunk x n).
* Small tensor helpers: sparse conversion, dense / padded rows, history sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recbole_llmkg.data.knowledge import to_torch_sparse
from recbole_llmkg.errors import ConfigError, require_choice
from recbole_llmkg.model.layers_scatter import scatter_softmax

FUSION_MODES = ("add", "concat", "gate")
KG_LOSSES = ("transe", "transr")


# ---------------------------------------------------------------------------------------------
# Tensor helpers
# ---------------------------------------------------------------------------------------------
def to_sparse_coo(matrix: torch.Tensor | sp.spmatrix, device: torch.device | str) -> torch.Tensor:
    """Any sparse (torch or scipy) or dense matrix as a coalesced float32 torch COO tensor."""
    if isinstance(matrix, sp.spmatrix) or sp.issparse(matrix):
        return to_torch_sparse(matrix, device)
    matrix = matrix.to(device=device, dtype=torch.float32)
    if matrix.layout != torch.sparse_coo:
        matrix = matrix.to_sparse_coo() if matrix.is_sparse_csr else matrix.to_sparse()
    return matrix.coalesce()


def sparse_rows(matrix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Dense copy of the given rows of a sparse COO matrix: ``[len(rows), n_cols]``."""
    return torch.index_select(matrix, 0, rows).to_dense()


def padded_rows(
    matrix: sp.spmatrix, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a scipy sparse matrix as padded ``(column index, value)`` tensors ``[n, max_nnz]``.

    Padding uses column 0 with value 0, so :func:`dense_rows` can scatter it harmlessly.
    """
    csr = sp.csr_matrix(matrix)
    lengths = np.diff(csr.indptr)
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    position = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], lengths)
    rows = np.repeat(np.arange(csr.shape[0]), lengths)
    index = np.zeros((csr.shape[0], width), dtype=np.int64)
    value = np.zeros((csr.shape[0], width), dtype=np.float32)
    index[rows, position] = csr.indices
    value[rows, position] = csr.data
    return torch.from_numpy(index).to(device), torch.from_numpy(value).to(device)


def dense_rows(index: torch.Tensor, value: torch.Tensor, rows: torch.Tensor, n_cols: int):
    """Dense ``[len(rows), n_cols]`` copy of rows kept as padded ``(index, value)``."""
    out = torch.zeros(len(rows), n_cols, device=value.device, dtype=value.dtype)
    return out.scatter_add_(1, index[rows], value[rows])


def sparse_row_norms(matrix: torch.Tensor) -> torch.Tensor:
    """L2 norm of every row of a sparse COO matrix."""
    matrix = matrix.coalesce()
    squares = torch.zeros(matrix.shape[0], device=matrix.device)
    squares.index_add_(0, matrix.indices()[0], matrix.values() ** 2)
    return squares.sqrt()


def history_sum(
    interactions: sp.spmatrix, features: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the feature rows of each user's training items, and the item count ``[n_users, 1]``.

    ``interactions`` is the ``[n_users, n_items]`` training matrix, ``features`` ``[n_items, d]``.
    Keeping sum and count (not the mean) lets a model leave one item out of the mean cheaply,
    as FISM does for the target item in training (Kabbur et al., KDD 2013).
    """
    binary = (sp.csr_matrix(interactions) > 0).astype(np.float32)
    weights = to_torch_sparse(binary, features.device)
    counts = torch.from_numpy(np.asarray(binary.sum(axis=1)).astype(np.float32))
    return torch.sparse.mm(weights, features), counts.to(features.device).view(-1, 1)


def drop_rows(embedding: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Zero whole rows with probability ``rate`` during training (no rescaling).

    Used as ID dropout: a dropped row leaves only the text part to represent the item, which
    trains the path that cold items (no ID signal) depend on.
    """
    if not training or rate <= 0:
        return embedding
    keep = torch.rand(embedding.shape[0], 1, device=embedding.device) >= rate
    return embedding * keep


def drop_edges(
    edge_index: torch.Tensor, edge_type: torch.Tensor, rate: float, training: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep a random ``1 - rate`` share of the edges during training (KGIN's node dropout)."""
    if not training or rate <= 0:
        return edge_index, edge_type
    keep = torch.rand(edge_type.shape[0], device=edge_type.device) >= rate
    return edge_index[:, keep], edge_type[keep]


def project_rows(features: torch.Tensor, dim: int, std: float) -> torch.Tensor:
    """Rows of ``features`` reduced to ``dim`` principal components and scaled to ``std``.

    Initialises a learned embedding table from text (e.g. relation names) with the scale a
    Xavier initialisation would have given it.
    """
    centred = features.float() - features.float().mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    reduced = u[:, :dim] * s[:dim]
    if reduced.shape[1] < dim:  # fewer rows than dims: pad with small noise
        pad = torch.randn(reduced.shape[0], dim - reduced.shape[1], device=reduced.device)
        reduced = torch.cat([reduced, pad * reduced.std().clamp_min(1e-6)], dim=1)
    return reduced / reduced.std().clamp_min(1e-12) * std


# ---------------------------------------------------------------------------------------------
# Text adapter and fusion
# ---------------------------------------------------------------------------------------------
class TextAdapter(nn.Module):
    """MLP from frozen text embeddings to the model's embedding space.

    ``hidden_size == 0`` gives a single linear map; otherwise Linear-GELU-Dropout-Linear.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_size: int = 0, dropout: float = 0.0):
        super().__init__()
        if hidden_size and hidden_size > 0:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_size),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size, out_dim),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return self.net(text)


class IDTextFusion(nn.Module):
    """Fuse an ID embedding with an adapted text embedding: ``add``, ``concat`` or ``gate``.

    * ``add``:    ``e_id + alpha * e_text``
    * ``concat``: ``W [e_id ; alpha * e_text]``
    * ``gate``:   ``g * e_id + (1 - g) * alpha * e_text`` with ``g = sigmoid(W [e_id ; e_text])``

    ``alpha`` (``llm_alpha``) weighs the language-model part. With the ID part zeroed (ID dropout,
    or a cold item), every mode still returns a text-only representation.
    """

    def __init__(self, dim: int, mode: str = "add", alpha: float = 1.0):
        super().__init__()
        require_choice("fusion", mode, FUSION_MODES)
        self.mode = mode
        self.alpha = alpha
        if mode in ("concat", "gate"):
            self.linear = nn.Linear(2 * dim, dim)

    def forward(self, id_embedding: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        text_embedding = self.alpha * text_embedding
        if self.mode == "add":
            return id_embedding + text_embedding
        joint = torch.cat([id_embedding, text_embedding], dim=-1)
        if self.mode == "concat":
            return self.linear(joint)
        gate = torch.sigmoid(self.linear(joint))
        return gate * id_embedding + (1 - gate) * text_embedding


# ---------------------------------------------------------------------------------------------
# Relation-aware attentive propagation over a collaborative knowledge graph
# ---------------------------------------------------------------------------------------------
class RelationAttentivePropagation(nn.Module):
    """L layers of relation-aware attentive message passing (edge softmax per target node).

    For an edge ``s -r-> t`` the message is ``m = h_s * e_r`` (relation-modulated, as in KGIN);
    its attention logit is ``<m, h_t> / sqrt(d)`` (the KGAT idea, without per-relation matrices);
    logits are normalised by a softmax over each target's incoming edges and
    ``h_t' = sum_s alpha_st m_st``. ``attention=False`` gives the plain mean of the messages.

    ``forward`` returns the list of layer outputs ``[h^0, ..., h^L]`` restricted to the first
    ``keep_nodes`` rows: the last layer only computes those rows (only users and items are read),
    which skips the edges into pure KG entities there.
    """

    def __init__(self, n_layers: int, dim: int, mess_dropout: float = 0.0, attention: bool = True):
        super().__init__()
        self.n_layers = n_layers
        self.scale = 1.0 / math.sqrt(dim)
        self.attention = attention
        self.dropout = nn.Dropout(mess_dropout)

    def layer(
        self,
        h: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        rel: torch.Tensor,
        n_out: int,
    ) -> torch.Tensor:
        messages = h[src] * rel
        if self.attention:
            logits = (messages * h[dst]).sum(dim=-1) * self.scale
            weights = scatter_softmax(logits, dst, num_nodes=n_out)
        else:
            degree = torch.zeros(n_out, device=h.device).index_add_(
                0, dst, torch.ones_like(dst, dtype=h.dtype)
            )
            weights = 1.0 / degree.clamp_min(1.0)[dst]
        out = torch.zeros(n_out, h.shape[1], device=h.device, dtype=h.dtype)
        return out.index_add_(0, dst, messages * weights.unsqueeze(-1))

    def forward(
        self,
        ego: torch.Tensor,
        edge_index: torch.Tensor,
        edge_type: torch.Tensor,
        relation_embedding: torch.Tensor,
        keep_nodes: int | None = None,
    ) -> list[torch.Tensor]:
        keep_nodes = ego.shape[0] if keep_nodes is None else keep_nodes
        src, dst = edge_index
        rel = relation_embedding[edge_type]
        last = dst < keep_nodes
        src_last, dst_last, rel_last = src[last], dst[last], rel[last]
        outputs, h = [ego[:keep_nodes]], ego
        for depth in range(self.n_layers):
            if depth == self.n_layers - 1:
                h = self.layer(h, src_last, dst_last, rel_last, keep_nodes)
            else:
                h = self.layer(h, src, dst, rel, ego.shape[0])
            h = self.dropout(h)
            outputs.append(h[:keep_nodes])
        return outputs


# ---------------------------------------------------------------------------------------------
# Knowledge-graph embedding loss
# ---------------------------------------------------------------------------------------------
class KGEmbeddingLoss(nn.Module):
    """Pairwise TransE / TransR loss on ``(head, relation, tail, negative tail)`` triples.

    Distance ``d = ||h_r + r - t_r||^2`` (``h_r = h`` for TransE, ``h W_r`` for TransR); the loss
    is ``-log sigmoid(d_neg - d_pos)`` plus ``reg_weight`` times the squared norms involved.
    """

    def __init__(self, mode: str, n_relations: int, dim: int, reg_weight: float = 1e-5):
        super().__init__()
        require_choice("kg_loss", mode, KG_LOSSES)
        self.mode = mode
        self.reg_weight = reg_weight
        if mode == "transr":
            eye = torch.eye(dim).unsqueeze(0).repeat(n_relations, 1, 1)
            self.projection = nn.Parameter(eye + 0.01 * torch.randn_like(eye))

    def forward(
        self,
        head: torch.Tensor,
        relation: torch.Tensor,
        tail: torch.Tensor,
        neg_tail: torch.Tensor,
        relation_ids: torch.Tensor,
    ) -> torch.Tensor:
        if self.mode == "transr":
            w = self.projection[relation_ids]
            head, tail, neg_tail = (torch.bmm(x.unsqueeze(1), w).squeeze(1)
                                    for x in (head, tail, neg_tail))
        pos = ((head + relation - tail) ** 2).sum(dim=-1)
        neg = ((head + relation - neg_tail) ** 2).sum(dim=-1)
        loss = -F.logsigmoid(neg - pos).mean()
        reg = sum((x ** 2).sum(dim=-1).mean() for x in (head, relation, tail, neg_tail)) / 2
        return loss + self.reg_weight * reg


# ---------------------------------------------------------------------------------------------
# Blended cosine similarity with top-k neighbours (KASimCF)
# ---------------------------------------------------------------------------------------------
def _gram_rows(part: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``part[rows] @ part.T`` for a dense or sparse COO ``part``: ``[len(rows), n]``."""
    if part.is_sparse:
        chunk = sparse_rows(part, rows)  # [c, d]
        return torch.sparse.mm(part, chunk.T).T
    return part[rows] @ part.T


def _row_norms(part: torch.Tensor) -> torch.Tensor:
    return sparse_row_norms(part) if part.is_sparse else part.norm(dim=1)


def blended_cosine_topk(
    parts: Sequence[torch.Tensor],
    weights: Sequence[float],
    topk: int,
    chunk_size: int = 512,
    shrink: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k neighbours under the blended cosine of several views of the same rows.

    ``parts`` are ``[n, d_p]`` matrices (dense or sparse COO) describing the same ``n`` rows
    (behaviour, text, knowledge). The similarity of rows ``i`` and ``j`` is

        s_ij = sum_p w_p <P_i, P_j> / (sum_p w_p |P_i| |P_j| + shrink)

    which for a single part is the plain cosine. Self-similarity is excluded. Rows are processed
    ``chunk_size`` at a time, so the dense working set is ``chunk_size x n``.

    Returns ``(index, value)``, both ``[n, min(topk, n - 1)]``.
    """
    active = [(p, w) for p, w in zip(parts, weights, strict=True) if w != 0]
    if not active:
        raise ConfigError(
            "KASimCF needs a non-zero weight on at least one view: set 'behaviour_weight', "
            "'text_weight' or 'knowledge_weight' above 0."
        )
    n = active[0][0].shape[0]
    device = active[0][0].device
    k = max(1, min(topk, n - 1))
    norms = [(_row_norms(p), w) for p, w in active]
    indices, values = [], []
    for start in range(0, n, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n), device=device)
        numerator = torch.zeros(len(rows), n, device=device)
        denominator = torch.full((len(rows), n), float(shrink), device=device)
        for (part, w), (norm, _) in zip(active, norms, strict=True):
            numerator += w * _gram_rows(part, rows)
            denominator += w * torch.outer(norm[rows], norm)
        sim = numerator / denominator.clamp_min(1e-12)
        sim[torch.arange(len(rows), device=device), rows] = -torch.inf
        value, index = sim.topk(k, dim=1)
        value = torch.where(torch.isinf(value), torch.zeros_like(value), value)
        indices.append(index)
        values.append(value)
    return torch.cat(indices), torch.cat(values)


def topk_to_sparse(index: torch.Tensor, value: torch.Tensor, n_cols: int) -> torch.Tensor:
    """Padded top-k ``(index, value)`` rows as a sparse COO ``[n_rows, n_cols]`` matrix."""
    rows = torch.arange(index.shape[0], device=index.device).repeat_interleave(index.shape[1])
    return torch.sparse_coo_tensor(
        torch.stack([rows, index.reshape(-1)]), value.reshape(-1), (index.shape[0], n_cols),
        check_invariants=False,
    ).coalesce()
