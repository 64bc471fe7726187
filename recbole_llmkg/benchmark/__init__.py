"""Leaderboard benchmarks: a YAML file of datasets x models x seeds x protocols, run resumably.

``spec`` reads and validates the file, ``protocols`` turns a protocol into RecBole config (and
writes the cold-item split), ``worker`` runs and measures one cell, ``store`` keeps one JSON
record per run (and the ``--rerun`` marker), ``scratch`` gives each attempt its own folder,
``lifeline`` makes a run's child process die with the runner, ``runner`` drives it all,
``report`` writes the leaderboard, tables and charts.

    python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --profile quick
"""

from recbole_llmkg.benchmark.runner import BenchmarkSummary, run_benchmark
from recbole_llmkg.benchmark.spec import BenchmarkSpec, load_benchmark

__all__ = ["BenchmarkSpec", "BenchmarkSummary", "load_benchmark", "run_benchmark"]
