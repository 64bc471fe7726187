"""What each kind of model can do when served: score users, fold in a new user, explain a score.

A family is chosen from what the model exposes, not from its name, so a RecBole built-in gets
the richest family its attributes allow:

* :class:`ItemWeightFamily` (KASimCF item / closed form, EASE, ItemKNN): ``score = x_u W`` with a
  fixed item-item matrix ``W``. A new user is the indicator row of the liked items; history item
  ``j`` contributes exactly ``x_uj W_jk`` to item ``k``.
* :class:`TwoTowerFamily` (LLMAugRec): the user tower reads the user's history texts. A new user
  is the tower over the liked items' (and profile) text with no ID part; history item ``j``
  contributes the score drop when ``j`` leaves the tower's history mean (leave-one-out).
* :class:`EmbeddingFamily` (KGLLMGNN, BPR, LightGCN, ...): users and items are vectors. A new user
  is the mean of the liked items' vectors (item-based); history items are ranked by the
  similarity of their vector to the recommended item's (a similarity, not an exact share).
* :class:`ScoreOnlyFamily`: anything else; it scores known users only.
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_llmkg.errors import ServeError
from recbole_llmkg.model.layers import topk_to_sparse

FOLD_IN_MODELS = "KASimCF (item / closed_form), EASE, ItemKNN, LLMAugRec, KGLLMGNN, BPR, LightGCN"
# what a model needs for the two-tower family (a user text tower that reads a profile)
TWO_TOWER_ATTRIBUTES = ("user_text_features", "user_representation", "item_representation",
                        "item_bias_vector")


class ScoreOnlyFamily:
    """Scores known users with the model's own ``full_sort_predict``."""

    kind = "score-only"
    contribution_kind: str | None = None
    reads_profile = False  # True when fold_in_scores itself uses the profile text

    def __init__(self, model, train_dataset) -> None:
        self.model = model
        self.train_dataset = train_dataset
        self.n_items = model.n_items
        self.history = train_dataset.inter_matrix(form="csr").astype(np.float32)

    @torch.no_grad()
    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """``[len(users), n_items]`` scores (internal user ids)."""
        batch = Interaction({self.model.USER_ID: users.to(self.model.device)})
        return self.model.full_sort_predict(batch).view(len(users), -1).float()

    def history_items(self, user: int) -> np.ndarray:
        """Internal ids of ``user``'s training items."""
        row = self.history[user]
        return row.indices[row.data > 0]

    def fold_in_scores(self, liked: torch.Tensor, profile: torch.Tensor | None) -> torch.Tensor:
        """``[n_items]`` scores of a user who is not in the training data."""
        raise ServeError(
            f"Model {type(self.model).__name__} cannot fold in a new user (it scores only "
            f"users it was trained on). Models that can: {FOLD_IN_MODELS}."
        )

    def contributions(self, user: int, items: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """``(history [n], share [n, len(items)])``: each history item's part in each score."""
        raise ServeError(
            f"Model {type(self.model).__name__} cannot explain its scores by history items. "
            "Models that can: KASimCF, EASE, ItemKNN, LLMAugRec, KGLLMGNN (similarity), BPR."
        )


class ItemWeightFamily(ScoreOnlyFamily):
    """``score_u = x_u W``: fold-in and explanations are exact."""

    kind = "item-weights"
    contribution_kind = "contribution"

    def __init__(self, model, train_dataset, weights: torch.Tensor) -> None:
        super().__init__(model, train_dataset)
        self.weights = weights.float()  # [n_items, n_items], row j = what item j gives item k

    def fold_in_scores(self, liked: torch.Tensor, profile: torch.Tensor | None) -> torch.Tensor:
        if len(liked) == 0:
            return torch.zeros(self.n_items, device=self.weights.device)
        return self.weights[liked.to(self.weights.device)].sum(dim=0)

    def contributions(self, user: int, items: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        history = self.history_items(user)
        rows = torch.as_tensor(history, device=self.weights.device)
        value = torch.as_tensor(self.history[user, history].toarray().ravel(),
                                device=self.weights.device)
        return history, value.unsqueeze(1) * self.weights[rows][:, items.to(rows.device)]


class EmbeddingFamily(ScoreOnlyFamily):
    """Users and items as vectors; a new user is the mean of the liked items' vectors."""

    kind = "embeddings"
    contribution_kind = "similarity"

    def item_vectors(self) -> torch.Tensor:
        """``[n_items, d]`` the vectors the model scores items with."""
        self.scores(torch.ones(1, dtype=torch.long))  # fills the models' evaluation caches
        cached = getattr(self.model, "restore_item_e", None)
        if cached is not None:
            return cached
        return self.model.item_embedding.weight

    @torch.no_grad()
    def fold_in_scores(self, liked: torch.Tensor, profile: torch.Tensor | None) -> torch.Tensor:
        items = self.item_vectors()
        if len(liked) == 0:
            return torch.zeros(self.n_items, device=items.device)
        return items @ items[liked.to(items.device)].mean(dim=0)

    @torch.no_grad()
    def contributions(self, user: int, items: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        history = self.history_items(user)
        vectors = self.item_vectors()
        rows = torch.as_tensor(history, device=vectors.device)
        return history, vectors[rows] @ vectors[items.to(vectors.device)].T / max(len(history), 1)


class TwoTowerFamily(ScoreOnlyFamily):
    """LLMAugRec-style towers: ``<u, v_k> + b_k`` with a user tower over history (and profile)
    text, optionally smoothed over the training graph; a new user gets the tower with no ID
    part, folded into the graph through its liked items (``model.fold_in_user``)."""

    kind = "two-tower"
    contribution_kind = "contribution"

    @property
    def reads_profile(self) -> bool:
        return self.model.user_profile_text is not None or self.model.history_text_sum is not None

    def _items(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.item_representation(), self.model.item_bias_vector()

    @torch.no_grad()
    def fold_in_scores(self, liked: torch.Tensor, profile: torch.Tensor | None) -> torch.Tensor:
        model = self.model
        item_text = model.item_text
        parts = []
        if model.user_profile_text is not None:
            parts.append(model.reduce_profile(profile.view(1, -1)) if profile is not None
                         else torch.zeros(1, model.user_profile_text.shape[1],
                                          device=item_text.device))
        if model.history_text_sum is not None:
            texts = [item_text[liked.to(item_text.device)]]
            if profile is not None and model.user_profile_text is None:
                # the profile read as one more liked text, in the items' text space
                texts.append(model.reduce_text(profile.view(1, -1)))
            parts.append(torch.cat(texts).mean(dim=0, keepdim=True))
        items, bias = self._items()
        ids = torch.zeros(1, model.embedding_size, device=items.device)
        if not parts:  # an ID-only user tower
            if len(liked) == 0:
                return torch.zeros(self.n_items, device=items.device)
            if model.smoothing is None:  # the liked items' vectors stand in for the user
                return items @ items[liked.to(items.device)].mean(dim=0) + bias
            return items @ model.fold_in_user(ids, liked) + bias
        user = model.user_fusion(ids, model.user_adapter(torch.cat(parts, dim=1)))
        return (items @ model.fold_in_user(user, liked)) + bias

    @torch.no_grad()
    def contributions(self, user: int, items: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        model = self.model
        if model.history_text_sum is None and model.smoothing is None:
            raise ServeError(
                f"This LLMAugRec (user_text: {model.user_text}) does not read the user's "
                "history, so no history item explains its scores; train with user_text: "
                "history or both, or n_layers > 0, to explain."
            )
        history = self.history_items(user)
        vectors, bias = self._items()
        items = items.to(vectors.device)
        users = torch.full((len(history),), user, dtype=torch.long, device=vectors.device)
        # one user tower per left-out history item, against the tower over the whole history
        # (with graph smoothing, the left-out item's term in the user's vector goes too)
        without = model.user_representation(
            users, exclude=torch.as_tensor(history, device=vectors.device))
        full = model.user_representation(users[:1])
        return history, (full - without) @ vectors[items].T


def item_weight_matrix(model) -> torch.Tensor | None:
    """The fixed item-item matrix ``W`` with ``scores = X W`` when the model has one."""
    name = type(model).__name__
    if name == "KASimCF":
        if model.sim_mode == "closed_form":
            return model.item_weights
        if model.sim_mode == "item":  # score_k = sum_j x_j S[k, j]
            sim = topk_to_sparse(model.neighbour_index, model.neighbour_value, model.n_items)
            return sim.to_dense().T.contiguous()
        return None
    if name == "EASE":
        return torch.as_tensor(np.asarray(model.item_similarity), dtype=torch.float32)
    if name == "ItemKNN" and getattr(model, "method", "item") != "user":
        return torch.as_tensor(model.w.toarray(), dtype=torch.float32)
    return None


def family_for(model, train_dataset) -> ScoreOnlyFamily:
    """The richest family the model's attributes allow."""
    weights = item_weight_matrix(model)
    if weights is not None:
        return ItemWeightFamily(model, train_dataset, weights.to(model.device))
    if all(hasattr(model, a) for a in TWO_TOWER_ATTRIBUTES):
        return TwoTowerFamily(model, train_dataset)
    if hasattr(model, "restore_item_e") or isinstance(
        getattr(model, "item_embedding", None), torch.nn.Embedding
    ):
        return EmbeddingFamily(model, train_dataset)
    return ScoreOnlyFamily(model, train_dataset)
