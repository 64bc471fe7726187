"""Closed-form item models screened on the board split (numpy): EASE and side-information
variants. Each returns a dense ``[n_users, n_items]`` score matrix for the TRAIN matrix given."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def ease_weights(gram: np.ndarray, reg: float) -> np.ndarray:
    """EASE's B = I - P diagMat(1 / diag(P)), P = (G + reg I)^-1, diagonal zero."""
    g = np.array(gram, dtype=np.float64, copy=True)
    g[np.diag_indices_from(g)] += reg
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def ease_scores(train: sp.csr_matrix, reg: float) -> np.ndarray:
    x = train.astype(np.float64)
    b = ease_weights((x.T @ x).toarray(), reg)
    return x @ b
