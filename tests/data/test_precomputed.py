"""Precomputed .itememb/.useremb files: non-finite values and width errors name the right line."""

from __future__ import annotations

import logging

import pytest
from conftest import warning_messages

from recbole_llmkg.data.precomputed import load_precomputed
from recbole_llmkg.errors import DataError

HEADER = "item_id:token\titem_emb:float_seq"
TOKENS = {"1": 1, "2": 2, "3": 3, "4": 4}


def write(path, rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e40"])
def test_issue10_4_non_finite_values_are_refused_naming_line_and_id(tmp_path, bad):
    path = write(tmp_path / "x.itememb", ["1\t0.1 0.2", "2\t0.3 0.4", "", f"3\t0.5 {bad}"])
    with pytest.raises(DataError) as err:
        load_precomputed(path, "item_id", TOKENS, 5)
    message = str(err.value)
    assert f"'{path}', line 5:" in message and "item_id '3'" in message  # blank line 4 counted
    assert "NaN or infinite" in message


def test_issue10_15_width_error_names_the_minority_line(tmp_path):
    path = write(tmp_path / "x.itememb", ["1\t0.1 0.2", "2\t0.1 0.2 0.3", "3\t0.1 0.2 0.3",
                                          "4\t0.1 0.2 0.3"])
    with pytest.raises(DataError, match=r"line 2: vector has 2 values but 3 of 4 rows have 3"):
        load_precomputed(path, "item_id", TOKENS, 5)


def test_issue10_6_extra_trailing_field_is_ignored_with_a_warning(tmp_path, caplog):
    path = write(tmp_path / "x.itememb", ["1\t0.1 0.2", "2\t0.3 0.4\tnote", "3\t0.5 0.6"])
    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        matrix = load_precomputed(path, "item_id", TOKENS, 5)
    assert matrix[2].tolist() == pytest.approx([0.3, 0.4])
    assert any("line 3" in m and "extra field" in m for m in warning_messages(caplog))
