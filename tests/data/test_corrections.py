"""The corrected ml-100k ``.link`` the leaderboard uses (``datasets/corrections/``).

RecBole's bundled file is keyed by MovieLens-1M ids, so the films its KG calls one director's
share a genre no more often than random films. The shipped correction must make the KG agree
with the item file: films with the same director share a genre far more often than chance.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import recbole

from recbole_llmkg.config import datasets_dir

BUNDLED = Path(recbole.__file__).parent / "dataset_example" / "ml-100k"
CORRECTED = datasets_dir() / "corrections" / "ml-100k.link"


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def same_director_genre_share(link_path: Path) -> tuple[float, int]:
    """Share of (item, item) pairs with a common director (KG) that share a genre (.item)."""
    link = _read(link_path)
    kg = _read(BUNDLED / "ml-100k.kg")
    directed = kg[kg["relation_id"] == "film.film.directed_by"]
    films = directed.merge(link, left_on="head_id", right_on="entity_id")[["item_id", "tail_id"]]
    pairs = films.merge(films, on="tail_id")
    pairs = pairs[pairs["item_id_x"] < pairs["item_id_y"]]
    genres = _read(BUNDLED / "ml-100k.item").set_index("item_id")["class"].str.split()
    left = genres.reindex(pairs["item_id_x"]).to_numpy()
    right = genres.reindex(pairs["item_id_y"]).to_numpy()
    shared = [bool(set(a) & set(b)) for a, b in zip(left, right, strict=True)]
    return sum(shared) / len(shared), len(shared)


def random_genre_share(n: int = 20000) -> float:
    genres = _read(BUNDLED / "ml-100k.item")["class"].str.split().to_numpy()
    left = pd.Series(genres).sample(n, replace=True, random_state=0).to_numpy()
    right = pd.Series(genres).sample(n, replace=True, random_state=1).to_numpy()
    return sum(bool(set(a) & set(b)) for a, b in zip(left, right, strict=True)) / n


@pytest.mark.skipif(not (BUNDLED / "ml-100k.kg").is_file(), reason="RecBole's ml-100k not found")
def test_corrected_link_makes_same_director_films_share_genres():
    chance = random_genre_share()
    bundled, _ = same_director_genre_share(BUNDLED / "ml-100k.link")
    corrected, n_pairs = same_director_genre_share(CORRECTED)
    assert n_pairs > 100
    assert abs(bundled - chance) < 0.08, (bundled, chance)  # the bundled file: chance level
    assert corrected > chance + 0.25, (corrected, chance)


def test_corrected_link_is_one_entity_per_item_and_item_per_entity():
    link = _read(CORRECTED)
    assert len(link) > 1400
    assert link["item_id"].is_unique and link["entity_id"].is_unique
    items = set(_read(BUNDLED / "ml-100k.item")["item_id"]) if BUNDLED.is_dir() else None
    assert items is None or set(link["item_id"]) <= items
