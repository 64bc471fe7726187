"""The README's leaderboard section is generated from results/ and must agree with it."""

from __future__ import annotations

import yaml

from recbole_llmkg.benchmark.readme import (
    END,
    START,
    current_section,
    readme_section,
    repo_root,
    write_readme,
)
from recbole_llmkg.config import properties_dir

BOARD = properties_dir() / "benchmark" / "ml-100k.yaml"


def test_readme_agrees_with_the_committed_results():
    """Fails when results/ or the board file changed and the README was not regenerated:
    ``python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --write-readme``.
    """
    assert current_section(repo_root() / "README.md") == readme_section(BOARD)


def test_section_says_plainly_when_the_board_was_not_run(tmp_path):
    section = readme_section(BOARD, root=tmp_path)
    assert "**The tuned `ml-100k` board has not been run yet**" in section
    assert "0." not in section  # no number is shown as a result


def test_section_is_the_boards_tables_and_follows_them(tmp_path):
    board = tmp_path / "b.yaml"
    board.write_text(yaml.safe_dump({
        "name": "b", "datasets": ["tiny"], "models": ["Pop"], "seeds": [1],
        "protocols": ["standard"], "metrics": ["NDCG"], "topk": [10], "headline": "NDCG@10",
        "eval_batch_size": 64, "output_dir": "results"}))
    results = tmp_path / "results" / "b"
    results.mkdir(parents=True)
    leaderboard = results / "leaderboard.md"
    leaderboard.write_text("# Leaderboard: b\n\n- Date: today\n\n## tiny · standard · main table"
                           "\n\n| 1 | Pop | 0.1234 |\n\n## Failed runs\n\n- BPR broke\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{START}\nstale\n{END}\n\noutro\n")
    write_readme(board, readme, root=tmp_path)
    text = readme.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\noutro\n")
    section = current_section(readme)
    assert "### tiny · standard · main table" in section and "| 1 | Pop | 0.1234 |" in section
    assert "Date" not in section and "BPR broke" not in section
    assert section == readme_section(board, root=tmp_path)
    leaderboard.write_text(leaderboard.read_text().replace("0.1234", "0.2000"))
    assert current_section(readme) != readme_section(board, root=tmp_path)  # now they disagree
