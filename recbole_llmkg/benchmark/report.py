"""Leaderboard outputs, rebuilt from the saved run records every time.

Three rooms: :mod:`.rows` groups the records into rows (and the flat CSV rows),
:mod:`.tables` writes ``leaderboard.md``, ``runs.csv``, ``runs.jsonl`` and ``aggregate.csv``,
:mod:`.charts` the PNG charts. This module is the one entry point the runner calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recbole_llmkg.benchmark.charts import write_charts
from recbole_llmkg.benchmark.rows import ModelRow, aggregate_rows, group, runs_rows
from recbole_llmkg.benchmark.spec import BenchmarkSpec, RunSpec
from recbole_llmkg.benchmark.store import Rerun
from recbole_llmkg.benchmark.tables import leaderboard_markdown, tables_markdown, write_tables

__all__ = ["ModelRow", "aggregate_rows", "group", "leaderboard_markdown", "runs_rows",
           "tables_markdown", "write_all", "write_charts", "write_tables"]


def write_all(spec: BenchmarkSpec, plan: list[RunSpec], records: dict[str, dict[str, Any]],
              results_dir: Path, command: str, rerun: Rerun | None = None,
              charts: bool = True) -> dict[str, Path]:
    """The tables, plus the charts of every dataset x protocol."""
    outputs = write_tables(spec, plan, records, results_dir, command, rerun)
    if charts:
        outputs.update(write_charts(spec, plan, records, results_dir))
    return outputs

