"""Blended cosine similarity with top-k neighbours (KASimCF), computed in row chunks."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers.sparse import sparse_row_norms, sparse_rows


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
