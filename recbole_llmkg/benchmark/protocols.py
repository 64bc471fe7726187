"""Evaluation protocols: how a run's data is split, as RecBole config the run receives.

``standard``
    RecBole's default, written out so no model or dataset YAML can change it: interactions
    shuffled, split 8:1:1 per user, full ranking on valid and test.
``cold_item``
    A seeded ``cold_fraction`` of the items (default 10%) is held out entirely: every interaction
    with a cold item is in the test set, none in train or valid. Warm interactions are split per
    user, about 8:1, into train and valid. Test ranks all items, so the test metrics measure how
    well a model finds items it never saw an interaction for (text and KG models can still score
    them: .item/.link/.kg are kept whole). The split is written once per (dataset, fraction, seed)
    as RecBole "benchmark files" (``<dataset>.train.inter`` etc.) under the results folder and
    read with ``benchmark_filename``; RecBole applies no filtering to such files, so no cold item
    or interaction is dropped (the worker checks this on the loaded dataset).
    ``candidates: cold`` ranks only the cold items at test (warm items are scored -inf): with all
    items as candidates a model must also rank never-seen items above the popular warm ones, and
    on ml-100k every model we ran scores about 0 there, so ``cold`` is what separates models that
    can describe a new item (text, KG) from those that cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recbole_llmkg.config import Config
from recbole_llmkg.errors import ConfigError, DataError

SPLIT_FILES = ("train", "valid", "test")
SPLIT_FORMAT_VERSION = 2

# name -> parameter defaults; a parameter not listed here (or in OPTIONAL) is an error.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "standard": {},
    "cold_item": {"cold_fraction": 0.1},
}
# name -> {parameter: (default, allowed values)}: parameters that join a run's identity only
# when set to a non-default value, so adding one never changes the keys of finished runs.
OPTIONAL: dict[str, dict[str, tuple[Any, tuple[Any, ...]]]] = {
    "cold_item": {"candidates": ("all", ("all", "cold"))},
}

_FULL_RANKING = {"valid": "full", "test": "full"}
STANDARD_EVAL_ARGS = {
    "split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": _FULL_RANKING,
}


@dataclass(frozen=True)
class ProtocolEntry:
    """An evaluation protocol by name, with its parameters (defaults filled in)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """Short, file-name-safe id; parameters appear only when they differ from defaults."""
        return protocol_slug(self)


def parse_protocol(entry: Any, where: str, key: str) -> ProtocolEntry:
    """A protocol from the file: a name, or ``{name: ..., <param>: ...}``; defaults filled in."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where}: key '{key}' must be a protocol name or a mapping with "
                          f"'name' (protocols: {', '.join(PROTOCOLS)}).")
    name = entry["name"]
    if name not in PROTOCOLS:
        raise ConfigError(f"{where}: key '{key}': unknown protocol '{name}' "
                          f"(protocols: {', '.join(PROTOCOLS)}).")
    params = dict(PROTOCOLS[name])
    optional = OPTIONAL.get(name, {})
    for param, value in entry.items():
        if param == "name":
            continue
        if param in optional:
            default, allowed_values = optional[param]
            if value not in allowed_values:
                raise ConfigError(f"{where}: key '{key}.{param}' must be one of "
                                  f"{', '.join(map(str, allowed_values))}, got {value!r}.")
            if value != default:
                params[param] = value
            continue
        if param not in params:
            allowed = ", ".join([*PROTOCOLS[name], *optional]) or "none"
            raise ConfigError(f"{where}: unknown key '{key}.{param}' for protocol '{name}' "
                              f"(parameters: {allowed}).")
        params[param] = value
    if name == "cold_item":
        fraction = params["cold_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0 < fraction < 1:
            raise ConfigError(f"{where}: key '{key}.cold_fraction' must be a number strictly "
                              f"between 0 and 1, got {fraction!r}.")
        params["cold_fraction"] = float(fraction)
    return ProtocolEntry(name, params)


def protocol_slug(protocol: ProtocolEntry) -> str:
    """``standard``, ``cold_item``, or ``cold_item-cold_fraction0.2`` when a default changed."""
    defaults = PROTOCOLS.get(protocol.name, {})
    changed = [f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
               for k, v in sorted(protocol.params.items()) if defaults.get(k) != v]
    return "-".join([protocol.name, *changed])


def prepare(run: Any, data_root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Config entries that put ``run`` under its protocol, and facts about the split.

    ``run`` is a :class:`recbole_llmkg.benchmark.spec.RunSpec` (``dataset``, ``model.name``,
    ``seed``, ``protocol``, ``config``).

    ``data_root`` is where derived datasets (the cold-item split) are cached.
    """
    if run.protocol.name == "standard":
        return {"eval_args": STANDARD_EVAL_ARGS}, {}
    if run.protocol.name == "cold_item":
        base = Config(run.model.name, run.dataset, config_dict=run.config, cmd_args=[])
        split = write_cold_item_split(
            source_dir=Path(base["data_path"]),
            dataset=run.dataset,
            user_field=base["USER_ID_FIELD"],
            item_field=base["ITEM_ID_FIELD"],
            separator=base["field_separator"],
            encoding=base["encoding"],
            fraction=run.protocol.params["cold_fraction"],
            seed=run.seed,
            data_root=data_root,
        )
        extra = {
            "data_path": str(split["data_path"]),
            "benchmark_filename": list(SPLIT_FILES),
            "eval_args": {**STANDARD_EVAL_ARGS, "split": {"RS": [0.8, 0.1, 0.1]}},
        }
        return extra, split
    raise ConfigError(f"Unknown protocol '{run.protocol.name}'.")


