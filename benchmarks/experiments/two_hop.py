"""Direction 2, last screen: a two-hop term on top of collective EASE, ``X B + mu X B B``
(item-item paths of length two), and the best KG + text blend at a lower lambda.
Mean VALID NDCG@10 over seeds 2020-2024.

    PYTHONPATH=$PWD python benchmarks/experiments/two_hop.py

Prints results/explore/two_hop_valid.txt (its numbers: results/explore/ml-100k.md, section 2).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import ease_weights, knn_scores  # noqa: E402
from kg_variants import gram  # noqa: E402


def main() -> None:
    g_kg = gram(common.kg_matrix(relinked=True))
    data = [common.split(s) for s in common.SEEDS]
    print("| config | valid NDCG@10 (mean of 5 seeds) |\n|---|---|")
    results: dict[str, list[float]] = {}
    for d in data:
        x = d.train.astype(np.float64)
        xtx = (x.T @ x).toarray()
        knn = knn_scores(d.train, common.text_embeddings())
        for label, reg, w in (("EASE", 400, 0), ("EDLAE + KG", 200, 200)):
            b = ease_weights(xtx + w * g_kg, reg, 0.5 if w else 0.0)
            one = np.asarray(x @ b)
            two = np.asarray(x @ (b @ b))
            for mu in (0.0, 0.1, 0.3):
                s = one + mu * two * np.abs(one).mean() / np.abs(two).mean()
                results.setdefault(f"{label} reg={reg} w={w} two-hop mu={mu}", []).append(
                    common.valid_ndcg(s, d))
                for blend in (0.1, 0.2):
                    sb = s + blend * np.abs(s).mean() / np.abs(knn).mean() * knn
                    results.setdefault(f"{label} reg={reg} w={w} two-hop mu={mu} "
                                       f"+ TextKNN {blend}", []).append(common.valid_ndcg(sb, d))
    for name, values in results.items():
        print(f"| {name} | {np.mean(values):.4f} |")


if __name__ == "__main__":
    main()
