"""Slices of a split's test users, defined from its training part, to report a board on them.

The sparse-user slice: users with at most ``SPARSE_MAX_TRAIN_INTERACTIONS`` (20) interactions in
the split's training part, where behaviour alone says little and side knowledge should matter
most. It is fixed by the split (never by a model or by test data), so every run on one split is
sliced the same way and stays paired by user. Users are external ids (the ``.inter`` tokens), as
in :class:`~recbole_llmkg.benchmark.per_user.PerUserMetrics`.

The report shows the slice as a view of every ``standard`` run (:func:`sparse_view`): test
metrics are the means over the slice's users of the run's stored per-user values, and its
per-user values are restricted to them, so the board's tables, tests and intervals read it like
any other table. List-level metrics (ItemCoverage, GiniIndex, AveragePopularity,
TailPercentage: anything not stored per user) cannot be recomputed for a subset from stored
values: they are n/a (:data:`NOT_PER_USER`). The slice is read from the split's training file
(:func:`sparse_slice_of_run`): the folder the run recorded, else the split written again the way
the runner writes it (content-addressed, under the board's git-ignored ``data/``), used only when
its fingerprint is the run's; otherwise the view is n/a with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from recbole_llmkg.benchmark.per_user import PerUserMetrics
from recbole_llmkg.benchmark.splits import PARTS, Split, _read_inter, split_fingerprint
from recbole_llmkg.errors import DataError, LLMKGError

SPARSE_MAX_TRAIN_INTERACTIONS = 20
SPARSE_VIEW = "sparse users"  # the view's table name after the protocol slug
NOT_PER_USER = ("a list-level metric (not stored per user), so it cannot be recomputed for the "
                "sparse users from the stored values")
REPORT_COMMAND = "python run_recbole_llmkg.py --benchmark {board} --report"


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


def sparse_label(slug: str) -> str:
    """The table name of a protocol's sparse-user view, e.g. ``standard · sparse users``."""
    return f"{slug} · {SPARSE_VIEW}"


@dataclass(frozen=True)
class SparseSlice:
    """The sparse users of one split and the test counts over them, or why they are unknown."""

    users: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    test_counts: dict[str, int] = field(default_factory=dict)  # users, items, interactions
    reason: str | None = None  # set when the split's training file could not be read


# (split fingerprint, data root) -> its slice: a report groups the rows several times
_SLICES: dict[tuple[str, str], SparseSlice] = {}


def sparse_slice_of_run(run: Any, record: dict[str, Any], data_root: str | os.PathLike,
                        board: str = "<board file>") -> SparseSlice:
    """The sparse users of the split ``run`` (a RunSpec) was tested on, per its ``record``.

    Reads the split folder the record names (``resolved.data_path``); when it is gone (a clean
    clone: ``data/`` is git-ignored), writes the split again under ``data_root`` the way the
    runner does (:meth:`~recbole_llmkg.benchmark.protocols.Protocol.prepare`: deterministic,
    content-addressed). Either folder is used only when its fingerprint is the record's.
    """
    fingerprint = record.get("split_fingerprint")
    if not fingerprint:
        return SparseSlice(reason="the run records no split fingerprint (it predates one split "
                                  "per board); redo it with --rerun")
    key = (str(fingerprint), str(data_root))
    if key not in _SLICES:
        _SLICES[key] = _read_slice(run, record, Path(data_root), str(fingerprint), board)
    return _SLICES[key]


def _read_slice(run: Any, record: dict[str, Any], data_root: Path, fingerprint: str,
                board: str) -> SparseSlice:
    from recbole_llmkg.benchmark.protocols import REGISTRY

    dataset = run.dataset
    try:
        protocol = REGISTRY[run.protocol.name]
        config = protocol.base_config(run)
        stored = Path(str((record.get("resolved") or {}).get("data_path") or ""))
        if stored.parts and (stored / f"{dataset}.train.inter").is_file():
            folder = stored
        else:
            folder = Path(protocol.prepare(_with_side_files_found(run), data_root)[1]
                          .data_path) / dataset
        found = split_fingerprint(folder, dataset)
        if found != fingerprint:
            return SparseSlice(reason=f"the split files in '{folder}' have fingerprint "
                                      f"{found[:12]}, the run was tested on {fingerprint[:12]}; "
                                      "redo the run with --rerun")
        return _slice_of_folder(folder, dataset, config)
    except (LLMKGError, OSError, ValueError, KeyError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return SparseSlice(reason=f"the split files are gone and could not be written again, "
                                  f"or not read ({type(error).__name__}: {message}); "
                                  f"`{REPORT_COMMAND.format(board=board)}` writes them once "
                                  "the dataset is in place")


def _slice_of_folder(folder: Path, dataset: str, config: Any) -> SparseSlice:
    """The sparse users of the split in ``folder`` and the counts of their test rows."""
    user_field, item_field = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    separator, encoding = config["field_separator"] or "\t", config["encoding"] or "utf-8"
    users = sparse_users(read_train_users(folder / f"{dataset}.{PARTS[0]}.inter", user_field,
                                          separator, encoding))
    _, _, test_users, test_items = _read_inter(folder / f"{dataset}.{PARTS[2]}.inter",
                                               user_field, item_field, separator, encoding)
    keep = np.isin(test_users.astype(str), users)
    counts = {"users": int(len(np.unique(test_users[keep].astype(str)))),
              "items": int(len(np.unique(test_items[keep].astype(str)))),
              "interactions": int(keep.sum())}
    return SparseSlice(users, counts)


def _with_side_files_found(run: Any) -> Any:
    """``run`` without its replacement side files when one is gone (the record names them by
    absolute path, e.g. in another checkout): they are linked beside the part files but not in
    them, so the fingerprint, which is checked, does not depend on them."""
    if all(Path(path).is_file() for path in run.side_files.values()):
        return run
    return replace(run, side_files={})


def sparse_view(record: dict[str, Any] | None, sliced: SparseSlice | None
                ) -> dict[str, Any] | None:
    """``record`` seen on the sparse users: test metrics the means over them of its per-user
    values, per-user values restricted to them, the test counts theirs, and ``slice`` saying
    which metrics are not per user (n/a). A run the slice cannot be read for is an ``n/a`` run
    with the reason; a run not ok stays as it is."""
    if record is None or record.get("status") != "ok":
        return record
    if sliced is None or sliced.reason is not None:
        return _unknown(record, "the split was not read" if sliced is None else sliced.reason)
    if not record.get("per_user"):
        return _unknown(record, "the run stored no per-user metrics")
    per_user = restrict(PerUserMetrics.from_dict(record["per_user"]), sliced.users)
    if not len(per_user.users):
        return _unknown(record, f"no test user has 1..{SPARSE_MAX_TRAIN_INTERACTIONS} "
                                "training interactions")
    split = dict(record.get("split") or {})
    split["counts"] = {**(split.get("counts") or {}), "test": dict(sliced.test_counts)}
    not_per_user = sorted({name.split("@")[0] for name in record.get("test") or {}
                           if name not in per_user.values})
    return {**record, "test": per_user.mean(), "per_user": per_user.to_dict(), "split": split,
            "slice": {"name": SPARSE_VIEW, "max_train_interactions":
                      SPARSE_MAX_TRAIN_INTERACTIONS, "users": int(len(per_user.users)),
                      "not_per_user": not_per_user}}


def _unknown(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """``record``'s view as an ``n/a`` run: the table shows the reason instead of numbers."""
    return {**record, "status": "n/a", "error": {"type": "n/a", "message": reason}}
