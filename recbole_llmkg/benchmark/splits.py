"""One split per (dataset, seed, protocol), written once as RecBole benchmark files.

Every model of a board, plugin or built-in, KG or not, then reads exactly the same
``<dataset>.train.inter`` / ``.valid.inter`` / ``.test.inter`` (config ``benchmark_filename``).
With ``benchmark_filename`` set, RecBole 1.2.1 skips ``Dataset._data_filtering`` altogether
(``Dataset._data_processing``), so no NaN / duplicate / k-core filter runs and, for a
``KnowledgeBasedDataset``, neither does ``_filter_link`` (it is only called from
``KnowledgeBasedDataset._data_filtering``): items without a ``.link`` row keep their
interactions. ``Dataset.build`` then cuts ``inter_feat`` at the file sizes instead of splitting.

The ``standard`` split reproduces RecBole's ``eval_args: {split: {RS: [0.8, 0.1, 0.1]},
order: RO, group_by: user}``: shuffle all interactions, group them by user in shuffled order,
and cut each group with RecBole's own rounding (``Dataset._calcu_split_ids``), seeded with
numpy instead of torch's global generator so the split does not depend on what ran before.
The ``cold_item`` split holds a seeded share of the items out of train and valid
(:func:`cold_item_parts`), the ``cold_user`` split a seeded share of the users
(:func:`cold_user_parts`; how those users are then served and scored is
:mod:`~recbole_llmkg.benchmark.cold_user`).

A split lives in a content-addressed folder (the key hashes the source ``.inter`` bytes, the
seed, the ratios and the format version), with ``split.json``: the fingerprint (sha256 of the
three part files) and per-part counts of users, items and interactions. ``.item``, ``.user``,
``.kg``, ``.link`` and any other file of the source folder are linked (or copied) beside them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbole_llmkg.errors import ConfigError, DataError
from recbole_llmkg.files import file_sha256, write_text_atomic

PARTS = ("train", "valid", "test")
SPLIT_FORMAT_VERSION = 2
STANDARD_RATIOS = (0.8, 0.1, 0.1)
COLD_USER_VALID_SHARE = 0.1  # cold_user: share of each remaining user's rows in the valid part
META_FILE = "split.json"
# RecBole's data filters, all skipped when benchmark files are read (Dataset._data_filtering)
FILTER_KEYS = ("rm_dup_inter", "val_interval", "user_inter_num_interval",
               "item_inter_num_interval", "entity_kg_num_interval", "relation_kg_num_interval")
_NO_FILTER = (None, "", "[0,inf)", "[0,inf]", {})


@dataclass(frozen=True)
class Split:
    """A written split: where it is, what it holds, and the fingerprint that names its test set."""

    data_path: Path  # the folder to give RecBole as ``data_path`` (holds ``<dataset>/``)
    dataset: str
    protocol: str
    seed: int
    fingerprint: str  # sha256 over the three part files
    counts: dict[str, dict[str, int]]  # part -> {users, items, interactions}
    cold_items: tuple[str, ...] = ()  # cold_item protocol: items held out of train and valid
    cold_users: tuple[str, ...] = ()  # cold_user protocol: users held out of train and valid

    def config(self) -> dict[str, Any]:
        """Config entries that make RecBole read exactly this split."""
        return {"data_path": str(self.data_path), "benchmark_filename": list(PARTS)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for run records and tables."""
        return {"data_path": str(self.data_path), "dataset": self.dataset,
                "protocol": self.protocol, "seed": self.seed,
                "fingerprint": self.fingerprint, "counts": self.counts,
                "cold_items": list(self.cold_items), "cold_users": list(self.cold_users)}


