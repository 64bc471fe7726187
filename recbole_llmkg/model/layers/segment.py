"""Segment reductions over edge lists (mean, softmax) on plain torch: the one scatter path.

RecBole 1.2.1's KGIN and MCCLK import ``torch_scatter``, which has no wheels for today's torch.
PyTorch Geometric's ``torch_geometric.utils.scatter`` and ``softmax`` compute the same reductions
on plain torch, on CPU and CUDA alike. We never register a module named ``torch_scatter``: PyG
probes that name to decide which kernels to call.

``torch_geometric`` is imported on first use, not at module import: importing it costs about
1.7 s, and every model module is imported whenever the plugin resolves a model name.
"""

from __future__ import annotations

import torch


def scatter_mean(
    src: torch.Tensor, index: torch.Tensor, dim_size: int | None = None
) -> torch.Tensor:
    """Mean of the rows of ``src`` grouped by ``index`` (dim 0); empty groups give zeros.

    Same result as ``torch_scatter.scatter_mean(src, index, dim=0, dim_size=dim_size)``.
    """
    from torch_geometric.utils import scatter

    return scatter(src, index, dim=0, dim_size=dim_size, reduce="mean")


def scatter_softmax(
    src: torch.Tensor, index: torch.Tensor, num_nodes: int | None = None
) -> torch.Tensor:
    """Softmax of ``src`` over the rows sharing an ``index`` value (dim 0), per column.

    Same result as ``torch_scatter.scatter_softmax(src, index, dim=0)`` (PyG adds 1e-16 to the
    denominator, below float32 resolution for any non-empty group).
    """
    from torch_geometric.utils import softmax

    return softmax(src, index, num_nodes=num_nodes, dim=0)
