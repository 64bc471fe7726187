"""MovieLens-1M with a knowledge graph and LLM-written item descriptions, as RecBole atomic files.

The inputs are public files kept outside the project (``../shared/datasets/ml-1m/``; where each
comes from: ``datasets/README.md``): CoLaKG's implicit interactions (``colakg_train.txt`` and
``colakg_test.txt``, merged: the board splits anew) with its index maps back to MovieLens-1M ids,
GroupLens' ``movies.dat`` and ``users.dat``, MKR's knowledge graph (``mkr_kg.txt``) and its
movie -> entity links, and CoLaKG's LLM descriptions (``colakg_llm_response_item.json``). The
project commits none of them and nothing derived from them: :func:`convert` writes, at run time,
into a git-ignored folder (:func:`recbole_llmkg.paths.converted_datasets_dir`):

* ``ml-1m.inter``  ``user_id:token  item_id:token``: every interaction (no rating, no time).
  Raw tokens are MovieLens-1M ids. Rows are grouped by user; inside a user the order is a seeded
  random draw (``ORDER_SEED``): without timestamps the file order means nothing, and CoLaKG's
  order would put its own train items first (the cold-user protocol's "first n" follow file order
  when there is no time field).
* ``ml-1m.item``   ``movie_title:token_seq release_year:token class:token_seq``, the fields of
  RecBole's ml-100k ``.item`` (title without its ``(year)``, genres space-separated), so the same
  text templates apply; only items with interactions (an item with none would only add a
  candidate nobody can hit).
* ``ml-1m.user``   ``age gender occupation zip_code`` like ml-100k, with MovieLens-1M's age
  bucket and occupation codes written as their README's labels (``25-34``, ``programmer``).
* ``ml-1m.kg``     ``head_id relation_id tail_id``: every triple, entities written ``e<index>``
  so an entity token never equals an item token; relations keep their names
  (``film.film.director``). A triple about a film without interactions is kept: its film is then
  a plain entity (as for the films MKR never linked).
* ``ml-1m.link``   ``item_id entity_id``: the links of items that have interactions.
* ``ml-1m.knowledge``  UTF-8, tab-separated, header ``item_id<TAB>knowledge``, one row per item
  with a description, keyed by the raw item token; tabs and line breaks in a text collapsed to
  one space. Texts contain double quotes: read it with quoting off (``csv.QUOTE_NONE``).
* ``conversion.json``  the inputs' fingerprint and the counts: a second run with unchanged inputs
  (and converter version) writes nothing.

Every file is written atomically (:mod:`recbole_llmkg.files`), the manifest last, so a crash
never leaves a folder that looks converted. A malformed input line is a
:class:`~recbole_llmkg.errors.DataError` naming the file and line.

Command line: ``python -m recbole_llmkg.data.movielens_1m [--source DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbole_llmkg.errors import DataError, DatasetFileNotFoundError, LLMKGError
from recbole_llmkg.files import file_sha256, write_text_atomic

logger = logging.getLogger(__name__)

DATASET = "ml-1m"
CONVERTER_VERSION = 1  # bump when the output changes for the same inputs
ORDER_SEED = 0  # the within-user order of ml-1m.inter
MANIFEST = "conversion.json"
INTERACTION_FILES = ("colakg_train.txt", "colakg_test.txt")
SOURCE_FILES = (*INTERACTION_FILES, "colakg_item_map.txt", "colakg_user_map.txt", "movies.dat",
                "users.dat", "mkr_kg.txt", "mkr_item_index2entity_id.txt",
                "colakg_llm_response_item.json")
OUTPUT_SUFFIXES = ("inter", "item", "user", "kg", "link", "knowledge")
ENTITY_PREFIX = "e"
DOWNLOAD_HINT = ("download the originals as datasets/README.md says (CoLaKG, MKR, GroupLens) into "
                 "../shared/datasets/ml-1m/, or run 'python -m recbole_llmkg.data.movielens_1m "
                 "--source DIR'")
# MovieLens-1M README: "Age is chosen from the following ranges", "Occupation is chosen from".
AGE_LABELS = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55",
              56: "56+"}
OCCUPATIONS = ("other", "academic/educator", "artist", "clerical/admin", "college/grad student",
               "customer service", "doctor/health care", "executive/managerial", "farmer",
               "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
               "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
               "unemployed", "writer")


@dataclass
class Conversion:
    """What a conversion read, wrote and dropped (``converted``: False when it was a no-op)."""

    out: str
    converted: bool
    fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The counts as the lines the command line prints."""
        c = self.counts
        head = (f"{DATASET}: converted into {self.out}" if self.converted
                else f"{DATASET}: up to date in {self.out} (inputs unchanged; nothing written)")
        return [
            head,
            f"  interactions: {c['interactions_read']:,} read, {c['interactions']:,} written "
            f"({c['duplicate_interactions']:,} duplicate pairs dropped); {c['users']:,} users, "
            f"{c['items']:,} items",
            f"  movies.dat: {c['movies']:,} movies, {c['movies_without_interactions']:,} without "
            "interactions (left out of .item)",
            f"  links: {c['links_read']:,} read, {c['links']:,} written, "
            f"{c['links_unknown_item']:,} for movies without interactions dropped",
            f"  triples: {c['triples_read']:,} read, {c['triples']:,} written "
            f"({c['duplicate_triples']:,} duplicates dropped); {c['triples_unlinked_head']:,} "
            f"with a head MKR links to no MovieLens film, {c['triples_unknown_item_head']:,} "
            "about films without interactions (kept as plain entities)",
            f"  knowledge: {c['knowledge']:,} of {c['items']:,} items described "
            f"({c['descriptions_read']:,} descriptions read)",
        ]


