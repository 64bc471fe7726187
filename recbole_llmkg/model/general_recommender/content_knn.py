r"""Content kNN baselines: item neighbourhoods on item content alone, no training.

The item-based neighbourhood scheme of Sarwar et al., "Item-based Collaborative Filtering
Recommendation Algorithms" (WWW 2001), with the similarity taken from content instead of
co-occurrence, as in the content-based kNN baselines of Lops, de Gemmis and Semeraro,
"Content-based Recommender Systems: State of the Art and Trends" (Recommender Systems Handbook,
2011):

    s_ji = cos(c_j, c_i) = <c_j, c_i> / (|c_j| |c_i| + shrink)     (top-k per item j, i != j)
    score(u, j) = sum_{i in N_k(j)} x_ui * max(s_ji, 0) ** power

with ``x_u`` the user's TRAINING interactions. ``TextKNN`` takes ``c`` = the item's text
embedding, ``KGKNN`` the item's knowledge profile (TF-IDF of its one-hop KG entities).
``TextKGKNN`` mixes both views' cosines with a share ``b`` (``knowledge_share``):

    s_ji = (1 - b) cos_text(j, i) + b cos_kg(j, i)

(an item without KG entities has ``cos_kg = 0``: no KG evidence, no KG term). It is computed as
one cosine over unit-length rows ``[sqrt(1 - b) t_j, sqrt(b) k_j, p_j e_j]``: ``p_j`` pads every
row to length 1 on a coordinate of its own, so the cosine is exactly the mix. ``b`` is tuned like
``k``: the "text + KG kNN" a user would try first for cold items. An item
with no interaction (cold) still has content, so it is scored like any other. They are the
"what a user would try first" baselines that a trained text / KG model has to beat.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recbole_llmkg.data import LLMKGDataset, LLMTextDataset
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.model.layers import (
    blended_cosine_topk,
    dense_rows,
    padded_rows,
    to_sparse_coo,
    topk_to_sparse,
)
from recbole_llmkg.model.layers.similarity import as_view
from recbole_llmkg.model.user_scores import UserScoresMixin


def content_neighbourhood(content: torch.Tensor, topk: int, shrink: float, power: float,
                          chunk_size: int) -> torch.Tensor:
    """Sparse ``[n, n]`` matrix: row ``j`` holds ``max(cos, 0) ** power`` of ``j``'s top-k items.

    ``content`` is ``[n, d]``, dense or sparse COO; row 0 (RecBole's padding item) and any
    all-zero row get no neighbours' weight (their cosine is 0).
    """
    return views_neighbourhood([content], [1.0], topk, shrink, power, chunk_size)


def views_neighbourhood(views: list, weights: list[float], topk: int, shrink: float,
                        power: float, chunk_size: int) -> torch.Tensor:
    """:func:`content_neighbourhood` over several content views of the same items, under the
    weighted blended cosine."""
    index, value = blended_cosine_topk(views, weights, topk, chunk_size, shrink)
    return topk_to_sparse(index, value.clamp_min(0.0) ** power, index.shape[0])


def unit_rows(matrix) -> np.ndarray | sp.csr_matrix:
    """The rows of a content view scaled to unit length (all-zero rows stay zero)."""
    view = as_view(matrix)
    squares = view.multiply(view).sum(axis=1) if sp.issparse(view) else (view ** 2).sum(axis=1)
    norms = np.sqrt(np.asarray(squares, dtype=np.float64).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sp.diags(scale.astype(np.float32)) @ view).tocsr() if sp.issparse(view) \
        else view * scale[:, None].astype(np.float32)


class _ContentKNN(UserScoresMixin, GeneralRecommender):
    """Shared body: a fixed item-item content neighbourhood scored against training history.

    A TRADITIONAL model like RecBole's ItemKNN / EASE: the trainer runs one no-op epoch.
    """

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL

    def __init__(self, config, dataset):
        super().__init__(config, dataset)

        # load parameters info
        self.knn_topk = config["knn_topk"]  # (int) neighbours kept per item
        self.shrink = config["shrink"]  # (float) added to the cosine denominator
        self.power = config["power"]  # (float) exponent on the (non-negative) similarities
        self.chunk_size = config["chunk_size"]  # (int) items per similarity chunk (memory)
        if self.knn_topk < 1 or self.power <= 0 or self.shrink < 0:
            raise ConfigError(
                f"{type(self).__name__}: need knn_topk >= 1, power > 0 and shrink >= 0; got "
                f"knn_topk={self.knn_topk}, power={self.power}, shrink={self.shrink}."
            )

        # need at least one parameter for the optimiser
        self.dummy_param = torch.nn.Parameter(torch.zeros(1))

        interactions = dataset.inter_matrix(form="csr").astype(np.float32)
        self.history_index, self.history_value = padded_rows(interactions, self.device)
        views, weights = self.item_views(dataset)
        similarity = views_neighbourhood(views, weights, self.knn_topk, self.shrink, self.power,
                                         self.chunk_size)
        self.neighbour_index = similarity.indices()  # [2, nnz] (item j, neighbour i)
        self.neighbour_value = similarity.values()  # [nnz] s_ji
        self._similarity_csr = None
        self.other_parameter_name = [
            "history_index", "history_value", "neighbour_index", "neighbour_value",
        ]

    def item_content(self, dataset) -> torch.Tensor:
        """``[n_items, d]`` content vectors (dense or sparse COO) on ``self.device``."""
        raise NotImplementedError

    def item_views(self, dataset) -> tuple[list, list[float]]:
        """The content views compared and their weights (one view: :meth:`item_content`)."""
        return [self.item_content(dataset)], [1.0]

    def _similarity(self) -> torch.Tensor:
        """The neighbourhood as CSR for scoring (derived from the saved COO tensors, cached)."""
        if self._similarity_csr is None:
            self._similarity_csr = torch.sparse_coo_tensor(
                self.neighbour_index, self.neighbour_value, (self.n_items, self.n_items),
                check_invariants=False,
            ).coalesce().to_sparse_csr()
        return self._similarity_csr

    def forward(self):
        pass

    def calculate_loss(self, interaction):
        return (self.dummy_param * 0).sum()

    def user_scores(self, user: torch.Tensor) -> torch.Tensor:
        """``[len(user), n_items]``: ``score_uj = sum_i s_ji x_ui``, i.e. ``(S x_u)_j``."""
        history = dense_rows(self.history_index, self.history_value, user, self.n_items)
        return torch.sparse.mm(self._similarity(), history.T).T

    def load_other_parameter(self, para):
        super().load_other_parameter(para)
        self._similarity_csr = None


class TextKNN(_ContentKNN):
    """Item kNN on the items' language-model text embeddings (``LLMTextDataset``)."""

    dataset_class = LLMTextDataset

    def item_content(self, dataset) -> torch.Tensor:
        return dataset.item_text_embeddings().float().to(self.device)


class KGKNN(_ContentKNN):
    """Item kNN on the items' knowledge profiles: TF-IDF of one-hop KG entities
    (``LLMKGDataset``); items without a ``.link`` row have an empty profile and score 0."""

    dataset_class = LLMKGDataset

    def item_content(self, dataset) -> torch.Tensor:
        return to_sparse_coo(dataset.item_knowledge_profile(), self.device)


class TextKGKNN(_ContentKNN):
    """Item kNN on text and KG views together (``LLMKGDataset``): the cosines of both, mixed
    with ``knowledge_share`` on the KG one."""

    dataset_class = LLMKGDataset

    def __init__(self, config, dataset):
        self.knowledge_share = config["knowledge_share"]  # (float) b in [0, 1]: KG cosine's share
        if not 0.0 <= self.knowledge_share <= 1.0:
            raise ConfigError(f"TextKGKNN: knowledge_share must be in [0, 1] (0 = TextKNN, 1 = "
                              f"KG only), got {self.knowledge_share}.")
        super().__init__(config, dataset)

    def item_views(self, dataset) -> tuple[list, list[float]]:
        share = float(self.knowledge_share)
        text = sp.csr_matrix(unit_rows(dataset.item_text_embeddings().float()))
        knowledge = sp.csr_matrix(unit_rows(dataset.item_knowledge_profile()))
        parts = [np.sqrt(1.0 - share) * text, np.sqrt(share) * knowledge]
        length = sum(np.asarray(p.multiply(p).sum(axis=1)).ravel() for p in parts)
        pad = np.sqrt(np.clip(1.0 - length, 0.0, None)).astype(np.float32)
        pad[length == 0] = 0.0  # an item with no content at all stays without neighbours
        return [sp.hstack([*parts, sp.diags(pad)], format="csr", dtype=np.float32)], [1.0]
