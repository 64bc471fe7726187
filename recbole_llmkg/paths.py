"""Where the folders the plugin ships live: inside an installed wheel, or beside it in a checkout.
"""

from __future__ import annotations

import importlib.util
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


def dataset_search_roots(default: str | Path = "dataset/") -> list[Path]:
    """Where a dataset's folder is looked for when no ``data_path`` is given, in order: the
    default ``data_path`` (relative to the working directory), the plugin's ``datasets/``,
    RecBole's bundled copies."""
    roots = [Path(default), datasets_dir()]
    bundled = recbole_dir()
    if bundled is not None:
        roots.append(bundled / "dataset_example")
    return roots