def test_candidates(run: Any, dataset: Any, info: Mapping[str, Any]) -> Any:
    """Internal item ids the test ranking is restricted to, or None for all items.

    The trainer applies it (``restrict_candidates``): other items are scored -inf and ties are
    broken at random, seeded by the run's seed.
    """
    if run.protocol.params.get("candidates", "all") == "all":
        return None
    import torch

    ids = dataset.token2id(dataset.iid_field, list(info["cold_items"]))
    return torch.as_tensor(np.atleast_1d(ids), dtype=torch.long)


def verify_loaded(run: Any, dataset: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    """Check that RecBole loaded the split as written; returns counts for the run record.

    Raises if a cold item leaked into train/valid or any test interaction was dropped, so a
    silently different protocol can never reach the leaderboard.
    """
    loaded = {"interactions": int(len(dataset.inter_feat)), "users": int(dataset.user_num - 1),
              "items": int(dataset.item_num - 1)}  # minus RecBole's [PAD] id
    if run.protocol.name != "cold_item":
        return loaded
    sizes = list(getattr(dataset, "file_size_list", []) or [])
    expected = [info["counts"][name] for name in SPLIT_FILES]
    if sizes != expected:
        raise DataError(f"cold_item split: RecBole loaded {sizes} train/valid/test interactions, "
                        f"the split files hold {expected}.")
    item_field = dataset.iid_field
    items = np.asarray(dataset.inter_feat[item_field])
    tokens = dataset.id2token(item_field, items)
    cold = set(info["cold_items"])
    warm_part = tokens[: sizes[0] + sizes[1]]
    test_part = tokens[sizes[0] + sizes[1]:]
    if any(t in cold for t in warm_part):
        raise DataError("cold_item split: a cold item appears in train or valid.")
    if not all(t in cold for t in test_part):
        raise DataError("cold_item split: a warm item appears in test.")
    known = set(dataset.field2token_id[item_field])
    missing = cold - known
    if missing:
        raise DataError(f"cold_item split: {len(missing)} cold items unknown to the dataset.")
    users = np.asarray(dataset.inter_feat[dataset.uid_field])[sizes[0] + sizes[1]:]
    return {
        **loaded,
        "cold_items": len(cold),
        "test_interactions": int(sizes[2]),
        "test_users": int(len(np.unique(users))),
        "train_interactions": int(sizes[0]),
        "valid_interactions": int(sizes[1]),
    }


def write_cold_item_split(
    source_dir: Path, dataset: str, user_field: str, item_field: str, separator: str,
    encoding: str, fraction: float, seed: int, data_root: Path,
) -> dict[str, Any]:
    """Write (or reuse) the cold-item split of ``<source_dir>/<dataset>.inter``.

    Layout: ``<data_root>/<dataset>-cold<fraction>-seed<seed>/<dataset>/`` with the three
    ``.inter`` split files, ``split.json`` (cold items, counts, source fingerprint) and links to
    every other file of the source folder. ``<dataset>.inter`` there holds the warm (train and
    valid) interactions only: RecBole does not read it under ``benchmark_filename``, but code that
    checks for it or reads its header finds it, and nothing that opens it can see a test
    interaction. Built in a temp folder and renamed into place, so an
    interrupted run never leaves half a split behind.
    """
    source = source_dir / f"{dataset}.inter"
    if not source.is_file():
        raise DataError(f"cold_item protocol: '{source}' not found (dataset '{dataset}').")
    stat = source.stat()
    fingerprint = {"path": str(source.resolve()), "size": stat.st_size,
                   "mtime_ns": stat.st_mtime_ns}
    root = data_root / f"{dataset}-cold{fraction:g}-seed{seed}"
    cached = _cached_split(root, dataset, fingerprint)
    if cached is not None:
        return cached

    header, rows, users, items = _read_interactions(source, separator, encoding, user_field,
                                                    item_field)
    rng = np.random.default_rng(seed)
    cold = _choose_cold_items(items, fraction, rng, source)
    parts = _assign_rows(users, items, cold, rng)
    meta = {
        "version": SPLIT_FORMAT_VERSION,
        "source": fingerprint,
        "cold_fraction": fraction,
        "seed": seed,
        "cold_items": sorted(cold),
        "counts": {name: len(indices) for name, indices in parts.items()},
    }
    _write_split_folder(root, source_dir, dataset, encoding, header, rows, parts, meta)
    return {**meta, "data_path": str(root)}


def _cached_split(root: Path, dataset: str, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The split already written under ``root`` for this source, or None (a stale one is
    removed)."""
    meta_path = root / dataset / "split.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if meta.get("version") == SPLIT_FORMAT_VERSION and meta.get("source") == fingerprint:
        return {**meta, "data_path": str(root)}
    shutil.rmtree(root)
    return None


def _read_interactions(
    source: Path, separator: str, encoding: str, user_field: str, item_field: str
) -> tuple[str, list[str], list[str], list[str]]:
    """Header line, data lines, and the user and item token of every data line."""
    lines = source.read_text(encoding=encoding).splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    names = [column.split(":")[0] for column in header.split(separator)]
    for name in (user_field, item_field):
        if name not in names:
            raise DataError(f"cold_item protocol: '{source}' has no column '{name}' "
                            f"(header: {header!r}).")
    u_col, i_col = names.index(user_field), names.index(item_field)
    cells = [row.split(separator) for row in rows]
    return header, rows, [c[u_col] for c in cells], [c[i_col] for c in cells]


def _choose_cold_items(
    item_of: list[str], fraction: float, rng: np.random.Generator, source: Path
) -> set[str]:
    """A seeded ``fraction`` of the distinct items (at least one, never all)."""
    items = sorted(set(item_of))
    n_cold = max(1, int(round(fraction * len(items))))
    if n_cold >= len(items):
        raise DataError(f"cold_item protocol: cold_fraction {fraction} leaves no warm item "
                        f"({len(items)} items in '{source}').")
    return set(rng.choice(np.array(items, dtype=object), size=n_cold, replace=False).tolist())


def _assign_rows(
    user_of: list[str], item_of: list[str], cold: set[str], rng: np.random.Generator
) -> dict[str, list[int]]:
    """Row indices of train, valid and test: cold rows to test, warm rows about 8:1 per user."""
    test_rows = [i for i, item in enumerate(item_of) if item in cold]
    by_user: dict[str, list[int]] = {}
    for i, item in enumerate(item_of):
        if item not in cold:
            by_user.setdefault(user_of[i], []).append(i)
    train_rows: list[int] = []
    valid_rows: list[int] = []
    for user in sorted(by_user):
        rows_of_user = [by_user[user][j] for j in rng.permutation(len(by_user[user]))]
        n_valid = int(round(len(rows_of_user) / 9))
        if n_valid == 0 and len(rows_of_user) >= 3:
            n_valid = 1
        valid_rows += rows_of_user[:n_valid]
        train_rows += rows_of_user[n_valid:]
    return {"train": sorted(train_rows), "valid": sorted(valid_rows), "test": test_rows}


def _write_split_folder(
    root: Path, source_dir: Path, dataset: str, encoding: str, header: str, rows: list[str],
    parts: dict[str, list[int]], meta: dict[str, Any],
) -> None:
    """Write the split files, ``split.json`` and side-file links in a temp folder, then rename
    it to ``root`` (a concurrent writer of the same split may win the rename)."""
    data_root = root.parent
    data_root.mkdir(parents=True, exist_ok=True)
    temp_root = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=data_root))
    try:
        temp = temp_root / dataset
        temp.mkdir()
        warm = sorted(parts["train"] + parts["valid"])
        for name, indices in [*parts.items(), ("", warm)]:
            body = "\n".join([header, *(rows[i] for i in indices)]) + "\n"
            suffix = f"{name}.inter" if name else "inter"
            (temp / f"{dataset}.{suffix}").write_text(body, encoding=encoding)
        _link_side_files(source_dir, temp, dataset)
        (temp / "split.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.chmod(temp_root, 0o755)  # mkdtemp makes it private; the split is ordinary data
        try:
            os.replace(temp_root, root)
        except OSError:  # another process finished the same split first
            if not (root / dataset / "split.json").is_file():
                raise
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)


def _link_side_files(source_dir: Path, target: Path, dataset: str) -> None:
    """Make every other file of the dataset folder (.user, .item, .kg, .link, text/embedding
    caches) visible in the split folder: a symlink, or a copy where links are not allowed."""
    skip = {f"{dataset}.inter"} | {f"{dataset}.{name}.inter" for name in SPLIT_FILES}
    for entry in sorted(source_dir.iterdir()):
        if entry.name in skip or entry.name.startswith("."):
            continue
        destination = target / entry.name
        try:
            os.symlink(entry.resolve(), destination, target_is_directory=entry.is_dir())
        except OSError:
            if entry.is_dir():
                shutil.copytree(entry, destination)
            else:
                shutil.copy2(entry, destination)
