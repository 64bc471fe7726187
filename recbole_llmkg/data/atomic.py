"""Checks on one RecBole atomic file, run before RecBole's own reader sees it.

RecBole reads each file with ``pandas.read_csv(engine="python", usecols=<header columns>)``. On
today's pandas that reader

* loads a data line with exactly one field more than the header correctly (it ignores the extra
  field), unless it is the first data line: then pandas takes the first column as the row index
  and every column of every row shifts by one;
* turns a line with two or more extra fields into NaN rows (or an ``IndexError``);
* pads a line with too few fields with NaN (a KG triple with no tail);
* raises a bare ``UnicodeDecodeError`` on a byte that is not valid in the file's encoding.

and, outside the file's bytes,

* takes a UTF-8 byte-order mark (Excel's "CSV UTF-8", Windows Notepad) into the first header
  name: ``\ufeffuser_id`` is not ``user_id`` and the run ends in ``KeyError: 'user_id'``;
* stops at a ``float`` value that is not a number (a rating ``4 stars``) with a bare pandas
  ``ValueError`` naming neither file nor line.

A byte-order mark means nothing in UTF-8 and is invisible in most editors, so it is accepted:
:attr:`AtomicFile.bom` says it was there, the plugin's dataset classes read the text without it,
and :func:`~recbole_llmkg.data.validate.validate_atomic_files` has RecBole read with
``utf-8-sig`` (identical to ``utf-8`` on a file without one). A value that is not a number in a
loaded ``float`` column is a :class:`~recbole_llmkg.errors.DataError` naming file, line, field and
value: only the user knows the number meant.

So here a line with one extra field (not the first data line) gets a warning naming the file and
lines, and every other column-count mismatch is a :class:`~recbole_llmkg.errors.DataError` naming
the file and line. An empty id in a ``.kg`` or ``.link`` row (e.g. a triple with no relation
name) is an error too: RecBole would map it to the padding id 0, and a made-up placeholder would
merge unrelated triples into one invented relation; only the user knows the missing value.
Undecodable bytes are replaced (U+FFFD) with one warning where the plugin's own
dataset classes read the file, and are an error for RecBole's readers, which cannot be given the
repaired text. Everything is vectorised over the file's bytes.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.parsers.readers import STR_NA_VALUES

from recbole_llmkg.errors import DataError

logger = logging.getLogger(__name__)

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")
_SHOWN = 5  # bad lines named in one message
BOM = b"\xef\xbb\xbf"  # the UTF-8 byte-order mark
_UTF8 = ("utf-8", "utf8", "utf-8-sig", "utf8-sig")


@dataclass(frozen=True)
class AtomicFile:
    """What the checks learnt about one file."""

    path: str
    header: list[str]  # ``name:type`` columns
    line_numbers: np.ndarray  # 1-based file line of each data row, in the order pandas reads them
    repaired: str | None  # the text to read instead (undecodable bytes replaced, byte-order
    # mark removed), or None when the file reads as it is
    bom: bool = False  # the file starts with a UTF-8 byte-order mark


@dataclass(frozen=True)
class _Lines:
    """Line bounds of a file's bytes and the field separators in each line."""

    starts: np.ndarray  # first byte of each line
    ends: np.ndarray  # end of each line (exclusive, without ``\\r\\n``)
    seps: np.ndarray  # byte position of each single-byte separator
    sep_line: np.ndarray  # the line each separator is on
    counts: np.ndarray  # separators per line

    @property
    def blank(self) -> np.ndarray:
        return self.ends <= self.starts


def _lines(data: bytes, separator: bytes) -> _Lines:
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(buf)]])
    if len(buf) and buf[-1] == 10:  # no line after a final newline
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    if len(separator) == 1:
        seps = np.flatnonzero(buf == separator[0])
        sep_line = np.searchsorted(newlines, seps)
        seps, sep_line = seps[sep_line < len(starts)], sep_line[sep_line < len(starts)]
        counts = np.bincount(sep_line, minlength=len(starts))
    else:  # rare multi-byte separator: count per line, no field positions
        seps = sep_line = np.zeros(0, dtype=np.int64)
        counts = np.array([data[s:e].count(separator) for s, e in zip(starts, ends, strict=True)])
    return _Lines(starts, ends, seps, sep_line, counts)


