"""Run a RecBole or recbole_llmkg model, a leaderboard, or a trained model's recommendations.

    python run_recbole_llmkg.py -m BPR -d ml-100k --epochs=1          # as RecBole's run_recbole.py
    python run_recbole_llmkg.py -m my_models:MyKASimCF -d ml-100k     # a model class of your own
    python run_recbole_llmkg.py bench properties/benchmark/ml-100k.yaml --profile quick
    python run_recbole_llmkg.py recommend --checkpoint saved/<run>.pth --user 196
    python run_recbole_llmkg.py models

Same as the ``recbole-llmkg`` command; ``python run_recbole_llmkg.py --help`` lists the
subcommands.
"""

from recbole_llmkg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
