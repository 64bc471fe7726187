"""Which code produced a result: a model's code identity (run keys, study names) and the tree's
git state (recorded in every record; a ``full`` board refuses a dirty tree).

The code identity hashes the *content* of the files that decide what a model computes, so a
changed model invalidates its records and studies, and a clean checkout anywhere gives the same
hash (file names are taken relative to their package root):

* every module along the model class's hierarchy (the plugin's or RecBole's own file);
* the plugin's core, which every model runs through: ``CORE_PATHS`` (trainer, data, model
  layers, llm, host-stack fixes, config, quick start);
* the plugin's defaults: ``properties/overall.yaml`` and ``properties/model/<Model>.yaml``.

Library versions are not hashed here (the records store them); editing a RecBole file in
``site-packages`` is covered for the model's own module only.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbole_llmkg.errors import LLMKGError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # recbole_llmkg/
CHECKOUT_ROOT = PACKAGE_ROOT.parent
# The plugin's modules every model runs through (relative to recbole_llmkg/).
CORE_PATHS = ("trainer.py", "data", "model/layers", "llm", "compat.py", "config",
              "quick_start.py", "checkpoint.py", "registry.py", "run_logs.py")
# Paths of the checkout whose local edits make a board row "dirty" (results/, docs and tests
# do not change what a run computes; results/ changes while a board runs).
CODE_PATHS = ("recbole_llmkg", "properties", "datasets", "pyproject.toml", "setup.py",
              "requirements.txt")


class DirtyTreeError(LLMKGError):
    """A ``full`` board was started from a checkout with uncommitted code changes."""


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml")
                  and "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    """``path`` relative to the package that holds it (recbole_llmkg/, recbole/, properties/)."""
    try:
        return path.resolve().relative_to(CHECKOUT_ROOT).as_posix()
    except ValueError:
        pass
    parts = path.resolve().parts
    for anchor in ("recbole", "site-packages"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor):])
    return path.name


def _model_files(model: str) -> list[Path]:
    """Source files of the model class and its bases (plugin and RecBole classes only)."""
    from recbole_llmkg.registry import get_model

    try:
        model_class = get_model(model)
    except LLMKGError:  # not importable here: the key still covers the core and the name
        return []
    files = []
    for cls in model_class.__mro__:
        if not cls.__module__.startswith(("recbole", "recbole_llmkg")):
            continue
        try:
            files.append(Path(inspect.getsourcefile(cls) or ""))
        except TypeError:  # a built-in class
            continue
    return [f for f in dict.fromkeys(files) if f.is_file()]


@functools.cache
def code_identity(model: str) -> str:
    """sha256 (16 hex digits) over the content of the files that decide what ``model``
    computes: its class hierarchy's modules, the plugin's core and its default YAML."""
    from recbole_llmkg.config import properties_dir

    files = list(_model_files(model))
    for relative in CORE_PATHS:
        files += _files_under(PACKAGE_ROOT / relative)
    for default in (properties_dir() / "overall.yaml",
                    properties_dir() / "model" / f"{model}.yaml"):
        if default.is_file():
            files.append(default)
    digest = hashlib.sha256(f"model={model}\n".encode())
    for path in sorted(dict.fromkeys(files), key=_relative):
        digest.update(f"{_relative(path)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class GitState:
    """The checkout's commit and whether its code paths have uncommitted changes."""

    commit: str | None  # None outside a git checkout (e.g. an installed wheel)
    dirty: bool
    changed: tuple[str, ...] = ()  # the changed code paths (tracked or untracked)

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "changed": list(self.changed)}


def git_state(root: Path = CHECKOUT_ROOT) -> GitState:
    """Commit and dirty flag of ``root``'s checkout; only ``CODE_PATHS`` count as dirty (new,
    untracked files there too: an untracked model module changes what runs)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, text=True,
                                capture_output=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--",
                                 *CODE_PATHS], cwd=root, text=True, capture_output=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return GitState(None, False)
    changed = tuple(line[3:] for line in status.splitlines() if line.strip()
                    and "__pycache__" not in line and not line.endswith(".pyc"))
    return GitState(commit or None, bool(changed), changed)


def refuse_dirty(state: GitState, board: Path, profile: str | None) -> None:
    """Raise :class:`DirtyTreeError` for a dirty tree: board rows must come from a commit."""
    if not state.dirty:
        return
    shown = ", ".join(state.changed[:5]) + (" ..." if len(state.changed) > 5 else "")
    raise DirtyTreeError(
        f"{board}: profile '{profile}' must run from a clean tree, but {len(state.changed)} code "
        f"path(s) have uncommitted changes ({shown}); commit them, or add --allow-dirty (every "
        "record then says dirty: true).")