def ratio_split_counts(sizes: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """``[n_groups, len(ratios)]`` part sizes per group, RecBole's ``_calcu_split_ids`` rounding.

    Every part but the first is rounded down; then, from the last part backwards, a part whose
    exact share is in (0, 1) takes one row from the first part while the first part keeps more
    than one row.
    """
    total = float(sum(ratios))
    shares = [r / total for r in ratios]
    sizes = np.asarray(sizes, dtype=np.int64)
    counts = np.stack([(share * sizes).astype(np.int64) for share in shares], axis=1)
    counts[:, 0] = sizes - counts[:, 1:].sum(axis=1)
    for part in range(len(shares) - 1, 0, -1):
        exact = shares[part] * sizes
        bump = (counts[:, 0] > 1) & (exact > 0) & (exact < 1)
        counts[bump, part] += 1
        counts[bump, 0] -= 1
    return counts


def assign_parts(users: np.ndarray, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Part index (0 = train, 1 = valid, 2 = test) of every row, split per user after a shuffle.

    RecBole's RS/RO/group_by user: a random order of all rows, rows grouped by user keeping that
    order, each group cut by :func:`ratio_split_counts`.
    """
    users = np.asarray(users)
    order = np.random.default_rng(seed).permutation(len(users))
    _, group = np.unique(users[order], return_inverse=True)
    by_group = np.argsort(group, kind="stable")  # shuffled order kept inside each user
    sizes = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)
    cuts = np.cumsum(ratio_split_counts(sizes, ratios), axis=1)[:, :-1]
    part_sorted = (rank[:, None] >= np.repeat(cuts, sizes, axis=0)).sum(axis=1)
    parts = np.empty(len(users), dtype=np.int64)
    parts[order[by_group]] = part_sorted
    return parts


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_fingerprint(folder: str | os.PathLike, dataset: str) -> str:
    """sha256 over the sha256 of each part file, in train/valid/test order."""
    digests = [_sha256((Path(folder) / f"{dataset}.{part}.inter").read_bytes()) for part in PARTS]
    return _sha256("\n".join(digests).encode("ascii"))


def _read_inter(path: Path, user_field: str, item_field: str, separator: str,
                encoding: str) -> tuple[str, list[str], np.ndarray, np.ndarray]:
    """Header, data lines (blank lines dropped), and the user and item token of each line."""
    if not path.is_file():
        raise DataError(f"Split: interaction file '{path}' not found.")
    lines = path.read_bytes().decode(encoding).splitlines()
    if not lines:
        raise DataError(f"Split: '{path}' is empty (it needs a header line).")
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    names = [column.split(":")[0] for column in header.split(separator)]
    for field in (user_field, item_field):
        if field not in names:
            raise DataError(f"Split: '{path}' line 1 has no column '{field}' (header: "
                            f"{header!r}); set USER_ID_FIELD / ITEM_ID_FIELD to its columns.")
    cells = pd.Series(rows, dtype=object).str.split(separator)
    width = cells.str.len().to_numpy()
    short = np.flatnonzero(width <= max(names.index(user_field), names.index(item_field)))
    if len(short):
        raise DataError(f"Split: '{path}' line {short[0] + 2} has {width[short[0]]} fields; "
                        f"the header names {len(names)}.")
    users = cells.str[names.index(user_field)].to_numpy(dtype=object)
    items = cells.str[names.index(item_field)].to_numpy(dtype=object)
    return header, rows, users, items


def link_side_files(source_dir: Path, target: Path, dataset: str,
                    replacements: Mapping[str, str] | None = None) -> None:
    """Make every other file of the dataset folder visible in the split folder (a symlink, or a
    copy where links are not allowed): ``.item``, ``.user``, ``.kg``, ``.link``, caches.
    ``replacements`` (suffix -> file) stand in for the folder's own ``<dataset>.<suffix>``."""
    replaced = {f"{dataset}.{suffix}": Path(path) for suffix, path in (replacements or {}).items()}
    skip = {f"{dataset}.inter"} | {f"{dataset}.{part}.inter" for part in PARTS} | set(replaced)
    entries = [(entry, entry.name) for entry in sorted(source_dir.iterdir())
               if not (entry.name in skip or entry.name.startswith(".")
                       or entry.name == META_FILE)]
    for entry, name in [*entries, *((path, name) for name, path in replaced.items())]:
        destination = target / name
        try:
            os.symlink(entry.resolve(), destination, target_is_directory=entry.is_dir())
        except OSError:
            if entry.is_dir():
                shutil.copytree(entry, destination)
            else:
                shutil.copy2(entry, destination)


def read_split(data_path: str | os.PathLike, dataset: str) -> Split:
    """The :class:`Split` stored in ``<data_path>/<dataset>/split.json``."""
    meta_path = Path(data_path) / dataset / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"Split: cannot read '{meta_path}' ({error}); delete the folder "
                        f"'{meta_path.parent.parent}' and write the split again.") from error
    return Split(Path(data_path), dataset, meta["protocol"], int(meta["seed"]),
                 meta["fingerprint"], meta["counts"], tuple(meta.get("cold_items", ())),
                 tuple(meta.get("cold_users", ())))


def _split_root(data_root: str | os.PathLike, dataset: str, protocol: str, seed: int,
                key_fields: dict[str, Any]) -> Path:
    """``<data_root>/<dataset>-<protocol>-seed<seed>-<key>``: content-addressed by
    ``key_fields`` (format version, source bytes, seed, protocol parameters)."""
    key = _sha256(json.dumps(key_fields, sort_keys=True).encode())[:16]
    return Path(data_root) / f"{dataset}-{protocol}-seed{seed}-{key}"


def _write_split(root: Path, source_dir: Path, dataset: str, encoding: str, header: str,
                 rows: list[str], users: np.ndarray, items: np.ndarray, parts: np.ndarray,
                 meta: dict[str, Any], side_files: Mapping[str, str] | None = None) -> Split:
    """Write the part files, the warm ``<dataset>.inter``, side files and ``split.json`` in a
    temp folder, then rename it to ``root`` (a concurrent writer of the same split may win)."""
    Path(root.parent).mkdir(parents=True, exist_ok=True)
    temp_root = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        temp = temp_root / dataset
        temp.mkdir()
        counts = {}
        row_array = np.asarray(rows, dtype=object)
        for index, part in enumerate(PARTS):
            mask = parts == index
            body = "\n".join([header, *row_array[mask]]) + "\n"
            (temp / f"{dataset}.{part}.inter").write_bytes(body.encode(encoding))
            counts[part] = {"users": int(len(np.unique(users[mask]))),
                            "items": int(len(np.unique(items[mask]))),
                            "interactions": int(mask.sum())}
        counts["all"] = {"users": int(len(np.unique(users))), "items": int(len(np.unique(items))),
                         "interactions": len(rows)}
        warm = "\n".join([header, *row_array[parts < 2]]) + "\n"
        (temp / f"{dataset}.inter").write_bytes(warm.encode(encoding))
        link_side_files(source_dir, temp, dataset, side_files)
        meta = {**meta, "dataset": dataset, "fingerprint": split_fingerprint(temp, dataset),
                "counts": counts}
        write_text_atomic(temp / META_FILE, json.dumps(meta, indent=1))
        os.chmod(temp / META_FILE, 0o644)  # mkstemp makes files private; a split is plain data
        os.chmod(temp_root, 0o755)  # mkdtemp makes it private; the split is ordinary data
        try:
            os.replace(temp_root, root)
        except OSError:  # another process finished the same split first
            if not (root / dataset / META_FILE).is_file():
                raise
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
    return read_split(root, dataset)


def _side_file_keys(side_files: Mapping[str, str] | None) -> dict[str, Any]:
    """Key fields for replaced side files (by content): none when nothing is replaced, so the
    folders of earlier splits keep their names."""
    if not side_files:
        return {}
    return {"side_files": {suffix: file_sha256(path)
                           for suffix, path in sorted(side_files.items())}}


def _split_once(
    source_dir: str | os.PathLike, dataset: str, seed: int, data_root: str | os.PathLike,
    folder: str, key_fields: dict[str, Any],
    assign: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, dict[str, Any]]],
    user_field: str, item_field: str, separator: str, encoding: str,
    side_files: Mapping[str, str] | None, protocol: str = "standard",
) -> Split:
    """The split named by ``key_fields`` (plus the source bytes, seed, format version and side
    files), read back if already written, else ``assign(users, items) -> (parts, extra meta)``
    on the source rows and written once (:func:`_write_split`)."""
    source_dir = Path(source_dir)
    raw = _source_bytes(source_dir, dataset)
    key_fields = {"version": SPLIT_FORMAT_VERSION, "source": _sha256(raw), "seed": int(seed),
                  **key_fields, **_side_file_keys(side_files)}
    root = _split_root(data_root, dataset, folder, seed, key_fields)
    if (root / dataset / META_FILE).is_file():
        return read_split(root, dataset)
    header, rows, users, items = _read_inter(source_dir / f"{dataset}.inter", user_field,
                                             item_field, separator, encoding)
    parts, extra = assign(users, items)
    return _write_split(root, source_dir, dataset, encoding, header, rows, users, items, parts,
                        {**key_fields, "protocol": protocol, **extra}, side_files)


