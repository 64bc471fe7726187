"""Direction 4: cold items on a VALIDATION built without touching test.

The board's cold_item protocol has no cold item in valid. Here a pseudo-cold validation is cut
from the standard split's TRAIN part only: a seeded 10% of the items are made cold (all their
train interactions removed and used as the cold targets); the model trains on the rest. Two
views, as on the board: ``all`` ranks every item (targets: the cold items' interactions plus
the standard valid rows, so warm accuracy counts too) and reports the share of cold items in
the top-10 lists; ``cold`` ranks the cold items only (warm items masked).

Remedy screened: score cold items by a text (or KG) kNN score, scaled to the EASE score range
by a weight gamma tuned on this validation; and collective EASE, where side rows give cold
items weights natively.

    PYTHONPATH=$PWD python benchmarks/explore/cold.py [seed]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import closed_form_scores, knn_scores  # noqa: E402
from screen_closed_forms import view_grams  # noqa: E402

K = 10


def pseudo_cold(data: common.SplitData, seed: int, fraction: float = 0.1):
    rng = np.random.default_rng(seed + 7)
    warm_items = np.flatnonzero(np.asarray(data.train.sum(0)).ravel() > 0)
    cold = np.sort(rng.choice(warm_items, int(round(fraction * len(warm_items))), replace=False))
    mask = np.zeros(data.n_items, bool)
    mask[cold] = True
    keep = sp.diags((~mask).astype(np.float32))
    train = (data.train @ keep).tocsr()
    train.eliminate_zeros()
    cold_target = (data.train @ sp.diags(mask.astype(np.float32))).tocsr()
    cold_target.eliminate_zeros()
    valid_warm = (data.valid @ keep).tocsr()  # valid rows of cold items would leak nothing, but
    valid_warm.eliminate_zeros()              # keep the all-items target = cold + warm valid
    return train, cold_target, valid_warm, mask


def evaluate(scores: np.ndarray, train: sp.csr_matrix, cold_target: sp.csr_matrix,
             valid_warm: sp.csr_matrix, mask: np.ndarray) -> tuple[float, float, float]:
    """(NDCG@10 all items on cold+warm targets, share of cold items in top-10, NDCG@10 cold only)."""
    target = (cold_target + valid_warm).tocsr()
    target.data[:] = 1
    ndcg_all = common.ndcg_per_user(scores, train, target).mean()
    s = scores.copy()
    s[train.nonzero()] = -np.inf
    top = np.argpartition(-s, K, axis=1)[:, :K]
    share = mask[top].mean()
    cold_only = np.where(mask[None, :], scores, -np.inf)
    ndcg_cold = common.ndcg_per_user(cold_only, train, cold_target).mean()
    return float(ndcg_all), float(share), float(ndcg_cold)


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 2020
    data = common.split(seed)
    train, cold_target, valid_warm, mask = pseudo_cold(data, seed)
    grams = view_grams()
    print(f"seed {seed}: {mask.sum()} pseudo-cold items, {cold_target.nnz} cold targets\n")
    print("| model | valid NDCG@10 all items | cold share of top-10 | valid NDCG@10 cold only |")
    print("|---|---|---|---|")
    ease = closed_form_scores(train, 500, 0.5)
    text_knn = knn_scores(train, common.text_embeddings())
    rows = {"EDLAE (reg 500, drop 0.5)": ease, "TextKNN": text_knn}
    for name, view in (("text", "text"), ("KG relinked", "kg-relinked")):
        for w in (30, 100, 300):
            rows[f"EDLAE + {name} rows w={w}"] = closed_form_scores(train, 500, 0.5,
                                                                    w * grams[view])
    scale = np.abs(ease[:, ~mask]).mean() / np.abs(text_knn[:, ~mask]).mean()
    for gamma in (0.5, 1.0, 2.0, 4.0):
        blended = np.where(mask[None, :], gamma * scale * text_knn, ease)
        rows[f"EDLAE warm + TextKNN cold x{gamma}"] = blended
    for name, s in rows.items():
        a, b, c = evaluate(s, train, cold_target, valid_warm, mask)
        print(f"| {name} | {a:.4f} | {b:.3f} | {c:.4f} |", flush=True)


if __name__ == "__main__":
    main()
