"""RecBole's documented run options on the plain command line (BPR on tiny, one epoch).

Each option either runs to a result (exit 0, test metrics printed) or stops before any data is
read with one clear line (exit 2) naming the key and the fix: never a traceback after training.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from recbole_llmkg.cli import main

LOAD_TIME = "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}"

RUNS = {  # id: extra command-line options; each must run to a test result
    "mode-uni10": ["--eval_args={'mode': 'uni10'}"],
    "mode-pop10-valid-full-test": ["--eval_args={'mode': {'valid': 'pop10', 'test': 'full'}}"],
    "split-RS-ratios": ["--eval_args={'split': {'RS': [0.7, 0.2, 0.1]}}"],
    "split-LS-random-order-no-timestamp": ["--eval_args={'split': {'LS': 'valid_and_test'}}"],
    "order-TO-timestamp-loaded": ["--eval_args={'order': 'TO'}", LOAD_TIME],
    "split-TS": ["--eval_args={'split': {'TS': [0.8, 0.1, 0.1]}}", LOAD_TIME],
    "neg-popularity-2": ["--train_neg_sample_args={'distribution': 'popularity', "
                         "'sample_num': 2}"],
    "metrics-topk-valid-metric": ["--metrics=['Recall','NDCG','MAP','Precision']",
                                  "--topk=[5,20]", "--valid_metric=NDCG@5"],
    "eval_step-0": ["--eval_step=0"],
    "eval_step-3": ["--eval_step=3"],
    "save-dataset-and-dataloaders": ["--save_dataset=True", "--save_dataloaders=True"],
}

REFUSED = {  # id: (options, words the one line must hold)
    "topk-without-valid-cutoff": (["--topk=[5,20]"], ["valid_metric", "MRR@10", "topk",
                                                      "--valid_metric=MRR@5"]),
    "metrics-without-valid-metric": (["--metrics=['Recall','NDCG','MAP','Precision']"],
                                     ["valid_metric", "'MRR' is not in metrics"]),
    "valid-metric-value-metric": (["--valid_metric=AUC"], ["valid_metric", "AUC"]),
    "order-TO-timestamp-not-loaded": (["--eval_args={'order': 'TO'}"],
                                      ["load_col", "timestamp", "order: RO"]),
    "no-negatives-for-pairwise-BPR": (["--train_neg_sample_args=None"],
                                      ["train_neg_sample_args", "pairwise"]),
    "saved-is-not-a-config-key": (["--saved=False"], ["Unknown config key 'saved'"]),
}


@pytest.fixture
def cli_run(tmp_path, capsys, data_reads):
    """``cli_run(*options)`` -> (exit code, stdout, stderr lines, data read?) of
    ``-m BPR -d tiny --epochs=1`` with checkpoints under ``tmp_path``."""
    def run(*options: str):
        code = main(["-m", "BPR", "-d", "tiny", "--epochs=1", "--state=ERROR",
                     "--show_progress=False", "--use_gpu=False",
                     f"--checkpoint_dir={tmp_path / 'saved'}", *options])
        out, err = capsys.readouterr()
        return code, out, [line for line in err.splitlines() if line.strip()], bool(data_reads)

    return run


def _metrics(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\S+@\d+)=([0-9.]+)", line)}


@pytest.mark.parametrize("options", RUNS.values(), ids=RUNS.keys())
def test_run_option_runs_to_a_result(cli_run, options, tmp_path):
    code, out, err, _ = cli_run(*options)
    assert code == 0, err
    (test_line,) = [line for line in out.splitlines() if line.startswith("test result:")]
    metrics = _metrics(test_line)
    assert metrics and all(math.isfinite(v) and 0 <= v <= 1 for v in metrics.values())
    assert list(Path(tmp_path / "saved").glob("BPR-*.pth"))


@pytest.mark.parametrize(("options", "words"), REFUSED.values(), ids=REFUSED.keys())
def test_run_option_refused_before_data_with_one_line(cli_run, options, words, tmp_path):
    code, out, err, read = cli_run(*options)
    assert code == 2 and not read
    assert len(err) == 1 and err[0].startswith("recbole-llmkg: error: "), err
    for word in words:
        assert word in err[0]
    assert not (tmp_path / "saved").exists() or not list((tmp_path / "saved").glob("*.pth"))


def test_eval_step_0_prints_no_best_valid_result_and_the_test_result(cli_run):
    """``--eval_step=0`` (train without validation) used to die printing the best valid result
    (``AttributeError: 'NoneType' object has no attribute 'items'``) after training."""
    code, out, err, _ = cli_run("--eval_step=0")
    assert code == 0, err
    assert "best valid: none (eval_step <= 0" in out
    assert _metrics(next(line for line in out.splitlines() if line.startswith("test result")))


def test_topk_and_metrics_without_the_default_valid_metric_are_refused_before_data(cli_run):
    """``--topk=[5,20]`` / ``--metrics=[...]`` without MRR used to train, then fail with
    ``KeyError: 'mrr@10'``: the default valid_metric was never computed."""
    for option in ("--topk=[5,20]", "--metrics=['Recall','NDCG','MAP','Precision']"):
        code, _, err, read = cli_run(option)
        assert code == 2 and not read and len(err) == 1
        assert "Config key 'valid_metric' = 'MRR@10' (defaults) is not computed" in err[0]


def test_time_order_without_timestamp_field_names_field_and_file(cli_run, tiny_copy):
    """A dataset whose .inter has no time column, split in time order: RecBole's own error
    (``ValueError: [timestamp] is not exist in interaction``, with the whole table) came after
    reading the data; now one line names the field, the file and the fix."""
    inter = tiny_copy / "tiny" / "tiny.inter"
    lines = inter.read_text(encoding="utf-8").splitlines()
    inter.write_text("\n".join("\t".join(line.split("\t")[:3]) for line in lines) + "\n",
                     encoding="utf-8")
    for options in (["--eval_args={'order': 'TO'}"], ["--eval_args={'split': {'TS': [8, 1, 1]}}"]):
        code, _, err, read = cli_run(f"--data_path={tiny_copy}", LOAD_TIME, *options)
        assert code == 2 and not read and len(err) == 1, err
        assert "time field 'timestamp' (TIME_FIELD) is not in" in err[0]
        assert str(inter) in err[0]
    shutil.rmtree(tiny_copy)
