"""Slices of a split's test users, defined from its training part, to report a board on them.

The sparse-user slice: users with at most ``SPARSE_MAX_TRAIN_INTERACTIONS`` (20) interactions in
the split's training part, where behaviour alone says little and side knowledge should matter
most. It is fixed by the split (never by a model or by test data), so every run on one split is
sliced the same way and stays paired by user. Users are external ids (the ``.inter`` tokens), as
in :class:`~recbole_llmkg.benchmark.per_user.PerUserMetrics`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.splits import Split
from recbole_llmkg.errors import DataError

SPARSE_MAX_TRAIN_INTERACTIONS = 20


def sparse_users(train_users: ArrayLike,
                 max_interactions: int = SPARSE_MAX_TRAIN_INTERACTIONS) -> np.ndarray:
    """External ids (sorted, as str) of the users with 1..``max_interactions`` rows in
    ``train_users`` (the user token of every training interaction)."""
    users, counts = np.unique(np.asarray(train_users).astype(str), return_counts=True)
    return users[counts <= max_interactions]


def train_users(split: Split, user_field: str = "user_id", separator: str = "\t",
                encoding: str = "utf-8") -> np.ndarray:
    """The user token of every row of the split's ``<dataset>.train.inter``."""
    path = Path(split.data_path) / split.dataset / f"{split.dataset}.train.inter"
    return read_train_users(path, user_field, separator, encoding)


def read_train_users(path: str | os.PathLike, user_field: str = "user_id",
                     separator: str = "\t", encoding: str = "utf-8") -> np.ndarray:
    """The ``user_field`` column of a training ``.inter`` file, as str tokens."""
    frame = pd.read_csv(path, sep=separator, dtype=str, encoding=encoding, quoting=3,
                        keep_default_na=False)
    names = [column.split(":")[0] for column in frame.columns]
    if user_field not in names:
        raise DataError(f"'{path}' line 1 has no column '{user_field}' (header: "
                        f"{separator.join(frame.columns)!r}); set USER_ID_FIELD to its column.")
    return frame.iloc[:, names.index(user_field)].to_numpy(dtype=str)


def sparse_users_of_split(split: Split,
                          max_interactions: int = SPARSE_MAX_TRAIN_INTERACTIONS,
                          user_field: str = "user_id") -> np.ndarray:
    """:func:`sparse_users` of the split's training part."""
    return sparse_users(train_users(split, user_field), max_interactions)


def restrict(per_user: PerUserMetrics, users: ArrayLike) -> PerUserMetrics:
    """The rows of ``per_user`` whose user is in ``users`` (order kept)."""
    keep = np.isin(per_user.users.astype(str), np.asarray(users).astype(str))
    return PerUserMetrics(per_user.users[keep], {k: v[keep] for k, v in per_user.values.items()})
