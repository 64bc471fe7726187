"""Direction 2: screen closed-form item models with side information on VALID NDCG@10.

Stage ``ease``: EASE lambda grid and EDLAE drop penalty. Stage ``side``: text / KG (bundled and
relinked) / genre rows stacked under X, a blend with TextKNN scores, a popularity exponent.

    PYTHONPATH=$PWD python benchmarks/experiments/screen_closed_forms.py ease [seed]
    PYTHONPATH=$PWD python benchmarks/experiments/screen_closed_forms.py side [seed] reg drop

Prints results/explore/ease_seed2020_valid.txt (ease), results/explore/side_seed2020_valid.txt
and combo_seed2020_valid.txt (side); side_seed2020_valid.txt is cited in results/explore/ml-100k.md,
section 2.
"""

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import closed_form_scores, knn_scores, normalise_rows, side_gram  # noqa: E402


def report(name: str, scores: np.ndarray, data: common.SplitData, start: float) -> None:
    print(f"| {name} | {common.valid_ndcg(scores, data):.4f} | {time.time() - start:.1f} |",
          flush=True)


def stage_ease(data: common.SplitData) -> None:
    for reg in (100, 200, 250, 300, 400, 500, 700, 1000):
        t = time.time()
        report(f"EASE reg={reg}", closed_form_scores(data.train, reg), data, t)
    for reg in (100, 200, 300, 500):
        for drop in (0.1, 0.25, 0.5, 1.0):
            t = time.time()
            report(f"EDLAE reg={reg} drop={drop}",
                   closed_form_scores(data.train, reg, drop), data, t)


def stage_side(data: common.SplitData, reg: float, drop: float) -> None:
    text = normalise_rows(common.text_embeddings())
    views = {
        "text": text,
        "kg-bundled": normalise_rows(common.kg_matrix()),
        "kg-relinked": normalise_rows(common.kg_matrix(relinked=True)),
        "genre": normalise_rows(common.genre_matrix()),
    }
    for name, view in views.items():
        for w in (3, 10, 30, 100):
            t = time.time()
            side = side_gram({name: (w, view)})
            report(f"reg={reg} drop={drop} + {name} w={w}",
                   closed_form_scores(data.train, reg, drop, side), data, t)
    base = closed_form_scores(data.train, reg, drop)
    knn = knn_scores(data.train, text)
    scale = np.abs(base).mean() / np.abs(knn).mean()
    for w in (0.05, 0.1, 0.2, 0.4):
        t = time.time()
        report(f"reg={reg} drop={drop} blend TextKNN w={w}", base + w * scale * knn, data, t)
    for a in (-0.2, -0.1, 0.1, 0.2):
        t = time.time()
        report(f"reg={reg} drop={drop} pop^{a}",
               closed_form_scores(data.train, reg, drop, item_power=a), data, t)


def view_grams() -> dict[str, np.ndarray]:
    """Cosine Gram ``V V^T`` of each row-normalised side view (computed once)."""
    views = {
        "text": common.text_embeddings(),
        "kg-bundled": common.kg_matrix(),
        "kg-relinked": common.kg_matrix(relinked=True),
        "genre": common.genre_matrix(),
    }
    out = {}
    for name, view in views.items():
        v = sp.csr_matrix(normalise_rows(view)) if sp.issparse(view) else normalise_rows(view)
        g = v @ v.T
        out[name] = g.toarray() if sp.issparse(g) else g
    return out


def stage_combo(data: common.SplitData, reg: float, drop: float) -> None:
    grams = view_grams()
    base_knn = knn_scores(data.train, common.text_embeddings())
    for wk, wt, wg in itertools.product((100, 300, 1000), (0, 10, 100), (0, 10, 30)):
        t = time.time()
        side = wk * grams["kg-relinked"] + wt * grams["text"] + wg * grams["genre"]
        scores = closed_form_scores(data.train, reg, drop, side)
        report(f"reg={reg} drop={drop} kg-relinked={wk} text={wt} genre={wg}", scores, data, t)
        scale = np.abs(scores).mean() / np.abs(base_knn).mean()
        report("  + blend TextKNN 0.2", scores + 0.2 * scale * base_knn, data, t)


def main() -> None:
    stage = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2020
    data = common.split(seed)
    print(f"seed {seed}, split {data.fingerprint[:12]}\n")
    print("| config | valid NDCG@10 | s |\n|---|---|---|")
    if stage == "ease":
        stage_ease(data)
    elif stage == "combo":
        stage_combo(data, float(sys.argv[3]), float(sys.argv[4]))
    else:
        stage_side(data, float(sys.argv[3]), float(sys.argv[4]))


if __name__ == "__main__":
    main()
