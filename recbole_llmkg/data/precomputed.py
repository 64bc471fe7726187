"""Precomputed embeddings shipped with a dataset (``<dataset>.itememb`` / ``<dataset>.useremb``).

Atomic-file format, two columns: the id (``item_id:token`` / ``user_id:token``) and the vector
(``item_emb:float_seq``, values separated by ``seq_separator``). When present they replace the
language model. Decisions: rows of unequal length are a :class:`DataError` naming the file and
the line whose width differs from most rows'; NaN or inf is a :class:`DataError` naming the
file, line and id; ids the dataset does not know (filtered out, or typos) are skipped with one
warning and a count; ids missing from the file get zero rows (the padding convention: "no text
signal"), with one warning and a count, rather than being encoded by the language model, whose
vectors would live in a different space.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from recbole_llmkg.data.atomic import check_atomic_file
from recbole_llmkg.errors import DataError

logger = logging.getLogger(__name__)


def _columns(path: str | os.PathLike, header: list[str], id_field: str) -> tuple[int, int]:
    names = [h.partition(":") for h in header]
    id_col = next((i for i, (n, _, t) in enumerate(names) if n == id_field and t == "token"), None)
    emb_col = next((i for i, (_, _, t) in enumerate(names) if t == "float_seq"), None)
    if id_col is None or emb_col is None:
        raise DataError(
            f"Precomputed embedding file '{path}' needs a '{id_field}:token' column and a "
            f"float_seq column (e.g. '{id_field}\\t{id_field.split('_')[0]}_emb:float_seq'); "
            f"its header is {header}."
        )
    return id_col, emb_col


def load_precomputed(
    path: str | os.PathLike,
    id_field: str,
    token2id: Mapping[str, int],
    num: int,
    field_separator: str = "\t",
    seq_separator: str = " ",
    encoding: str = "utf-8",
) -> torch.Tensor:
    """Read ``path`` into a float32 ``[num, d]`` matrix indexed by RecBole's remapped ids."""
    checked = check_atomic_file(path, field_separator, encoding)
    id_col, emb_col = _columns(path, checked.header, id_field)
    source = io.StringIO(checked.repaired) if checked.repaired is not None else path
    frame = pd.read_csv(
        source,
        sep=field_separator,
        usecols=[checked.header[id_col], checked.header[emb_col]],
        dtype=str,
        keep_default_na=False,
        encoding=encoding,
        engine="c",  # with usecols an extra trailing field is ignored, as RecBole does
    )
    tokens = frame[checked.header[id_col]].to_numpy()
    lines = checked.line_numbers
    parts = frame[checked.header[emb_col]].str.split(
        None if seq_separator.isspace() else seq_separator
    )
    values = _vectors(path, parts, lines)
    _check_finite(path, values, tokens, lines, id_field)
    return _by_id(path, values, tokens, token2id, num, id_field)


def _vectors(path, parts: pd.Series, lines: np.ndarray) -> np.ndarray:
    """``[rows, d]`` float32; a row whose width differs from most rows' is the one named."""
    lengths = parts.str.len().to_numpy()
    if len(lengths) == 0:
        raise DataError(f"Precomputed embedding file '{path}' has no rows.")
    widths, counts = np.unique(lengths, return_counts=True)
    usual = int(widths[np.argmax(counts)])
    bad = np.flatnonzero(lengths != usual)
    if usual == 0:
        raise DataError(f"Precomputed embedding file '{path}', line {lines[0]}: empty vectors.")
    if len(bad):
        raise DataError(
            f"Precomputed embedding file '{path}', line {lines[bad[0]]}: vector has "
            f"{lengths[bad[0]]} values but {counts.max()} of {len(lengths)} rows have {usual}; "
            f"every row must have the same dimension ({len(bad)} row(s) differ, lines "
            f"{', '.join(map(str, lines[bad[:5]]))})."
        )
    try:
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused as non-finite
            return np.array(parts.tolist(), dtype=np.float32)
    except ValueError as err:
        rows = [i for i, p in enumerate(parts) if not _all_float(p)]
        line = lines[rows[0]] if rows else "?"
        raise DataError(
            f"Precomputed embedding file '{path}', line {line}: not a number ({err})."
        ) from None


def _check_finite(path, values: np.ndarray, tokens, lines: np.ndarray, id_field: str) -> None:
    """NaN or inf would train NaN weights (or report metrics from them): refused."""
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        shown = ", ".join(f"line {lines[i]} ({id_field} '{tokens[i]}')" for i in bad[:5])
        raise DataError(
            f"Precomputed embedding file '{path}', line {lines[bad[0]]}: {id_field} "
            f"'{tokens[bad[0]]}' has a NaN or infinite value ({len(bad)} such row(s): {shown}). "
            "Recompute or remove those rows."
        )


def _by_id(path, values, tokens, token2id, num: int, id_field: str) -> torch.Tensor:
    """Rows placed at RecBole's ids; unknown ids skipped and missing ids zero, both warned."""
    ids = pd.Series(tokens).map(token2id)
    unknown = ids.isna().to_numpy()
    if unknown.any():
        logger.warning(
            "%d of %d rows of '%s' name %s values this dataset does not have; they were skipped.",
            int(unknown.sum()),
            len(ids),
            path,
            id_field,
        )
    known = ids[~unknown].to_numpy(dtype=np.int64)
    matrix = np.zeros((num, values.shape[1]), dtype=np.float32)
    matrix[known] = values[~unknown]
    matrix[0] = 0.0  # padding id
    covered = np.zeros(num, dtype=bool)
    covered[known] = True
    missing = int((~covered[1:]).sum())
    if missing:
        logger.warning(
            "%d of %d %s values have no row in '%s'; their embeddings are zeros.",
            missing,
            num - 1,
            id_field,
            path,
        )
    logger.info("Loaded precomputed %d-d embeddings from '%s'", values.shape[1], path)
    return torch.from_numpy(matrix)


def _all_float(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True
