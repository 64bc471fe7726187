"""Item-item (or user-user) similarity at scale: chunked blended-cosine top-k and a closed form.

Both work on "views" of the same ``n`` rows (behaviour, text, knowledge), each a scipy sparse
matrix or a dense numpy array, and are computed on the CPU with scipy / BLAS:

* :func:`blended_cosine_topk`: ``s_ij = sum_p w_p <P_i, P_j> / (sum_p w_p |P_i||P_j| + shrink)``
  for ``chunk_size`` rows at a time. A sparse view's rows of the Gram matrix come from one
  sparse-by-sparse product per chunk, so the co-occurrence is computed once overall (cost: the
  number of co-occurring pairs); a dense view costs ``n^2 d``. Memory is O(chunk x n).
* :func:`closed_form_weights`: the collective-EASE weights ``B = I - P diag(1 / diag(P))`` with
  ``P = (G + diag(lambda + c diag(G)))^-1`` and ``G = sum_p w_p P P^T``, built chunk by chunk
  into ONE dense float32 ``n x n`` buffer and inverted in place by LAPACK's Cholesky
  (``potrf`` + ``potri``): peak memory is about ``4 n^2`` bytes, see :func:`closed_form_bytes`.

BLAS / LAPACK run with as many threads as torch uses (``torch.get_num_threads()``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from recbole_llmkg.errors import ConfigError

View = np.ndarray | sp.csr_matrix


def as_view(matrix: torch.Tensor | np.ndarray | sp.spmatrix) -> View:
    """A torch (dense or sparse) / numpy / scipy matrix as a float32 CSR or dense numpy view."""
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu()
        if matrix.layout != torch.strided:
            coo = matrix.to_sparse_coo().coalesce()
            row, col = coo.indices().numpy()
            return sp.csr_matrix((coo.values().numpy().astype(np.float32), (row, col)),
                                 shape=tuple(coo.shape))
        return np.ascontiguousarray(matrix.numpy(), dtype=np.float32)
    if sp.issparse(matrix):
        return sp.csr_matrix(matrix, dtype=np.float32)
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _row_norms(view: View) -> np.ndarray:
    if sp.issparse(view):
        return np.sqrt(np.asarray(view.multiply(view).sum(axis=1)).ravel()).astype(np.float32)
    return np.linalg.norm(view, axis=1).astype(np.float32)


class _GramRows:
    """``view[rows] @ view.T`` as a dense ``[len(rows), n]`` float32 block."""

    def __init__(self, view: View):
        self.view = view
        self.transposed = view.T.tocsr() if sp.issparse(view) else None

    def __call__(self, rows: slice) -> np.ndarray:
        if self.transposed is not None:
            return (self.view[rows] @ self.transposed).toarray()
        return self.view[rows] @ self.view.T


def _active(views: Sequence[View], weights: Sequence[float]) -> list[tuple[View, float]]:
    active = [(v, float(w)) for v, w in zip(views, weights, strict=True) if w != 0]
    if not active:
        raise ConfigError(
            "KASimCF needs a non-zero weight on at least one view: set 'behaviour_weight', "
            "'text_weight' or 'knowledge_weight' above 0."
        )
    return active


def _blocks(n: int, chunk_size: int):
    for start in range(0, n, max(1, int(chunk_size))):
        yield slice(start, min(start + max(1, int(chunk_size)), n))


def blended_cosine_topk(
    views: Sequence[View],
    weights: Sequence[float],
    topk: int,
    chunk_size: int = 512,
    shrink: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k neighbours of every row under the weighted blended cosine (self excluded).

    Returns CPU tensors ``(index, value)``, both ``[n, min(topk, n - 1)]``; a neighbour whose
    similarity is undefined (only the row itself was left) gets value 0.
    """
    active = [(as_view(v), w) for v, w in _active(views, weights)]  # torch, numpy or scipy
    n = active[0][0].shape[0]
    k = max(1, min(int(topk), n - 1))
    grams = [(_GramRows(v), _row_norms(v), w) for v, w in active]
    index = torch.empty(n, k, dtype=torch.long)
    value = torch.empty(n, k, dtype=torch.float32)
    with threadpool_limits(limits=torch.get_num_threads()):
        for rows in _blocks(n, chunk_size):
            numerator = np.zeros((rows.stop - rows.start, n), dtype=np.float32)
            denominator = np.full_like(numerator, float(shrink))
            for gram, norm, w in grams:
                numerator += w * gram(rows)
                denominator += w * np.outer(norm[rows], norm)
            sim = torch.from_numpy(numerator / np.maximum(denominator, 1e-12))
            local = torch.arange(rows.stop - rows.start)
            sim[local, local + rows.start] = -torch.inf
            top, where = sim.topk(k, dim=1)
            value[rows] = torch.where(torch.isinf(top), torch.zeros_like(top), top)
            index[rows] = where
    return index, value