def _source_bytes(source_dir: Path, dataset: str) -> bytes:
    source = source_dir / f"{dataset}.inter"
    if not source.is_file():
        raise DataError(f"Split: '{source}' not found (dataset '{dataset}', data_path "
                        f"'{source_dir}').")
    return source.read_bytes()


def write_standard_split(
    source_dir: str | os.PathLike,
    dataset: str,
    seed: int,
    data_root: str | os.PathLike,
    ratios: Sequence[float] = STANDARD_RATIOS,
    user_field: str = "user_id",
    item_field: str = "item_id",
    separator: str = "\t",
    encoding: str = "utf-8",
    side_files: Mapping[str, str] | None = None,
) -> Split:
    """Write (or reuse) the standard random split of ``<source_dir>/<dataset>.inter``.

    Layout: ``<data_root>/<dataset>-standard-seed<seed>-<key>/<dataset>/`` with the three part
    files, ``<dataset>.inter`` (train + valid rows only: RecBole does not read it under
    ``benchmark_filename``, but a check for the file finds it and it holds no test row),
    ``split.json`` and the side files. Built in a temp folder and renamed into place, so an
    interrupted writer never leaves half a split and concurrent writers agree.
    """
    return _split_once(
        source_dir, dataset, seed, data_root, "standard",
        {"ratios": [float(r) for r in ratios], "user_field": user_field},
        lambda users, items: (assign_parts(users, ratios, seed), {}),
        user_field, item_field, separator, encoding, side_files)


