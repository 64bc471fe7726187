"""Where the folders the plugin ships live: inside an installed wheel, or beside it in a checkout.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    """A top-level folder of the repo: inside the installed package, or beside it in a checkout."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


def properties_dir() -> Path:
    """Where the plugin's YAML defaults live (works from a wheel and from a checkout)."""
    return _shipped_dir("properties")


def datasets_dir() -> Path:
    """Where the datasets the repo ships live."""
    return _shipped_dir("datasets")


def recbole_dir() -> Path | None:
    """RecBole's package folder, found without importing it (importing it loads torch); None
    when RecBole is not installed."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def converted_datasets_dir() -> Path:
    """Where datasets converted at run time from downloaded originals live (never committed):
    ``$RECBOLE_LLMKG_DATA`` when set, else ``data/`` of a checkout (git-ignored), else
    ``recbole_llmkg/datasets`` under the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    if os.environ.get("RECBOLE_LLMKG_DATA"):
        return Path(os.environ["RECBOLE_LLMKG_DATA"])
    if (PACKAGE_DIR.parent / "pyproject.toml").is_file():
        return PACKAGE_DIR.parent / "data"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "recbole_llmkg" / "datasets"


# Datasets the plugin converts from originals a user downloads (name -> converter module).
CONVERTED_DATASETS = {"ml-1m": "recbole_llmkg.data.movielens_1m"}


def dataset_search_roots(default: str | Path = "dataset/",
                         dataset: str | None = None) -> list[Path]:
    """Where a dataset's folder is looked for when no ``data_path`` is given, in order: the
    default ``data_path`` (relative to the working directory), the plugin's ``datasets/``,
    :func:`converted_datasets_dir`, RecBole's bundled copies.

    Given ``dataset``, one of :data:`CONVERTED_DATASETS` that no earlier root holds is converted
    first (a no-op when its inputs are unchanged), so ``-d ml-1m`` needs no manual step.
    """
    roots = [Path(default), datasets_dir(), converted_datasets_dir()]
    bundled = recbole_dir()
    if bundled is not None:
        roots.append(bundled / "dataset_example")
    if dataset in CONVERTED_DATASETS and not any((root / dataset).is_dir() for root in roots[:2]):
        importlib.import_module(CONVERTED_DATASETS[dataset]).ensure_converted(roots[2])
    return roots
