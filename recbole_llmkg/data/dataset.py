"""The two dataset classes models choose with ``dataset_class = ...``.

Both read texts through :class:`~recbole_llmkg.data.text.TextMixin`; the KG one adds
:class:`~recbole_llmkg.data.kg.KGMixin` on RecBole's KnowledgeBasedDataset (``.kg``/``.link``).
"""

from __future__ import annotations

from recbole.data.dataset import Dataset, KnowledgeBasedDataset

from recbole_llmkg.data.kg import KGMixin
from recbole_llmkg.data.text import TextMixin


class LLMTextDataset(TextMixin, Dataset):
    """RecBole Dataset with item/user texts and their language-model embeddings."""


class LLMKGDataset(KGMixin, TextMixin, KnowledgeBasedDataset):
    """RecBole KnowledgeBasedDataset with texts, CKG edges, triples and knowledge profiles."""
