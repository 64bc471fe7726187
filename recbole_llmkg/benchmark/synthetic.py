"""A seeded synthetic movie world of any size, written as RecBole atomic files.

Shape, chosen to look like ml-100k where it matters for cost and signal:

* user activity and item popularity follow power laws (Zipf over a random order);
* every item has 1-3 genres, every user 1-2 favourite genres, and ``genre_affinity`` of a user's
  interactions go to items of those genres, so genres (as text or as KG entities) carry signal;
* item titles draw most words from their genres' vocabularies, so text similarity carries the
  same signal; ``.item`` has ``movie_title``, ``release_year`` and ``class`` (genres), like
  ml-100k;
* a KG with several relations (genre, director, actor, writer, language, country, year) whose
  tail entities have Zipf-distributed degrees; a share of items has no ``.link`` row, as 84 of
  ml-100k's 1,682 do;
* timestamps spread over several years; ratings 1-5, higher for favourite genres.

Optionally ``--emb-dim D`` writes ``.itememb`` / ``.useremb`` (bag-of-words vectors over the same
vocabulary), so benchmarks can skip the language model. Everything is vectorised numpy; the same
arguments and seed give the same bytes.

    python -m recbole_llmkg.benchmark.synthetic --users 20000 --items 20000 --out datasets --seed 0
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import write_atomic

GENRES = ("Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Horror", "Musical", "Mystery", "Romance", "SciFi", "Thriller", "War",
          "Western")
OCCUPATIONS = ("student", "engineer", "artist", "doctor", "writer", "lawyer", "teacher",
               "programmer", "scientist", "retired", "librarian", "marketing")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sil", "bar", "den", "mor", "an", "el",
              "is", "ul", "dra", "fen", "gor", "hal", "jin", "qua")
#: KG relations: (name, mean tails per item, entity pool per item, Zipf exponent of tail degree)
RELATIONS = (
    ("film.film.director", 1.0, 0.25, 1.1),
    ("film.film.actor", 6.0, 1.5, 1.05),
    ("film.film.writer", 1.5, 0.4, 1.1),
    ("film.film.language", 1.0, 0.002, 1.5),
    ("film.film.country", 1.2, 0.003, 1.5),
    ("film.film.release_year", 1.0, 0.004, 0.6),
)
WORDS_PER_GENRE = 40
COMMON_WORDS = 60


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes and shape of one synthetic dataset (every field has a realistic default)."""

    users: int
    items: int
    interactions_per_user: float = 20.0
    seed: int = 0
    name: str = "synth"
    popularity_exponent: float = 0.9  # Zipf exponent of item popularity
    activity_sigma: float = 1.0  # log-normal spread of user activity
    genre_affinity: float = 0.7  # share of interactions inside a user's favourite genres
    link_coverage: float = 0.95  # share of items with a .link row (KG entity)
    emb_dim: int = 0  # write .itememb / .useremb of this dimension (0 = none)

    def check(self) -> None:
        """Raise a :class:`ConfigError` naming the bad argument."""
        if self.users < 2 or self.items < 2:
            raise ConfigError(
                f"synthetic: --users and --items must be at least 2; got {self.users}, "
                f"{self.items}."
            )
        if not 1 <= self.interactions_per_user <= self.items:
            raise ConfigError(
                f"synthetic: --inter-per-user must be between 1 and --items ({self.items}); "
                f"got {self.interactions_per_user}."
            )
        for key, value in (("genre-affinity", self.genre_affinity),
                           ("link-coverage", self.link_coverage)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"synthetic: --{key} must be in [0, 1]; got {value}.")


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities ``~ rank^-exponent`` over ``n`` entries in a random order."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def _vocabulary() -> np.ndarray:
    """Pseudo-words: ``len(GENRES) * WORDS_PER_GENRE`` genre words, then common words."""
    n = len(GENRES) * WORDS_PER_GENRE + COMMON_WORDS
    s = np.array(_SYLLABLES)
    k = len(s)
    i = np.arange(n)
    words = np.char.add(np.char.add(s[i % k], s[(i // k) % k]), s[(i // k // k) % k])
    return np.char.capitalize(words)


def _sample_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: indices of ``u`` (uniform draws) under the cumulative ``cum``."""
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(cum) - 1)


def _items(spec: SyntheticSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, g = spec.items, len(GENRES)
    n_genres = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    genre_rank = np.argsort(rng.random((n, g)) / _zipf_weights(g, 0.7, rng), axis=1)
    genres = np.where(np.arange(3) < n_genres[:, None], genre_rank[:, :3], -1)  # [n, 3]
    # title: 2 words from the first genre, 1 from another genre of the item, 1 common word
    pick = rng.integers(0, WORDS_PER_GENRE, size=(n, 4))
    second = np.where(genres[:, 1] >= 0, genres[:, 1], genres[:, 0])
    title_words = np.stack([
        genres[:, 0] * WORDS_PER_GENRE + pick[:, 0],
        genres[:, 0] * WORDS_PER_GENRE + pick[:, 1],
        second * WORDS_PER_GENRE + pick[:, 2],
        g * WORDS_PER_GENRE + rng.integers(0, COMMON_WORDS, size=n),
    ], axis=1)
    return {
        "genres": genres,
        "title_words": title_words,
        "year": rng.integers(1930, 2025, size=n),
        "popularity": _zipf_weights(n, spec.popularity_exponent, rng),
    }


def _interactions(spec: SyntheticSpec, items: dict[str, np.ndarray],
                  rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``(user, item, rating, timestamp, favourite genres)``, deduplicated per user."""
    n_users, g = spec.users, len(GENRES)
    activity = rng.lognormal(0.0, spec.activity_sigma, size=n_users)
    counts = np.maximum(
        np.round(activity / activity.mean() * spec.interactions_per_user), 5
    ).astype(np.int64)
    counts = np.minimum(counts, spec.items // 2 + 1)
    favourite = np.argsort(rng.random((n_users, g)), axis=1)[:, :2]  # [n_users, 2]
    favourite[:, 1] = np.where(rng.random(n_users) < 0.5, favourite[:, 0], favourite[:, 1])
    users = np.repeat(np.arange(n_users), counts)
    total = len(users)
    in_genre = rng.random(total) < spec.genre_affinity
    genre = favourite[users, rng.integers(0, 2, size=total)]
    picked = _sample_rows(np.cumsum(items["popularity"]), rng.random(total))
    # favourite-genre draws: popularity-weighted among the items of that genre
    has = (items["genres"][:, :, None] == np.arange(g)).any(axis=1)  # [n_items, g]
    for k in range(g):  # one pass per genre (a handful), vectorised inside
        rows = np.flatnonzero(in_genre & (genre == k))
        members = np.flatnonzero(has[:, k])
        if len(rows) and len(members):
            cum = np.cumsum(items["popularity"][members])
            picked[rows] = members[_sample_rows(cum, rng.random(len(rows)))]
    pairs = np.unique(users * spec.items + picked)
    user, item = pairs // spec.items, pairs % spec.items
    liked = has[item][np.arange(len(item))[:, None], favourite[user]].any(axis=1)
    rating = np.clip(np.where(liked, 4, 3) + rng.integers(-1, 2, size=len(item)), 1, 5)
    start = rng.integers(874_000_000, 890_000_000, size=n_users)
    timestamp = start[user] + rng.integers(0, 40_000_000, size=len(item))
    return user, item, rating, timestamp, favourite


def _knowledge(spec: SyntheticSpec, items: dict[str, np.ndarray],
               rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``.kg`` triples (head = item entity) and ``.link`` rows."""
    n = spec.items
    heads, relations, tails = [], [], []
    genre_items, genre_slot = np.nonzero(items["genres"] >= 0)
    heads.append(genre_items)
    relations.append(np.full(len(genre_items), "film.film.genre"))
    tails.append(np.char.add("m.g", items["genres"][genre_items, genre_slot].astype(str)))
    for name, mean, pool, exponent in RELATIONS:
        per_item = rng.poisson(mean - 1, size=n) + 1 if mean >= 1 else rng.poisson(mean, size=n)
        head = np.repeat(np.arange(n), per_item)
        size = max(2, int(round(pool * n)))
        if name.endswith("release_year"):
            tail = (items["year"][head] - 1930) % size
        else:
            tail = _sample_rows(np.cumsum(_zipf_weights(size, exponent, rng)),
                                rng.random(len(head)))
        prefix = "m." + name.rsplit(".", 1)[1][:3]
        heads.append(head)
        relations.append(np.full(len(head), name))
        tails.append(np.char.add(prefix, tail.astype(str)))
    kg = pd.DataFrame({
        "head_id:token": np.char.add("m.i", (np.concatenate(heads) + 1).astype(str)),
        "relation_id:token": np.concatenate(relations),
        "tail_id:token": np.concatenate(tails),
    }).drop_duplicates(ignore_index=True)
    linked = np.flatnonzero(rng.random(n) < spec.link_coverage) + 1
    link = pd.DataFrame({"item_id:token": linked,
                         "entity_id:token": np.char.add("m.i", linked.astype(str))})
    return kg, link


def _bag_of_words(rows: np.ndarray, n_cols: int, vectors: np.ndarray) -> np.ndarray:
    """L2-normalised sum of word vectors; ``rows`` is ``[n, w]`` word ids (-1 = none)."""
    r, c = np.nonzero(rows >= 0)
    counts = sp.csr_matrix((np.ones(len(r)), (r, rows[r, c])), shape=(len(rows), n_cols))
    out = np.asarray(counts @ vectors, dtype=np.float32)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _embedding_frame(ids: np.ndarray, matrix: np.ndarray, id_field: str, emb_field: str) -> bytes:
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([ids, matrix]), comments="",
               fmt="%d\t" + " ".join(["%.5f"] * matrix.shape[1]),
               header=f"{id_field}:token\t{emb_field}:float_seq")
    return buffer.getvalue().encode("utf-8")


def generate(spec: SyntheticSpec) -> dict[str, bytes]:
    """The dataset's files as ``{suffix: bytes}`` (``inter``, ``item``, ``user``, ``kg``, ...)."""
    spec.check()
    rng = np.random.default_rng(spec.seed)
    vocab = _vocabulary()
    genre_names = np.array(GENRES)
    items = _items(spec, rng)
    user, item, rating, timestamp, favourite = _interactions(spec, items, rng)
    kg, link = _knowledge(spec, items, rng)
    item_ids = np.arange(1, spec.items + 1)
    user_ids = np.arange(1, spec.users + 1)
    genre_text = genre_names[np.maximum(items["genres"], 0)]
    genre_text = np.where(items["genres"] >= 0, genre_text, "")
    classes = np.char.strip(np.char.add(np.char.add(genre_text[:, 0], " "),
                                        np.char.add(np.char.add(genre_text[:, 1], " "),
                                                    genre_text[:, 2])))
    words = vocab[items["title_words"]]
    titles = np.char.add(np.char.add(words[:, 0], " "), np.char.add(words[:, 1], " "))
    titles = np.char.add(titles, np.char.add(np.char.add(words[:, 2], " "), words[:, 3]))
    frames = {
        "inter": pd.DataFrame({"user_id:token": user + 1, "item_id:token": item + 1,
                               "rating:float": rating, "timestamp:float": timestamp}),
        "item": pd.DataFrame({"item_id:token": item_ids, "movie_title:token_seq": titles,
                              "release_year:token": items["year"],
                              "class:token_seq": np.char.replace(classes, "  ", " ")}),
        "user": pd.DataFrame({
            "user_id:token": user_ids,
            "age:token": rng.integers(16, 75, size=spec.users),
            "gender:token": np.array(["M", "F"])[rng.integers(0, 2, size=spec.users)],
            "occupation:token": np.array(OCCUPATIONS)[
                rng.integers(0, len(OCCUPATIONS), size=spec.users)],
        }),
        "kg": kg,
        "link": link,
    }
    files = {k: f.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")
             for k, f in frames.items()}
    if spec.emb_dim > 0:
        n_words = len(vocab) + len(GENRES)
        vectors = rng.standard_normal((n_words, spec.emb_dim))
        genre_words = np.where(items["genres"] >= 0, items["genres"] + len(vocab), -1)
        item_emb = _bag_of_words(np.hstack([items["title_words"], genre_words]), n_words, vectors)
        user_emb = _bag_of_words(favourite + len(vocab), n_words, vectors)
        files["itememb"] = _embedding_frame(item_ids, item_emb, "item_id", "item_emb")
        files["useremb"] = _embedding_frame(user_ids, user_emb, "user_id", "user_emb")
    return files


def write_dataset(spec: SyntheticSpec, out: str | Path) -> Path:
    """Write ``<out>/<name>/<name>.<suffix>`` atomically; returns the dataset folder."""
    folder = Path(out) / spec.name
    for suffix, data in generate(spec).items():
        write_atomic(folder / f"{spec.name}.{suffix}", lambda f, d=data: f.write(d))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--inter-per-user", type=float, default=20.0,
                        help="mean interactions per user (before de-duplication)")
    parser.add_argument("--out", required=True, help="folder that receives <name>/<name>.*")
    parser.add_argument("--name", default="synth", help="dataset name (file prefix)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--emb-dim", type=int, default=0,
                        help="also write .itememb/.useremb of this dimension (0 = no)")
    parser.add_argument("--genre-affinity", type=float, default=0.7)
    parser.add_argument("--link-coverage", type=float, default=0.95)
    args = parser.parse_args(argv)
    spec = SyntheticSpec(
        users=args.users, items=args.items, interactions_per_user=args.inter_per_user,
        seed=args.seed, name=args.name, emb_dim=args.emb_dim,
        genre_affinity=args.genre_affinity, link_coverage=args.link_coverage,
    )
    folder = write_dataset(spec, args.out)
    print(folder)


if __name__ == "__main__":
    main()
