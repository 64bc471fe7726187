"""Text templates: turn an item's or a user's fields into one sentence for the language model.

A template is a Python format string over field names, e.g.
``"{movie_title} ({release_year}). Genres: {class:, }"``. A sequence field (``token_seq``) is
joined with the format spec when one is given (``{class:, }`` -> ``"Action, Drama"``), else with a
space, which restores the original text of a title split on spaces. A missing value renders as
the placeholder; a text whose fields are *all* missing becomes the placeholder alone, so the
caller can count and report it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

Value = str | Sequence[str] | None

_FORMATTER = string.Formatter()


def template_fields(template: str) -> list[str]:
    """Field names a template refers to, in order of first use (``"{a} {b:, } {a}"`` -> a, b)."""
    names: list[str] = []
    for _, name, _, _ in _FORMATTER.parse(template):
        if name is None:
            continue
        if name == "" or not name.replace("_", "a").replace("-", "a").isalnum():
            raise ValueError(f"template field '{{{name}}}' is not a plain field name")
        if name not in names:
            names.append(name)
    return names


def default_template(fields: Sequence[str]) -> str:
    """The template used when none is configured: ``"f1: {f1}, f2: {f2}"``."""
    return ", ".join(f"{field}: {{{field}}}" for field in fields)


def render(template: str, values: Mapping[str, Value], placeholder: str) -> tuple[str, bool]:
    """Fill ``template``; returns ``(text, is_empty)``, empty when every field value is missing."""
    parts: list[str] = []
    present = 0
    for literal, name, spec, _ in _FORMATTER.parse(template):
        parts.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            value = (spec or " ").join(value) if len(value) else None
        if value is None or value == "":
            parts.append(placeholder)
        else:
            parts.append(value)
            present += 1
    if present == 0:
        return placeholder, True
    return "".join(parts), False


def relation_text(name: str) -> str:
    """Readable text of a KG relation name: ``film.film.actor`` -> ``film film actor``."""
    if name == "[UI-Relation]":
        return "user interacted with item"
    if name == "[PAD]":
        return ""
    inverse = name.endswith("_r")  # RecBole's reverse relations (kg_reverse_r)
    base = name[:-2] if inverse else name
    words = " ".join(base.replace(".", " ").replace("_", " ").replace("/", " ").split())
    return f"inverse of {words}" if inverse else words
