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

    PYTHONPATH=$PWD python benchmarks/experiments/cold.py [seed]
    PYTHONPATH=$PWD python benchmarks/experiments/cold.py --seeds   (key rows, 5 seeds, p-values)

Prints results/explore/cold_seed2020_valid.txt ([seed]) and results/explore/cold_5seeds_valid.txt
(--seeds), cited in results/explore/ml-100k.md, section 4.
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
    """NDCG@10 all items (cold + warm targets), cold share of top-10, NDCG@10 cold only."""
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


def calibrate(cold_scores: np.ndarray, warm_scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rescale cold-item scores so their mean magnitude over cold columns matches the warm
    model's mean magnitude over warm columns (one global factor, no per-user fitting)."""
    return cold_scores * (np.abs(warm_scores[:, ~mask]).mean()
                          / max(np.abs(cold_scores[:, mask]).mean(), 1e-12))


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2020
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
    kg_ease = rows["EDLAE + KG relinked rows w=300"]
    cold_sources = {"TextKNN": text_knn, "KG-EASE (w=300) cold columns": kg_ease}
    cold_sources["TextKNN + KG-EASE"] = (calibrate(text_knn, ease, mask)
                                         + calibrate(kg_ease, ease, mask)) / 2
    for name, cold_scores in cold_sources.items():
        for gamma in (1.0, 1.5, 2.0, 2.5, 3.0):
            blended = np.where(mask[None, :], gamma * calibrate(cold_scores, ease, mask), ease)
            rows[f"EDLAE warm + {name} cold, x{gamma}"] = blended
    for name, s in rows.items():
        a, b, c = evaluate(s, train, cold_target, valid_warm, mask)
        print(f"| {name} | {a:.4f} | {b:.3f} | {c:.4f} |", flush=True)




def five_seeds() -> None:
    """Key rows on seeds 2020-2024 with paired tests (per user, pooled; and over seed means)."""
    from recbole_llmkg.benchmark.significance import paired_t_p, wilcoxon_p

    grams = view_grams()
    per = {}
    for seed in common.SEEDS:
        data = common.split(seed)
        train, cold_target, valid_warm, mask = pseudo_cold(data, seed)
        ease = closed_form_scores(train, 500, 0.5)
        text_knn = knn_scores(train, common.text_embeddings())
        kg_ease = closed_form_scores(train, 500, 0.5, 300 * grams["kg-relinked"])
        combo = (calibrate(text_knn, ease, mask) + calibrate(kg_ease, ease, mask)) / 2
        target = (cold_target + valid_warm).tocsr()
        rows_cold = {"TextKNN": text_knn, "KG-EASE cold columns": kg_ease,
                     "TextKNN + KG-EASE": combo}
        rows_all = {"EDLAE": ease,
                    "EDLAE warm + TextKNN cold x2.5": np.where(
                        mask[None, :], 2.5 * calibrate(text_knn, ease, mask), ease),
                    "EDLAE warm + TextKNN+KG-EASE cold x2.5": np.where(
                        mask[None, :], 2.5 * calibrate(combo, ease, mask), ease)}
        for name, s in rows_cold.items():
            only = np.where(mask[None, :], s, -np.inf)
            per.setdefault(("cold only", name), []).append(
                common.ndcg_per_user(only, train, cold_target))
        for name, s in rows_all.items():
            per.setdefault(("all items", name), []).append(common.ndcg_per_user(s, train, target))
        print(f"seed {seed} done", flush=True)
    print("\n| view | model | valid NDCG@10 (5 seeds) | vs first row | p users | p seeds |")
    print("|---|---|---|---|---|---|")
    for view in ("cold only", "all items"):
        keys = [k for k in per if k[0] == view]
        ref = per[keys[0]]
        for key in keys:
            sm = [u.mean() for u in per[key]]
            rm = [u.mean() for u in ref]
            print(f"| {view} | {key[1]} | {np.mean(sm):.4f} ± {np.std(sm, ddof=1):.4f} | "
                  f"x{np.mean(sm) / np.mean(rm):.3f} | "
                  f"{wilcoxon_p(np.concatenate(per[key]), np.concatenate(ref)):.2g} | "
                  f"{paired_t_p(sm, rm):.2g} |")


if __name__ == "__main__":
    five_seeds() if "--seeds" in sys.argv else main()
