"""Data side of recbole_llmkg: dataset classes with texts, text embeddings and KG tensors."""

from recbole_llmkg.data.dataset import LLMKGDataset, LLMTextDataset

__all__ = ["LLMKGDataset", "LLMTextDataset"]
