"""Atomic-file checks accept exactly what RecBole reads correctly and refuse what it misreads."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import make_config, rewrite_lines, warning_messages
from recbole.data.dataset import KnowledgeBasedDataset

from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.data.atomic import check_atomic_file, empty_fields
from recbole_llmkg.errors import DataError


def insert_kg_line(tiny_copy, line, at=10):
    rewrite_lines(tiny_copy / "tiny" / "tiny.kg", lambda lines: lines[:at] + [line] + lines[at:])


def kg_table(dataset):
    """The KG as (head, relation, tail) tokens, whatever ids the dataset gave them."""
    frame = dataset.kg_feat
    return sorted(
        zip(*(np.asarray(dataset.field2id_token[f])[np.asarray(frame[f])]
              for f in ("head_id", "relation_id", "tail_id")), strict=True)
    )


def test_issue10_6_one_extra_field_is_warned_and_read_like_recbole(tmp_path, tiny_copy, caplog):
    insert_kg_line(tiny_copy, "m.i1\tfilm.film.actor\tm.a16\tsource: imdb")
    insert_kg_line(tiny_copy, "m.i2\tfilm.film.actor\tm.a16\t", at=20)
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    ours = LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    found = [m for m in warning_messages(caplog) if "tiny.kg" in m and "extra field" in m]
    assert len(found) == 1 and "2 data line(s)" in found[0] and "(line 11, 21)" in found[0]
    recbole = KnowledgeBasedDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    # line 11 repeats the triple of line 3: the plugin keeps one copy (issue 25.6), RecBole both
    assert kg_table(ours) == sorted(set(kg_table(recbole)))
    assert ("m.i1", "film.film.actor", "m.a16") in kg_table(ours)


@pytest.mark.parametrize(
    ("rows", "line", "why"),
    [
        (["1\t2", "3"], 3, "pad the missing fields with NaN"),
        (["1\t2", "3\t4\t5\t6"], 3, "load such a line as NaN"),
        (["1\t2\t9", "3\t4"], 2, "first column as the row index"),
    ],
)
def test_issue10_6_lines_recbole_misreads_are_refused(tmp_path, rows, line, why):
    path = tmp_path / "x.inter"
    path.write_text("\n".join(["user_id:token\titem_id:token", *rows]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"line {line}: expected 2 columns.*{why}"):
        check_atomic_file(path)


def test_the_misread_cases_are_misread_by_pandas(tmp_path):
    """Why they are refused: RecBole's reader call returns wrong rows for them."""
    path = tmp_path / "x.inter"
    for body, good in (("1\t2\t9\n3\t4\n", [["1", "2"], ["3", "4"]]),
                       ("1\t2\n3\t4\t5\t6\n", [["1", "2"], ["3", "4"]])):
        path.write_text("a:token\tb:token\n" + body, encoding="utf-8")
        try:
            rows = pd.read_csv(path, delimiter="\t", usecols=["a:token", "b:token"], dtype=str,
                               engine="python").values.tolist()
        except IndexError:
            continue
        assert rows != good


def test_empty_fields_positions():
    data = b"a:token\tb:token\tc:token\nx\t\tz\n\ty\tz\nx\ty\t\n\nx\ty\tz\t\n"
    lines, columns = empty_fields(data, b"\t", 3)
    assert list(zip(lines.tolist(), columns.tolist(), strict=True)) == [(1, 1), (2, 0), (3, 2)]
