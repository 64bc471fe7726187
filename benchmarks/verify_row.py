"""Redo board runs from their records and check the test metrics agree to 4 decimals.

    python benchmarks/verify_row.py results/ml-100k/runs/<key>.json [more records ...]

Each record holds its run (model, tuned configuration, seed, protocol, side files) and its
split folder; the run is executed again in this process on the same split files, by the same
worker the board uses (one torch thread, as recorded), and every test metric is compared with
the recorded one. Exit status 1 if any differs at 4 decimals. Records written before the
``run`` field existed are rebuilt from their other fields.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_of(record: dict[str, Any]) -> dict[str, Any]:
    """The record's run as the worker reads it."""
    if "run" in record:
        return record["run"]
    return {"dataset": record["dataset"],
            "model": {"name": record["model"], "label": record["label"],
                      "config": record["model_config"], "table": record["table"]},
            "seed": record["seed"],
            "protocol": {"name": record["protocol"], "params": record["protocol_params"]},
            "config": record["config"], "threads": record.get("threads")}


def verify(path: Path) -> bool:
    """Redo the run of the record at ``path``; print recorded vs redone test metrics."""
    from recbole_llmkg.benchmark.worker import execute_run

    record = json.loads(path.read_text())
    data_root = Path(record["split"]["data_path"]).parent
    with tempfile.TemporaryDirectory() as work:
        redone = execute_run({"run": run_of(record), "data_root": str(data_root),
                              "work_dir": work, "isolation": "inline"})
    if redone["status"] != "ok":
        print(f"{path.name}: the run failed again: {redone['error']}")
        return False
    same = True
    for metric, value in sorted(record["test"].items()):
        again = redone["test"].get(metric)
        agrees = again is not None and round(value, 4) == round(again, 4)
        same &= agrees
        print(f"{path.name} {metric}: recorded {value:.4f}, redone "
              f"{'-' if again is None else f'{again:.4f}'} {'ok' if agrees else 'DIFFERS'}")
    fingerprint = redone.get("split", {}).get("fingerprint")
    if fingerprint != record["split"]["fingerprint"]:
        print(f"{path.name}: split fingerprint changed: the split files are not the recorded ones")
        same = False
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path)
    args = parser.parse_args(argv)
    results = [verify(path) for path in args.records]
    print(f"{sum(results)} of {len(results)} records reproduced to 4 decimals")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
