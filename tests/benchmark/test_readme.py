"""The generated parts of README.md and docs/benchmark.md come from results/ and must agree."""

from __future__ import annotations

import re

import yaml

from recbole_llmkg.benchmark.readme import (
    BENCHMARK_DOC,
    END,
    START,
    SUMMARY_END,
    SUMMARY_ROWS,
    SUMMARY_START,
    current_section,
    leaderboard_section,
    repo_root,
    summary_section,
    write_readme,
)
from recbole_llmkg.config import properties_dir

BOARD = properties_dir() / "benchmark" / "ml-100k.yaml"
README_LINES = 300  # the front door: one screen of models, two commands, a summary, links


def test_readme_and_docs_agree_with_the_committed_results():
    """Fails when results/ or the board file changed and the pages were not regenerated:
    ``python run_recbole_llmkg.py --benchmark properties/benchmark/ml-100k.yaml --write-readme``.
    """
    root = repo_root()
    assert current_section(root / "README.md", SUMMARY_START, SUMMARY_END) == \
        summary_section(BOARD)
    assert current_section(root / BENCHMARK_DOC) == leaderboard_section(BOARD)


def test_readme_is_a_front_door():
    root = repo_root()
    text = (root / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_LINES
    first_screen = "\n".join(text.splitlines()[:40])
    for model in ("LLMAugRec", "KGLLMGNN", "KASimCF"):
        assert f"**{model}**" in first_screen, model
    assert "make run" in text and "make test" in text
    summary = current_section(root / "README.md", SUMMARY_START, SUMMARY_END)
    rows = [line for line in summary.splitlines() if re.match(r"\| \d+ \|", line)]
    assert 0 < len(rows) <= SUMMARY_ROWS
    assert "(results/ml-100k/leaderboard.md)" in summary
    for page in ("models", "data-and-knowledge", "benchmark", "serving", "scale",
                 "troubleshooting", "contributing"):
        assert f"(docs/{page}.md)" in text and (root / "docs" / f"{page}.md").is_file(), page


def test_every_relative_link_of_the_pages_resolves():
    root = repo_root()
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_sections_say_plainly_when_the_board_was_not_run(tmp_path):
    for section in (leaderboard_section(BOARD, root=tmp_path), summary_section(BOARD, tmp_path)):
        assert "**The tuned `ml-100k` board has not been run yet**" in section
        assert "0." not in section  # no number is shown as a result


def test_sections_are_the_boards_results_and_follow_them(tmp_path):
    board = tmp_path / "b.yaml"
    board.write_text(yaml.safe_dump({
        "name": "b", "datasets": ["tiny"], "models": ["Pop"], "seeds": [1],
        "protocols": ["standard"], "metrics": ["NDCG", "Recall"], "topk": [10],
        "headline": "NDCG@10", "eval_batch_size": 64, "output_dir": "results"}))
    results = tmp_path / "results" / "b"
    results.mkdir(parents=True)
    leaderboard = results / "leaderboard.md"
    leaderboard.write_text("# Leaderboard: b\n\n- Date: today\n\n## tiny · standard · main table"
                           "\n\n| 1 | Pop | 0.1234 |\n\n## Failed runs\n\n- BPR broke\n")
    rows = [("A", 0.2), *[(f"M{i}", 0.1 - i / 1000) for i in range(SUMMARY_ROWS)]]
    lines = ["dataset,protocol,table,label,model,ours,planned,ok,failed,test_ndcg@10_mean,"
             "test_ndcg@10_std,test_recall@10_mean,test_recall@10_std,wall_seconds_mean"]
    lines += [f"tiny,standard,main,{label},{label},{label == 'A'},1,1,0,{v},,{v / 2},,3.2"
              for label, v in reversed(rows)]
    lines.append("tiny,standard,ablation,X,X,False,1,1,0,0.9,,0.9,,1")  # not the main table
    (results / "aggregate.csv").write_text("\n".join(lines) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{SUMMARY_START}\nstale\n{SUMMARY_END}\n\noutro\n")
    (tmp_path / "docs").mkdir()
    doc = tmp_path / BENCHMARK_DOC
    doc.write_text(f"# doc\n\n{START}\nstale\n{END}\n")
    write_readme(board, readme, root=tmp_path)
    text = readme.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\noutro\n")
    summary = current_section(readme, SUMMARY_START, SUMMARY_END)
    assert "| 1 | A ★ | 0.2000 | 0.1000 | 1/1 | 3 |" in summary  # best first, ours starred
    assert summary.count("\n| ") == SUMMARY_ROWS + 1  # header + at most SUMMARY_ROWS rows
    assert f"Not shown (lower): M{SUMMARY_ROWS - 1}." in summary and "| X |" not in summary
    section = current_section(doc)
    assert "### tiny · standard · main table" in section and "| 1 | Pop | 0.1234 |" in section
    assert "(../results/b/leaderboard.md)" in section
    assert "Date" not in section and "BPR broke" not in section
    assert section == leaderboard_section(board, root=tmp_path)
    leaderboard.write_text(leaderboard.read_text().replace("0.1234", "0.2000"))
    assert current_section(doc) != leaderboard_section(board, root=tmp_path)  # now they disagree
