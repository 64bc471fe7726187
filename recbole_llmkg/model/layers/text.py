"""Text adapters and ID/text fusion: how frozen language-model embeddings enter a model."""

from __future__ import annotations

import torch
from torch import nn

from recbole_llmkg.errors import require_choice

FUSION_MODES = ("add", "concat", "gate")


class TextAdapter(nn.Module):
    """MLP from frozen text embeddings to the model's embedding space.

    ``hidden_size == 0`` gives a single linear map; otherwise Linear-GELU-Dropout-Linear.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_size: int = 0, dropout: float = 0.0):
        super().__init__()
        if hidden_size and hidden_size > 0:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_size),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size, out_dim),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        return self.net(text)


class IDTextFusion(nn.Module):
    """Fuse an ID embedding with an adapted text embedding: ``add``, ``concat`` or ``gate``.

    * ``add``:    ``e_id + alpha * e_text``
    * ``concat``: ``W [e_id ; alpha * e_text]``
    * ``gate``:   ``g * e_id + (1 - g) * alpha * e_text`` with ``g = sigmoid(W [e_id ; e_text])``

    ``alpha`` (``llm_alpha``) weighs the language-model part. With the ID part zeroed (ID dropout,
    or a cold item), every mode still returns a text-only representation.
    """

    def __init__(self, dim: int, mode: str = "add", alpha: float = 1.0):
        super().__init__()
        require_choice("fusion", mode, FUSION_MODES)
        self.mode = mode
        self.alpha = alpha
        if mode in ("concat", "gate"):
            self.linear = nn.Linear(2 * dim, dim)

    def forward(self, id_embedding: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
        text_embedding = self.alpha * text_embedding
        if self.mode == "add":
            return id_embedding + text_embedding
        joint = torch.cat([id_embedding, text_embedding], dim=-1)
        if self.mode == "concat":
            return self.linear(joint)
        gate = torch.sigmoid(self.linear(joint))
        return gate * id_embedding + (1 - gate) * text_embedding


def drop_rows(embedding: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Zero whole rows with probability ``rate`` during training (no rescaling).

    Used as ID dropout: a dropped row leaves only the text part to represent the item, which
    trains the path that cold items (no ID signal) depend on.
    """
    if not training or rate <= 0:
        return embedding
    keep = torch.rand(embedding.shape[0], 1, device=embedding.device) >= rate
    return embedding * keep


def principal_basis(features: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [1, dim], basis [dim, r])``: the top ``r = min(rank, n, dim)`` principal directions
    of the rows of ``features``; ``(x - mean) @ basis`` keeps the most variance any ``r``-dim
    linear map can."""
    mean = features.float().mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(features.float() - mean, full_matrices=False)
    return mean, vh[:rank].T.contiguous()


def to_principal(x: torch.Tensor, mean: torch.Tensor | None,
                 basis: torch.Tensor | None) -> torch.Tensor:
    """``x``'s coordinates on a :func:`principal_basis` (``x`` itself when there is none)."""
    if basis is None:
        return x
    return (x - mean.to(x.dtype)) @ basis.to(x.dtype)


def project_rows(features: torch.Tensor, dim: int, std: float) -> torch.Tensor:
    """Rows of ``features`` reduced to ``dim`` principal components and scaled to ``std``.

    Initialises a learned embedding table from text (e.g. relation names) with the scale a
    Xavier initialisation would have given it.
    """
    reduced = to_principal(features.float(), *principal_basis(features, dim))
    if reduced.shape[1] < dim:  # fewer rows than dims: pad with small noise
        pad = torch.randn(reduced.shape[0], dim - reduced.shape[1], device=reduced.device)
        reduced = torch.cat([reduced, pad * reduced.std().clamp_min(1e-6)], dim=1)
    return reduced / reduced.std().clamp_min(1e-12) * std
