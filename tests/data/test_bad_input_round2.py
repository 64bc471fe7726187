"""Bad input, second round: what used to end in a raw traceback or change data silently."""

from __future__ import annotations

import logging

import pytest
from conftest import make_config, rewrite_lines, warning_messages
from recbole.data.dataset import KnowledgeBasedDataset

from recbole_llmkg.data import LLMKGDataset, LLMTextDataset
from recbole_llmkg.data.atomic import BOM
from recbole_llmkg.errors import DataError
from recbole_llmkg.registry import create_dataset


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


@pytest.fixture
def warnings_of(caplog):
    """``warnings_of(text)``: the WARNING messages logged by the plugin that contain ``text``."""
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    return lambda text: [m for m in warning_messages(caplog) if text in m]


def _repeat_kg_lines(tiny_copy, *numbers: int):
    """Append copies of the given (1-based) lines of tiny.kg; returns the triples repeated."""
    kg = tiny_copy / "tiny" / "tiny.kg"
    lines = kg.read_text(encoding="utf-8").splitlines()
    rewrite_lines(kg, lambda ls: ls + [lines[n - 1] for n in numbers])
    return [lines[n - 1].replace("\t", " ") for n in numbers], len(lines)


def test_duplicated_kg_triple_is_dropped_with_a_warning(tmp_path, tiny_copy, warnings_of):
    """A repeated .kg triple used to add one more edge without a word."""
    plain = LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    (first, _), _ = _repeat_kg_lines(tiny_copy, 2, 3)
    dataset = LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    assert len(dataset.kg_feat) == len(plain.kg_feat)
    (warning,) = warnings_of("tiny.kg")
    assert "repeats 2 triple(s)" in warning
    assert f"'{first}' on line 349 (first on line 2)" in warning
    assert "they were dropped" in warning


def test_duplicated_kg_triple_warned_for_recbole_kg_models(tmp_path, tiny_copy, warnings_of):
    """RecBole's own KG dataset class keeps every row: the warning says so and names the fix."""
    (triple,), _ = _repeat_kg_lines(tiny_copy, 5)
    dataset = create_dataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    assert isinstance(dataset, KnowledgeBasedDataset)  # RecBole's class (reading the chosen .link)
    assert type(dataset).__name__ == "CorrectedLinkDataset"
    (warning,) = warnings_of("tiny.kg")
    assert f"repeats 1 triple(s): '{triple}' on line 349 (first on line 5)" in warning
    assert "keeps every copy" in warning and "remove the repeats" in warning


def test_link_row_for_unknown_item_warned_for_recbole_kg_models(tmp_path, tiny_copy,
                                                                  warnings_of):
    """RecBole's KnowledgeBasedDataset skipped .link rows of unknown items without a word."""
    rewrite_lines(tiny_copy / "tiny" / "tiny.link",
                  lambda ls: ls + ["9001\tm.d10", "9002\tm.a16"])
    dataset = create_dataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    assert "9001" not in dataset.field2token_id["item_id"]
    (warning,) = warnings_of("tiny.link")
    assert warning.startswith("2 of 78 rows of") and "name items that are not in the dataset" \
        in warning
    assert "'9001' on line 78, '9002' on line 79" in warning
    # the plugin's own KG dataset names the same rows
    LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    assert "'9001' on line 78, '9002' on line 79" in warnings_of("tiny.link")[-1]
