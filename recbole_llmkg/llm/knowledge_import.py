"""Import item knowledge written elsewhere: read texts keyed by id or by title and year, map
them to a dataset's item ids, report coverage.

Sources (:func:`read_source`): JSON (``{"<id>": "<text>"}``, ``{"<id>": {"text": ..., "title":
..., "year": ...}}`` or a list of such objects), JSONL (one object a line) or TSV (a header with
``id``/``item_id``, ``text``/``knowledge``/``description`` and optionally ``title``, ``year``).

Mapping (:func:`map_to_items`), by the first that applies:

* an id map (``source id<TAB>item token`` per line);
* titles and years: the source's own ``title``/``year`` fields, or a titles file keyed by the
  source ids (MovieLens ``movies.dat``: ``id::Title (year)::genres``; or a TSV ``id, title
  [, year]``), matched to the dataset's ``.item`` titles after :func:`title_keys` normalisation
  (case, accents, punctuation, articles moved to the end "Shawshank Redemption, The", alternate
  and foreign titles in parentheses "(a.k.a. ...)", "(Hussard sur le toit, Le)"); a year off by
  one is accepted when the title has no same-year match (release years differ between sources);
* otherwise the source ids are the dataset's item tokens.

A key that several source records share is ambiguous and matches nothing. Fewer than
:data:`MIN_COVERAGE` of the dataset's items matched is an error: the mapping is probably wrong.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from recbole_llmkg.errors import DataError

logger = logging.getLogger(__name__)

MIN_COVERAGE = 0.5
TEXT_FIELDS = ("text", "knowledge", "description", "response")
ID_FIELDS = ("id", "item_id", "movie_id", "key")
_ARTICLES = {"the", "a", "an", "les", "la", "le", "l", "il", "el", "das", "der", "die", "den",
             "det", "los", "las", "lo", "un", "une", "gli", "i"}
_YEAR_AT_END = re.compile(r"\s*\((\d{4})\)\s*$")


@dataclass
class SourceRecord:
    """One text of the source, with what may key it."""

    line: int  # line (JSONL/TSV) or position (JSON) in the source file
    key: str | None
    text: str
    title: str | None = None
    year: str | None = None


@dataclass
class ImportResult:
    """The result of mapping a source to a dataset's items."""

    texts: dict[str, str]  # item token -> text, in the dataset's item order
    items: list[str]  # every item token of the dataset
    unmatched_items: list[str] = field(default_factory=list)
    unused: list[SourceRecord] = field(default_factory=list)  # source records that matched nothing
    how: str = "id"

    @property
    def coverage(self) -> float:
        return len(self.texts) / max(len(self.items), 1)


# -- reading the source --------------------------------------------------------------------
def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"Source file '{path}', line {line}: not UTF-8 ({err.reason}); re-save "
                        "it as UTF-8.") from None


