"""The README's leaderboard section, generated from the committed board so the two never disagree.

The section between ``<!-- leaderboard:start -->`` and ``<!-- leaderboard:end -->`` is the
tables of the board's ``leaderboard.md`` (its ``full`` profile where it has one; the runner
writes it from the run records), or, while the board has no results, a plain statement that it
has not been run.
``python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --write-readme``
rewrites it; a test fails when the README and ``results/`` disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from recbole_llmkg.benchmark.spec import load_benchmark, resolve_path
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.files import write_text_atomic

START = "<!-- leaderboard:start -->"
END = "<!-- leaderboard:end -->"
# leaderboard.md sections that describe one invocation, not the board
SKIPPED_SECTIONS = ("## Unfinished rerun", "## Failed runs")


def repo_root() -> Path:
    """The checkout holding ``results/`` and ``README.md``."""
    return Path(__file__).resolve().parents[2]


def readme_section(board: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """The generated section (markers excluded) for the benchmark file ``board``."""
    root = Path(root) if root is not None else repo_root()
    raw = yaml.safe_load(resolve_path(board).read_text(encoding="utf-8")) or {}
    profile = "full" if "full" in (raw.get("profiles") or {}) else None
    spec = load_benchmark(board, profile, check_models=False)
    results = Path(spec.output_dir) / spec.folder
    leaderboard = root / results / "leaderboard.md"
    command = f"python run_recbole_llmkg.py --benchmark {_shown(board, root)}" + (
        f" --profile {profile}" if profile else "")
    if not leaderboard.is_file():
        return "\n".join([
            f"**The tuned `{spec.name}` board has not been run yet**: `{results.as_posix()}/` "
            "holds no results, so this section shows no numbers. It is produced by",
            "",
            f"`{command}`",
            "",
            f"({spec.n_trials} tuning trials per main-table row and protocol, "
            f"{len(spec.seeds)} seeds, {len(spec.models)} rows, {len(spec.protocols)} "
            "protocols).",
        ])
    text = leaderboard.read_text(encoding="utf-8")
    body = text[text.index("\n## "):] if "\n## " in text else ""
    for heading in SKIPPED_SECTIONS:
        body = body.split(f"\n{heading}")[0]
    body = body.replace("\n## ", "\n### ").strip()
    return "\n".join([
        f"Generated from [`{results.as_posix()}/leaderboard.md`]({results.as_posix()}/"
        f"leaderboard.md) (its provenance, every metric and the per-run records are there), "
        f"produced by `{command}`.",
        "",
        body,
    ])


def _shown(board: str | os.PathLike, root: Path) -> str:
    path = Path(board).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(board)


def current_section(readme: str | os.PathLike) -> str:
    """The text between the markers of ``readme`` (stripped)."""
    text = Path(readme).read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ConfigError(f"{readme}: no '{START}' ... '{END}' markers for the leaderboard.")
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write_readme(board: str | os.PathLike, readme: str | os.PathLike | None = None,
                 root: str | os.PathLike | None = None) -> Path:
    """Replace the section between the markers of ``readme`` (default: the checkout's README)
    with :func:`readme_section`; written atomically."""
    root = Path(root) if root is not None else repo_root()
    readme = Path(readme) if readme is not None else root / "README.md"
    text = readme.read_text(encoding="utf-8")
    current_section(readme)  # the markers must be there
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    section = readme_section(board, root)
    write_text_atomic(readme, f"{before}{START}\n{section}\n{END}{after}")
    return readme
