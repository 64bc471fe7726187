"""Config: unknown keys refused, values checked, data_path chosen by one rule."""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import recbole
import yaml
from recbole.config import Config as RecBoleConfig

from recbole_llmkg import Config
from recbole_llmkg.config import datasets_dir, properties_dir
from recbole_llmkg.config.checks import check_values, rule_for, rules_of
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.registry import get_model, plugin_models

REPO_ROOT = Path(__file__).resolve().parents[1]
RECBOLE_PROPERTIES = Path(recbole.__file__).parent / "properties"


def _config(tiny_config, model="LLMAugRec", cmd_args=(), files=None, **overrides):
    return Config(model, "tiny", files, tiny_config(**overrides), cmd_args=list(cmd_args))


# --------------------------------------------------------------------------- unknown keys


def test_unknown_cli_key_names_key_origin_and_closest_key(tiny_config):
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        _config(tiny_config, cmd_args=["--llm_alpa=0.5"])
    elapsed = time.perf_counter() - start
    assert "Unknown config key 'llm_alpa' (command line). Did you mean 'llm_alpha'?" in str(
        caught.value)
    print(f"Config raised for a bad key in {elapsed:.3f} s")


def test_unknown_key_in_config_dict_and_yaml_file_names_where(tmp_path, tiny_config):
    with pytest.raises(ConfigError, match=r"'epoch' \(config_dict\)\. Did you mean 'epochs'"):
        _config(tiny_config, model="BPR", epoch=5)
    user_yaml = tmp_path / "mine.yaml"
    user_yaml.write_text("embeding_size: 32\n")
    with pytest.raises(ConfigError, match=r"'embeding_size' \(config file '.*mine\.yaml'\)\. "
                                          r"Did you mean 'embedding_size'"):
        _config(tiny_config, model="BPR", files=[str(user_yaml)])


def test_extra_config_keys_opt_out(tiny_config):
    config = _config(tiny_config, model="BPR", my_own_key=3, extra_config_keys=["my_own_key"])
    assert config["my_own_key"] == 3
    config = Config("BPR", "tiny", config_dict=tiny_config(my_own_key=4), cmd_args=[],
                    extra_config_keys=["my_own_key"])
    assert config["my_own_key"] == 4
    with pytest.raises(ConfigError, match="extra_config_keys"):
        _config(tiny_config, model="BPR", extra_config_keys=[1, 2])


def test_keys_recbole_reads_without_a_yaml_default_are_known(tiny_config):
    # Read in RecBole's code only (configurator, trainer, dataset), in no YAML file.
    for key, value in {"nproc": 1, "world_size": 1, "offset": 0, "ip": "localhost",
                       "port": "5678", "benchmark_filename": None, "single_spec": True}.items():
        _config(tiny_config, model="BPR", **{key: value})


def test_another_models_keys_and_dataset_fields_are_allowed(tiny_config):
    config = _config(tiny_config, model="BPR", n_layers=3, fusion="concat", hidden_dropout_prob=0.2)
    assert config["n_layers"] == 3
    _config(tiny_config, model="BPR", movie_title="x")  # a field of tiny.item's header


def test_every_shipped_benchmark_file_passes(tiny_config):
    import yaml

    from recbole_llmkg.benchmark.spec import load_benchmark

    for path in sorted((properties_dir() / "benchmark").glob("*.yaml")):
        if "seeds" not in yaml.safe_load(path.read_text(encoding="utf-8")):
            continue  # not a board (e.g. the tuning search spaces)
        spec = load_benchmark(path)
        for run in spec.runs():
            if run.dataset != "tiny":  # only the check matters: build on tiny, same keys
                run.config.pop("data_path", None)
            Config(run.model.name, "tiny", config_dict={**run.config, "use_gpu": False},
                   cmd_args=[])


def test_readme_config_examples_pass(tiny_config):
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]  # + manual
    readme = "\n".join(path.read_text(encoding="utf-8") for path in pages)
    cli_keys = set(re.findall(r"python run_recbole_llmkg\.py[^\n]*?--(\w+)=", readme))
    cli_keys |= {k for line in re.findall(r"python run_recbole_llmkg\.py[^\n]*", readme)
                 for k in re.findall(r"--(\w+)=", line)}
    yaml_blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    keys = set(cli_keys)
    for block in yaml_blocks:
        if re.match(r"# \w+\.yaml", block):  # a model's own defaults file: its keys are its own
            continue
        loaded = yaml.safe_load(block)
        if isinstance(loaded, dict) and "models" not in loaded:  # a benchmark file is no config
            keys |= set(loaded)
    from recbole_llmkg.config.keys import static_known_keys

    assert keys and keys <= static_known_keys() | {"my_key"}, keys - static_known_keys()


# --------------------------------------------------------------------------- values


def test_n_layers_zero_is_refused_for_models_that_need_a_layer(tiny_config):
    with pytest.raises(ConfigError, match=r"'n_layers' = 0 .*an integer >= 1"):
        _config(tiny_config, model="LightGCN", cmd_args=["--n_layers=0"])
    assert _config(tiny_config, cmd_args=["--n_layers=0"])["n_layers"] == 0  # LLMAugRec


