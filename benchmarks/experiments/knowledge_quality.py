"""Direction 1: how often do an item's neighbours share a genre / a release decade?

Neighbour kinds (top-10 per item unless stated): KG (items sharing >= 1 one-hop KG entity,
ranked by the number shared; also cosine top-10 on entity incidence), text (cosine of the
item text embeddings), co-occurrence (cosine on the seed-2020 TRAIN interaction matrix), and
random pairs. Items without a neighbour of a kind are left out of that kind's rates.

    PYTHONPATH=$PWD python benchmarks/experiments/knowledge_quality.py

Prints results/explore/knowledge_quality.txt (cited in results/explore/ml-100k.md, section 1, and
properties/benchmark/ml-100k.yaml).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402


def topk_neighbours(sim: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    top = np.argpartition(-sim, k, axis=1)[:, :k]
    ok = np.take_along_axis(sim, top, 1) > 0
    return top, ok


def share_rates(top: np.ndarray, ok: np.ndarray) -> tuple[float, float, int]:
    genres = common.genre_matrix().toarray() > 0
    dec = common.decade()
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1]).reshape(top.shape)
    g = (genres[rows] & genres[top]).any(-1)
    d = (dec[rows] == dec[top]) & (dec[rows] >= 0)
    return float(g[ok].mean()), float(d[ok].mean()), int(ok.any(1).sum())


def main() -> None:
    n = len(common.items_table())
    rng = np.random.default_rng(0)
    kinds = {"random pairs": rng.random((n, n)) + 1e-9}
    for relinked in (False, True):
        kg = common.kg_matrix(relinked=relinked)
        shared = (kg @ kg.T).toarray().astype(np.float64)
        np.fill_diagonal(shared, 0)
        shared += rng.random(shared.shape) * 1e-6 * (shared > 0)  # random tie order
        tag = "relinked .link" if relinked else "bundled .link"
        kinds[f"KG ({tag}): most shared entities"] = shared
        kinds[f"KG ({tag}): cosine on entity incidence"] = common.cosine(kg)
    train = common.split(2020).train
    kinds.update({
        "text embedding cosine": common.cosine(common.text_embeddings()),
        "co-occurrence cosine (train)": common.cosine(train.T),
    })
    print("| neighbours (top-10 per item) | share a genre | same decade | items with neighbours |")
    print("|---|---|---|---|")
    for name, sim in kinds.items():
        np.fill_diagonal(sim, 0)
        g, d, m = share_rates(*topk_neighbours(sim))
        print(f"| {name} | {g:.3f} | {d:.3f} | {m} |")
    # per relation: precision of 'share an entity through relation r'
    print("\n| KG relation (items linked by a shared tail) | pairs | share a genre | same decade |")
    print("|---|---|---|---|")
    rels = common.kg_relations()
    genres = common.genre_matrix()
    gg = (genres @ genres.T).toarray() > 0
    dec = common.decade()
    dd = (dec[:, None] == dec[None, :]) & (dec[:, None] >= 0)
    for relinked, r in [(x, r) for x in (False, True) for r in rels.index]:
        keep = tuple(x for x in rels.index if x != r)
        m = common.kg_matrix(keep, relinked=relinked)
        if m.nnz == 0:
            continue
        co = (m @ m.T).toarray() > 0
        np.fill_diagonal(co, False)
        pairs = int(co.sum() // 2)
        if pairs == 0:
            continue
        tag = "relinked" if relinked else "bundled"
        print(f"| {r} ({tag}) | {pairs} | {gg[co].mean():.3f} | {dd[co].mean():.3f} |")


if __name__ == "__main__":
    main()
