"""Knowledge-graph embedding loss on triples (TransE / TransR)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recbole_llmkg.errors import require_choice

KG_LOSSES = ("transe", "transr")


class KGEmbeddingLoss(nn.Module):
    """Pairwise TransE / TransR loss on ``(head, relation, tail, negative tail)`` triples.

    TransE: Bordes et al., NeurIPS 2013; TransR: Lin et al., AAAI 2015. Distance
    ``d = ||h_r + r - t_r||^2`` (``h_r = h`` for TransE, ``h W_r`` for TransR); the loss is
    ``-log sigmoid(d_neg - d_pos)`` plus ``reg_weight`` times the squared norms involved.
    """

    def __init__(self, mode: str, n_relations: int, dim: int, reg_weight: float = 1e-5):
        super().__init__()
        require_choice("kg_loss", mode, KG_LOSSES)
        self.mode = mode
        self.reg_weight = reg_weight
        if mode == "transr":
            eye = torch.eye(dim).unsqueeze(0).repeat(n_relations, 1, 1)
            self.projection = nn.Parameter(eye + 0.01 * torch.randn_like(eye))

    def forward(
        self,
        head: torch.Tensor,
        relation: torch.Tensor,
        tail: torch.Tensor,
        neg_tail: torch.Tensor,
        relation_ids: torch.Tensor,
    ) -> torch.Tensor:
        if self.mode == "transr":
            w = self.projection[relation_ids]
            head, tail, neg_tail = (torch.bmm(x.unsqueeze(1), w).squeeze(1)
                                    for x in (head, tail, neg_tail))
        pos = ((head + relation - tail) ** 2).sum(dim=-1)
        neg = ((head + relation - neg_tail) ** 2).sum(dim=-1)
        loss = -F.logsigmoid(neg - pos).mean()
        reg = sum((x ** 2).sum(dim=-1).mean() for x in (head, relation, tail, neg_tail)) / 2
        return loss + self.reg_weight * reg
