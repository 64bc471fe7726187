"""The plugin's foundation: model lookup, errors, config precedence, CLI, checkpoints."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from recbole_llmkg import Config, run_recbole_llmkg
from recbole_llmkg.config import datasets_dir
from recbole_llmkg.errors import ConfigError, DatasetFileNotFoundError
from recbole_llmkg.registry import get_model

REPO_ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- model lookup


def test_unknown_model_lists_models_and_suggests_close_name(tiny_config):
    before = set(sys.modules)
    with pytest.raises(ConfigError) as caught:
        get_model("LightGNC")
    message = str(caught.value)
    assert "LightGNC" in message
    assert "Did you mean: LightGCN" in message
    assert "`recbole-llmkg models` lists every registered name" in message  # one line
    assert "\n" not in message
    loaded = set(sys.modules) - before
    assert not {"lightgbm", "xgboost", "recbole.model.exlib_recommender"} & loaded
    assert "recbole.model.exlib_recommender" not in sys.modules

    # Through the entry point too, before any data is read.
    with pytest.raises(ConfigError, match="LightGCN"):
        run_recbole_llmkg("LightGNC", "tiny", config_dict=tiny_config(), cmd_args=[])


def test_case_mismatch_is_suggested():
    with pytest.raises(ConfigError, match="Did you mean: .*BPR"):
        get_model("bpr")


# --------------------------------------------------------------------------- dataset files


@pytest.mark.parametrize(("model", "missing"), [("BPR", "inter"), ("CKE", "kg"), ("CKE", "link")])
def test_missing_dataset_file_names_file_and_data_path(tmp_path, tiny_config, model, missing):
    folder = tmp_path / "data" / "partial"
    folder.mkdir(parents=True)
    tiny = datasets_dir() / "tiny"
    for suffix in ("inter", "kg", "link"):
        if suffix != missing:
            text = (tiny / f"tiny.{suffix}").read_text()
            (folder / f"partial.{suffix}").write_text(text)
    config = tiny_config(data_path=str(tmp_path / "data"))
    with pytest.raises(DatasetFileNotFoundError) as caught:
        run_recbole_llmkg(model, "partial", config_dict=config, cmd_args=[])
    message = str(caught.value)
    assert f"partial.{missing}" in message
    assert str(folder) in message
    assert "data_path" in message
    assert isinstance(caught.value, FileNotFoundError)


# --------------------------------------------------------------------------- external class


MY_MODEL_SOURCE = textwrap.dedent(
    '''
    from recbole.model.general_recommender.bpr import BPR


    class MyBPR(BPR):
        """BPR under another name, defined outside the plugin."""

        def __init__(self, config, dataset):
            super().__init__(config, dataset)
            self.my_marker = config["my_marker"]
    '''
)


@pytest.fixture
def my_bpr(tmp_path, monkeypatch):
    folder = tmp_path / "my_models"
    folder.mkdir()
    (folder / "my_bpr_module.py").write_text(MY_MODEL_SOURCE)
    (folder / "MyBPR.yaml").write_text("embedding_size: 24\nmy_marker: 7\n")
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("my_bpr_module")
    yield module.MyBPR
    sys.modules.pop("my_bpr_module", None)


def test_model_class_defined_elsewhere_runs_with_its_yaml_defaults(my_bpr, tiny_config):
    from recbole_llmkg.quick_start import prepare, run

    config = Config(my_bpr, "tiny", config_dict=tiny_config(), cmd_args=[])
    assert config["model"] == "MyBPR"
    assert config.model_class is my_bpr
    assert config["embedding_size"] == 24  # from MyBPR.yaml (RecBole's default: 64)
    assert config["my_marker"] == 7

    model = prepare(config).model
    assert type(model) is my_bpr
    assert model.my_marker == 7
    assert model.user_embedding.embedding_dim == 24
    assert 0.0 <= run(config, saved=False)["test_result"]["ndcg@10"] <= 1.0

    # config_dict still beats the class's YAML.
    config = Config(my_bpr, "tiny", config_dict=tiny_config(embedding_size=8), cmd_args=[])
    assert config["embedding_size"] == 8


def test_model_variant_inherits_its_parents_yaml_defaults(tmp_path, monkeypatch, tiny_config):
    folder = tmp_path / "variants"
    folder.mkdir()
    (folder / "my_variant_module.py").write_text(
        "from recbole_llmkg.model.general_recommender.llmaugrec import LLMAugRec\n\n\n"
        "class MyTextRec(LLMAugRec):\n    pass\n"
    )
    (folder / "MyTextRec.yaml").write_text("llm_alpha: 0.5\n")
    monkeypatch.syspath_prepend(str(folder))
    try:
        variant = importlib.import_module("my_variant_module").MyTextRec
        config = Config(variant, "tiny", config_dict=tiny_config(), cmd_args=[])
    finally:
        sys.modules.pop("my_variant_module", None)
    parent = yaml.safe_load((REPO_ROOT / "properties/model/LLMAugRec.yaml").read_text())
    assert config["llm_alpha"] == 0.5  # the variant's own YAML
    assert parent["llm_alpha"] != 0.5
    for key in ("user_text", "fusion", "id_dropout", "adapter_hidden_size"):
        assert config[key] == parent[key], key  # inherited from LLMAugRec.yaml


# --------------------------------------------------------------------------- precedence


def test_config_precedence(tmp_path, tiny_config):
    base = tiny_config()
    # RecBole's overall.yaml says log_flops: True; the plugin's overall.yaml says False.
    assert Config("BPR", "tiny", config_dict=base, cmd_args=[])["log_flops"] is False
    assert Config("BPR", "tiny", config_dict=base, cmd_args=[])["embedding_size"] == 64  # BPR.yaml

    user_yaml = tmp_path / "user.yaml"
    user_yaml.write_text(yaml.safe_dump({"log_flops": True, "embedding_size": 16,
                                         "learning_rate": 0.5, "train_batch_size": 128}))
    files = [str(user_yaml)]
    config = Config("BPR", "tiny", files, dict(base), cmd_args=[])
    assert config["log_flops"] is True  # user yaml > plugin defaults
    assert config["embedding_size"] == 16  # user yaml > RecBole's model defaults

    config = Config("BPR", "tiny", files, {**base, "embedding_size": 24, "learning_rate": 0.1},
                    cmd_args=[])
    assert config["embedding_size"] == 24  # config_dict > user yaml
    assert config["learning_rate"] == 0.1
    assert config["train_batch_size"] == 128  # untouched layers still show through

    config = Config("BPR", "tiny", files, {**base, "embedding_size": 24},
                    cmd_args=["--embedding_size=32", "--log_flops=False"])
    assert config["embedding_size"] == 32  # cmd_args > config_dict
    assert config["log_flops"] is False


def test_missing_user_config_file_is_a_config_error(tmp_path, tiny_config):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml"):
        Config("BPR", "tiny", [str(missing)], tiny_config(), cmd_args=[])


# --------------------------------------------------------------------------- CLI


def _cli(args, tmp_path, env):
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "run_recbole_llmkg.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_cli_trains_and_prints_test_metrics(tmp_path, subprocess_env):
    done = _cli(["-m", "BPR", "-d", "tiny", "--epochs=1", "--use_gpu=False",
                 f"--checkpoint_dir={tmp_path / 'ckpt'}"], tmp_path, subprocess_env)
    assert done.returncode == 0, done.stderr[-3000:]
    test_lines = [line for line in done.stdout.splitlines() if line.startswith("test result")]
    assert len(test_lines) == 1 and "ndcg@10" in test_lines[0], done.stdout[-2000:]
    assert list((tmp_path / "ckpt").glob("BPR-*.pth"))  # overrides reached the config
    assert (tmp_path / "ckpt" / "log").is_dir()  # logs go under the run's folder (log_root)
    assert not (tmp_path / "log").exists() and not (tmp_path / "log_tensorboard").exists()


def test_cli_unknown_model_is_a_one_line_error(tmp_path, subprocess_env):
    done = _cli(["-m", "LightGNC", "-d", "tiny", "--use_gpu=False"], tmp_path, subprocess_env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, done.stderr
    assert "LightGNC" in errors[0] and "LightGCN" in errors[0]
    assert "test result" not in done.stdout


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_write_is_atomic(tmp_path, tiny_config, monkeypatch):
    saved_to = []
    real_save = torch.save

    def recording_save(obj, f, *args, **kwargs):
        saved_to.append(str(f) if isinstance(f, (str, Path)) else "temp file handle")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", recording_save)
    run_recbole_llmkg("BPR", "tiny", config_dict=tiny_config(epochs=2), cmd_args=[], saved=True)
    checkpoint_dir = tmp_path / "saved"
    files = sorted(p.name for p in checkpoint_dir.iterdir() if p.is_file())  # not log/
    assert len(files) == 1 and files[0].endswith(".pth"), files
    # written through a temp file beside the target (files.write_atomic), never to the target
    assert saved_to and all(target == "temp file handle" for target in saved_to)
    state = torch.load(checkpoint_dir / files[0], weights_only=False)
    assert {"state_dict", "config", "epoch"} <= set(state)
    assert "user_embedding.weight" in state["state_dict"]

    # A write that dies half way leaves the previous checkpoint intact and loadable.
    from recbole.data import data_preparation

    from recbole_llmkg.registry import create_dataset, get_trainer

    config = Config("BPR", "tiny", config_dict=tiny_config(), cmd_args=[])
    train, _, _ = data_preparation(config, create_dataset(config))
    model = config.model_class(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "BPR")(config, model)
    trainer.saved_model_file = str(checkpoint_dir / files[0])
    before = (checkpoint_dir / files[0]).read_bytes()

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        trainer._save_checkpoint(0)
    assert (checkpoint_dir / files[0]).read_bytes() == before
    torch.load(checkpoint_dir / files[0], weights_only=False)
