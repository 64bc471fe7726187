"""Requests in words: embed a text with the dataset's own encoder and blend it into the scores.

One rule for every model trained on a text dataset (LLMAugRec, KGLLMGNN, KASimCF): each user's
model scores and the request's cosine similarity to every item text are standardised over the
catalogue (z-scores) and mixed, ``(1 - w) z(model) + w z(cos(query, item text))``. Standardising
makes ``w`` mean the same for every model, whatever the scale of its scores.
"""

from __future__ import annotations

import torch

from recbole_llmkg.errors import ServeError

# Default weight of the request, chosen on the validation split by benchmarks/query_report.py
# (results/queries/ml-100k.md): of 0.05..0.75 it has the highest mean of "genre match with the
# request x NDCG@10 with / without it" over LLMAugRec, KGLLMGNN, KASimCF and the 20 requests
# (0.336; 0.5, the earlier fixed value, scores 0.294). Test was not used to choose it.
DEFAULT_QUERY_WEIGHT = 0.3
TEXT_MODELS = "LLMAugRec, KGLLMGNN, KASimCF (any model trained on a dataset with item texts)"


class TextSpace:
    """The item text embeddings of a dataset and the encoder that made them."""

    def __init__(self, config, train_dataset, model_name: str) -> None:
        self.config = config
        self.model_name = model_name
        self._dataset = train_dataset if hasattr(train_dataset, "item_text_embeddings") else None
        self._item_text: torch.Tensor | None = None

    @property
    def available(self) -> bool:
        return self._dataset is not None

    def _require(self, what: str) -> None:
        if not self.available:
            raise ServeError(
                f"Model {self.model_name} was trained on a dataset without item texts, so it "
                f"cannot take {what}. Models that can: {TEXT_MODELS}."
            )

    def item_text(self) -> torch.Tensor:
        """``[n_items, d]`` L2-normalised item text embeddings (row 0, padding, is zero)."""
        self._require("a text request or profile")
        if self._item_text is None:
            emb = self._dataset.item_text_embeddings().float()
            self._item_text = torch.nn.functional.normalize(emb, dim=1)
        return self._item_text

    def encode(self, text: str, what: str = "--query") -> torch.Tensor:
        """``[d]`` embedding of ``text`` with the encoder that embedded the item texts."""
        self._require(what)
        if not text or not text.strip():
            raise ServeError(f"{what} is empty: give a few words, e.g. 'a light comedy'.")
        from recbole_llmkg.data.settings import encoder_settings
        from recbole_llmkg.llm.encoder import get_encoder

        device = self.config["device"] or "cpu"
        encoder = get_encoder(device=device, **encoder_settings(self.config))
        emb = encoder.encode([text.strip()])[0].float().to(self.item_text().device)
        # item_text_view 'separate': items are [metadata; knowledge] side by side; the request
        # is read against both views alike (its cosine is the mean of the two views' cosines)
        emb = emb.repeat(int(getattr(self._dataset, "text_view_count", 1)))
        return torch.nn.functional.normalize(emb, dim=0)

    def similarity(self, text_embedding: torch.Tensor) -> torch.Tensor:
        """``[n_items]`` cosine of an encoded text to every item text."""
        return self.item_text() @ text_embedding


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """Per-row z-scores over the real items (column 0 is RecBole's padding item)."""
    body = scores[..., 1:]
    mean = body.mean(dim=-1, keepdim=True)
    std = body.std(dim=-1, keepdim=True).clamp_min(1e-12)
    return (scores - mean) / std


def check_weight(weight: float) -> float:
    if not 0.0 <= weight <= 1.0:
        raise ServeError(f"--query-weight must be between 0 and 1; got {weight}.")
    return float(weight)


def blend(scores: torch.Tensor, text_scores: torch.Tensor, weight: float) -> torch.Tensor:
    """``(1 - w) z(scores) + w z(text_scores)``; rows of ``scores`` are users."""
    weight = check_weight(weight)
    return (1.0 - weight) * standardise(scores) + weight * standardise(text_scores)
