"""The knowledge file: what a language model wrote about each item (or user), one row per id.

Format (fixed; the ML-1M converter writes it too): ``<dataset>.knowledge`` (items) or
``<dataset>.user_knowledge`` (users), UTF-8, tab-separated, a header line exactly
``item_id<TAB>knowledge`` (``user_id<TAB>knowledge``), then one row per id keyed by the id's raw
token as in ``.inter``. Tabs and line breaks inside a text are written as spaces
(:func:`clean_text`), so a row is always one line with two fields.

Reading checks every row and names what is wrong: a duplicated id is an error naming both
lines, a line that is not UTF-8 or without exactly two fields is an error naming the line, an
empty text is a warning naming its line (the id keeps its metadata text). Unknown ids (not in
the dataset) are warned about by the dataset with a count and examples (:func:`warn_unknown`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from recbole_llmkg.errors import DataError
from recbole_llmkg.files import write_text_atomic

logger = logging.getLogger(__name__)

SUFFIXES = {"item": "knowledge", "user": "user_knowledge"}
HEADERS = {"item": "item_id\tknowledge", "user": "user_id\tknowledge"}
_SHOWN = 5


def knowledge_filename(dataset: str, kind: str = "item") -> str:
    """``<dataset>.knowledge`` or ``<dataset>.user_knowledge``."""
    return f"{dataset}.{SUFFIXES[kind]}"


def clean_text(text: str) -> str:
    """One line of text: tabs, line breaks and runs of spaces become single spaces."""
    return " ".join(str(text).split())


def read_knowledge(path: str | os.PathLike, kind: str = "item") -> dict[str, str]:
    """``{raw id token: text}`` of a knowledge file, in file order (every row checked)."""
    path = Path(path)
    header = HEADERS[kind]
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    if not lines or lines[0].rstrip(b"\r").decode("utf-8", "replace").lstrip("\ufeff") != header:
        first = lines[0][:80].decode("utf-8", "replace") if lines else "(empty file)"
        raise DataError(
            f"Knowledge file '{path}', line 1: the header must be exactly "
            f"'{header.replace(chr(9), '<TAB>')}', got '{first}'."
        )
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    empty: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            decoded = line.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(
                f"Knowledge file '{path}', line {number}: not UTF-8 ({err.reason} at byte "
                f"{err.start}); re-save the file as UTF-8."
            ) from None
        if not decoded.strip():
            continue  # a blank line
        fields = decoded.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"Knowledge file '{path}', line {number}: {len(fields)} tab-separated fields, "
                "expected 2 (id, text); write tabs inside a text as spaces."
            )
        token, text = fields[0].strip(), fields[1].strip()
        if token in first_line:
            raise DataError(
                f"Knowledge file '{path}': id '{token}' is on line {first_line[token]} and line "
                f"{number}; keep one row per id."
            )
        first_line[token] = number
        if not text:
            empty.append(number)
            continue
        texts[token] = text
    if empty:
        logger.warning(
            "Knowledge file '%s': empty text on line(s) %s%s (%d in all); those ids keep their "
            "metadata text.", path, ", ".join(map(str, empty[:_SHOWN])),
            " ..." if len(empty) > _SHOWN else "", len(empty),
        )
    return texts


def write_knowledge(path: str | os.PathLike, texts: Mapping[str, str] | Iterable[tuple[str, str]],
                    kind: str = "item") -> Path:
    """Write ``{id token: text}`` as a knowledge file, atomically; returns the path."""
    rows = texts.items() if isinstance(texts, Mapping) else texts
    out = [HEADERS[kind]]
    for token, text in rows:
        line_text = clean_text(text)
        if not line_text:
            raise DataError(f"Knowledge for id '{token}' is empty; leave the id out instead.")
        out.append(f"{clean_text(token)}\t{line_text}")
    write_text_atomic(path, "\n".join(out) + "\n")
    return Path(path)


def warn_unknown(path: str | os.PathLike, tokens: Iterable[str], known: Iterable[str],
                 what: str = "item") -> list[str]:
    """Warn (count and examples) about ids of the file that the dataset does not have; returns
    them."""
    known = set(known)
    unknown = [t for t in tokens if t not in known]
    if unknown:
        more = " ..." if len(unknown) > _SHOWN else ""
        logger.warning(
            "%d of %d rows of knowledge file '%s' name %s ids this dataset does not have (e.g. "
            "%s%s); they were skipped.",
            len(unknown), len(unknown) + len(known & set(tokens)), path, what,
            ", ".join(unknown[:_SHOWN]), more,
        )
    return unknown
