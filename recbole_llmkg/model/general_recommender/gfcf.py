r"""GF-CF: a training-free graph filter for collaborative filtering.

Shen, Wu, Zhang, Zhang, Letaief and Li, "How Powerful is Graph Convolution for Recommendation?"
(CIKM 2021), eq. (7)-(9). With ``R`` the training interactions and the degree matrices
``D_U = diag(R 1)``, ``D_I = diag(R^T 1)``:

    R~ = D_U^{-1/2} R D_I^{-1/2}                      (normalised interactions)
    P~ = R~^T R~                                      (normalised item-item matrix: linear filter)
    s_u = r_u ( P~ + alpha * D_I^{-1/2} V_k V_k^T D_I^{1/2} )

where ``V_k`` holds the top-``k`` right singular vectors of ``R~`` (the ideal low-pass filter);
a zero degree gets a zero inverse. ``alpha = 0`` is the linear filter alone. No training: the
matrix is built once at construction (a truncated SVD, scipy's ARPACK with a fixed start vector,
so it is deterministic).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender.item_item import _ItemItemModel


def inverse_sqrt(degree: np.ndarray) -> np.ndarray:
    """``d^{-1/2}``, 0 where ``d`` is 0."""
    degree = np.asarray(degree, dtype=np.float64).ravel()
    out = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=out, where=degree > 0)
    return out


def normalised_interactions(interactions: sp.spmatrix) -> sp.csr_matrix:
    """``R~ = D_U^{-1/2} R D_I^{-1/2}``."""
    users = inverse_sqrt(interactions.sum(axis=1))
    items = inverse_sqrt(interactions.sum(axis=0))
    return sp.csr_matrix(sp.diags(users) @ interactions @ sp.diags(items))


def ideal_low_pass(normalised: sp.spmatrix, degree: np.ndarray, k: int) -> np.ndarray:
    """``D_I^{-1/2} V_k V_k^T D_I^{1/2}``, ``V_k`` the top-``k`` right singular vectors of
    ``R~`` (``[n_items, n_items]``)."""
    start = np.ones(min(normalised.shape))
    _, _, vt = svds(normalised.astype(np.float64), k=k, v0=start)
    degree = np.asarray(degree, dtype=np.float64).ravel()
    return (inverse_sqrt(degree)[:, None] * vt.T) @ (vt * np.sqrt(degree)[None, :])


class GFCF(_ItemItemModel):
    """Linear filter ``R~^T R~`` plus ``alpha`` x the ideal low-pass filter (no training)."""

    reads_item_content = False  # interactions only: an item never trained on scores 0

    def __init__(self, config, dataset):
        # load parameters info
        self.alpha = config["alpha"]  # (float) weight of the ideal low-pass term (0: linear only)
        self.ideal_dim = config["ideal_dim"]  # (int) singular vectors k of the ideal filter
        if self.alpha < 0 or not isinstance(self.ideal_dim, int) or self.ideal_dim < 1:
            raise ConfigError(f"GFCF: need alpha >= 0 and ideal_dim >= 1 (an integer); got "
                              f"alpha={self.alpha}, ideal_dim={self.ideal_dim!r}.")
        super().__init__(config, dataset)

    def item_weights_from(self, interactions, dataset) -> np.ndarray:
        normalised = normalised_interactions(interactions)
        weights = (normalised.T @ normalised).toarray()
        if self.alpha:
            k = min(self.ideal_dim, min(normalised.shape) - 1)
            weights += self.alpha * ideal_low_pass(normalised, interactions.sum(axis=0), k)
        return weights
