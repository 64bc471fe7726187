"""Value rules declared beside each model (its YAML's ``value_rules``), the shared table for keys
many models read, and the start-up check that judges both without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recbole_llmkg.config import checks
from recbole_llmkg.config.preflight import model_rule_files, preflight
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.paths import properties_dir

PROBE = ("import sys; from recbole_llmkg.cli import main; rc = main(sys.argv[1:]); "
         "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded'); "
         "sys.exit(rc)")


def test_no_rule_is_written_twice():
    """A key has its rule in the shared table or in one model's YAML, never in both (a model
    may narrow or widen a shared rule only for itself: LLMAugRec's n_layers >= 0)."""
    owners: dict[str, list[str]] = {}
    for path in sorted((properties_dir() / "model").glob("*.yaml")):
        for key in checks.declared_rules([path]):
            owners.setdefault(key, []).append(path.stem)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}
    shared = {key for key in owners if checks.rule_for(key, {}) is not None}
    assert shared == {"n_layers"}  # LLMAugRec allows 0 (no graph smoothing)


def test_model_rules_live_in_its_yaml_not_the_shared_table():
    assert checks.rule_for("sim_mode", {}) is None
    assert checks.rule_for("user_text", {}) is None
    assert checks.rule_for("kg_training", {}) is None
    assert checks.rule_for("knn_topk", {}) is not None  # KASimCF, TextKNN and KGKNN read it


@pytest.mark.parametrize(("spec", "good", "bad", "allowed"), [
    ("number >= 0", [0, 2.5], [-1, "x", True], "a number in [0, inf)"),
    ("number > 0 or ~", [0.1, None], [0, "x"], "a number in (0, inf), or ~ (none)"),
    ("number in [0, 1)", [0, 0.5], [1, -0.1], "a number in [0, 1)"),
    ("integer >= 1", [1, 7], [0, 1.5, True], "an integer >= 1"),
    ("integer > 1", [2], [1], "an integer >= 2"),
    ("integer >= 1 or a list", [3, [1, 2]], [[0], 0], "an integer >= 1 (or a list of them)"),
    ("boolean", [True, False], [1, "true"], "true or false"),
    ("one of a, b", ["a", "b"], ["c"], "one of a, b"),
    ("one of recbole_llmkg.model.general_recommender.kasimcf:SIM_MODES", ["item"], ["items"],
     "one of item, user, closed_form"),
])
def test_rule_specs_parse_to_their_checks(spec, good, bad, allowed):
    check = checks.parse_rule(spec)
    assert all(check.test(v) for v in good) and not any(check.test(v) for v in bad)
    assert check.allowed == allowed


def test_malformed_rule_names_file_and_key(tmp_path):
    bad = tmp_path / "Bad.yaml"
    bad.write_text("value_rules:\n  my_key: positive please\n")
    with pytest.raises(ConfigError, match=r"Bad\.yaml', key 'my_key'.*is not a rule"):
        checks.declared_rules([bad])


def test_value_rules_key_is_no_config_key(tiny_config):
    from recbole_llmkg import Config

    config = Config("LLMAugRec", "tiny", config_dict=tiny_config(), cmd_args=[])
    assert "value_rules" not in config.final_config_dict
    with pytest.raises(ConfigError, match="Unknown config key 'value_rules'"):
        Config("LLMAugRec", "tiny", config_dict=tiny_config(value_rules={}), cmd_args=[])


def test_out_of_tree_subclass_of_kasimcf_refuses_a_negative_pop_penalty(variant, tiny_config):
    from recbole_llmkg import Config

    with pytest.raises(ConfigError) as caught:
        Config("pop_kasimcf:PopKASimCF", "tiny", config_dict=tiny_config(pop_penalty=-1),
               cmd_args=[])
    message = str(caught.value)
    assert "'pop_penalty' = -1" in message and "a number in [0, inf)" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="sim_mode"):  # KASimCF's rules are inherited
        Config("pop_kasimcf:PopKASimCF", "tiny", config_dict=tiny_config(sim_mode="items"),
               cmd_args=[])
    config = Config("pop_kasimcf.PopKASimCF", "tiny", config_dict=tiny_config(), cmd_args=[])
    assert config["pop_penalty"] == 0.01 and config["sim_mode"] == "item"  # its YAML


def test_out_of_tree_rules_found_from_source_with_inherited_yaml(variant):
    files = model_rule_files("pop_kasimcf:PopKASimCF")
    assert [f.name for f in files] == ["PopKASimCF.yaml", "KASimCF.yaml"]
    with pytest.raises(ConfigError, match=r"'pop_penalty' = -1 \(command line\)"):
        preflight("pop_kasimcf:PopKASimCF", "tiny", ["--pop_penalty=-1"])
    with pytest.raises(ConfigError, match="'sim_mode'"):
        preflight("pop_kasimcf:PopKASimCF", "tiny", ["--sim_mode=items"])
    preflight("pop_kasimcf:PopKASimCF", "tiny", ["--pop_penalty=0.5"])  # its own key is known


@pytest.mark.parametrize(("model", "arg", "key"), [
    ("pop_kasimcf:PopKASimCF", "--pop_penalty=-1", "pop_penalty"),  # out of tree
    ("KASimCF", "--sim_mode=items", "sim_mode"),  # plugin
    ("LightGCN", "--n_layers=0", "n_layers"),  # RecBole
])
def test_start_up_check_refuses_bad_values_before_torch(variant, subprocess_env, tmp_path,
                                                        model, arg, key):
    env = {**subprocess_env,
           "PYTHONPATH": f"{variant}{':' + subprocess_env['PYTHONPATH']}"}
    done = subprocess.run([sys.executable, "-c", PROBE, "-m", model, "-d", "tiny", arg],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Config key '{key}'" in lines[0], done.stderr
    assert "torch not loaded" in done.stdout
