"""Preflight: the command line's config errors found before torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recbole_llmkg.config import checks as config_checks
from recbole_llmkg.config.preflight import UNJUDGED, command_line_values, preflight
from recbole_llmkg.errors import ConfigError

# The child reports whether torch was loaded when the error came back.
PROBE = ("import sys; from recbole_llmkg.cli import main; rc = main(sys.argv[1:]); "
         "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded'); "
         "sys.exit(rc)")


@pytest.mark.parametrize("args, message", [
    (["-m", "BPR", "-d", "tiny", "--epochz=3"],
     "Unknown config key 'epochz' (command line). Did you mean 'epochs'?"),
    (["-m", "BPR", "-d", "tiny", "--epochs=0"], "'epochs' = 0 (command line) is not allowed"),
    (["-m", "LLMAugRec", "-d", "tiny", "--fusion=mul"], "one of add, concat, gate"),
    (["-m", "BPX", "-d", "tiny"], "Unknown model 'BPX' (--model). Did you mean: BPR"),
])
def test_cli_config_errors_come_before_torch(tmp_path, subprocess_env, args, message):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path,
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "torch not loaded" in done.stdout


def test_values_are_typed_like_recboles_eval():
    values = command_line_values(["--epochs=3", "--topk=[10, 20]", "--use_gpu=false",
                                  "--fusion=add", "--learning_rate=1/1000", "-x"])
    assert values == {"epochs": 3, "topk": [10, 20], "use_gpu": False, "fusion": "add",
                      "learning_rate": UNJUDGED}


def test_what_preflight_cannot_judge_is_left_to_the_config():
    preflight("BPR", "tiny", ["--learning_rate=1/1000"])  # RecBole evaluates it: 0.001
    preflight("BPR", "tiny", ["--my_key=1", "--extra_config_keys=['my_key']"])
    preflight("BPR", "tiny", ["--rating=3"])  # a field of tiny's atomic files


def test_config_file_keys_and_their_extra_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearnin_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"'learnin_rate' \(config file '.*bad.yaml'\)"):
        preflight("BPR", "tiny", [], [str(bad)])
    declared = tmp_path / "declared.yaml"
    declared.write_text("my_key: 1\nextra_config_keys: [my_key]\n")
    preflight("BPR", "tiny", [], [str(declared)])


def test_choices_read_from_source_equal_the_imported_constants():
    import importlib

    from recbole_llmkg.paths import properties_dir

    declared = config_checks.declared_rules(sorted((properties_dir() / "model").glob("*.yaml")))
    checks = [rule.check for rule in config_checks.RULES] + [c for c, _ in declared.values()]
    choices = [check.source for check in checks if check.source]
    assert len(choices) >= 6
    for module, constant in choices:
        from_source = config_checks.module_constant(module, constant)
        assert from_source == tuple(getattr(importlib.import_module(module), constant))