def _pick(obj: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        if obj.get(name) not in (None, ""):
            return str(obj[name])
    return None


def _record(obj: object, line: int, key: str | None, path: Path) -> SourceRecord:
    if isinstance(obj, str):
        return SourceRecord(line, key, obj)
    if not isinstance(obj, dict):
        raise DataError(f"Source file '{path}', entry {line}: expected a text or an object, got "
                        f"{type(obj).__name__}.")
    text = _pick(obj, TEXT_FIELDS)
    if text is None:
        raise DataError(f"Source file '{path}', entry {line}: no text field (one of "
                        f"{', '.join(TEXT_FIELDS)}).")
    return SourceRecord(line, _pick(obj, ID_FIELDS) or key, text, _pick(obj, ("title",)),
                        _pick(obj, ("year", "release_year")))


def read_source(path: str | Path) -> list[SourceRecord]:
    """Every record of a JSON, JSONL or TSV source (by extension; ``.txt`` is read as TSV)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Source file '{path}' not found.")
    content = _decode(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as err:
            raise DataError(f"Source file '{path}', line {err.lineno}: not JSON "
                            f"({err.msg}).") from None
        if isinstance(data, dict):
            records = [_record(v, i, str(k), path) for i, (k, v) in enumerate(data.items(), 1)]
        elif isinstance(data, list):
            records = [_record(v, i, None, path) for i, v in enumerate(data, 1)]
        else:
            raise DataError(f"Source file '{path}': expected an object or a list at the top.")
    elif suffix == ".jsonl":
        records = []
        for number, line in enumerate(content.splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"Source file '{path}', line {number}: not JSON "
                                    f"({err.msg}).") from None
                records.append(_record(obj, number, None, path))
    elif suffix in (".tsv", ".txt", ".tab"):
        reader = csv.DictReader(io.StringIO(content), delimiter="\t", quoting=csv.QUOTE_NONE)
        records = [_record(row, number, None, path) for number, row in enumerate(reader, 2)]
    else:
        raise DataError(f"Source file '{path}': unknown format '{suffix}'; use .json, .jsonl or "
                        ".tsv.")
    empty = [r for r in records if not r.text.strip()]
    if empty:
        logger.warning("Source file '%s': %d empty text(s), skipped (their items keep their "
                       "metadata text): %s.", path, len(empty),
                       ", ".join(f"{'id ' + r.key if r.key else 'line'} at line/entry {r.line}"
                                 for r in empty[:5]))
    seen: dict[str, int] = {}
    records = [r for r in records if r.text.strip()]
    for r in records:
        if r.key is not None:
            if r.key in seen:
                raise DataError(f"Source file '{path}': id '{r.key}' at line/entry {seen[r.key]} "
                                f"and {r.line}; keep one text per id.")
            seen[r.key] = r.line
    return records


def read_titles(path: str | Path) -> dict[str, tuple[str, str | None]]:
    """``{source id: (title, year)}`` from MovieLens ``movies.dat`` (``id::Title (year)::...``)
    or a TSV ``id<TAB>title[<TAB>year]`` (a year missing from the TSV is read from the title)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Titles file '{path}' not found.")
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        content = path.read_bytes().decode("latin-1")  # MovieLens' own files are Latin-1
    titles: dict[str, tuple[str, str | None]] = {}
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::") if "::" in line else line.split("\t")
        if len(parts) < 2:
            raise DataError(f"Titles file '{path}', line {number}: expected 'id::title (year)' "
                            "or 'id<TAB>title[<TAB>year]'.")
        key, title = parts[0].strip(), parts[1].strip()
        year = parts[2].strip() if "::" not in line and len(parts) > 2 else None
        if year is None or not year.isdigit():
            found = _YEAR_AT_END.search(title)
            year = found.group(1) if found else None
        titles[key] = (_YEAR_AT_END.sub("", title), year)
    return titles


# -- title normalisation -------------------------------------------------------------------
def _plain(text: str) -> str:
    """Lower case, accents stripped, '&' as 'and', punctuation as spaces, articles dropped."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    words = re.sub(r"[^0-9a-z]+", " ", text).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def title_keys(title: str) -> list[str]:
    """Normalised forms of a title: the main title and each title in parentheses (alternate or
    foreign titles, "a.k.a." dropped), each without articles, punctuation, case or accents."""
    title = _YEAR_AT_END.sub("", title or "")
    inner = re.findall(r"\(([^()]*)\)", title)
    main = re.sub(r"\([^()]*\)", " ", title)
    keys = []
    for part in [main, *inner]:
        part = re.sub(r"^\s*a\.?\s*k\.?\s*a\.?\s*", "", part, flags=re.IGNORECASE)
        key = _plain(part)
        if key and key not in keys:
            keys.append(key)
    whole = _plain(title)  # "Face/Off"-like titles whose parentheses are part of the name
    if whole and whole not in keys:
        keys.append(whole)
    return keys


# -- mapping -------------------------------------------------------------------------------
def read_id_map(path: str | Path) -> dict[str, str]:
    """``{source id: item token}`` from a two-column TSV (a header line is allowed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Id map '{path}' not found.")
    mapping: dict[str, str] = {}
    for number, line in enumerate(_decode(path).splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not line.strip():
            continue
        if len(parts) < 2:
            raise DataError(f"Id map '{path}', line {number}: expected 'source id<TAB>item id'.")
        if number == 1 and not any(p.strip().isdigit() for p in parts[:2]):
            continue  # header
        mapping[parts[0].strip()] = parts[1].strip()
    return mapping


def _by_titles(records: list[SourceRecord], items: list[str],
               item_titles: dict[str, tuple[str, str | None]]) -> dict[str, SourceRecord]:
    """Item token -> record, by normalised title keys and year (same year first, then +-1)."""
    index: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    # a source title's part before its subtitle ("Star Wars: Episode IV - A New Hope"), used
    # only where no full title matches
    short: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for i, r in enumerate(records):
        for key in title_keys(r.title or ""):
            index[(key, r.year)].add(i)
        head = re.split(r":| - ", r.title or "")[0]
        if head != (r.title or ""):
            short[(_plain(head), r.year)].add(i)
    matched: dict[str, SourceRecord] = {}
    for token in items:
        if token not in item_titles:
            continue
        title, year = item_titles[token]
        keys = title_keys(title)
        years = [year] + ([str(int(year) + d) for d in (-1, 1)] if year and year.isdigit() else [])
        for table in (index, short):
            hit = _unique_hit(table, keys, years)
            if hit is not None:
                matched[token] = records[hit]
                break
    return matched


def _unique_hit(table: dict[tuple[str, str | None], set[int]], keys: list[str],
                years: list[str | None]) -> int | None:
    """The one record a title's keys find, the same year first; ``None`` if none or several."""
    for candidate_year in years:
        hits: set[int] = set()
        for key in keys:  # the main title first; alternates only if it found nothing
            found = table.get((key, candidate_year), set())
            if len(found) == 1:
                hits = found
                break
            hits |= found
        if len(hits) == 1:
            return next(iter(hits))
    return None


def map_to_items(records: list[SourceRecord], items: list[str],
                 item_titles: dict[str, tuple[str, str | None]] | None = None,
                 source_titles: dict[str, tuple[str, str | None]] | None = None,
                 id_map: dict[str, str] | None = None,
                 min_coverage: float = MIN_COVERAGE, source: str = "the source") -> ImportResult:
    """Map source records to the dataset's ``items`` (see the module docstring)."""
    if source_titles is not None:
        for r in records:
            if r.key in source_titles:
                r.title, r.year = source_titles[r.key]
    if id_map is not None:
        how = "id map"
        by_item = {id_map[r.key]: r for r in records if r.key in id_map}
    elif item_titles is not None and any(r.title for r in records):
        how = "normalised title and year"
        by_item = _by_titles(records, items, item_titles)
    else:
        how = "id"
        by_item = {r.key: r for r in records if r.key is not None}
    known = set(items)
    texts = {t: by_item[t].text for t in items if t in by_item}
    used = {id(by_item[t]) for t in texts}
    result = ImportResult(texts, list(items), [t for t in items if t not in texts],
                     [r for r in records if id(r) not in used], how)
    if result.coverage < min_coverage:
        unknown = [r.key for r in records if r.key is not None and r.key not in known][:5]
        hint = (f" (source ids such as {', '.join(unknown)} are not item ids: give an id map or "
                "a titles file)" if how == "id" and unknown else "")
        raise DataError(
            f"Importing {source}: matched {len(texts)} of {len(items)} items "
            f"({result.coverage:.1%}) by {how}, below {min_coverage:.0%}: the mapping is probably "
            f"wrong{hint}."
        )
    return result


def coverage_report(mapping: ImportResult, item_titles: dict[str, tuple[str, str | None]] | None,
                    shown: int = 10) -> str:
    """Lines for the user: matched, unmatched items with examples, unused source records."""
    def name(token: str) -> str:
        if item_titles and token in item_titles:
            title, year = item_titles[token]
            return f"{token} '{title}' ({year})"
        return token

    lines = [f"Matched {len(mapping.texts)} of {len(mapping.items)} items "
             f"({mapping.coverage:.1%}) by {mapping.how}."]
    if mapping.unmatched_items:
        lines.append(f"Unmatched items ({len(mapping.unmatched_items)}, they keep their metadata "
                     f"text), e.g.: " + "; ".join(map(name, mapping.unmatched_items[:shown])))
    if mapping.unused:
        def source_name(r: SourceRecord) -> str:
            return f"{r.key or 'line ' + str(r.line)}" + (f" '{r.title}' ({r.year})"
                                                          if r.title else "")
        lines.append(f"Source texts matching no item: {len(mapping.unused)}, e.g.: "
                     + "; ".join(source_name(r) for r in mapping.unused[:5]))
    return "\n".join(lines)

