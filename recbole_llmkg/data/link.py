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

import numpy as np
import pandas as pd

from recbole_llmkg.errors import DataError

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
