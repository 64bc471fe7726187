"""A bag-of-words text encoder: the "encoder swapped" ablation's stand-in for the language model.

Selected like any encoder, through ``llm_model_path`` (``bag-of-words`` names the folder shipped
in ``properties/encoders/``), and used wherever the language model is: item texts, user profile
and history texts, ``--query`` requests. It keeps which words a text has and loses what a
language model knows about them ("sci-fi" and "science fiction" share no bucket), so a model
that scores the same with it does not need the language model.

The text is lower-cased word unigrams and bigrams with English stop words dropped, counted,
hashed with a sign into ``hidden_size`` buckets (scikit-learn's ``HashingVectorizer``:
stateless, so item, profile and query texts share one space without fitting on any corpus),
damped by ``sign(x) log(1 + |x|)`` and L2-normalised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from recbole_llmkg.errors import ConfigError

MODEL_TYPE = "hashed_bag_of_words"


def is_bag_of_words(folder: str | os.PathLike) -> bool:
    """Whether ``folder``'s ``config.json`` declares this encoder (not a Hugging Face model)."""
    config = Path(folder).expanduser() / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


def not_fine_tunable(model_path: str | os.PathLike) -> ConfigError:
    """The error for asking this encoder to train: it has no weights."""
    return ConfigError(f"llm_model_path '{model_path}' is the bag-of-words encoder, which has no "
                       "weights to fine-tune: set llm_freeze: True.")


class BagOfWordsEncoder:
    """The :class:`~recbole_llmkg.llm.encoder.TextEncoder` interface over hashed word counts."""

    model = None  # no weights: nothing to fine-tune or to move between devices
    precision = "float32"

    def __init__(self, model_path: str | os.PathLike, normalize: bool = True,
                 device: str | torch.device = "cpu", **_: Any) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.model_path = Path(model_path).expanduser().resolve()
        settings = json.loads((self.model_path / "config.json").read_text(encoding="utf-8"))
        self._dim = int(settings.get("hidden_size", 384))
        self.normalize = bool(normalize)
        self.device = torch.device(device)
        self.show_progress = False
        self.progress_min_texts = None
        self._vectorizer = HashingVectorizer(
            n_features=self._dim, ngram_range=(1, int(settings.get("ngram_max", 2))),
            stop_words="english", alternate_sign=True, norm=None)

    @property
    def dim(self) -> int:
        """Width of the embeddings (``hidden_size`` buckets)."""
        return self._dim

    def encode(self, texts: Sequence[str], grad: bool = False) -> torch.Tensor:
        """Embed ``texts`` -> float32 ``[len(texts), dim]`` on ``self.device``, in input order."""
        if grad:
            raise not_fine_tunable(self.model_path)
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self._dim, device=self.device)
        counts = self._vectorizer.transform(texts)
        counts.data = np.sign(counts.data) * np.log1p(np.abs(counts.data))
        out = torch.from_numpy(counts.toarray().astype(np.float32))
        if self.normalize:
            out = F.normalize(out, dim=-1)
        return out.to(self.device)
