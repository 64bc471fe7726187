"""How many weights a trained model stores: the board's ``params`` column.

``sum(p.numel() for p in model.parameters())`` says 1 for EASE and KASimCF, whose weights are an
item x item matrix kept outside ``parameters()`` (RecBole's ``other_parameter()``, saved in the
checkpoint). A model's stored weights here are the floating-point numbers its checkpoint keeps to
score: parameters, persistent buffers, and every float tensor or array among
``other_parameter()`` (a sparse matrix by its stored values). Integer arrays (indices of sparse
weights, id maps) are structure, not weights, and are not counted; non-persistent buffers
(precomputed inputs such as text embeddings) are not in the checkpoint and are not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch


def _numbers(value: Any) -> int:
    """Floating-point numbers held by one stored value (0 for anything else)."""
    if isinstance(value, torch.Tensor):
        if value.is_sparse:
            value = value.coalesce().values()
        return value.numel() if value.is_floating_point() else 0
    if sp.issparse(value):
        return int(value.nnz) if np.issubdtype(value.dtype, np.floating) else 0
    if isinstance(value, np.ndarray):
        return int(value.size) if np.issubdtype(value.dtype, np.floating) else 0
    if isinstance(value, (list, tuple)):
        return sum(_numbers(v) for v in value)
    if isinstance(value, dict):
        return sum(_numbers(v) for v in value.values())
    return 0


def stored_weights(model: torch.nn.Module) -> int:
    """Floating-point numbers ``model``'s checkpoint stores: its state dict (parameters and
    persistent buffers, each tensor once) plus ``other_parameter()``."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for tensor in model.state_dict(keep_vars=True).values():
        key = (tensor.data_ptr(), tensor.numel()) if tensor.numel() else (id(tensor), 0)
        if key not in seen:
            seen.add(key)
            total += _numbers(tensor)
    other = model.other_parameter() if hasattr(model, "other_parameter") else None
    return total + _numbers(other or {})
