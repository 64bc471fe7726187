"""Where the folders the plugin ships live: inside an installed wheel, or beside it in a checkout.
"""

from __future__ import annotations

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