# ------------------------------------------------------------------------------------- reading
def _text(path: Path, fallback: str | None = None) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if fallback is not None:  # GroupLens' own movies.dat is ISO-8859-1
            return data.decode(fallback)
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"'{path}', line {line}: bytes that are not UTF-8; "
                        f"{DOWNLOAD_HINT}.") from None


def _read_table(path: Path, sep: str, names: Sequence[str], integers: Sequence[str] = (),
                fallback_encoding: str | None = None) -> pd.DataFrame:
    """The ``sep``-separated fields ``names`` of every non-blank line, with a ``line`` column.

    A line with another number of fields, an empty field, or a non-integer in one of
    ``integers`` is a :class:`DataError` naming the file and line.
    """
    lines = pd.Series(_text(path, fallback_encoding).splitlines(), dtype=object)
    numbers = np.arange(1, len(lines) + 1)
    keep = lines.str.strip().str.len().to_numpy() > 0
    lines, numbers = lines[keep].reset_index(drop=True), numbers[keep]
    if not len(lines):
        raise DataError(f"'{path}' has no data lines; {DOWNLOAD_HINT}.")
    cells = lines.str.split(sep, regex=False)
    width = cells.str.len().to_numpy()
    wrong = np.flatnonzero(width != len(names))
    if len(wrong):
        i = wrong[0]
        raise DataError(
            f"'{path}', line {numbers[i]}: expected {len(names)} fields separated by {sep!r} "
            f"({', '.join(names)}), found {width[i]} in {lines[i][:80]!r}; the file looks "
            f"truncated or garbled ({len(wrong)} such line(s)): {DOWNLOAD_HINT}.")
    frame = pd.DataFrame(cells.tolist(), columns=list(names))
    for name in names:
        frame[name] = frame[name].str.strip()
        empty = np.flatnonzero(frame[name].str.len().to_numpy() == 0)
        if len(empty):
            raise DataError(f"'{path}', line {numbers[empty[0]]}: field '{name}' is empty; "
                            f"{DOWNLOAD_HINT}.")
    for name in integers:
        value = pd.to_numeric(frame[name].where(frame[name].str.fullmatch(r"\d+")),
                              errors="coerce")
        bad = np.flatnonzero(value.isna().to_numpy())
        if len(bad):
            raise DataError(f"'{path}', line {numbers[bad[0]]}: field '{name}' is "
                            f"{frame[name][bad[0]]!r}, not a whole number; {DOWNLOAD_HINT}.")
        frame[name] = value.astype(np.int64)
    frame["line"] = numbers
    return frame


