"""Every atomic-file check on every file a config will load, for RecBole's own dataset classes.

The plugin's dataset classes check each file as they read it (:mod:`recbole_llmkg.data.text`);
RecBole's classes read files themselves, so :func:`validate_atomic_files` runs the same checks up
front: column counts and headers (:mod:`~recbole_llmkg.data.atomic`), empty ids in ``.kg`` and
``.link``, and duplicated ``.link`` rows (:mod:`~recbole_llmkg.data.link`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from recbole.utils import ModelType

from recbole_llmkg.data.atomic import AtomicFile, check_atomic_file
from recbole_llmkg.data.link import link_file, resolve_link_duplicates


def _suffix(filepath: str | os.PathLike) -> str:
    return Path(filepath).suffix.lstrip(".")


def required_columns(config: Any, filepath: str | os.PathLike) -> tuple[str, ...]:
    """Fields of ``filepath`` that may not be empty: the ids in a ``.kg`` or ``.link`` row."""
    suffix = _suffix(filepath)
    if suffix == "kg":
        keys = ("HEAD_ENTITY_ID_FIELD", "RELATION_ID_FIELD", "TAIL_ENTITY_ID_FIELD")
    elif suffix == "link":
        keys = ("ITEM_ID_FIELD", "ENTITY_ID_FIELD")
    else:
        return ()
    return tuple(str(config[k]) for k in keys if config[k])


def dataset_files(config: Any) -> list[Path]:
    """The atomic files of ``config['dataset']`` that RecBole will read for this config."""
    folder = Path(config["data_path"])
    token = config["dataset"]
    parts = config["benchmark_filename"]
    suffixes = [f"{p}.inter" for p in parts] if parts else ["inter"]
    suffixes += ["user", "item"]
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        suffixes += ["kg", "link"]
    paths = [link_file(config, folder, token) if s == "link" else folder / f"{token}.{s}"
             for s in suffixes]
    return [p for p in paths if p.is_file()]


def check_link_file(config: Any, checked: AtomicFile, apply: bool) -> pd.Series:
    """Mask of the ``.link`` rows to keep (see :func:`resolve_link_duplicates`)."""
    iid, eid = config["ITEM_ID_FIELD"], config["ENTITY_ID_FIELD"]
    frame = pd.read_csv(
        checked.path,
        sep=config["field_separator"],
        usecols=[f"{iid}:token", f"{eid}:token"],
        dtype=str,
        keep_default_na=False,
        encoding=config["encoding"] or "utf-8",
        engine="c",
    )
    return resolve_link_duplicates(
        checked.path,
        frame[f"{iid}:token"].to_numpy(),
        frame[f"{eid}:token"].to_numpy(),
        checked.line_numbers,
        apply=apply,
    )


def validate_atomic_files(config: Any) -> list[AtomicFile]:
    """Check every atomic file RecBole's dataset classes will load for ``config``.

    Raises :class:`~recbole_llmkg.errors.DataError` naming file and line for what RecBole would
    misread (wrong column counts, undecodable bytes, empty ids, duplicated ``.link`` rows); warns
    for what it reads correctly (an extra trailing field).
    """
    results = []
    for path in dataset_files(config):
        checked = check_atomic_file(
            path,
            config["field_separator"],
            config["encoding"] or "utf-8",
            repair=False,
            required=required_columns(config, path),
        )
        if path.suffix == ".link":
            check_link_file(config, checked, apply=False)
        results.append(checked)
    return results
