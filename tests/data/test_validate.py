"""validate_atomic_files: the plugin's atomic-file checks for RecBole's own dataset classes."""

from __future__ import annotations

import logging

import pytest
from conftest import make_config, rewrite_lines, warning_messages

from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.data.validate import dataset_files, validate_atomic_files
from recbole_llmkg.errors import DataError


def insert_kg_line(tiny_copy, line):
    rewrite_lines(tiny_copy / "tiny" / "tiny.kg", lambda lines: lines[:10] + [line] + lines[10:])


def test_files_the_config_loads(tmp_path, tiny_copy):
    names = [p.name for p in dataset_files(make_config(tmp_path, data_path=tiny_copy))]
    assert names == ["tiny.inter", "tiny.user", "tiny.item"]
    kg = make_config(tmp_path, data_path=tiny_copy, model="CKE")
    assert [p.name for p in dataset_files(kg)][-2:] == ["tiny.kg", "tiny.link"]
    assert len(validate_atomic_files(kg)) == 5  # the shipped files pass


def test_issue10_5_kg_row_with_two_columns_is_refused_for_builtin_models(tmp_path, tiny_copy):
    insert_kg_line(tiny_copy, "m.i1\tfilm.film.actor")
    for model in ("CKE", "KGIN"):
        with pytest.raises(DataError) as err:
            validate_atomic_files(make_config(tmp_path, data_path=tiny_copy, model=model))
        assert "tiny.kg', line 11: expected 3 columns" in str(err.value)


@pytest.mark.parametrize("line", ["m.i1\t\tm.a16", "\tfilm.film.actor\tm.a16"])
def test_issue10_15_empty_id_in_kg_is_refused(tmp_path, tiny_copy, line):
    insert_kg_line(tiny_copy, line)
    field = "relation_id" if "\t\t" in line else "head_id"
    config = make_config(tmp_path, data_path=tiny_copy, model="CKE")
    with pytest.raises(DataError, match=f"tiny.kg', line 11: field '{field}' is empty"):
        validate_atomic_files(config)
    with pytest.raises(DataError, match=f"tiny.kg', line 11: field '{field}' is empty"):
        LLMKGDataset(config)  # the plugin's dataset class checks it the same way


def test_undecodable_bytes_are_refused_for_recbole_loader(tmp_path, tiny_copy):
    item_file = tiny_copy / "tiny" / "tiny.item"
    item_file.write_bytes(item_file.read_bytes().replace(b"Endless", b"Endl\xe9ss"))
    with pytest.raises(DataError, match=r"tiny.item' has bytes that are not valid utf-8.*line 3"):
        validate_atomic_files(make_config(tmp_path, data_path=tiny_copy))


def test_issue10_6_extra_field_warns_for_builtin_models(tmp_path, tiny_copy, caplog):
    insert_kg_line(tiny_copy, "m.i1\tfilm.film.actor\tm.a16\tsource: imdb")
    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        validate_atomic_files(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    assert any("tiny.kg" in m and "(line 11)" in m for m in warning_messages(caplog))


def test_issue10_5_create_dataset_checks_files_for_builtin_models(tmp_path, tiny_copy):
    from recbole_llmkg import create_dataset

    insert_kg_line(tiny_copy, "m.i1\tfilm.film.actor")
    with pytest.raises(DataError, match="tiny.kg', line 11: expected 3 columns"):
        create_dataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
