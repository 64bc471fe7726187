"""Duplicated .link rows: a warning naming both lines and the rule, one-to-one item/entity ids."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import make_config, rewrite_lines, warning_messages

from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.data.link import resolve_link_duplicates
from recbole_llmkg.data.validate import validate_atomic_files
from recbole_llmkg.errors import DataError


def test_rule_keeps_last_row_per_item_then_per_entity():
    items = np.array(["1", "2", "1", "3", "4"])
    entities = np.array(["a", "b", "c", "b", "e"])
    keep = resolve_link_duplicates("x.link", items, entities, np.arange(2, 7))
    # item 1: line 4 wins over line 2; entity b: item 3 (line 5) wins over item 2 (line 3)
    assert keep.tolist() == [False, False, True, True, True]
    with pytest.raises(DataError, match="item '1' on line 2 and line 4"):
        resolve_link_duplicates("x.link", items, entities, np.arange(2, 7), apply=False)


def load(tmp_path, tiny_copy, caplog, extra_row):
    rewrite_lines(tiny_copy / "tiny" / "tiny.link", lambda lines: lines + [extra_row])
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMKGDataset(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    found = [m for m in warning_messages(caplog) if "tiny.link" in m and "rule" in m]
    return dataset, found


def entity_of(dataset, item_token):
    """The entity token at the id of ``item_token`` (items are entities 0..item_num-1)."""
    return dataset.field2id_token["entity_id"][dataset.field2token_id["item_id"][item_token]]


def test_issue10_5_item_linked_twice_warns_with_both_lines(tmp_path, tiny_copy, caplog):
    dataset, found = load(tmp_path, tiny_copy, caplog, "1\tm.d10")
    assert len(found) == 1
    assert "item '1' on line 2 and line 78" in found[0] and "last row wins" in found[0]
    # one-to-one: item 1 is entity m.d10 in both maps; m.i1 stays an entity of its own
    item1 = dataset.field2token_id["item_id"]["1"]
    assert entity_of(dataset, "1") == "m.d10"
    assert dataset.field2token_id["entity_id"]["m.d10"] == item1
    assert dataset.field2token_id["entity_id"]["m.i1"] >= dataset.item_num
    heads = np.asarray(dataset.kg_feat["head_id"])
    assert (heads == item1).sum() == 0  # m.d10 is never a head: item 1's triples are m.i1's


def test_issue10_5_entity_linked_from_two_items_warns(tmp_path, tiny_copy, caplog):
    dataset, found = load(tmp_path, tiny_copy, caplog, "20\tm.i1")  # item 20 had no link
    assert len(found) == 1 and "entity 'm.i1' on line 2 and line 78" in found[0]
    assert entity_of(dataset, "20") == "m.i1"
    assert dataset.field2token_id["entity_id"]["m.i1"] == dataset.field2token_id["item_id"]["20"]


def test_issue10_5_duplicates_are_refused_for_recbole_loader(tmp_path, tiny_copy):
    rewrite_lines(tiny_copy / "tiny" / "tiny.link", lambda lines: lines + ["1\tm.d10"])
    with pytest.raises(DataError) as err:
        validate_atomic_files(make_config(tmp_path, data_path=tiny_copy, model="CKE"))
    message = str(err.value)
    assert str(tiny_copy / "tiny" / "tiny.link") in message
    assert "item '1' on line 2 and line 78" in message