def closed_form_bytes(n: int, chunk_size: int) -> int:
    """Peak bytes :func:`closed_form_weights` allocates for ``n`` rows: the dense ``n x n``
    float32 buffer plus a few ``chunk x n`` blocks (Gram rows and a sparse product's output)."""
    chunk = min(max(1, int(chunk_size)), n)
    return 4 * n * n + 5 * 4 * chunk * n


def available_memory_bytes() -> int:
    """Memory the OS can give this process now (``MemAvailable``), via psutil."""
    import psutil

    return int(psutil.virtual_memory().available)


def _symmetrise_from_lower(matrix: np.ndarray, chunk_size: int) -> None:
    """Copy the lower triangle of a C-ordered square matrix onto its upper one, in place."""
    n = matrix.shape[0]
    for rows in _blocks(n, chunk_size):
        matrix[rows, rows.stop:] = matrix[rows.stop:, rows].T
        block = matrix[rows, rows]
        upper = np.triu_indices(rows.stop - rows.start, 1)
        block[upper] = block.T[upper]


def closed_form_weights(
    views: Sequence[View],
    weights: Sequence[float],
    reg_weight: float,
    pop_reg_weight: float = 0.0,
    chunk_size: int = 2048,
) -> np.ndarray:
    """Collective-EASE ``B`` (``[n, n]`` float32, zero diagonal) over the stacked views.

    ``G = sum_p w_p V_p V_p^T`` is written row block by row block into one buffer; then
    ``P = (G + diag(lambda + c diag(G)))^-1`` by an in-place float32 Cholesky inverse, and
    ``B = -P / diag(P)`` column-wise, also in place, so no second ``n x n`` array exists.
    """
    active = _active(views, weights)
    n = active[0][0].shape[0]
    grams = [(_GramRows(v), w) for v, w in active]
    matrix = np.zeros((n, n), dtype=np.float32)
    with threadpool_limits(limits=torch.get_num_threads()):
        for rows in _blocks(n, chunk_size):
            out = matrix[rows]
            for gram, w in grams:
                out += w * gram(rows)
        diagonal = np.einsum("ii->i", matrix)  # a writable view of the diagonal
        diagonal += reg_weight + pop_reg_weight * diagonal
        # ``matrix.T`` is the Fortran-ordered view LAPACK works on in place; its upper triangle
        # is the C-ordered lower triangle.
        factor, info = lapack.spotrf(matrix.T, lower=False, overwrite_a=1, clean=0)
        if info == 0:
            factor, info = lapack.spotri(factor, lower=False, overwrite_c=1)
    if info != 0:
        raise ConfigError(
            f"KASimCF closed form: the regularised Gram matrix is not positive definite "
            f"(LAPACK info {info}). Raise 'reg_weight' (now {reg_weight})."
        )
    if not np.shares_memory(factor, matrix):  # LAPACK copied after all: keep its result
        matrix = np.ascontiguousarray(factor.T)
    _symmetrise_from_lower(matrix, chunk_size)
    diagonal = np.einsum("ii->i", matrix).copy()
    matrix /= -diagonal[np.newaxis, :]
    np.einsum("ii->i", matrix)[:] = 0.0
    return matrix


def memory_limit_bytes(limit_gib: float | None) -> int:
    """``limit_gib`` in bytes, or 80% of the currently available memory when it is ``None``."""
    if limit_gib is None:
        return int(0.8 * available_memory_bytes())
    return int(float(limit_gib) * 2**30)


def check_closed_form_fits(n: int, chunk_size: int, limit_gib: float | None) -> None:
    """Refuse a closed form whose estimated memory is over the limit, before allocating it."""
    need = closed_form_bytes(n, chunk_size)
    limit = memory_limit_bytes(limit_gib)
    if need > limit:
        source = (f"closed_form_max_gib: {limit_gib}" if limit_gib is not None
                  else "80% of the memory available now; set closed_form_max_gib to change it")
        raise ConfigError(
            f"KASimCF closed form over {n:,} items needs about {need / 2**30:.2f} GiB (a dense "
            f"{n:,} x {n:,} float32 matrix), over the limit of {limit / 2**30:.2f} GiB "
            f"({source}). Use 'sim_mode: item' (neighbourhood form: memory O(chunk_size x "
            f"n_items)) or raise 'closed_form_max_gib'."
        )


def topk_to_sparse(index: torch.Tensor, value: torch.Tensor, n_cols: int) -> torch.Tensor:
    """Padded top-k ``(index, value)`` rows as a sparse COO ``[n_rows, n_cols]`` matrix."""
    rows = torch.arange(index.shape[0], device=index.device).repeat_interleave(index.shape[1])
    return torch.sparse_coo_tensor(
        torch.stack([rows, index.reshape(-1)]), value.reshape(-1), (index.shape[0], n_cols),
        check_invariants=False,
    ).coalesce()


__all__ = [
    "as_view", "blended_cosine_topk", "topk_to_sparse", "closed_form_bytes", "closed_form_weights",
    "check_closed_form_fits", "memory_limit_bytes", "available_memory_bytes",
]
