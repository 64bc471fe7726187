"""Bad input gets a clear error or one counted warning, never a pandas/Unicode traceback."""

from __future__ import annotations

import logging

import pytest
from conftest import make_config, rewrite_lines, warning_messages
from recbole.data.dataset import Dataset

from recbole_llmkg.data import LLMKGDataset, LLMTextDataset
from recbole_llmkg.data.atomic import check_atomic_file
from recbole_llmkg.errors import ConfigError, DataError


def test_template_naming_an_unloaded_field(tmp_path, tiny_copy):
    config = make_config(
        tmp_path, data_path=tiny_copy, item_text_template="{movie_title} by {director}"
    )
    with pytest.raises(ConfigError) as err:
        LLMTextDataset(config)
    message = str(err.value)
    assert "'director'" in message and "'item_text_template'" in message
    assert str(tiny_copy / "tiny" / "tiny.item") in message
    assert "movie_title, release_year, class" in message  # the columns that do exist


def test_template_field_removed_by_unload_col(tmp_path, tiny_copy):
    config = make_config(tmp_path, data_path=tiny_copy, unload_col={"user": ["occupation"]})
    with pytest.raises(
        ConfigError, match="'user_text_template' names field 'occupation'.*tiny.user"
    ):
        LLMTextDataset(config)


def test_bad_template_syntax(tmp_path, tiny_copy):
    config = make_config(tmp_path, data_path=tiny_copy, item_text_template="{movie_title[0]}")
    with pytest.raises(ConfigError, match="item_text_template"):
        LLMTextDataset(config)


def test_empty_and_missing_texts_get_placeholder_and_one_warning(tmp_path, tiny_copy, caplog):
    def blank(lines):  # items 1-3: every field empty; items 4-5: no .item row at all
        out = [lines[0]]
        for line in lines[1:]:
            item = int(line.split("\t")[0])
            if item <= 3:
                out.append(f"{item}\t\t\t")
            elif item > 5:
                out.append(line)
        return out

    rewrite_lines(tiny_copy / "tiny" / "tiny.item", blank)
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    texts = dataset.item_texts()
    for token in ("1", "2", "3", "4", "5"):
        assert texts[dataset.field2token_id["item_id"][token]] == "unknown"
    # RecBole's own Dataset, which does not load .item for BPR
    plain = Dataset(make_config(tmp_path, data_path=tiny_copy))
    assert len(dataset.inter_feat) == len(plain.inter_feat)  # rows without .item text are kept
    about_items = [m for m in warning_messages(caplog) if "item texts are empty" in m]
    assert len(about_items) == 1 and about_items[0].startswith("5 of 80 item texts")
    assert dataset.item_text_embeddings().shape == (81, 384)


def test_link_rows_for_unknown_items_are_counted(tmp_path, tiny_copy, caplog):
    rewrite_lines(tiny_copy / "tiny" / "tiny.link", lambda ls: ls + ["9001\tm.d10", "9002\tm.a16"])
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    found = [m for m in warning_messages(caplog) if "tiny.link" in m]
    assert len(found) == 1 and found[0].startswith("2 of 78 rows")
    assert "9001" not in dataset.field2token_id["item_id"]


@pytest.mark.parametrize(
    "bad_line", ["m.i1\tfilm.film.actor", "m.i1\tfilm.film.actor\tm.a1\textra\tmore"]
)
def test_malformed_kg_line_names_file_and_line(tmp_path, tiny_copy, bad_line):
    def insert(lines):
        return lines[:10] + [bad_line] + lines[10:]

    rewrite_lines(tiny_copy / "tiny" / "tiny.kg", insert)
    with pytest.raises(DataError) as err:
        LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    message = str(err.value)
    assert str(tiny_copy / "tiny" / "tiny.kg") in message
    assert "line 11" in message and "expected 3 columns" in message


def test_malformed_header(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user_id\titem_id:token\n1\t2\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: header field 'user_id'"):
        check_atomic_file(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="is empty"):
        check_atomic_file(path)


def test_blank_lines_and_crlf_are_fine(tmp_path):
    path = tmp_path / "x.inter"
    path.write_bytes(b"user_id:token\titem_id:token\r\n1\t2\r\n\r\n3\t4\r\n")
    checked = check_atomic_file(path)
    assert checked.repaired is None
    assert checked.line_numbers.tolist() == [2, 4]  # the data rows pandas reads, by file line


def test_non_utf8_bytes_are_replaced_with_a_warning(tmp_path, tiny_copy, caplog):
    item_file = tiny_copy / "tiny" / "tiny.item"
    data = item_file.read_bytes().replace(b"The Endless River 2", b"The Endl\xe9ss River 2")
    item_file.write_bytes(data)
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    text = dataset.item_texts()[dataset.field2token_id["item_id"]["2"]]
    assert text.startswith("The Endl\ufffdss River 2")
    found = [m for m in warning_messages(caplog) if "not valid utf-8" in m]
    assert len(found) == 1 and str(item_file) in found[0] and "line 3" in found[0]
