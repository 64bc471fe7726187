"""Language-model side: text templates, the offline TextEncoder and its on-disk cache; the
knowledge file (knowledge_file), its import (knowledge_import), generation (knowledge_generate)
and their commands (knowledge_commands)."""

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