def _read_index_lists(path: Path) -> pd.DataFrame:
    """``user``, ``item`` (CoLaKG indices) and ``line`` of each item on ``user item item ...``
    lines, vectorised over the file's bytes."""
    data = path.read_bytes()
    buf = np.frombuffer(data, dtype=np.uint8)
    space = np.isin(buf, np.frombuffer(b" \t\r\n", dtype=np.uint8))
    newlines = np.flatnonzero(buf == 10)
    bad = np.flatnonzero(~space & ((buf < 48) | (buf > 57)))
    if len(bad):
        line = int(np.searchsorted(newlines, bad[0])) + 1
        start = newlines[line - 2] + 1 if line > 1 else 0
        shown = data[start: start + 60].split(b"\n")[0].decode("utf-8", "replace")
        raise DataError(f"'{path}', line {line}: {chr(buf[bad[0]])!r} is not part of a "
                        f"'user_index item_index ...' line of whole numbers ({shown!r}); the file "
                        f"looks garbled: {DOWNLOAD_HINT}.")
    starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    line = np.searchsorted(newlines, starts, side="right") + 1  # 1-based line of each number
    values = np.array(data.split()).astype(np.int64) if len(starts) else np.zeros(0, np.int64)
    first = np.concatenate([[True], line[1:] != line[:-1]])
    per_line = np.diff(np.concatenate([np.flatnonzero(first), [len(line)]]))
    alone = np.flatnonzero(per_line < 2)
    if len(alone):
        raise DataError(f"'{path}', line {line[first][alone[0]]}: a user index with no item "
                        f"index after it; the file looks truncated: {DOWNLOAD_HINT}.")
    user_lines = line[first]
    users = values[first]
    seen, counts = np.unique(users, return_counts=True)
    if (counts > 1).any():
        twice = seen[counts > 1][0]
        raise DataError(f"'{path}', line {user_lines[users == twice][1]}: user index {twice} "
                        f"has a second line; {DOWNLOAD_HINT}.")
    return pd.DataFrame({"user": np.repeat(users, per_line - 1), "item": values[~first],
                         "line": line[~first]})


def _index_map(path: Path) -> np.ndarray:
    """``original id`` per CoLaKG index (``original_id index`` lines); -1 where undefined."""
    frame = _read_table(path, " ", ("original_id", "index"), integers=("original_id", "index"))
    index = frame["index"].to_numpy()
    seen, first = np.unique(index, return_index=True)
    if len(seen) < len(index):
        dup = np.setdiff1d(np.arange(len(index)), first)[0]
        raise DataError(f"'{path}', line {frame['line'][dup]}: index {index[dup]} is mapped "
                        f"twice; {DOWNLOAD_HINT}.")
    table = np.full(int(index.max()) + 1, -1, dtype=np.int64)
    table[index] = frame["original_id"].to_numpy()
    return table


def _map_indices(values: pd.Series, table: np.ndarray, lines: pd.Series, path: Path,
                 what: str, map_file: str) -> np.ndarray:
    raw = values.to_numpy()
    mapped = np.where(raw < len(table), table[np.minimum(raw, len(table) - 1)], -1)
    unknown = np.flatnonzero(mapped < 0)
    if len(unknown):
        i = unknown[0]
        raise DataError(f"'{path}', line {lines.iloc[i]}: {what} index {raw[i]} is not in "
                        f"'{map_file}' ({len(unknown)} unknown); the two files do not belong "
                        f"together: {DOWNLOAD_HINT}.")
    return mapped


