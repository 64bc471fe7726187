"""Language-model side: text templates, the offline TextEncoder and its on-disk cache."""

from recbole_llmkg.llm.cache import EmbeddingCache, cache_key, model_fingerprint
from recbole_llmkg.llm.encoder import TextEncoder, get_encoder, pool
from recbole_llmkg.llm.templates import default_template, relation_text, render, template_fields

__all__ = [
    "EmbeddingCache",
    "TextEncoder",
    "cache_key",
    "default_template",
    "get_encoder",
    "model_fingerprint",
    "pool",
    "relation_text",
    "render",
    "template_fields",
]
