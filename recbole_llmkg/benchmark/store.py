"""Run records on disk: one JSON file per finished run, always written whole.

Every file is written to a temp file in the same folder and renamed over the target
(``os.replace`` is atomic on POSIX and Windows), so a crash or Ctrl-C at any moment leaves
either the old file or the new one, never half of one. The leaderboard and the CSV/JSONL
tables are regenerated from these records, so losing a table never loses a result.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recbole_llmkg.errors import LLMKGError


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, data: Any) -> None:
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

    def clean_temp_files(self) -> None:
        """Remove temp files a killed process left behind (they are never read)."""
        if self.folder.is_dir():
            for leftover in self.folder.glob(".*.tmp"):
                try:
                    leftover.unlink()
                except OSError:
                    pass


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