def _interactions(source: Path) -> tuple[pd.DataFrame, int]:
    """Merged (user, item) MovieLens-1M ids, duplicates dropped, in ``ORDER_SEED`` order within
    each user; and the number of interactions read."""
    user_map = _index_map(source / "colakg_user_map.txt")
    item_map = _index_map(source / "colakg_item_map.txt")
    parts = []
    for name in INTERACTION_FILES:
        path = source / name
        rows = _read_index_lists(path)
        parts.append(pd.DataFrame({
            "user": _map_indices(rows["user"], user_map, rows["line"], path, "user",
                                 "colakg_user_map.txt"),
            "item": _map_indices(rows["item"], item_map, rows["line"], path, "item",
                                 "colakg_item_map.txt"),
        }))
    merged = pd.concat(parts, ignore_index=True)
    read = len(merged)
    merged = merged.drop_duplicates(ignore_index=True)
    shuffle = np.random.default_rng(ORDER_SEED).random(len(merged))
    order = np.lexsort((shuffle, merged["user"].to_numpy()))
    return merged.iloc[order].reset_index(drop=True), read


def _require(ids: np.ndarray, known: np.ndarray, path: Path, what: str) -> None:
    missing = np.setdiff1d(ids, known)
    if len(missing):
        raise DataError(f"'{path}' has no row for {what} {missing[0]} ({len(missing)} missing), "
                        f"which the interactions use; {DOWNLOAD_HINT}.")


def _descriptions(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"'{path}', line {error.lineno}: not valid JSON ({error.msg}); the file "
                        f"looks truncated or garbled: {DOWNLOAD_HINT}.") from None
    if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
        raise DataError(f"'{path}', line 1: expected one JSON object mapping a MovieLens-1M "
                        f"movie id to its description text; {DOWNLOAD_HINT}.")
    return loaded


# ------------------------------------------------------------------------------------- writing
def _atomic_text(columns: dict[str, pd.Series]) -> str:
    """Tab-separated lines (a ``name:type`` header, then the rows), without any quoting."""
    values = [series.astype(str).reset_index(drop=True) for series in columns.values()]
    body = values[0].str.cat(values[1:], sep="\t") if len(values) > 1 else values[0]
    return "\n".join(["\t".join(columns), *body.tolist()]) + "\n"


def _one_line(texts: pd.Series) -> pd.Series:
    return texts.str.replace(r"[\t\r\n]+", " ", regex=True).str.strip()


def source_fingerprint(source: str | os.PathLike) -> str:
    """sha256 over the converter version and the sha256 of every input file."""
    source = Path(source)
    missing = [name for name in SOURCE_FILES if not (source / name).is_file()]
    if missing:
        raise DatasetFileNotFoundError(
            f"MovieLens-1M source folder '{source}' lacks {', '.join(missing)}; {DOWNLOAD_HINT}.")
    parts = [f"converter {CONVERTER_VERSION}"]
    parts += [f"{name} {file_sha256(source / name)}" for name in SOURCE_FILES]
    return hashlib.sha256("\n".join(parts).encode("ascii")).hexdigest()


