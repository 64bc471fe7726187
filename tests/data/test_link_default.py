"""A plain ml-100k KG run reads the corrected .link by default, says so, and `kg_link_file`
opts back to RecBole's file or names another."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import recbole

from recbole_llmkg.config import Config, datasets_dir
from recbole_llmkg.data.link import link_file
from recbole_llmkg.errors import ConfigError

BUNDLED = Path(recbole.__file__).parent / "dataset_example" / "ml-100k"
CORRECTED = datasets_dir() / "corrections" / "ml-100k.link"


def _config(model: str = "KGIN", **overrides):
    return Config(model, "ml-100k", config_dict={"show_progress": False, **overrides},
                  cmd_args=[])


def test_default_is_the_correction_and_dataset_opts_back():
    assert link_file(_config(), BUNDLED, "ml-100k") == CORRECTED
    assert link_file(_config(kg_link_file="dataset"), BUNDLED, "ml-100k") == BUNDLED / \
        "ml-100k.link"
    with pytest.raises(ConfigError, match="kg_link_file': file 'nope.link' not found"):
        link_file(_config(kg_link_file="nope.link"), BUNDLED, "ml-100k")


def test_a_board_split_folder_keeps_its_own_side_file(tmp_path):
    (tmp_path / "ml-100k.link").write_text("item_id:token\tentity_id:token\n1\tm.x\n")
    assert link_file(_config(), tmp_path, "ml-100k") == tmp_path / "ml-100k.link"


def test_datasets_without_a_correction_read_their_own(tiny_copy):
    config = Config("KGIN", "tiny", config_dict={"data_path": str(tiny_copy)}, cmd_args=[])
    assert link_file(config, tiny_copy / "tiny", "tiny") == tiny_copy / "tiny" / "tiny.link"


@pytest.mark.parametrize("model", ["KGIN", "KGKNN"])  # RecBole's dataset class and the plugin's
def test_plain_ml100k_kg_run_reads_the_correction_and_logs_it(model, caplog):
    from recbole_llmkg.registry import create_dataset

    corrected = {r.split("\t")[0]: r.split("\t")[1]
                 for r in CORRECTED.read_text().splitlines()[1:]}
    bundled = {r.split("\t")[0]: r.split("\t")[1]
               for r in (BUNDLED / "ml-100k.link").read_text().splitlines()[1:]}
    differs = next(t for t in corrected if t in bundled and corrected[t] != bundled[t])
    with caplog.at_level(logging.INFO, logger="recbole_llmkg.data.link"):
        dataset = create_dataset(_config(model))
    assert f"Link file: '{CORRECTED}' (the plugin's correction" in caplog.text
    assert dataset.item2entity[differs] == corrected[differs]
    with caplog.at_level(logging.INFO, logger="recbole_llmkg.data.link"):
        recbole_own = create_dataset(_config(model, kg_link_file="dataset"))
    assert recbole_own.item2entity[differs] == bundled[differs]


def test_a_config_saved_before_the_key_reads_the_folders_own_file():
    class OldConfig(dict):
        """What an older checkpoint's config holds: no kg_link_file."""

    assert link_file(OldConfig(), BUNDLED, "ml-100k") == BUNDLED / "ml-100k.link"


def test_checkpoint_fingerprint_hashes_the_link_file_read():
    from recbole_llmkg.checkpoint import data_fingerprint
    from recbole_llmkg.files import file_sha256

    assert data_fingerprint(_config())["ml-100k.link"] == file_sha256(CORRECTED)
    assert data_fingerprint(_config(kg_link_file="dataset"))["ml-100k.link"] == file_sha256(
        BUNDLED / "ml-100k.link")
