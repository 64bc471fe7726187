"""Write the ``tiny`` dataset: a small, seeded movie world in RecBole atomic-file format.

50 users, 80 items, about 600 interactions, with user profiles, item titles and genres, and a
knowledge graph (director, actor, genre) linked to items. Users prefer one or two genres, so a
model that reads genres (as text or as KG entities) has signal to find. Re-running the script
rewrites identical files (fixed seed); the files are committed so tests never need to run it.

    python datasets/make_tiny.py
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 7
N_USERS, N_ITEMS = 50, 80
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "SciFi"]
ADJECTIVES = ["Silent", "Broken", "Golden", "Last", "Hidden", "Burning", "Frozen", "Lost",
              "Crimson", "Endless"]
NOUNS = ["River", "Empire", "Garden", "Signal", "Harbor", "Planet", "Mirror", "Road",
         "Kingdom", "Storm"]
OCCUPATIONS = ["student", "engineer", "artist", "doctor", "writer", "lawyer", "teacher"]
OUT = Path(__file__).resolve().parent / "tiny"


def _write(name: str, header: list[str], rows: list[list[object]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    (OUT / f"tiny.{name}").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    OUT.mkdir(exist_ok=True)

    items = []
    for i in range(1, N_ITEMS + 1):
        genres = rng.sample(GENRES, k=rng.choice([1, 1, 2]))
        title = f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {i}"
        items.append((i, title, rng.randint(1970, 2020), genres))
    _write("item", ["item_id:token", "movie_title:token_seq", "release_year:token",
                    "class:token_seq"],
           [[i, t, y, " ".join(g)] for i, t, y, g in items])

    users = []
    for u in range(1, N_USERS + 1):
        users.append((u, rng.randint(16, 70), rng.choice("MF"), rng.choice(OCCUPATIONS),
                      rng.sample(GENRES, k=rng.choice([1, 2]))))
    _write("user", ["user_id:token", "age:token", "gender:token", "occupation:token"],
           [[u, a, g, o] for u, a, g, o, _ in users])

    inter = []
    for u, _, _, _, liked in users:
        liked_items = [i for i, _, _, g in items if set(g) & set(liked)]
        other_items = [i for i, _, _, g in items if not set(g) & set(liked)]
        n = rng.randint(8, 16)
        chosen = set(rng.sample(liked_items, k=min(len(liked_items), n - 2)))
        chosen |= set(rng.sample(other_items, k=2))
        for i in sorted(chosen):
            rating = rng.randint(4, 5) if i in liked_items else rng.randint(1, 3)
            inter.append([u, i, rating, 880000000 + rng.randint(0, 10_000_000)])
    _write("inter", ["user_id:token", "item_id:token", "rating:float", "timestamp:float"], inter)

    # Knowledge graph: item entities m.i<id>; directors, actors and genres as tail entities.
    kg, link = [], []
    for i, _, _, genres in items:
        head = f"m.i{i}"
        if i % 20 != 0:  # every 20th item has no KG link, as in real data
            link.append([i, head])
        kg.append([head, "film.film.director", f"m.d{rng.randint(1, 15)}"])
        for actor in rng.sample(range(1, 31), k=2):
            kg.append([head, "film.film.actor", f"m.a{actor}"])
        kg.extend([head, "film.film.genre", f"m.g{g.lower()}"] for g in genres)
    _write("kg", ["head_id:token", "relation_id:token", "tail_id:token"], kg)
    _write("link", ["item_id:token", "entity_id:token"], link)
    print(f"wrote {OUT}: {len(users)} users, {len(items)} items, {len(inter)} interactions, "
          f"{len(kg)} triples, {len(link)} links")


if __name__ == "__main__":
    main()
