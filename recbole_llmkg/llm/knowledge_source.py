"""Where a dataset's files and knowledge files are, and the raw item rows the knowledge commands
read (tokens as in ``.inter``, titles, years, template fields), without building a RecBole
dataset.

Where knowledge files live (decision): RecBole forces ``data_path`` to its bundled folder for
ml-100k, inside the installed package, where the plugin must not write. So a knowledge file is
looked for first beside the dataset (``<data_path>/<dataset>/<dataset>.knowledge``, the format's
home, e.g. for a converted ML-1M), then under ``knowledge_dir`` (config key; default
``$XDG_DATA_HOME/recbole_llmkg/knowledge``, else ``~/.local/share/recbole_llmkg/knowledge``) as
``<knowledge_dir>/<dataset>/<dataset>.knowledge``. The import and generate commands write there by
default. It is outside any checkout, so the mapped descriptions are never committed by mistake,
and every run (board workers included) finds it whatever its working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from recbole_llmkg.errors import DataError
from recbole_llmkg.llm.knowledge_file import knowledge_filename

TITLE_FIELDS = ("movie_title", "title", "name")
YEAR_FIELDS = ("release_year", "year")


def default_knowledge_dir() -> Path:
    """``$XDG_DATA_HOME/recbole_llmkg/knowledge``, else ``~/.local/share/...``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "recbole_llmkg" / "knowledge"


def knowledge_dir(value: str | os.PathLike | None) -> Path:
    """The ``knowledge_dir`` config value, ``~``/empty = :func:`default_knowledge_dir`."""
    return default_knowledge_dir() if value in (None, "") else Path(os.path.expanduser(str(value)))


def knowledge_candidates(dataset_path: str | os.PathLike, dataset: str,
                         folder: str | os.PathLike | None, kind: str = "item") -> list[Path]:
    """Where a dataset's knowledge file is looked for, in order."""
    name = knowledge_filename(dataset, kind)
    return [Path(dataset_path) / name, knowledge_dir(folder) / dataset / name]


def find_knowledge_file(dataset_path: str | os.PathLike, dataset: str,
                        folder: str | os.PathLike | None, kind: str = "item") -> Path | None:
    """The first existing :func:`knowledge_candidates`, or ``None``."""
    return next((p for p in knowledge_candidates(dataset_path, dataset, folder, kind)
                 if p.is_file()), None)


def dataset_folder(dataset: str, data_path: str | os.PathLike | None = None) -> Path:
    """The dataset's folder: ``<data_path>/<dataset>``; RecBole's bundled copy for ml-100k (as
    RecBole itself forces); else the plugin's search roots."""
    from recbole_llmkg.paths import dataset_search_roots

    if data_path is not None and dataset != "ml-100k":
        roots = [Path(data_path)]
    else:
        roots = dataset_search_roots()
        if dataset == "ml-100k":
            roots = roots[::-1]  # RecBole's bundled folder first, as RecBole does
    for root in roots:
        if (root / dataset / f"{dataset}.inter").is_file():
            return root / dataset
    raise DataError(f"Dataset '{dataset}' not found (looked for '{dataset}.inter' under "
                    f"{', '.join(str(r) for r in roots)}); pass --data-path.")


def read_atomic(path: Path) -> pd.DataFrame:
    """An atomic file as strings, columns named without their ``:type``."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3,
                        encoding="utf-8", encoding_errors="replace")
    frame.columns = [c.partition(":")[0] for c in frame.columns]
    return frame


def atomic_types(path: Path) -> dict[str, str]:
    """``{field: type}`` of an atomic file's header."""
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\r\n").split("\t")
    return {c.partition(":")[0]: c.partition(":")[2] for c in header}


def item_rows(folder: Path, dataset: str) -> pd.DataFrame:
    """The dataset's items: the ``.item`` rows, else the item tokens of ``.inter``; index = item
    token, in file order."""
    item_file = folder / f"{dataset}.item"
    if item_file.is_file():
        frame = read_atomic(item_file)
        frame = frame.drop_duplicates(frame.columns[0]).set_index(frame.columns[0], drop=False)
        return frame
    inter = read_atomic(folder / f"{dataset}.inter")
    column = "item_id" if "item_id" in inter.columns else inter.columns[1]
    tokens = pd.unique(inter[column])
    return pd.DataFrame({column: tokens}, index=tokens)


def item_titles(rows: pd.DataFrame) -> dict[str, tuple[str, str | None]] | None:
    """``{token: (title, year)}`` from the first title and year fields present; ``None``
    without a title field."""
    title = next((f for f in TITLE_FIELDS if f in rows.columns), None)
    if title is None:
        return None
    year = next((f for f in YEAR_FIELDS if f in rows.columns), None)
    years = rows[year] if year else pd.Series([None] * len(rows), index=rows.index)
    return {t: (str(v), (str(y) if y not in (None, "") else None))
            for t, v, y in zip(rows.index, rows[title], years, strict=True) if v}
