"""Data side of recbole_llmkg: dataset classes with texts, text embeddings and KG tensors."""

from recbole_llmkg.data.dataset import LLMKGDataset, LLMTextDataset
from recbole_llmkg.data.validate import validate_atomic_files

__all__ = ["LLMKGDataset", "LLMTextDataset", "validate_atomic_files"]
