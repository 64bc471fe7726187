"""Run a RecBole or recbole_llmkg model, or a leaderboard, from the command line.

    python run_recbole_llmkg.py -m BPR -d ml-100k --epochs=1
    python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml
"""

from recbole_llmkg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
