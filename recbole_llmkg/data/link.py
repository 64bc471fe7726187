"""Duplicated ``.link`` rows: RecBole's item/entity merge needs each item and entity once.

RecBole's KnowledgeBasedDataset reads ``.link`` into two dicts (item -> entity, entity -> item),
so a later row silently replaces an earlier one in one dict but not in the other, and the merge of
item and entity ids that follows gives the item the entity's id in one place and not in another:
the item's KG neighbours are lost and an entity vanishes. The plugin's KG dataset applies one
rule instead, with a warning naming both lines: for an item linked twice the last row wins, then
for an entity linked from two items the last of the remaining rows wins (RecBole's "last row
wins", made one-to-one). For RecBole's own dataset class, which cannot apply it, duplicates are an
error naming both lines.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from recbole.data.dataset import KnowledgeBasedDataset

from recbole_llmkg.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

RULE = (
    "for an item linked twice the last row wins, then for an entity linked from two items the "
    "last of the remaining rows wins"
)
_SHOWN = 5


def _duplicates(tokens: np.ndarray, lines: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Rows to keep (the last per token) and one description per dropped row."""
    frame = pd.DataFrame({"token": tokens, "line": lines})
    dropped = frame.duplicated("token", keep="last").to_numpy()
    last_line = frame.groupby("token", sort=False)["line"].transform("last").to_numpy()
    notes = [
        f"{what} '{t}' on line {a} and line {b}"
        for t, a, b in zip(tokens[dropped], lines[dropped], last_line[dropped], strict=True)
    ]
    return ~dropped, notes


def resolve_link_duplicates(
    path: str | os.PathLike,
    items: np.ndarray,
    entities: np.ndarray,
    lines: np.ndarray,
    apply: bool = True,
) -> np.ndarray:
    """Boolean mask of the ``.link`` rows to keep (all when there are no duplicates).

    With ``apply`` the rule is applied with a warning; without it (RecBole's loader) any
    duplicate is a :class:`DataError`.
    """
    items, entities, lines = (np.asarray(a) for a in (items, entities, lines))
    keep, notes = _duplicates(items, lines, "item")
    idx = np.flatnonzero(keep)
    keep_entities, entity_notes = _duplicates(entities[idx], lines[idx], "entity")
    keep[idx[~keep_entities]] = False
    notes += entity_notes
    if not notes:
        return keep
    more = f" (and {len(notes) - _SHOWN} more)" if len(notes) > _SHOWN else ""
    shown = "; ".join(notes[:_SHOWN]) + more
    if not apply:
        raise DataError(
            f"Link file '{path}' links {shown}. RecBole's KnowledgeBasedDataset keeps one row in "
            "its item -> entity map and another in its entity -> item map, which mixes up item and "
            "entity ids. Keep one row per item and per entity."
        )
    logger.warning(
        "Link file '%s' links %s; %d row(s) dropped by the rule: %s.", path, shown, len(notes), RULE
    )
    return keep


def report_unlinked(path: str | os.PathLike, items: np.ndarray, entities: np.ndarray,
                    lines: np.ndarray, item_known: np.ndarray, entity_known: np.ndarray) -> None:
    """Warn (count and examples) about the ``.link`` rows RecBole's KnowledgeBasedDataset skips
    without a word: an item not in the dataset, or an entity in no ``.kg`` triple."""
    items, entities, lines = (np.asarray(a) for a in (items, entities, lines))
    unknown_item = ~np.asarray(item_known, dtype=bool)
    unknown_entity = ~unknown_item & ~np.asarray(entity_known, dtype=bool)
    for mask, what, values in ((unknown_item, "name items that are not in the dataset", items),
                               (unknown_entity, "link an item to an entity that is in no .kg "
                                "triple", entities)):
        if mask.any():
            shown = ", ".join(f"'{v}' on line {n}"
                              for v, n in zip(values[mask][:_SHOWN], lines[mask][:_SHOWN],
                                              strict=True))
            more = f" and {mask.sum() - _SHOWN} more" if mask.sum() > _SHOWN else ""
            logger.warning("%d of %d rows of '%s' %s (%s%s); they were skipped.",
                           int(mask.sum()), len(items), path, what, shown, more)


# -- which .link file a run reads ----------------------------------------------------------
# RecBole's bundled ml-100k.link is keyed by MovieLens-1M ids (a scrambled graph; the project's
# measurement is in results/explore/knowledge_quality.txt), so a dataset with a shipped
# correction (datasets/corrections/<dataset>.link) reads it by default, in plain runs as on the
# board. ``kg_link_file: dataset`` opts back to the dataset folder's own file (RecBole's);
# a path reads that file.
LINK_FILE_KEY = "kg_link_file"
DATASET_LINK = "dataset"


def shipped_correction(dataset: str) -> Path | None:
    """The plugin's corrected ``.link`` of ``dataset``, if it ships one."""
    from recbole_llmkg.paths import datasets_dir

    path = datasets_dir() / "corrections" / f"{dataset}.link"
    return path if path.is_file() else None


def link_file(config: Any, dataset_path: str | os.PathLike, token: str) -> Path:
    """The ``.link`` file to read for ``token`` under ``config[kg_link_file]``: ``~`` = the shipped
    correction when there is one and the dataset folder's own file is not a board's replacement
    (a split folder's side file wins), else the folder's; ``dataset`` = the folder's; a path.
    A config without the key (saved before it existed) reads the folder's own file."""
    own = Path(dataset_path) / f"{token}.link"
    if LINK_FILE_KEY not in config:  # a config from before the key (an older checkpoint's):
        return own  # the file it was trained on
    value = config[LINK_FILE_KEY]
    if value in (None, ""):
        corrected = shipped_correction(token)
        if corrected is not None and _is_recbole_bundled(own):
            return corrected
        return own
    if value == DATASET_LINK:
        return own
    path = Path(os.path.expanduser(str(value)))
    if not path.is_file():
        raise ConfigError(f"Config key '{LINK_FILE_KEY}': file '{value}' not found; give a .link "
                          f"file, '{DATASET_LINK}' (the dataset folder's own) or ~ (default).")
    return path


def _is_recbole_bundled(path: Path) -> bool:
    """Whether ``path`` is (a link to) RecBole's bundled dataset file, not a board split's own
    replacement."""
    from recbole_llmkg.paths import recbole_dir

    bundled = recbole_dir()
    if bundled is None or not path.exists():
        return False
    try:
        return path.resolve().is_relative_to((bundled / "dataset_example").resolve())
    except OSError:
        return False


def log_link_file(path: Path, token: str) -> None:
    """Say which link file was read (the default one differs from RecBole's for ml-100k)."""
    corrected = shipped_correction(token)
    if corrected is not None and path.resolve() == corrected.resolve():
        logger.info("Link file: '%s' (the plugin's correction of %s's .link; config "
                    "'%s: %s' reads the dataset's own).", path, token, LINK_FILE_KEY, DATASET_LINK)
    else:
        logger.info("Link file: '%s'.", path)


class CorrectedLinkDataset(KnowledgeBasedDataset):
    """RecBole's KnowledgeBasedDataset reading the ``.link`` file :func:`link_file` chooses: the
    class RecBole's own KG models get through the plugin."""

    def _load_link(self, token, dataset_path):
        path = link_file(self.config, dataset_path, token)
        log_link_file(path, token)
        frame = self._load_feat(str(path), "link")
        self._check_link(frame)
        items = frame[self.iid_field].to_numpy()
        entities = frame[self.entity_field].to_numpy()
        return dict(zip(items, entities, strict=True)), dict(zip(entities, items, strict=True))
