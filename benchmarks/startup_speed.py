"""Seconds from launch to answer for commands that must not wait for torch (median of runs).

    python benchmarks/startup_speed.py            # writes nothing; prints a markdown table

Each command runs in a fresh interpreter; the wall time includes Python's own start-up.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (
    ["--help"],
    ["--list-models"],
    ["-m", "BPR", "-d", "ml-100k", "--epochz=3"],          # unknown key
    ["-m", "BPR", "-d", "ml-100k", "--epochs=0"],          # value out of range
    ["-m", "LLMAugRec", "-d", "ml-100k", "--fusion=mul"],  # not one of the choices
    ["-m", "BPX", "-d", "ml-100k"],                        # unknown model
)


def seconds(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "run_recbole_llmkg.py"), *args], cwd=ROOT,
                       capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    print("| command | seconds (median of 5) |\n|---|---|")
    for args in COMMANDS:
        print(f"| `{' '.join(args)}` | {seconds(args, 5):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