def _named(lines: np.ndarray) -> str:
    """``"line 3, 7, 9 ..."`` for 0-based line indexes."""
    shown = ", ".join(str(i + 1) for i in lines[:_SHOWN])
    return f"line {shown}" + (f" (and {len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else "")


def check_columns(path: str | os.PathLike, data: bytes, separator: bytes) -> np.ndarray:
    """Refuse column counts RecBole would misread, warn about extra fields it ignores.

    Returns the 1-based line numbers of the data rows. Line 1 is the header.
    """
    if not data.strip():
        raise DataError(
            f"Atomic file '{path}' is empty: it needs a header line "
            "(name:type fields) and data lines."
        )
    lines = _lines(data, separator)
    expected = lines.counts[0]
    data_rows = np.flatnonzero(~lines.blank)[1:]
    extra = lines.counts[data_rows] - expected
    header = data[lines.starts[0] : lines.ends[0]].decode("utf-8", "replace")
    wrong = data_rows[(extra < 0) | (extra > 1) | ((extra == 1) & (data_rows == data_rows[0]))]
    if len(wrong):
        _refuse(path, lines, wrong, expected, header)
    ignored = data_rows[extra == 1]
    if len(ignored):
        logger.warning(
            "Atomic file '%s': %d data line(s) have one field more than the header '%s' (%s); "
            "RecBole reads the header's %d columns and ignores the extra field. Remove it to "
            "silence this warning.",
            path, len(ignored), header, _named(ignored), expected + 1,
        )
    return data_rows + 1


def _refuse(path, lines: _Lines, wrong: np.ndarray, expected: int, header: str) -> None:
    first = wrong[0]
    got = lines.counts[first] + 1
    if got < expected + 1:
        why = "pandas would pad the missing fields with NaN"
    elif got == expected + 2:
        why = "on the first data line pandas would take the first column as the row index"
    else:
        why = "pandas would load such a line as NaN"
    shown = ", ".join(f"line {i + 1} has {lines.counts[i] + 1}" for i in wrong[:_SHOWN])
    more = f" (and {len(wrong) - _SHOWN} more bad lines)" if len(wrong) > _SHOWN else ""
    raise DataError(
        f"Malformed atomic file '{path}', line {first + 1}: expected {expected + 1} columns as "
        f"in the header '{header}', but {shown}{more} ({why}). Fix or remove those lines "
        "(columns are separated by the config key 'field_separator')."
    )


def empty_fields(data: bytes, separator: bytes, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """``(line index, column)`` of every empty field among the first ``columns`` of each line."""
    lines = _lines(data, separator)
    n = len(lines.starts)
    rows = np.flatnonzero(~lines.blank)[1:]
    if len(separator) != 1 or not len(rows):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Field k of a line spans (boundary k, boundary k + 1); boundaries: before the line's
    # start, each separator, the line's end.
    pos = np.concatenate([lines.starts - 1, lines.seps, lines.ends])
    line = np.concatenate([np.arange(n), lines.sep_line, np.arange(n)])
    order = np.lexsort((pos, line))
    pos, line = pos[order], line[order]
    same = line[1:] == line[:-1]
    length = (pos[1:] - pos[:-1] - 1)[same]
    field_line = line[:-1][same]
    first = np.searchsorted(field_line, field_line, side="left")
    field = np.arange(len(field_line)) - first
    keep = (length == 0) & (field < columns) & np.isin(field_line, rows)
    return field_line[keep], field[keep]


def check_header(path: str | os.PathLike, header: str, separator: str) -> list[str]:
    """Every header field must read ``name:type`` with a RecBole feature type; returns them."""
    columns = header.rstrip("\r\n").split(separator)
    for column in columns:
        name, _, ftype = column.partition(":")
        if not name or ftype not in FEATURE_TYPES:
            raise DataError(
                f"Atomic file '{path}', line 1: header field '{column}' is not 'name:type' with "
                f"type one of {', '.join(FEATURE_TYPES)}."
            )
    return columns


def undecodable_lines(data: bytes, encoding: str) -> list[int]:
    """1-based numbers of the lines that do not decode (only called once decoding failed)."""
    return [i + 1 for i, line in enumerate(data.split(b"\n")) if not _decodes(line, encoding)]


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode(path, data: bytes, encoding: str, repair: bool) -> tuple[str, bool]:
    """``(text, repaired)``; undecodable bytes are replaced with a warning, or refused."""
    try:
        return data.decode(encoding), False
    except UnicodeDecodeError:
        lines = undecodable_lines(data, encoding)
    shown = ", ".join(map(str, lines[:_SHOWN])) + (" ..." if len(lines) > _SHOWN else "")
    if not repair:
        raise DataError(
            f"Atomic file '{path}' has bytes that are not valid {encoding} on {len(lines)} "
            f"line(s) (line {shown}). Re-save the file as {encoding}, or set the config key "
            "'encoding' to the file's encoding."
        )
    logger.warning(
        "Atomic file '%s' has bytes that are not valid %s on %d line(s) (line %s); "
        "they were replaced with U+FFFD. Re-save the file as %s (or set the config key "
        "'encoding') to keep those characters.",
        path, encoding, len(lines), shown, encoding,
    )
    return data.decode(encoding, errors="replace"), True


def check_atomic_file(
    path: str | os.PathLike,
    separator: str = "\t",
    encoding: str = "utf-8",
    repair: bool = True,
    required: tuple[str, ...] = (),
    numeric: Iterable[str] | None = None,
) -> AtomicFile:
    """Validate one atomic file (see the module docstring).

    Args:
        repair: replace undecodable bytes with a warning (else a :class:`DataError`).
        required: header field names that may not be empty on any data line.
        numeric: the ``float`` fields that will be loaded (None: every one) and so must hold
            numbers.
    """
    data = Path(path).read_bytes()
    utf8 = encoding.lower().replace("_", "-") in _UTF8
    bom = utf8 and data.startswith(BOM)
    if bom:
        data = data[len(BOM):]
    if utf8:
        encoding = "utf-8"  # ``"\t".encode("utf-8-sig")`` would start with a mark itself
    sep = separator.encode(encoding)
    line_numbers = check_columns(path, data, sep)
    text, repaired = _decode(path, data, encoding, repair)
    header = check_header(path, text.split("\n", 1)[0], separator)
    _check_required(path, data, sep, header, required)
    check_numbers(path, text, separator, header, line_numbers, numeric)
    return AtomicFile(str(path), header, line_numbers, text if repaired or bom else None, bom)


def check_numbers(path: str | os.PathLike, text: str, separator: str, header: list[str],
                  line_numbers: np.ndarray, fields: Iterable[str] | None = None) -> None:
    """Every value of the ``float`` columns named in ``fields`` (all when None) must read as a
    number (or be empty / a pandas missing-value word, which RecBole reads as missing)."""
    names = [c.partition(":")[0] for c in header]
    columns = [c for c, n in zip(header, names, strict=True)
               if c.endswith(":float") and (fields is None or n in set(fields))]
    if not columns:
        return
    frame = pd.read_csv(io.StringIO(text), sep=separator, usecols=columns, dtype=str,
                        keep_default_na=False, engine="c" if len(separator) == 1 else "python")
    for column in columns:
        values = frame[column].to_numpy(dtype=object)
        numbers = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy()
        missing = np.isin(np.char.strip(values.astype(str)), list(STR_NA_VALUES))
        bad = np.flatnonzero(np.isnan(numbers) & ~missing)
        if len(bad):
            rows = line_numbers if len(line_numbers) == len(values) else np.arange(len(values)) + 2
            lines = rows[bad] - 1
            raise DataError(
                f"Atomic file '{path}', line {lines[0] + 1}: field '{column.partition(':')[0]}' "
                f"(float) is {values[bad[0]]!r}, which is not a number ({len(bad)} such "
                f"value(s), {_named(lines)}). Write a number there (or leave it empty), or leave "
                "the field out with the config key 'load_col' / 'unload_col'."
            )


def _check_required(path, data: bytes, sep: bytes, header: list[str], required) -> None:
    names = [c.partition(":")[0] for c in header]
    wanted = [names.index(c) for c in required if c in names]
    if not wanted:
        return
    lines, columns = empty_fields(data, sep, len(header))
    bad = np.isin(columns, wanted)
    if bad.any():
        lines, columns = lines[bad], columns[bad]
        raise DataError(
            f"Atomic file '{path}', line {lines[0] + 1}: field '{names[columns[0]]}' is empty "
            f"({len(lines)} empty required field(s), {_named(lines)}). RecBole would read an "
            "empty token as the padding id 0; fill in or remove those lines."
        )