def cold_item_parts(users: np.ndarray, items: np.ndarray, fraction: float,
                    seed: int) -> tuple[np.ndarray, list[str]]:
    """Part of every row under the cold-item protocol, and the cold items.

    A seeded ``fraction`` of the distinct items (at least one, never all) is cold: all their rows
    go to test. Warm rows are shuffled and cut per user, ``round(n / 9)`` to valid (at least one
    for users with three or more warm rows), the rest to train.
    """
    rng = np.random.default_rng(seed)
    distinct = np.unique(items.astype(str))
    n_cold = max(1, int(round(fraction * len(distinct))))
    if n_cold >= len(distinct):
        raise DataError(f"cold_item protocol: cold_fraction {fraction} leaves no warm item "
                        f"({len(distinct)} items).")
    cold = np.sort(rng.choice(distinct, size=n_cold, replace=False))
    is_cold = np.isin(items.astype(str), cold)
    parts = np.full(len(items), 2, dtype=np.int64)
    warm = np.flatnonzero(~is_cold)
    order = warm[rng.permutation(len(warm))]
    _, group = np.unique(users[order].astype(str), return_inverse=True)
    by_group = np.argsort(group, kind="stable")
    sizes = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    n_valid = np.rint(sizes / 9).astype(np.int64)
    n_valid[(n_valid == 0) & (sizes >= 3)] = 1
    rows = order[by_group]
    parts[rows] = np.where(rank < np.repeat(n_valid, sizes), 1, 0)
    return parts, cold.tolist()