@pytest.mark.parametrize(("args", "key", "allowed"), [
    (["--llm_alpha=abc"], "llm_alpha", "a number in [0, inf)"),
    (["--llm_alpha=-1"], "llm_alpha", "a number in [0, inf)"),
    (["--n_layers=1.5"], "n_layers", "an integer >= 0"),  # LLMAugRec: 0 = no graph smoothing
    (["--n_layers=-2"], "n_layers", "an integer >= 0"),
    (["--fusion=sum"], "fusion", "one of add, concat, gate"),
    (["--embedding_size=0"], "embedding_size", "an integer >= 1"),
    (["--learning_rate=0"], "learning_rate", "a number in (0, inf)"),
    (["--adapter_dropout=1.0"], "adapter_dropout", "a number in [0, 1)"),
    (["--id_dropout=-0.1"], "id_dropout", "a number in [0, 1)"),
    (["--use_bias=maybe"], "use_bias", "true or false"),
    (["--loss_type=CE"], "loss_type", "one of BPR, BCE"),
])
def test_bad_value_names_key_value_and_allowed_range(tiny_config, args, key, allowed):
    with pytest.raises(ConfigError) as caught:
        _config(tiny_config, cmd_args=args)
    message = str(caught.value)
    assert f"Config key '{key}'" in message and allowed in message
    assert "(command line)" in message


def test_kgllmgnn_and_kasimcf_values_are_checked(tiny_config):
    with pytest.raises(ConfigError, match="kg_training"):
        _config(tiny_config, model="KGLLMGNN", kg_training="both")
    with pytest.raises(ConfigError, match="sim_mode"):
        _config(tiny_config, model="KASimCF", sim_mode="users")
    with pytest.raises(ConfigError, match="knn_topk"):
        _config(tiny_config, model="KASimCF", knn_topk=0)


def test_model_scoped_rule_leaves_other_models_alone(tiny_config):
    assert rule_for("loss_type", rules_of(get_model("LLMAugRec")))
    assert rule_for("loss_type", rules_of(get_model("SASRec"))) is None  # RecBole's CE / BPR


def _all_default_files():
    files = glob.glob(str(RECBOLE_PROPERTIES / "**" / "*.yaml"), recursive=True)
    files += [str(p) for p in properties_dir().rglob("*.yaml") if p.parent.name != "benchmark"]
    return files


def test_every_shipped_default_passes_its_rule():
    loader = RecBoleConfig._build_yaml_loader(None)  # RecBole's loader: '1e-5' is a float
    for file in _all_default_files():
        values = yaml.load(Path(file).read_text(encoding="utf-8"), Loader=loader) or {}
        name = Path(file).stem
        try:
            model_class = plugin_models().get(name) or get_model(name)
        except ConfigError:
            model_class = object
        rules = rules_of(model_class) if model_class is not object else {}
        check_values(values, rules, {k: file for k in values})


# --------------------------------------------------------------------------- files


def test_kasimcf_knowledge_view_without_link_names_key_and_file(tiny_copy, tiny_config):
    (tiny_copy / "tiny" / "tiny.link").unlink()
    with pytest.raises(ConfigError, match=r"knowledge_weight.*tiny\.link"):
        _config(tiny_config, model="KASimCF", data_path=str(tiny_copy), knowledge_weight=1.0)
    _config(tiny_config, model="KASimCF", data_path=str(tiny_copy), knowledge_weight=0.0)


def test_broken_encoder_config_json_is_a_config_error(tmp_path, tiny_config):
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert",')
    with pytest.raises(ConfigError, match=r"llm_model_path.*config\.json.*not valid JSON"):
        _config(tiny_config, llm_model_path=str(folder))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    _config(tiny_config, llm_model_path=str(folder))


# --------------------------------------------------------------------------- data_path


def test_explicit_data_path_always_wins(tmp_path, tiny_copy, tiny_config, monkeypatch):
    assert _config(tiny_config, model="BPR")["data_path"] == str(datasets_dir() / "tiny")
    config = _config(tiny_config, model="BPR", data_path=str(tiny_copy))
    assert config["data_path"] == str(tiny_copy / "tiny")
    # The same rule for a dataset RecBole ships (RecBole itself pins it to its bundled copy).
    copy = tmp_path / "elsewhere"
    (copy / "ml-100k").mkdir(parents=True)
    config = Config("BPR", "ml-100k", config_dict=tiny_config(data_path=str(copy)), cmd_args=[])
    assert config["data_path"] == str(copy / "ml-100k")
    bundled = Config("BPR", "ml-100k", config_dict=tiny_config(), cmd_args=[])["data_path"]
    assert Path(bundled).resolve() == (RECBOLE_PROPERTIES.parent / "dataset_example" /
                                       "ml-100k").resolve()


def test_config_module_names_no_dataset():
    source = (REPO_ROOT / "recbole_llmkg" / "config" / "configurator.py").read_text("utf-8")
    assert "ml-100k" not in source and "tiny" not in source


def test_cli_unknown_key_is_a_one_line_error(tmp_path, subprocess_env):
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run_recbole_llmkg.py"), "-m", "LLMAugRec", "-d",
         "tiny", "--llm_alpa=0.5", "--use_gpu=False"],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Unknown config key 'llm_alpa' (command line). Did you mean 'llm_alpha'?" in done.stderr


def test_recbole_consistency_error_is_a_config_error(tiny_config):
    # RecBole refuses negative sampling with a CE loss (a ValueError deep in its Config).
    with pytest.raises(ConfigError, match="train_neg_sample_args"):
        _config(tiny_config, model="SASRec", loss_type="CE",
                train_neg_sample_args={"distribution": "uniform", "sample_num": 1})


def test_config_is_pickled_by_its_public_name_as_old_checkpoints_hold_it():
    """Checkpoints written when the Config lived in ``recbole_llmkg/config.py`` reference
    ``recbole_llmkg.config.Config``; new ones reference the same name."""
    import pickle

    from recbole_llmkg.config import Config as public

    assert Config is public and Config.__module__ == "recbole_llmkg.config"
    assert b"recbole_llmkg.config" in pickle.dumps(Config, protocol=2)
    assert pickle.loads(pickle.dumps(Config, protocol=2)) is Config
