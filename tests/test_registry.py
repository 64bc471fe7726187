"""One way to name a model (:func:`recbole_llmkg.registry.resolve_model`): registered names,
entry points of installed packages, ``package.module:Class`` and ``package.module.Class``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from out_of_tree import write_dist_info, write_model

from recbole_llmkg import registry
from recbole_llmkg.errors import ConfigError


@pytest.fixture
def installed(variant, monkeypatch):
    """The variant registered by an installed package's entry point (a dist-info on sys.path:
    importlib.metadata finds it as it finds pip-installed ones)."""
    write_dist_info(variant, name="PopKASimCF")
    return variant


def test_plugin_and_recbole_names_resolve_to_their_classes():
    from recbole.model.general_recommender.bpr import BPR

    from recbole_llmkg.model import LLMAugRec

    assert registry.resolve_model("LLMAugRec") is LLMAugRec
    assert registry.resolve_model("BPR") is BPR
    assert registry.resolve_model(LLMAugRec) is LLMAugRec


def test_class_path_with_colon_or_dot_resolves_an_out_of_tree_model(variant):
    import pop_kasimcf

    assert registry.resolve_model("pop_kasimcf:PopKASimCF") is pop_kasimcf.PopKASimCF
    assert registry.resolve_model("pop_kasimcf.PopKASimCF") is pop_kasimcf.PopKASimCF


@pytest.mark.parametrize(("name", "message"), [
    ("NoSuchModel", r"Unknown model 'NoSuchModel' \(config key 'model'\)"),
    ("no_such_module:Model", "module 'no_such_module' not found on sys.path"),
    ("pop_kasimcf:Nope", "module 'pop_kasimcf' (.*) defines no 'Nope'"),
    ("recbole_llmkg.errors:ConfigError", "not a recommender class"),
])
def test_bad_model_names_are_one_line_errors_naming_model_and_fix(variant, name, message):
    with pytest.raises(ConfigError, match=message) as caught:
        registry.resolve_model(name)
    assert "\n" not in str(caught.value)


def test_unknown_name_lists_the_fix_and_imports_no_lightgbm(subprocess_env):
    script = ("import sys\nfrom recbole_llmkg.registry import resolve_model\n"
              "try:\n    resolve_model('LightGMB')\nexcept Exception as e:\n    print(e)\n"
              "print('exlib' if 'recbole.model.exlib_recommender' in sys.modules else 'clean')\n")
    done = subprocess.run([sys.executable, "-c", script], env=subprocess_env,
                          capture_output=True, text=True, timeout=300)
    assert "Did you mean: LightGBM" in done.stdout and "package.module:Class" in done.stdout
    assert "recbole_llmkg.models" in done.stdout
    assert done.stdout.strip().endswith("clean"), done.stdout + done.stderr


def test_entry_point_model_is_listed_and_resolved(installed):
    import pop_kasimcf

    assert registry.entry_point_models() == {"PopKASimCF": "pop_kasimcf:PopKASimCF"}
    assert "PopKASimCF" in registry.model_names()["installed"]
    assert "PopKASimCF" in registry.available_models()
    assert registry.resolve_model("PopKASimCF") is pop_kasimcf.PopKASimCF


def test_entry_point_model_passes_the_start_up_check(installed):
    from recbole_llmkg.config.preflight import preflight

    preflight("PopKASimCF", "tiny", ["--pop_penalty=0.2"])
    with pytest.raises(ConfigError, match="'pop_penalty' = -1"):
        preflight("PopKASimCF", "tiny", ["--pop_penalty=-1"])


def test_entry_point_model_builds_a_config_with_its_yaml(installed, tiny_config):
    from recbole_llmkg import Config

    config = Config("PopKASimCF", "tiny", config_dict=tiny_config(), cmd_args=[])
    assert config["model"] == "PopKASimCF" and config["pop_penalty"] == 0.01


def test_source_lineage_follows_imported_bases_without_importing(variant):
    lineage = registry.source_lineage(*registry.model_source("pop_kasimcf:PopKASimCF"))
    names = [name for _, name in lineage]
    assert names[:2] == ["PopKASimCF", "KASimCF"] and "GeneralRecommender" in names
    assert "AbstractRecommender" not in names  # RecBole's own files end the walk
    assert "pop_kasimcf" not in sys.modules


def test_models_command_lists_installed_models(installed, capsys):
    from recbole_llmkg.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Installed models: PopKASimCF" in lines


def test_board_runs_an_out_of_tree_model_from_the_working_directory(tmp_path, subprocess_env):
    """`bench` from the folder that holds the module: its worker subprocess imports it too."""
    import json

    import yaml
    from conftest import REPO_ROOT

    folder = write_model(tmp_path / "scratch")
    board = {"name": "oot", "datasets": ["tiny"], "models": ["pop_kasimcf:PopKASimCF"],
             "seeds": [1], "protocols": ["standard"], "metrics": ["NDCG", "Recall"],
             "topk": [10], "headline": "NDCG@10", "eval_batch_size": 4096,
             "isolation": "subprocess", "threads": 1, "config": {"epochs": 1},
             "output_dir": "results"}
    (folder / "board.yaml").write_text(yaml.safe_dump(board))
    done = subprocess.run([sys.executable, str(REPO_ROOT / "run_recbole_llmkg.py"), "bench",
                           "board.yaml"], cwd=folder, env=subprocess_env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (record,) = [json.loads(p.read_text()) for p in (folder / "results" / "oot" / "runs").glob(
        "*.json")]
    assert record["status"] == "ok" and record["model"] == "pop_kasimcf:PopKASimCF"
