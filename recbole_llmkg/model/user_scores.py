"""RecBole's two scoring entry points for models that score every item for a batch of users."""

from __future__ import annotations

import torch


class UserScoresMixin:
    """``predict`` and ``full_sort_predict`` from one ``user_scores(user) -> [len(user), n_items]``.

    For models whose natural output is a full row of item scores per user (similarity and
    closed-form models: a user's history times an item-item matrix).
    """

    def user_scores(self, user: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        return self.user_scores(user).gather(1, item.unsqueeze(1)).squeeze(1)

    def full_sort_predict(self, interaction):
        return self.user_scores(interaction[self.USER_ID]).reshape(-1)
