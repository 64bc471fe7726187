"""Run records on disk: one JSON file per finished run, always written whole.

Every file is written with :mod:`recbole_llmkg.files` (temp file, then an atomic rename), so a
crash or Ctrl-C at any moment leaves either the old file or the new one, never half of one.
The leaderboard and the CSV/JSONL tables are regenerated from these records, so losing a table
never loses a result.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recbole_llmkg.errors import LLMKGError
from recbole_llmkg.files import file_sha256, write_text_atomic

# The temp name recbole_llmkg.files gives a file it writes: ``.<name>.<8 random chars>.tmp``
# (a unique temp name per write). Only such names of the kinds of file a board writes are cleaned.
TEMP_NAME = re.compile(
    r"^\.(?P<target>.+\.(json|jsonl|csv|md|png|log|inter|kg|link|item|user))"
    r"\.[a-z0-9_]{8}\.tmp$")


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


class RunStore:
    """The ``runs/`` folder of a benchmark: ``<run key>.json`` per finished or failed run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``, or None if absent or unreadable (then it is simply redone)."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def save(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.path(record["key"]), record)

    def load_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for key in keys:
            record = self.load(key)
            if record is not None:
                found[key] = record
        return found

    def clean_temp_files(self) -> list[Path]:
        """Remove temp files a killed process left behind (they are never read)."""
        return remove_stale_temp_files(self.folder)

    def load_all(self) -> dict[str, dict[str, Any]]:
        """Every readable record in the folder, by its stored key (old key formats included)."""
        found = {}
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            record = self.load(path.stem)
            if record is not None:
                found[path.stem] = record
        return found


def remove_stale_temp_files(folder: Path, skip: tuple[str, ...] = ("tmp",)) -> list[Path]:
    """Remove the atomic writers' temp files (``TEMP_NAME``) under ``folder`` (not in the
    sub-folders named in ``skip``: run scratch folders have their own clean-up); returns them.

    Call it only while holding the folder's lock (:func:`exclusive`): every writer of a board's
    folder holds it, so a temp file found then was left by a process that died mid-write.
    Other files, other programs' temp names included, are left alone.
    """
    removed = []
    if not folder.is_dir():
        return removed
    for leftover in folder.rglob("*.tmp"):
        relative = leftover.relative_to(folder).parts
        if relative[0] in skip or not TEMP_NAME.match(leftover.name):
            continue
        try:
            leftover.unlink()
            removed.append(leftover)
        except OSError:
            pass
    return removed


class BoardCollisionError(LLMKGError):
    """Another board file with the same name writes to the same results folder."""


def claim_folder(folder: Path, board: Path, overwrite: bool = False) -> None:
    """Record in ``<folder>/board.json`` which board file's tables the folder holds; refuse a
    different board file (another path *and* other content) with the same name and output
    folder, unless ``overwrite``: it would silently replace the first board's tables."""
    marker = folder / "board.json"
    mine = {"file": str(board.resolve()), "sha256": file_sha256(board)}
    try:
        owner = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = None
    if isinstance(owner, dict) and not overwrite and owner.get("file") != mine["file"] \
            and owner.get("sha256") != mine["sha256"]:
        raise BoardCollisionError(
            f"Results folder '{folder}' holds the tables of board file '{owner.get('file')}'; "
            f"board file '{board}' has the same name and output folder and would replace them. "
            "Give one board another 'name' or 'output_dir', or add --overwrite to replace them.")
    if owner != mine:
        write_json_atomic(marker, mine)


@dataclass(frozen=True)
class Rerun:
    """A ``--rerun`` that has not finished: a record is redone once it carries this ``id``."""

    id: str
    started_at: str

    def covers(self, record: dict[str, Any] | None) -> bool:
        """Whether ``record`` was written after this rerun began (so is not from an older
        attempt)."""
        return bool(record) and record.get("rerun_id") == self.id

    def older(self, keys: Iterable[str], records: dict[str, dict[str, Any]]) -> list[str]:
        """Those of ``keys`` whose saved record is from before this rerun (not redone yet)."""
        return [key for key in keys if key in records and not self.covers(records[key])]


class RerunMarker:
    """``rerun.json`` in the results folder: the ``--rerun`` in progress, until it finishes.

    ``--rerun`` writes it with a new id before the first run; every record saved while it exists
    carries that id. The same command after an interruption finds the marker and redoes only the
    runs without the id; once every planned run carries it, the marker is removed.
    """

    def __init__(self, results_dir: Path) -> None:
        self.path = results_dir / "rerun.json"

    def current(self) -> Rerun | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Rerun(str(data["id"]), str(data["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def start(self) -> Rerun:
        now = datetime.now(timezone.utc)
        rerun = Rerun(f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
                      now.isoformat(timespec="seconds"))
        write_json_atomic(self.path, {"id": rerun.id, "started_at": rerun.started_at})
        return rerun

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


class BenchmarkBusyError(LLMKGError):
    """Another runner is working in the same results folder."""


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold ``<folder>/.lock`` for the block: two runners in one folder would run every run
    twice and race on the tables. The OS drops the lock when a process dies."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; run one runner per folder
        yield
        return
    with open(folder / ".lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise BenchmarkBusyError(
                f"Another benchmark runner (pid {owner}) is using '{folder}'; wait for it to "
                "finish or stop it, then run this command again."
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
