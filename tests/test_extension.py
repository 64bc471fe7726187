"""docs/contributing.md's smaller "Add your own model" example, run exactly as written, outside
the package."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import REPO_ROOT
from recbole.utils import ModelType

from recbole_llmkg import Config, get_trainer


def readme_blocks() -> dict[str, str]:
    """Code blocks of the contributing guide's smaller example, keyed by their first-line
    comment."""
    guide = (REPO_ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    section = guide.split("### A smaller example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S)
    return {block.splitlines()[0].lstrip("# ").split()[0]: block for block in blocks}


@pytest.fixture
def example_folder(tmp_path, monkeypatch):
    blocks = readme_blocks()
    assert set(blocks) == {"warm_bpr.py", "WarmBPR.yaml", "run"}, set(blocks)
    (tmp_path / "warm_bpr.py").write_text(blocks["warm_bpr.py"], encoding="utf-8")
    (tmp_path / "WarmBPR.yaml").write_text(blocks["WarmBPR.yaml"], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield blocks
    sys.modules.pop("warm_bpr", None)


def test_readme_variant_runs_with_its_own_trainer_and_yaml(example_folder, tmp_path, capsys):
    # the README's "run it" block, verbatim, with the checkpoint folder kept in tmp_path
    run_block = example_folder["run"].replace(
        '{"epochs": 2}', f'{{"epochs": 2, "checkpoint_dir": {str(tmp_path / "saved")!r}}}')
    assert run_block != example_folder["run"]
    namespace: dict = {}
    exec(compile(run_block, "README run block", "exec"), namespace)  # noqa: S102
    assert namespace["result"]["test_result"]["ndcg@10"] >= 0
    assert "ndcg@10" in capsys.readouterr().out

    import warm_bpr

    assert issubclass(get_trainer(ModelType.GENERAL, warm_bpr.WarmBPR), warm_bpr.WarmupTrainer)
    config = Config(warm_bpr.WarmBPR, "tiny", cmd_args=[])
    assert config["warmup_epochs"] == 1 and config["embedding_size"] == 32  # its YAML


def test_readme_trainer_warms_up(example_folder, tiny_config):
    import warm_bpr

    from recbole_llmkg.quick_start import prepare

    parts = prepare(Config(warm_bpr.WarmBPR, "tiny", config_dict=tiny_config(epochs=2),
                           cmd_args=[]))
    rates = []
    for epoch in range(2):
        parts.trainer._train_epoch(parts.train_data, epoch)
        rates.append(parts.trainer.optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([parts.trainer.learning_rate * 0.1,
                                   parts.trainer.learning_rate])
