"""Closed-form item models screened on the board split (numpy, float64).

All are EASE-type: ``B = I - P diag(1 / diag(P))``, ``P = (G + diag(lambda + p diag(G)))^-1``
(``p > 0``: the emphasised-dropout penalty of Steck's EDLAE, NeurIPS 2020), with the Gram ``G``
of the interaction matrix optionally stacked with side-information rows (collective EASE,
Jeunen et al. RecSys 2020): ``G = X^T X + w_t T T^T + w_k K K^T + w_g C C^T`` (T text, K KG
entities, C genres; each row-normalised so ``w`` is on a cosine scale). Scores ``X B``.

Result: none of its own; the closed forms that screen_closed_forms.py, closed_forms_seeds.py,
cold.py, kg_variants.py and two_hop.py score.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def ease_weights(gram: np.ndarray, reg: float, drop: float = 0.0) -> np.ndarray:
    """Zero-diagonal closed form; ``drop``: extra L2 of ``drop * G_ii`` on item i."""
    g = np.array(gram, dtype=np.float64, copy=True)
    g[np.diag_indices_from(g)] += reg + drop * np.diag(gram)
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def normalise_rows(m: np.ndarray | sp.spmatrix) -> np.ndarray:
    m = m.toarray() if sp.issparse(m) else np.asarray(m)
    m = m.astype(np.float64)
    n = np.linalg.norm(m, axis=1)
    n[n == 0] = 1.0
    return m / n[:, None]


def side_gram(views: dict[str, tuple[float, np.ndarray]]) -> np.ndarray:
    """``sum_v w_v V_v V_v^T`` over the given (weight, row-normalised item x feature) views."""
    total = None
    for weight, matrix in views.values():
        if weight:
            g = weight * (matrix @ matrix.T)
            total = g if total is None else total + g
    return total


def closed_form_scores(train: sp.csr_matrix, reg: float, drop: float = 0.0,
                       side: np.ndarray | None = None, item_power: float = 0.0) -> np.ndarray:
    """``X B`` with B from ``G = X^T X (+ side)``; ``item_power`` a: scores times pop_j^a."""
    x = train.astype(np.float64)
    gram = (x.T @ x).toarray()
    if side is not None:
        gram = gram + side
    scores = np.asarray(x @ ease_weights(gram, reg, drop))
    if item_power:
        pop = np.asarray(train.sum(0)).ravel() + 1.0
        scores = scores * pop[None, :] ** item_power
    return scores


def ease_scores(train: sp.csr_matrix, reg: float) -> np.ndarray:
    return closed_form_scores(train, reg)


def knn_scores(train: sp.csr_matrix, content: np.ndarray, topk: int = 100) -> np.ndarray:
    """TextKNN's score ``X S^T`` with S the top-k non-negative cosine of row-normalised content."""
    c = normalise_rows(content)
    s = c @ c.T
    np.fill_diagonal(s, 0.0)
    s = np.clip(s, 0.0, None)
    if topk < s.shape[1]:
        cut = np.partition(s, -topk, axis=1)[:, -topk][:, None]
        s = np.where(s >= cut, s, 0.0)
    return np.asarray(train.astype(np.float64) @ s.T)
