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
from recbole_llmkg.data.link import link_file, report_unlinked, resolve_link_duplicates
from recbole_llmkg.data.triples import repeated_triples


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
        encoding="utf-8-sig" if checked.bom else config["encoding"] or "utf-8",
        engine="c",
    )
    return resolve_link_duplicates(
        checked.path,
        frame[f"{iid}:token"].to_numpy(),
        frame[f"{eid}:token"].to_numpy(),
        checked.line_numbers,
        apply=apply,
    )


def loaded_fields(config: Any, filepath: str | os.PathLike) -> set[str] | None:
    """The fields RecBole loads from ``filepath`` (None: all), as its ``_get_load_and_unload_col``
    reads ``load_col`` and ``unload_col``."""
    source = _suffix(filepath)
    load_col, unload_col = config["load_col"], config["unload_col"]
    if load_col is None or load_col.get(source) == "*":
        fields = None
    else:
        fields = set(load_col.get(source) or [])
    if unload_col and source in unload_col:
        if fields is None:
            with open(filepath, encoding="utf-8-sig", errors="replace") as f:
                header = f.readline().rstrip("\r\n").split(config["field_separator"])
            fields = {c.partition(":")[0] for c in header}
        fields -= set(unload_col[source])
    return fields


def _read_columns(config: Any, checked: AtomicFile, fields: list[str]) -> pd.DataFrame:
    """The named token columns of a checked file, as strings (pandas' fast reader)."""
    wanted = [c for c in checked.header if c.partition(":")[0] in fields]
    frame = pd.read_csv(checked.path, sep=config["field_separator"], usecols=wanted, dtype=str,
                        keep_default_na=False, engine="c",
                        encoding="utf-8-sig" if checked.bom else config["encoding"] or "utf-8")
    frame.columns = [c.partition(":")[0] for c in frame.columns]
    return frame


def check_knowledge_rows(config: Any, checked: list[AtomicFile]) -> None:
    """Warn about what RecBole's KnowledgeBasedDataset uses or drops without a word: repeated
    ``.kg`` triples (:mod:`~recbole_llmkg.data.triples`) and ``.link`` rows of unknown items or
    entities (:func:`~recbole_llmkg.data.link.report_unlinked`)."""
    by_suffix = {Path(c.path).suffix: c for c in checked}
    kg, link = by_suffix.get(".kg"), by_suffix.get(".link")
    if kg is None or link is None:
        return
    head, rel, tail = (str(config[k]) for k in
                       ("HEAD_ENTITY_ID_FIELD", "RELATION_ID_FIELD", "TAIL_ENTITY_ID_FIELD"))
    triples = _read_columns(config, kg, [head, rel, tail])
    repeated_triples(kg.path, triples[head].to_numpy(), triples[rel].to_numpy(),
                     triples[tail].to_numpy(), kg.line_numbers, dropped=False)
    iid, eid = str(config["ITEM_ID_FIELD"]), str(config["ENTITY_ID_FIELD"])
    rows = _read_columns(config, link, [iid, eid])
    items = pd.concat([_read_columns(config, c, [iid])[iid] for c in checked
                       if Path(c.path).suffix in (".inter", ".item")
                       and any(h.partition(":")[0] == iid for h in c.header)])
    entities = pd.concat([triples[head], triples[tail]])
    report_unlinked(link.path, rows[iid].to_numpy(), rows[eid].to_numpy(), link.line_numbers,
                    rows[iid].isin(items).to_numpy(), rows[eid].isin(entities).to_numpy())


def validate_atomic_files(config: Any) -> list[AtomicFile]:
    """Check every atomic file RecBole's dataset classes will load for ``config``.

    Raises :class:`~recbole_llmkg.errors.DataError` naming file and line for what RecBole would
    misread (wrong column counts, undecodable bytes, empty ids, duplicated ``.link`` rows, a
    loaded ``float`` value that is not a number); warns for what it reads correctly (an extra
    trailing field). A file starting with a UTF-8 byte-order mark switches ``encoding`` to
    ``utf-8-sig`` for this run, so RecBole's reader drops the mark.
    """
    results = []
    for path in dataset_files(config):
        checked = check_atomic_file(
            path,
            config["field_separator"],
            config["encoding"] or "utf-8",
            repair=False,
            required=required_columns(config, path),
            numeric=loaded_fields(config, path),
        )
        if path.suffix == ".link":
            check_link_file(config, checked, apply=False)
        results.append(checked)
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        check_knowledge_rows(config, results)
    if any(checked.bom for checked in results) and \
            str(config["encoding"] or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8"):
        config["encoding"] = "utf-8-sig"  # RecBole's reader then drops the mark (see atomic)
    return results
