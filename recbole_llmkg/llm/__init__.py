"""Language-model side: text templates, the offline TextEncoder and its on-disk cache."""

from recbole_llmkg.llm.cache import EmbeddingCache, model_fingerprint, text_digest
from recbole_llmkg.llm.encoder import TextEncoder, get_encoder, pool
from recbole_llmkg.llm.templates import default_template, relation_text, render, template_fields

__all__ = [
    "EmbeddingCache",
    "TextEncoder",
    "default_template",
    "get_encoder",
    "model_fingerprint",
    "pool",
    "relation_text",
    "render",
    "template_fields",
    "text_digest",
]