def write_cold_item_split(
    source_dir: str | os.PathLike,
    dataset: str,
    seed: int,
    data_root: str | os.PathLike,
    fraction: float = 0.1,
    user_field: str = "user_id",
    item_field: str = "item_id",
    separator: str = "\t",
    encoding: str = "utf-8",
    side_files: Mapping[str, str] | None = None,
) -> Split:
    """Write (or reuse) the cold-item split (:func:`cold_item_parts`) of the dataset.

    Same layout and guarantees as :func:`write_standard_split`; ``split.json`` also lists the
    cold items (``Split.cold_items``). ``.item``, ``.link`` and ``.kg`` stay whole, so text and KG
    models can still describe the cold items.
    """
    def assign(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        parts, cold = cold_item_parts(users, items, fraction, seed)
        return parts, {"cold_items": cold}

    return _split_once(
        source_dir, dataset, seed, data_root, f"cold_item{fraction:g}",
        {"cold_fraction": float(fraction), "user_field": user_field, "item_field": item_field},
        assign, user_field, item_field, separator, encoding, side_files, protocol="cold_item")


def cold_user_parts(users: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """Part of every row (0 train, 1 valid, 2 test) and the held-out users.

    A seeded ``fraction`` of the distinct users (at least one, never all) goes wholly to test;
    the other users' rows are cut 90/10 into train/valid per user (RecBole's rounding).
    """
    tokens = np.asarray(users).astype(str)
    distinct = np.unique(tokens)
    n_cold = max(1, int(round(fraction * len(distinct))))
    if not 0 < fraction < 1 or n_cold >= len(distinct):
        raise DataError(f"cold_user protocol: cold_fraction {fraction} must leave some users in "
                        f"training ({len(distinct)} users); use a value in (0, 1), e.g. 0.1.")
    cold = np.sort(np.random.default_rng(seed).choice(distinct, size=n_cold, replace=False))
    is_cold = np.isin(tokens, cold)
    parts = np.full(len(tokens), 2, dtype=np.int64)
    warm = np.flatnonzero(~is_cold)
    share = COLD_USER_VALID_SHARE
    parts[warm] = assign_parts(tokens[warm], (1 - share, share), seed)
    return parts, cold.tolist()


def write_cold_user_split(
    source_dir: str | os.PathLike,
    dataset: str,
    seed: int,
    data_root: str | os.PathLike,
    fraction: float = 0.1,
    user_field: str = "user_id",
    item_field: str = "item_id",
    separator: str = "\t",
    encoding: str = "utf-8",
    side_files: Mapping[str, str] | None = None,
) -> Split:
    """Write (or reuse) the cold-user split of ``<source_dir>/<dataset>.inter``.

    Same layout and guarantees as :func:`~recbole_llmkg.benchmark.splits.write_standard_split`
    (content-addressed folder, fingerprint, written in a temp folder and renamed); ``split.json``
    also lists the held-out users (``cold_users``); the test part holds exactly their rows.
    """
    def assign(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        parts, cold = cold_user_parts(users, fraction, seed)
        return parts, {"cold_users": cold}

    return _split_once(
        source_dir, dataset, seed, data_root, f"cold_user{fraction:g}",
        {"cold_user_fraction": float(fraction), "user_field": user_field},
        assign, user_field, item_field, separator, encoding, side_files, protocol="cold_user")


def ignored_filters(config: Any) -> dict[str, Any]:
    """Filter settings of ``config`` that RecBole would silently skip on benchmark files."""
    found = {}
    for key in FILTER_KEYS:
        value = config[key]
        if (value.replace(" ", "") if isinstance(value, str) else value) not in _NO_FILTER:
            found[key] = value
    return found


def split_for_config(config: Any, seed: int, data_root: str | os.PathLike,
                     protocol: str = "standard",
                     params: Mapping[str, Any] | None = None,
                     side_files: Mapping[str, str] | None = None) -> Split:
    """The split of ``protocol`` (``standard``, ``cold_item`` or ``cold_user``, with its
    ``params``) for the
    dataset, fields and file format of a RecBole config, written once under ``data_root``;
    ``side_files`` (suffix -> file) replace the dataset folder's own side files.

    Refuses a config with data filters: RecBole skips them on benchmark files, so the board would
    silently run on unfiltered data.
    """
    ignored = ignored_filters(config)
    if ignored:
        settings = ", ".join(f"'{k}' = {v!r}" for k, v in ignored.items())
        raise ConfigError(
            f"Split of '{config['dataset']}': RecBole applies no data filter to benchmark files, "
            f"so {settings} would be ignored. Filter '{config['dataset']}.inter' beforehand "
            f"(and point data_path at the result), or remove the key(s)."
        )
    common = {
        "source_dir": Path(config["data_path"]),
        "dataset": config["dataset"],
        "seed": seed,
        "data_root": data_root,
        "user_field": config["USER_ID_FIELD"],
        "item_field": config["ITEM_ID_FIELD"],
        "separator": config["field_separator"] or "\t",
        "encoding": config["encoding"] or "utf-8",
        "side_files": side_files,
    }
    if protocol == "standard":
        return write_standard_split(**common)
    if protocol == "cold_item":
        return write_cold_item_split(**common, fraction=float((params or {})["cold_fraction"]))
    if protocol == "cold_user":
        return write_cold_user_split(**common, fraction=float((params or {})["cold_fraction"]))
    raise ConfigError(f"Split: unknown protocol '{protocol}' (standard, cold_item, cold_user).")
