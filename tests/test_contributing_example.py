"""docs/contributing.md's main example, run exactly as written from a scratch folder outside the
package: an out-of-tree LLMAugRec subclass with its own trainer and YAML, trained from the CLI,
put on a board beside its parent, and served by ``recommend``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT


def example_blocks() -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block between the guide's example markers."""
    guide = (REPO_ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    section = guide.split("<!-- contributing-example:start -->", 1)[1]
    section = section.split("<!-- contributing-example:end -->", 1)[0]
    return re.findall(r"```(python|yaml|bash)\n(.*?)```", section, flags=re.S)


def test_out_of_tree_variant_trains_from_the_cli_goes_on_a_board_and_is_served(
        tmp_path, subprocess_env):
    blocks = example_blocks()
    assert [lang for lang, _ in blocks] == ["python", "yaml", "bash", "yaml", "bash"]
    env = {**subprocess_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{subprocess_env.get('PATH', '')}"}
    env["PYTHONPATH"] = str(REPO_ROOT)  # not the scratch folder: the CLI must add it itself
    outputs = []
    for lang, body in blocks:
        if lang == "bash":
            done = subprocess.run(["bash", "-e", "-c", body], cwd=tmp_path, env=env, text=True,
                                  capture_output=True, timeout=900)
            assert done.returncode == 0, (body, done.stdout[-3000:], done.stderr[-3000:])
            outputs.append(done.stdout)
        else:  # a file: its name is the first word of its first-line comment
            name = body.splitlines()[0].lstrip("# ").split()[0].rstrip(":")
            (tmp_path / name).write_text(body, encoding="utf-8")
    train_out, board_and_serve_out = outputs
    assert "test result:" in train_out
    assert list((tmp_path / "saved").glob("WarmLLMAugRec-*.pth"))
    board = (tmp_path / "results" / "warm" / "leaderboard.md").read_text(encoding="utf-8")
    assert "warm_llmaugrec:WarmLLMAugRec" in board and "LLMAugRec" in board
    served = board_and_serve_out.split("Top 5 for user 1:", 1)[1]
    assert len(re.findall(r"^\s+\d\.\s", served, flags=re.M)) == 5, served
    assert not (tmp_path / "log").exists() and not (tmp_path / "log_tensorboard").exists()
