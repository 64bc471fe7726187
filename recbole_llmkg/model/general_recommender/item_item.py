"""Shared body of the closed-form item-item models: ``scores = X W`` with one fixed ``W``.

EASE-like models (GF-CF, L3AE) compute a dense ``[n_items, n_items]`` matrix ``W`` once at
construction and score a user by its training row times ``W``. This base holds ``W`` and the
training rows, scores through :class:`~recbole_llmkg.model.user_scores.UserScoresMixin`, and keeps
both in ``other_parameter_name`` so a checkpoint reloads them. A TRADITIONAL model, like RecBole's
EASE: the trainer runs one no-op epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_llmkg.model.layers import dense_rows, padded_rows
from recbole_llmkg.model.layers.similarity import check_closed_form_fits
from recbole_llmkg.model.user_scores import UserScoresMixin


class _ItemItemModel(UserScoresMixin, GeneralRecommender):
    """``score_u = x_u W``; subclasses compute ``W`` in :meth:`item_weights_from`."""

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        # (float|None) memory limit in GiB of the dense item-item matrix; None = 80% of available
        self.closed_form_max_gib = config["closed_form_max_gib"]
        check_closed_form_fits(self.n_items, self.n_items, self.closed_form_max_gib)

        # need at least one parameter for the optimiser
        self.dummy_param = torch.nn.Parameter(torch.zeros(1))

        interactions = dataset.inter_matrix(form="csr").astype(np.float64)
        self.history_index, self.history_value = padded_rows(interactions.astype(np.float32),
                                                             self.device)
        weights = np.asarray(self.item_weights_from(interactions, dataset), dtype=np.float32)
        self.item_weights = torch.from_numpy(weights).to(self.device)  # [n_items, n_items] W
        self.other_parameter_name = ["history_index", "history_value", "item_weights"]

    def item_weights_from(self, interactions, dataset) -> np.ndarray:
        """``W`` from the ``[n_users, n_items]`` training matrix (scipy CSR, float64)."""
        raise NotImplementedError

    def forward(self):
        pass

    def calculate_loss(self, interaction):
        return (self.dummy_param * 0).sum()

    def user_scores(self, user: torch.Tensor) -> torch.Tensor:
        """``[len(user), n_items]``: the users' training rows times ``W``."""
        return dense_rows(self.history_index, self.history_value, user, self.n_items) \
            @ self.item_weights
