r"""KASimCF: knowledge-aware similarity collaborative filtering (closed form, no training loop).

Neighbourhood form (this project's seed formula, a blended cosine in the spirit of
Sarwar et al., "Item-based Collaborative Filtering Recommendation Algorithms", WWW 2001):

    s'_ij = (X_i.X_j + T_i.T_j + K_i.K_j) / (|X_i||X_j| + |T_i||T_j| + |K_i||K_j|)
    interest_ik = sum_{j in N(i)} s'_ij X_jk

with X the training interactions, T text embeddings and K knowledge (KG-entity TF-IDF) vectors,
each part weighted. Closed-form form (``sim_mode: closed_form``): EASE (Steck, WWW 2019) with the
text and knowledge views stacked under X as extra rows, i.e. collective EASE from Jeunen, Van
Balen and Goethals, "Closed-Form Models for Collaborative Filtering with Side-Information"
(RecSys 2020 LBR): ``B = argmin ||[X; a T^T; b K^T] - [X; a T^T; b K^T] B||^2 + lambda ||B||^2``,
``diag(B) = 0``.

Scale (one thread): the closed form holds one dense float32 ``n_items^2`` matrix (inverted in
place by a Cholesky factorisation) and refuses, before allocating it, when its estimate is over
``closed_form_max_gib``; the neighbourhood modes need O(chunk_size x n) memory and time growing
as n^2. See :mod:`recbole_llmkg.model.layers.similarity`.
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.data.knowledge import to_torch_sparse
from recbole_llmkg.model.layers import dense_rows, padded_rows, topk_to_sparse
from recbole_llmkg.model.layers.similarity import (
    View,
    as_view,
    blended_cosine_topk,
    check_closed_form_fits,
    closed_form_weights,
)
from recbole_llmkg.model.user_scores import UserScoresMixin

SIM_MODES = ("item", "user", "closed_form")


class KASimCF(UserScoresMixin, GeneralRecommender):
    r"""Similarity CF over behaviour, text and knowledge views, computed once at construction.

    ``sim_mode: item``: item-item blended cosine, top-k neighbours per item, score
    ``r_u S^T``. ``user``: user-user blended cosine, score ``S_u X``. ``closed_form``: collective
    EASE with text and knowledge rows. Like RecBole's ItemKNN and EASE it is a TRADITIONAL model:
    the trainer runs one (no-op) epoch.
    """

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL
    dataset_class = LLMKGDataset

    def __init__(self, config, dataset):
        super().__init__(config, dataset)

        # load parameters info
        self.sim_mode = config["sim_mode"]  # (str) item | user | closed_form
        self.behaviour_weight = config["behaviour_weight"]  # (float) weight of the behaviour view X
        self.text_weight = config["text_weight"]  # (float) weight of the text view T
        self.knowledge_weight = config["knowledge_weight"]  # (float) weight of the knowledge view K
        self.knn_topk = config["knn_topk"]  # (int) neighbours kept per row (item / user modes)
        self.shrink = config["shrink"]  # (float) added to the similarity denominator
        self.chunk_size = config["chunk_size"]  # (int) rows per similarity chunk
        self.reg_weight = config["reg_weight"]  # (float) L2 weight lambda of the closed form
        self.pop_reg_weight = config["pop_reg_weight"]  # (float) extra L2 x Gram diagonal
        # (float|None) closed form's memory limit in GiB; None = 80% of available memory
        self.closed_form_max_gib = config["closed_form_max_gib"]

        # need at least one parameter for the optimiser
        self.dummy_param = torch.nn.Parameter(torch.zeros(1))

        interactions = dataset.inter_matrix(form="csr").astype(np.float32)
        self.interaction_matrix = to_torch_sparse(interactions, self.device)
        self.history_index, self.history_value = padded_rows(interactions, self.device)
        self.neighbour_index = None  # [n, k] top-k neighbour ids (item / user modes)
        self.neighbour_value = None  # [n, k] their similarities
        self.item_weights = None  # [n_items, n_items] closed-form B
        weights = (self.behaviour_weight, self.text_weight, self.knowledge_weight)
        if self.sim_mode == "closed_form":
            check_closed_form_fits(self.n_items, self.chunk_size, self.closed_form_max_gib)
            matrix = closed_form_weights(
                self._views(dataset, interactions.T.tocsr(), item_based=True), weights,
                self.reg_weight, self.pop_reg_weight, self.chunk_size,
            )
            self.item_weights = torch.from_numpy(matrix).to(self.device)
        else:
            item_based = self.sim_mode == "item"
            rows = interactions.T.tocsr() if item_based else interactions
            index, value = blended_cosine_topk(
                self._views(dataset, rows, item_based), weights, self.knn_topk,
                self.chunk_size, self.shrink,
            )
            self.neighbour_index = index.to(self.device)
            self.neighbour_value = value.to(self.device)
        self._weights_csr = None  # CSR form for scoring, derived from the tensors below
        self.other_parameter_name = [
            "interaction_matrix", "history_index", "history_value",
            "neighbour_index", "neighbour_value", "item_weights",
        ]

    # ------------------------------------------------------------------ construction
    def _views(self, dataset, behaviour, item_based: bool) -> list[View]:
        """Behaviour, text and knowledge vectors of the rows being compared (items or users);
        a view whose weight is 0 is not built."""
        zero = np.zeros((behaviour.shape[0], 1), dtype=np.float32)
        text = knowledge = zero
        if self.text_weight:
            text = as_view(dataset.item_text_embeddings() if item_based
                           else dataset.user_text_embeddings())
        if self.knowledge_weight:
            knowledge = as_view(dataset.item_knowledge_profile() if item_based
                                else dataset.user_knowledge_profile())
        return [behaviour, text, knowledge]

    # ------------------------------------------------------------------ scoring
    def forward(self):
        pass

    def calculate_loss(self, interaction):
        return (self.dummy_param * 0).sum()

    def _history(self, users: torch.Tensor) -> torch.Tensor:
        """Dense training rows ``[len(users), n_items]`` of the given users."""
        return dense_rows(self.history_index, self.history_value, users, self.n_items)

    def user_scores(self, user: torch.Tensor) -> torch.Tensor:
        """``[len(user), n_items]`` scores of the given users."""
        if self.sim_mode == "user":
            # score_u = sum_{v in N(u)} s_uv x_v, through the [B, n_users] similarity rows
            sim = torch.zeros(len(user), self.n_users, device=self.neighbour_value.device)
            sim.scatter_(1, self.neighbour_index[user], self.neighbour_value[user])
            return torch.sparse.mm(self._sparse_weights(), sim.T).T
        history = self._history(user)
        if self.sim_mode == "closed_form":
            return history @ self.item_weights
        # score_uk = sum_{j in N(k)} x_uj s_kj
        return torch.sparse.mm(self._sparse_weights(), history.T).T

    def _sparse_weights(self) -> torch.Tensor:
        """CSR matrix for the neighbourhood product (derived from saved tensors, cached).

        item mode: the top-k similarity ``S`` (row k = neighbours of item k);
        user mode: ``X^T`` (items x users).
        """
        if self._weights_csr is None:
            if self.sim_mode == "item":
                matrix = topk_to_sparse(self.neighbour_index, self.neighbour_value, self.n_items)
            else:
                matrix = self.interaction_matrix.t().coalesce()
            self._weights_csr = matrix.to_sparse_csr()
        return self._weights_csr

    def load_other_parameter(self, para):
        super().load_other_parameter(para)
        self._weights_csr = None
