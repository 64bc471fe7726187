"""Repeated ``.kg`` triples: each copy would be one more edge between the same two entities.

RecBole's KnowledgeBasedDataset keeps every row of ``.kg``, so a triple written twice (two
sources merged, a script run twice) doubles that edge's weight in every graph built from it
(KGAT's attention, KGIN's and LightGCN-style sums, TransE samples) without a word. The plugin's KG
dataset drops the repeats with one warning naming the count and an example; RecBole's own class,
whose reader the plugin does not replace, keeps them, and the warning says so and names the fix
(a repeat is never meaningful, but refusing the file would stop runs that are only slightly off).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)
_SHOWN = 3


def repeated_triples(path: str | os.PathLike, heads: np.ndarray, relations: np.ndarray,
                     tails: np.ndarray, lines: np.ndarray, dropped: bool = True) -> np.ndarray:
    """Mask of the ``.kg`` rows to keep: the first copy of each triple; warns when any repeats.

    ``dropped``: the caller keeps only the masked rows (else the warning says RecBole keeps them).
    """
    frame = pd.DataFrame({"h": heads, "r": relations, "t": tails, "line": lines})
    repeat = frame.duplicated(["h", "r", "t"], keep="first").to_numpy()
    if not repeat.any():
        return ~repeat
    first = frame.groupby(["h", "r", "t"], sort=False)["line"].transform("first").to_numpy()
    shown = "; ".join(
        f"'{h} {r} {t}' on line {line} (first on line {f})"
        for h, r, t, line, f in zip(heads[repeat][:_SHOWN], relations[repeat][:_SHOWN],
                                    tails[repeat][:_SHOWN], lines[repeat][:_SHOWN],
                                    first[repeat][:_SHOWN], strict=True)
    )
    more = f" and {repeat.sum() - _SHOWN} more" if repeat.sum() > _SHOWN else ""
    outcome = ("they were dropped (a copy would be one more edge between the same entities)"
               if dropped else
               "RecBole's KnowledgeBasedDataset keeps every copy, each one more edge between "
               "the same entities; remove the repeats from the file")
    logger.warning("KG file '%s' repeats %d triple(s): %s%s; %s.", path, int(repeat.sum()),
                   shown, more, outcome)
    return ~repeat
