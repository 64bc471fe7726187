"""Bad input, second round: what used to end in a raw traceback or change data silently."""

from __future__ import annotations

import pytest
from conftest import make_config, rewrite_lines

from recbole_llmkg.data import LLMTextDataset
from recbole_llmkg.data.atomic import BOM
from recbole_llmkg.errors import DataError
from recbole_llmkg.utils import create_dataset


def _with_bom(path) -> None:
    path.write_bytes(BOM + path.read_bytes())


def test_utf8_bom_at_start_of_inter_file_is_accepted(tmp_path, tiny_copy):
    """A byte-order mark (Excel's "CSV UTF-8") used to end in ``KeyError: 'user_id'`` after 40
    lines of traceback; it means nothing in UTF-8, so both readers drop it."""
    plain = create_dataset(make_config(tmp_path, data_path=tiny_copy))
    for suffix in ("inter", "item"):
        _with_bom(tiny_copy / "tiny" / f"tiny.{suffix}")
    recbole = create_dataset(make_config(tmp_path, data_path=tiny_copy))  # RecBole's Dataset
    assert type(recbole).__name__ == "Dataset"
    assert recbole.inter_num == plain.inter_num and recbole.user_num == plain.user_num
    assert recbole.config["encoding"] == "utf-8-sig"
    text = LLMTextDataset(make_config(tmp_path, model="LLMAugRec", data_path=tiny_copy))
    assert text.inter_num == plain.inter_num
    assert "\ufeff" not in text.item_texts()[1]


def test_non_numeric_rating_names_file_line_and_field(tmp_path, tiny_copy):
    """A rating ``4 stars`` used to stop RecBole's reader with a bare pandas ValueError."""
    inter = tiny_copy / "tiny" / "tiny.inter"

    def stars(lines):
        fields = lines[7].split("\t")
        fields[2] = "4 stars"
        return [*lines[:7], "\t".join(fields), *lines[8:]]

    rewrite_lines(inter, stars)
    rated = {"inter": ["user_id", "item_id", "rating"]}
    with pytest.raises(DataError) as caught:
        create_dataset(make_config(tmp_path, data_path=tiny_copy, load_col=rated))
    message = str(caught.value)
    assert f"'{inter}', line 8: field 'rating' (float) is '4 stars'" in message
    assert "load_col" in message
    # a model that does not load ratings is not stopped by them
    assert create_dataset(make_config(tmp_path, data_path=tiny_copy)).inter_num > 0


def test_missing_rating_words_are_not_refused(tmp_path, tiny_copy):
    """Empty values and pandas' missing-value words (NaN, NA, null) read as missing, as before."""
    inter = tiny_copy / "tiny" / "tiny.inter"

    def blank(lines):
        out = [lines[0]]
        for i, line in enumerate(lines[1:]):
            fields = line.split("\t")
            fields[2] = ("", "NaN", "null", " 4.5 ")[i % 4]
            out.append("\t".join(fields))
        return out

    rewrite_lines(inter, blank)
    rated = {"inter": ["user_id", "item_id", "rating"]}
    assert create_dataset(make_config(tmp_path, data_path=tiny_copy, load_col=rated)).inter_num
