"""Scratch folders of run attempts under ``<results>/tmp/``: one per attempt, never shared.

Each attempt gets ``<run key>.<pid>.<random>`` and records its owners (the runner, then the
child that trains) with each process's start time in ``owner.json``, so a pid that the system
reused later is not mistaken for the owner. A killed runner leaves its folder behind; the next
runner removes every folder whose owners are all dead (:func:`clean_stale`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import psutil

from recbole_llmkg.files import write_text_atomic

OWNER_FILE = "owner.json"


def process_identity(pid: int) -> dict[str, Any] | None:
    """``{"pid", "started"}`` of a live process (start time in seconds), None if it is gone."""
    try:
        return {"pid": pid, "started": psutil.Process(pid).create_time()}
    except psutil.Error:
        return None


def is_alive(identity: dict[str, Any]) -> bool:
    """Whether the process recorded as ``identity`` still runs (same pid, same start time)."""
    try:
        current = process_identity(int(identity["pid"]))
        started = float(identity["started"])
    except (KeyError, TypeError, ValueError):
        return False
    return current is not None and abs(current["started"] - started) < 0.01


class Scratch:
    """One attempt's private folder; :meth:`remove` deletes it (and ``tmp/`` once empty)."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.path = (root / f"{key}.{os.getpid()}.{secrets.token_hex(4)}").resolve()
        self.path.mkdir(parents=True)
        self._owners: list[dict[str, Any]] = []
        self.add_owner(os.getpid())

    def add_owner(self, pid: int) -> None:
        """Record ``pid`` as using this folder (the runner itself, or the child it started)."""
        identity = process_identity(pid)
        if identity is not None:
            self._owners.append(identity)
        write_text_atomic(self.path / OWNER_FILE, json.dumps({"owners": self._owners}))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.root.rmdir()  # tmp/ itself, once no attempt uses it
        except OSError:
            pass


def owners(folder: Path) -> list[dict[str, Any]]:
    """The owners recorded in ``folder`` (none when the record is missing or unreadable)."""
    try:
        data = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
        found = data["owners"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [o for o in found if isinstance(o, dict)] if isinstance(found, list) else []


def clean_stale(root: Path) -> list[Path]:
    """Remove the folders under ``root`` that no live process owns; return them."""
    if not root.is_dir():
        return []
    removed = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not any(is_alive(o) for o in owners(folder)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    try:
        root.rmdir()
    except OSError:
        pass
    return removed
