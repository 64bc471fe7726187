"""Direction 2 on 5 seeds: each candidate's hyperparameters picked by the mean VALID NDCG@10
over seeds 2020-2024, then paired tests (valid, per user, pooled over seeds; and over seed
means) against tuned EASE. Writes results/explore/closed_forms_valid.json (per-config means).

    PYTHONPATH=$PWD python benchmarks/experiments/closed_forms_seeds.py
    PYTHONPATH=$PWD python benchmarks/experiments/closed_forms_seeds.py --test   # finalists' test

Writes results/explore/closed_forms_valid.json; its printed table is
results/explore/closed_forms_5seeds.txt (both cited in results/explore/ml-100k.md, section 2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import closed_form_scores, knn_scores  # noqa: E402
from screen_closed_forms import view_grams  # noqa: E402

from recbole_llmkg.benchmark.significance import paired_t_p, wilcoxon_p  # noqa: E402
from recbole_llmkg.files import write_text_atomic  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "results" / "explore"


def candidates() -> dict[str, list[dict]]:
    """Family -> grid of configs (reg, drop, side weights, TextKNN blend)."""
    fam: dict[str, list[dict]] = {}
    fam["EASE"] = [{"reg": r} for r in (300, 400, 500, 700, 1000)]
    fam["EDLAE"] = [{"reg": r, "drop": d} for r in (300, 500, 700) for d in (0.25, 0.5, 1.0)]
    fam["EDLAE + text rows"] = [{"reg": 500, "drop": 0.5, "text": w} for w in (10, 30, 100)]
    fam["EDLAE + KG rows (bundled .link)"] = [{"reg": 500, "drop": 0.5, "kg-bundled": w}
                                            for w in (3, 10, 30)]
    fam["EDLAE + KG rows (relinked)"] = [{"reg": r, "drop": 0.5, "kg-relinked": w}
                                         for r in (300, 500) for w in (30, 100, 200)]
    fam["EDLAE + genre rows"] = [{"reg": 500, "drop": 0.5, "genre": w} for w in (10, 30)]
    fam["EDLAE + TextKNN blend"] = [{"reg": 500, "drop": 0.5, "blend": b} for b in (0.1, 0.2, 0.3)]
    fam["EDLAE + KG (relinked) + text + blend"] = [
        {"reg": 500, "drop": 0.5, "kg-relinked": k, "text": t, "blend": b}
        for k in (100, 200) for t in (10, 100) for b in (0.0, 0.2)]
    return fam


def scores_for(cfg: dict, data: common.SplitData, grams: dict, knn: np.ndarray) -> np.ndarray:
    side = sum(cfg[v] * grams[v] for v in grams if cfg.get(v))
    s = closed_form_scores(data.train, cfg["reg"], cfg.get("drop", 0.0),
                           side if not np.isscalar(side) else None)
    if cfg.get("blend"):
        s = s + cfg["blend"] * np.abs(s).mean() / np.abs(knn).mean() * knn
    return s


def main() -> None:
    test = "--test" in sys.argv
    grams = view_grams()
    fam = candidates()
    valid = {f: [[] for _ in grid] for f, grid in fam.items()}  # per config: per seed per-user
    for seed in common.SEEDS:
        data = common.split(seed)
        knn = knn_scores(data.train, common.text_embeddings())
        for f, grid in fam.items():
            for i, cfg in enumerate(grid):
                s = scores_for(cfg, data, grams, knn)
                valid[f][i].append(common.ndcg_per_user(s, data.train, data.valid))
        print(f"seed {seed} done", flush=True)
    best = {}
    table = {}
    for f, grid in fam.items():
        means = [float(np.mean([u.mean() for u in valid[f][i]])) for i in range(len(grid))]
        i = int(np.argmax(means))
        best[f] = (grid[i], valid[f][i])
        table[f] = [{"config": c, "valid_ndcg10_mean": m} for c, m in zip(grid, means, strict=True)]
    ref = best["EASE"][1]
    ref_seed = [u.mean() for u in ref]
    print("\n| model (best config on 5-seed valid) | valid NDCG@10 (5 seeds) | vs tuned EASE | "
          "p users (Wilcoxon) | p seeds (t) |\n|---|---|---|---|---|")
    for f, (cfg, per) in best.items():
        seed_means = [u.mean() for u in per]
        m = float(np.mean(seed_means))
        pu = wilcoxon_p(np.concatenate(per), np.concatenate(ref))
        ps = paired_t_p(seed_means, ref_seed)
        print(f"| {f} {cfg} | {m:.4f} ± {np.std(seed_means, ddof=1):.4f} | "
              f"{100 * (m / np.mean(ref_seed) - 1):+.2f}% | {pu:.2g} | {ps:.2g} |")
    OUT.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT / "closed_forms_valid.json", json.dumps(table, indent=1))
    if test:
        print("\n| finalist | test NDCG@10 (5 seeds) | vs tuned EASE | p users | p seeds |"
              "\n|---|---|---|---|---|")
        per_test = {}
        for f, (cfg, _) in best.items():
            per_test[f] = []
            for seed in common.SEEDS:
                data = common.split(seed)
                knn = knn_scores(data.train, common.text_embeddings())
                per_test[f].append(common.test_ndcg_per_user(scores_for(cfg, data, grams, knn),
                                                             data))
        ref_t = per_test["EASE"]
        for f, per in per_test.items():
            sm = [u.mean() for u in per]
            m = float(np.mean(sm))
            print(f"| {f} | {m:.4f} ± {np.std(sm, ddof=1):.4f} | "
                  f"{100 * (m / np.mean([u.mean() for u in ref_t]) - 1):+.2f}% | "
                  f"{wilcoxon_p(np.concatenate(per), np.concatenate(ref_t)):.2g} | "
                  f"{paired_t_p(sm, [u.mean() for u in ref_t]):.2g} |")
    _ = stats


if __name__ == "__main__":
    main()
