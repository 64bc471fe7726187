"""Top-k neighbour lists as sparse matrices (the similarity itself: model.similarity)."""

from __future__ import annotations

import torch


def topk_to_sparse(index: torch.Tensor, value: torch.Tensor, n_cols: int) -> torch.Tensor:
    """Padded top-k ``(index, value)`` rows as a sparse COO ``[n_rows, n_cols]`` matrix."""
    rows = torch.arange(index.shape[0], device=index.device).repeat_interleave(index.shape[1])
    return torch.sparse_coo_tensor(
        torch.stack([rows, index.reshape(-1)]), value.reshape(-1), (index.shape[0], n_cols),
        check_invariants=False,
    ).coalesce()
