r"""L3AE: an EASE closed form regularised toward an item-item matrix from text embeddings.

Moon, Park and Lee, "LLM-Enhanced Linear Autoencoders for Recommendation" (CIKM 2025,
arXiv:2508.13500; authors' code: jaewan7599/L3AE_CIKM2025, read, not copied). Two closed forms:

1. a text-side item-item matrix from the item embeddings ``F`` (``[n_items, d]``):

       S = argmin ||F^T - F^T S||^2 + lambda_F ||S||^2   s.t. diag(S) = 0
       P_F = (F F^T + lambda_F I)^{-1},   S_ij = -P_F,ij / P_F,jj  (i != j),  S_jj = 0

2. EASE (Steck, WWW 2019) on the interactions ``X`` with a pull toward ``S``:

       B = argmin ||X - X B||^2 + lambda_X ||B||^2 + lambda_E ||B - S||^2   s.t. diag(B) = 0
       P = (X^T X + (lambda_X + lambda_E) I)^{-1}
       B = lambda_E P S - P diag(mu),   mu_j = (1 + lambda_E (P S)_jj) / P_jj,   diag(B) = 0

``lambda_E = 0`` is EASE with ``reg_weight = lambda_X``. An item nobody trained on has a zero
column in ``X^T X`` but a text row in ``S``: the pull gives it weights, so L3AE can rank items
unseen in training, from their text alone. Dense ``n_items^2`` float64 inverses: sized for the
catalogues the closed-form rows of this board hold (refused over ``closed_form_max_gib``).
"""

from __future__ import annotations

import numpy as np

from recbole_llmkg.data import LLMTextDataset
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.general_recommender.item_item import _ItemItemModel


def zero_diagonal_closed_form(gram: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """``(P, C)``: ``P = (G + reg I)^{-1}`` and the EASE solution ``C = -P / diag(P)``
    (column-wise) with a zero diagonal."""
    inverse = np.linalg.inv(gram + reg * np.eye(len(gram)))
    solution = inverse / -np.diag(inverse)[np.newaxis, :]
    np.fill_diagonal(solution, 0.0)
    return inverse, solution


def l3ae_weights(interactions: np.ndarray, embeddings: np.ndarray, reg_x: float, reg_f: float,
                 reg_e: float) -> np.ndarray:
    """L3AE's ``B`` from the ``[n_users, n_items]`` interactions and ``[n_items, d]`` item
    embeddings (see the module docstring for the equations)."""
    _, text = zero_diagonal_closed_form(embeddings @ embeddings.T, reg_f)
    gram = interactions.T @ interactions
    inverse = np.linalg.inv(gram + (reg_x + reg_e) * np.eye(len(gram)))
    pulled = inverse @ text
    mu = (1.0 + reg_e * np.diag(pulled)) / np.diag(inverse)
    weights = reg_e * pulled - inverse * mu[np.newaxis, :]
    np.fill_diagonal(weights, 0.0)
    return weights


class L3AE(_ItemItemModel):
    """EASE regularised toward the text-embedding item-item solution ``S`` (no training)."""

    dataset_class = LLMTextDataset
    content_switches = {"text_weight": 0.0}  # lambda_E = 0: EASE, no item content read

    def __init__(self, config, dataset):
        # load parameters info
        self.reg_x = config["reg_weight"]  # (float) lambda_X: EASE's L2 weight on B
        self.reg_f = config["text_reg_weight"]  # (float) lambda_F: L2 weight of the text solve
        self.reg_e = config["text_weight"]  # (float) lambda_E: pull of B toward S (0: EASE)
        if self.reg_x <= 0 or self.reg_f <= 0 or self.reg_e < 0:
            raise ConfigError(f"L3AE: need reg_weight > 0, text_reg_weight > 0 and text_weight "
                              f">= 0; got {self.reg_x}, {self.reg_f}, {self.reg_e}.")
        super().__init__(config, dataset)

    def item_weights_from(self, interactions, dataset) -> np.ndarray:
        embeddings = dataset.item_text_embeddings().double().cpu().numpy()
        return l3ae_weights(interactions.toarray(), embeddings, self.reg_x, self.reg_f,
                            self.reg_e)