def _up_to_date(out: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    complete = all((out / f"{DATASET}.{suffix}").is_file() for suffix in OUTPUT_SUFFIXES)
    return manifest if complete and manifest.get("fingerprint") == fingerprint else None


def convert(source: str | os.PathLike, out: str | os.PathLike) -> Conversion:
    """Convert the files in ``source`` into ``out`` (the ``ml-1m`` dataset folder).

    A no-op when ``out`` holds a conversion of the same inputs (fingerprint in
    ``conversion.json``). Raises :class:`DataError` naming the file and line of a malformed
    input, :class:`DatasetFileNotFoundError` when an input is missing.
    """
    source, out = Path(source), Path(out)
    fingerprint = source_fingerprint(source)
    done = _up_to_date(out, fingerprint)
    if done is not None:
        return Conversion(str(out), False, fingerprint, done["counts"])

    inter, read = _interactions(source)
    items = np.unique(inter["item"].to_numpy())
    users = np.unique(inter["user"].to_numpy())
    movies_path, users_path = source / "movies.dat", source / "users.dat"
    movies = _read_table(movies_path, "::", ("movie_id", "title", "genres"),
                         integers=("movie_id",), fallback_encoding="latin-1")
    people = _read_table(users_path, "::", ("user_id", "gender", "age", "occupation", "zip"),
                         integers=("user_id", "age", "occupation"))
    _require(items, movies["movie_id"].to_numpy(), movies_path, "movie id")
    _require(users, people["user_id"].to_numpy(), users_path, "user id")

    movie_rows = movies[movies["movie_id"].isin(items)].sort_values("movie_id")
    title = movie_rows["title"].str.extract(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
    no_year = np.flatnonzero(title["year"].isna().to_numpy())
    if len(no_year):
        row = movie_rows.iloc[no_year[0]]
        raise DataError(f"'{movies_path}', line {row['line']}: title {row['title']!r} does not "
                        f"end with its '(year)'; {DOWNLOAD_HINT}.")
    user_rows = people[people["user_id"].isin(users)].sort_values("user_id")
    for name, valid in (("age", list(AGE_LABELS)), ("occupation", range(len(OCCUPATIONS)))):
        bad = np.flatnonzero(~user_rows[name].isin(valid).to_numpy())
        if len(bad):
            row = user_rows.iloc[bad[0]]
            raise DataError(f"'{users_path}', line {row['line']}: {name} code {row[name]} is "
                            f"not one of MovieLens-1M's codes ({', '.join(map(str, valid))}).")

    links_path, kg_path = source / "mkr_item_index2entity_id.txt", source / "mkr_kg.txt"
    links = _read_table(links_path, "\t", ("movie_id", "entity"), integers=("movie_id", "entity"))
    kept_links = links[links["movie_id"].isin(items)].sort_values("movie_id")
    triples = _read_table(kg_path, "\t", ("head", "relation", "tail"), integers=("head", "tail"))
    unique_triples = triples.drop_duplicates(["head", "relation", "tail"])
    linked = links["entity"].to_numpy()
    dropped_films = links["entity"][~links["movie_id"].isin(items)].to_numpy()

    texts = _descriptions(source / "colakg_llm_response_item.json")
    item_tokens = pd.Series(items.astype(str))
    knowledge = _one_line(item_tokens.map(texts))
    described = knowledge.notna().to_numpy() & (knowledge.str.len().to_numpy() > 0)

    outputs = {
        "inter": _atomic_text({"user_id:token": inter["user"], "item_id:token": inter["item"]}),
        "item": _atomic_text({
            "item_id:token": movie_rows["movie_id"],
            "movie_title:token_seq": _one_line(title["title"]),
            "release_year:token": title["year"],
            "class:token_seq": movie_rows["genres"].str.replace("|", " ", regex=False),
        }),
        "user": _atomic_text({
            "user_id:token": user_rows["user_id"],
            "age:token": user_rows["age"].map(AGE_LABELS),
            "gender:token": user_rows["gender"],
            "occupation:token": user_rows["occupation"].map(dict(enumerate(OCCUPATIONS))),
            "zip_code:token": user_rows["zip"],
        }),
        "kg": _atomic_text({
            "head_id:token": ENTITY_PREFIX + unique_triples["head"].astype(str),
            "relation_id:token": unique_triples["relation"],
            "tail_id:token": ENTITY_PREFIX + unique_triples["tail"].astype(str),
        }),
        "link": _atomic_text({"item_id:token": kept_links["movie_id"],
                              "entity_id:token": ENTITY_PREFIX + kept_links["entity"].astype(str)}),
        "knowledge": _atomic_text({"item_id": item_tokens[described],
                                   "knowledge": knowledge[described]}),
    }
    counts = {
        "interactions_read": read, "interactions": len(inter),
        "duplicate_interactions": read - len(inter), "users": len(users), "items": len(items),
        "movies": len(movies), "movies_without_interactions": int((~movies["movie_id"]
                                                                    .isin(items)).sum()),
        "links_read": len(links), "links": len(kept_links),
        "links_unknown_item": len(links) - len(kept_links),
        "triples_read": len(triples), "triples": len(unique_triples),
        "duplicate_triples": len(triples) - len(unique_triples),
        "triples_unlinked_head": int((~unique_triples["head"].isin(linked)).sum()),
        "triples_unknown_item_head": int(unique_triples["head"].isin(dropped_films).sum()),
        "descriptions_read": len(texts), "knowledge": int(described.sum()),
    }
    if counts["interactions"] + counts["duplicate_interactions"] != read:  # every one accounted
        raise DataError(f"{DATASET} conversion lost interactions: {counts}")
    for suffix, text in outputs.items():
        write_text_atomic(out / f"{DATASET}.{suffix}", text)
    manifest = {"dataset": DATASET, "converter_version": CONVERTER_VERSION,
                "fingerprint": fingerprint, "source": str(source.resolve()), "counts": counts}
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    for suffix in (*OUTPUT_SUFFIXES, None):  # mkstemp makes files private; this is plain data
        os.chmod(out / (MANIFEST if suffix is None else f"{DATASET}.{suffix}"), 0o644)
    return Conversion(str(out), True, fingerprint, counts)


# ---------------------------------------------------------------- finding it without manual steps
def default_source_dirs() -> list[Path]:
    """Where the originals are looked for: ``../shared/datasets/ml-1m`` beside a checkout of the
    project, then relative to the working directory."""
    from recbole_llmkg.paths import PACKAGE_DIR

    return [PACKAGE_DIR.parent.parent / "shared" / "datasets" / DATASET,
            Path.cwd().parent / "shared" / "datasets" / DATASET]


def default_source_dir() -> Path | None:
    """The first of :func:`default_source_dirs` that holds the originals, or None."""
    return next((path for path in default_source_dirs()
                 if all((path / name).is_file() for name in SOURCE_FILES)), None)


def ensure_converted(root: str | os.PathLike) -> Path:
    """``<root>/ml-1m`` converted from the default originals (a no-op when up to date), or the
    existing folder when the originals are not there.

    Raises :class:`DatasetFileNotFoundError` when neither exists: RecBole would otherwise
    download its own, different ml-1m (explicit ratings, 1,000,209 rows) under the same name.
    """
    folder = Path(root) / DATASET
    source = default_source_dir()
    if source is None:
        if (folder / f"{DATASET}.inter").is_file():
            return folder
        raise DatasetFileNotFoundError(
            f"Dataset '{DATASET}' is converted by the plugin from downloaded originals, and none "
            f"were found (looked in {', '.join(map(str, default_source_dirs()))}); "
            f"{DOWNLOAD_HINT}. To use RecBole's own ml-1m instead, set data_path to its folder.")
    result = convert(source, folder)
    if result.converted:
        logger.info("\n".join(result.lines()))
    return folder


# --------------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recbole_llmkg.data.movielens_1m``: convert and print the counts."""
    from recbole_llmkg.paths import converted_datasets_dir

    parser = argparse.ArgumentParser(
        prog="python -m recbole_llmkg.data.movielens_1m",
        description="Convert MovieLens-1M (CoLaKG interactions and LLM descriptions, MKR "
                    "knowledge graph, GroupLens metadata) to RecBole atomic files.")
    parser.add_argument("--source", type=Path, default=None,
                        help="folder with the original files (default: ../shared/datasets/ml-1m "
                             "beside the checkout or the working directory)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"dataset folder to write (default: "
                             f"{converted_datasets_dir() / DATASET})")
    args = parser.parse_args(argv)
    source = args.source or default_source_dir()
    if source is None:
        print(f"error: no MovieLens-1M originals found in "
              f"{', '.join(map(str, default_source_dirs()))}; {DOWNLOAD_HINT}.", file=sys.stderr)
        return 2
    try:
        result = convert(source, args.out or converted_datasets_dir() / DATASET)
    except LLMKGError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(result.lines()))
    return 0


__all__ = ["Conversion", "convert", "ensure_converted", "source_fingerprint", "main"]

if __name__ == "__main__":
    sys.exit(main())
