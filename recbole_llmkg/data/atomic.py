"""Checks on RecBole atomic files, run before RecBole's own reader sees them.

RecBole hands each file straight to ``pandas.read_csv``: a line with too many columns ends in a
pandas traceback, a line with too few is silently padded with NaN (a KG triple with no tail), and
a non-UTF-8 byte raises a bare ``UnicodeDecodeError``. Here each file is checked once, vectorised
over its bytes: a line whose column count differs from the header's is a
:class:`~recbole_llmkg.errors.DataError` naming the file and line; undecodable bytes are replaced
(U+FFFD) with one warning naming the file and lines, so a stray Latin-1 title never stops a run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from recbole_llmkg.errors import DataError

logger = logging.getLogger(__name__)

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")
_SHOWN = 5  # bad lines named in one message


def _line_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newline positions, and start/end (exclusive, without ``\\r\\n``) of every line."""
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(buf)]])
    if len(buf) and buf[-1] == 10:  # no line after a final newline
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    return newlines, starts, ends - has_cr


def check_columns(path: str | os.PathLike, data: bytes, separator: bytes) -> int:
    """Raise :class:`DataError` unless every non-blank line has the header's column count.

    Returns the number of columns. Line numbers in messages are 1-based, the header is line 1.
    """
    if not data.strip():
        raise DataError(
            f"Atomic file '{path}' is empty: it needs a header line "
            "(name:type fields) and data lines."
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines, starts, ends = _line_bounds(buf)
    if len(separator) == 1:
        seps = np.flatnonzero(buf == separator[0])
        counts = np.bincount(np.searchsorted(newlines, seps), minlength=len(starts))
        counts = counts[: len(starts)]
    else:  # rare multi-byte separator: count per line
        counts = np.array([data[s:e].count(separator) for s, e in zip(starts, ends, strict=True)])
    blank = ends <= starts
    expected = counts[0]
    bad = np.flatnonzero(~blank & (counts != expected))
    if len(bad):
        header = data[starts[0] : ends[0]].decode("utf-8", "replace")
        shown = ", ".join(f"line {i + 1} has {counts[i] + 1}" for i in bad[:_SHOWN])
        more = f" (and {len(bad) - _SHOWN} more bad lines)" if len(bad) > _SHOWN else ""
        raise DataError(
            f"Malformed atomic file '{path}', line {bad[0] + 1}: expected {expected + 1} "
            f"columns as in the header '{header}', but {shown}{more}. Fix or remove those "
            "lines (columns are separated by the config key 'field_separator')."
        )
    return int(expected) + 1


def check_header(path: str | os.PathLike, header: str, separator: str) -> None:
    """Every header field must read ``name:type`` with a RecBole feature type."""
    for column in header.rstrip("\r\n").split(separator):
        name, _, ftype = column.partition(":")
        if not name or ftype not in FEATURE_TYPES:
            raise DataError(
                f"Atomic file '{path}', line 1: header field '{column}' is not 'name:type' with "
                f"type one of {', '.join(FEATURE_TYPES)}."
            )


def undecodable_lines(data: bytes, encoding: str) -> list[int]:
    """1-based numbers of the lines that do not decode (only called once decoding failed)."""
    return [i + 1 for i, line in enumerate(data.split(b"\n")) if not _decodes(line, encoding)]


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def check_atomic_file(
    path: str | os.PathLike, separator: str = "\t", encoding: str = "utf-8"
) -> str | None:
    """Validate one atomic file; return its repaired text if it had undecodable bytes, else None."""
    data = Path(path).read_bytes()
    check_columns(path, data, separator.encode(encoding))
    try:
        text = data.decode(encoding)
        repaired = None
    except UnicodeDecodeError:
        lines = undecodable_lines(data, encoding)
        shown = ", ".join(map(str, lines[:_SHOWN])) + (" ..." if len(lines) > _SHOWN else "")
        logger.warning(
            "Atomic file '%s' has bytes that are not valid %s on %d line(s) (line %s); "
            "they were replaced with U+FFFD. Re-save the file as %s (or set the config key "
            "'encoding') to keep those characters.",
            path,
            encoding,
            len(lines),
            shown,
            encoding,
        )
        text = repaired = data.decode(encoding, errors="replace")
    check_header(path, text.split("\n", 1)[0], separator)
    return repaired
