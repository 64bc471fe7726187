"""Direction 2, KG view: which form of the (relinked) KG helps collective EASE most?
Binary one-hop incidence vs TF-IDF weighting vs a subset of relations (people, subjects,
sequels, companies: dropping language / country / rating / genre / awards). Mean VALID
NDCG@10 over seeds 2020-2024, EDLAE (drop 0.5) with the KG rows at weight w.

    PYTHONPATH=$PWD python benchmarks/experiments/kg_variants.py

Prints results/explore/kg_variants_valid.txt (cited in results/explore/ml-100k.md, section 2).
"""

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
import common  # noqa: E402
from closed_forms import closed_form_scores, normalise_rows  # noqa: E402

BROAD = ("film.film.language", "film.film.country", "film.film.rating",
         "film.content_rating.film", "film.film.genre", "film.film_genre.films_in_this_genre",
         "film.film.award_nomination", "film.film.award_won")


def tfidf(m: sp.csr_matrix) -> sp.csr_matrix:
    df = np.asarray((m > 0).sum(0)).ravel()
    idf = np.log((m.shape[0] + 1) / (df + 1)) + 1
    return (m @ sp.diags(idf)).tocsr()


def gram(m: sp.csr_matrix) -> np.ndarray:
    v = sp.csr_matrix(normalise_rows(m))
    return (v @ v.T).toarray()


def main() -> None:
    binary = common.kg_matrix(relinked=True)
    core = common.kg_matrix(BROAD, relinked=True)
    grams = {"binary": gram(binary), "tfidf": gram(tfidf(binary)), "core relations": gram(core),
             "core relations tfidf": gram(tfidf(core))}
    data = [common.split(s) for s in common.SEEDS]
    print("| KG form | reg | w | valid NDCG@10 (mean of 5 seeds) |\n|---|---|---|---|")
    for name, g in grams.items():
        for reg in (300, 500):
            for w in (50, 100, 200):
                m = np.mean([common.valid_ndcg(closed_form_scores(d.train, reg, 0.5, w * g), d)
                             for d in data])
                print(f"| {name} | {reg} | {w} | {m:.4f} |", flush=True)


if __name__ == "__main__":
    main()
