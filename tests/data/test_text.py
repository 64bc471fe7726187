"""Texts of the dataset classes: templates, training-split-only history, fallbacks, precomputed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_config, rewrite_lines, warning_messages
from recbole.data import data_preparation
from recbole.data.dataset import Dataset

from recbole_llmkg.data import LLMKGDataset, LLMTextDataset
from recbole_llmkg.errors import ConfigError, DataError
from recbole_llmkg.llm.templates import render, template_fields


def test_template_helpers():
    assert template_fields("{movie_title} ({release_year}). {class:, } {movie_title}") == [
        "movie_title",
        "release_year",
        "class",
    ]
    text, empty = render(
        "{t} ({y}): {g:, }", {"t": ["Toy", "Story"], "y": "1995", "g": ["A", "B"]}, "?"
    )
    assert (text, empty) == ("Toy Story (1995): A, B", False)
    assert render("{t} ({y})", {"t": None, "y": None}, "unknown") == ("unknown", True)
    assert render("{t} ({y})", {"t": "X", "y": []}, "unknown") == ("X (unknown)", False)


def test_item_and_user_texts_follow_the_templates(tmp_path):
    dataset = LLMTextDataset(make_config(tmp_path))
    items, users = dataset.item_texts(), dataset.user_texts()
    assert len(items) == dataset.item_num and len(users) == dataset.user_num
    assert items[0] == "[PAD]" and users[0] == "[PAD]"
    token = dataset.field2token_id["item_id"]["2"]
    assert items[token] == "The Endless River 2 (2002). Genres: Action, Drama"
    assert users[dataset.field2token_id["user_id"]["2"]] == "A 57-year-old F engineer"
    emb = dataset.item_text_embeddings()
    assert emb.shape == (dataset.item_num, dataset.text_dim) == (81, 384)
    assert emb.dtype == torch.float32 and emb.device.type == dataset.config["device"].type
    assert torch.count_nonzero(emb[0]) == 0
    torch.testing.assert_close(emb[1:].norm(dim=1), torch.ones(80), atol=1e-4, rtol=0)


def test_loading_text_fields_does_not_change_builtin_loading(tmp_path):
    config = make_config(tmp_path)
    plain = Dataset(config)
    ours = LLMTextDataset(config)
    assert plain.item_feat is None and plain.user_feat is None  # RecBole's default for BPR
    assert {"movie_title", "release_year", "class"} <= set(ours.item_feat.columns)
    assert config["load_col"] == {"inter": ["user_id", "item_id"]}  # config untouched
    assert len(ours.inter_feat) == len(plain.inter_feat)
    assert ours.item_num == plain.item_num and ours.user_num == plain.user_num


def test_batches_carry_no_features_loaded_for_text_alone(tmp_path):
    """RecBole joins loaded .item/.user columns into every batch (and its negatives); the
    columns the plugin loads only to build texts stay out, as they are for RecBole's BPR."""
    from recbole.data import data_preparation

    config = make_config(tmp_path, "LLMAugRec", use_gpu=False)
    dataset = LLMTextDataset(config)
    train, _, _ = data_preparation(config, dataset)
    batch = next(iter(train))
    assert {"movie_title", "class", "age", "occupation"}.isdisjoint(batch.columns)
    assert {"user_id", "item_id", "neg_item_id"} <= set(batch.columns)
    assert "movie_title" in dataset.item_feat.columns  # still there for texts and titles
    own = make_config(tmp_path, "LLMAugRec", use_gpu=False,
                      load_col={"inter": ["user_id", "item_id"], "item": ["item_id", "class"]})
    joined = next(iter(data_preparation(own, LLMTextDataset(own))[0]))
    assert "class" in joined.columns  # loaded on purpose: joined as RecBole would


def distinct_titles(data_path: Path) -> None:
    """Give every tiny item a title that no other title contains."""

    def fn(lines):
        out = [lines[0]]
        for line in lines[1:]:
            cols = line.split("\t")
            cols[1] = f"Film{int(cols[0]):03d}x"
            out.append("\t".join(cols))
        return out

    rewrite_lines(data_path / "tiny" / "tiny.item", fn)


@pytest.mark.parametrize("dataset_class,model", [(LLMTextDataset, "BPR"), (LLMKGDataset, "CKE")])
def test_user_text_uses_training_interactions_only(tmp_path, tiny_copy, dataset_class, model):
    distinct_titles(tiny_copy)
    config = make_config(tmp_path, model=model, data_path=tiny_copy, user_history_len=1000)
    full = dataset_class(config)
    full.user_texts()  # memoised on the parent before the split: must not leak into the copy
    train_data, valid_data, test_data = data_preparation(config, full)
    train = train_data._dataset
    texts = train.user_texts()
    title = dict(enumerate(train.item_texts()))
    title = {i: re.match(r"Film\d{3}x", t).group(0) for i, t in title.items() if i}

    def pairs(ds):
        users = ds.inter_feat["user_id"].numpy()
        items = ds.inter_feat["item_id"].numpy()
        return {(int(u), int(i)) for u, i in zip(users, items, strict=True)}

    train_pairs = pairs(train)
    held_out = (pairs(valid_data._dataset) | pairs(test_data._dataset)) - train_pairs
    assert len(held_out) > 50
    for user, item in held_out:
        assert title[item] not in texts[user], (user, item)
    for user, item in train_pairs:  # the history is there, so the check above has teeth
        assert title[item] in texts[user]
    full_texts = full.user_texts()  # the full data does contain held-out titles
    assert any(title[i] in full_texts[u] for u, i in held_out)
    # embeddings follow the same texts: the split's differ from the full data's
    assert not torch.allclose(train.user_text_embeddings(), full.user_text_embeddings())


def test_history_is_most_recent_first_and_limited(tmp_path, tiny_copy):
    distinct_titles(tiny_copy)
    config = make_config(tmp_path, data_path=tiny_copy, user_history_len=2)
    dataset = LLMTextDataset(config)
    assert "timestamp" in dataset.inter_feat.columns  # loaded for ordering
    inter = dataset.inter_feat
    user = int(inter["user_id"].iloc[0])
    rows = inter[inter["user_id"] == user].sort_values("timestamp", ascending=False)
    expected = [f"Film{int(dataset.id2token('item_id', i)):03d}x" for i in rows["item_id"][:2]]
    text = dataset.user_texts()[user]
    assert text.endswith("Recently interacted with: " + "; ".join(expected))
    assert text.startswith("A ") and text.count("Film") == 2


def test_no_template_builds_field_value_text_and_logs(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    config = make_config(tmp_path, item_text_template=None, user_text_template=None)
    dataset = LLMTextDataset(config)
    item = dataset.item_texts()[dataset.field2token_id["item_id"]["2"]]
    assert item == "movie_title: The Endless River 2, release_year: 2002, class: Action Drama"
    user = dataset.user_texts()[dataset.field2token_id["user_id"]["2"]]
    assert user == "age: 57, gender: F, occupation: engineer"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "No 'item_text_template' configured" in messages
    assert "No 'user_text_template' configured" in messages
    assert dataset.item_text_embeddings().shape == (81, 384)


def write_emb(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def test_precomputed_item_embeddings_skip_the_encoder(tmp_path, tiny_copy, monkeypatch, caplog):
    rows = [f"{i}\t{i} {i / 10} 1 0" for i in range(1, 79)]  # items 79, 80 missing
    rows += ["9999\t1 2 3 4", "abc\t1 2 3 4"]  # unknown ids
    write_emb(tiny_copy / "tiny" / "tiny.itememb", "item_id:token\titem_emb:float_seq", rows)
    from recbole_llmkg.llm import encoder

    monkeypatch.setattr(encoder.TextEncoder, "encode", lambda *a, **k: pytest.fail("encoded"))
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    emb = dataset.item_text_embeddings().cpu()
    assert emb.shape == (81, 4) and dataset.text_dim == 4
    five = dataset.field2token_id["item_id"]["5"]
    assert emb[five].tolist() == pytest.approx([5, 0.5, 1, 0])
    for missing in ("79", "80"):
        assert torch.count_nonzero(emb[dataset.field2token_id["item_id"][missing]]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "2 of 80 rows" in messages and "tiny.itememb" in messages
    assert "2 of 80 item_id values have no row" in messages


def test_precomputed_user_embeddings_and_width_check(tmp_path, tiny_copy):
    rows = [f"{u}\t{u} 1 2" for u in range(1, 51)]
    write_emb(tiny_copy / "tiny" / "tiny.useremb", "user_id:token\tuser_emb:float_seq", rows)
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    with pytest.raises(DataError, match="3-d .*tiny.useremb.* 384-d"):
        dataset.user_text_embeddings()  # item vectors come from the 384-d encoder


def test_precomputed_rows_of_unequal_length_name_the_file(tmp_path, tiny_copy):
    rows = ["1\t0.1 0.2 0.3", "2\t0.1 0.2 0.3", "3\t0.1 0.2"]
    path = tiny_copy / "tiny" / "tiny.itememb"
    write_emb(path, "item_id:token\titem_emb:float_seq", rows)
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    with pytest.raises(DataError, match=r"tiny\.itememb', line 4: vector has 2 values"):
        dataset.item_text_embeddings()


def test_item_embeddings_are_shared_by_split_copies(tmp_path):
    config = make_config(tmp_path)
    dataset = LLMTextDataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    a = dataset.item_text_embeddings()
    b = train_data._dataset.item_text_embeddings()
    assert torch.equal(a, b)
    assert np.array_equal(dataset.item_texts(), train_data._dataset.item_texts())


def test_missing_model_path_names_the_config_key(tmp_path):
    with pytest.raises(ConfigError, match="llm_model_path"):  # at config time, before data
        LLMTextDataset(make_config(tmp_path, llm_model_path=str(tmp_path / "nope")))


def test_issue10_15_partly_empty_titles_warn_with_count_and_examples(tmp_path, tiny_copy, caplog):
    def no_title(lines):  # items 7, 8, 9 keep year and genres but lose their title
        return [
            "\t".join([f[0], "", *f[2:]]) if f[0] in ("7", "8", "9") else line
            for line, f in ((line, line.split("\t")) for line in lines)
        ]

    rewrite_lines(tiny_copy / "tiny" / "tiny.item", no_title)
    caplog.set_level(logging.WARNING, logger="recbole_llmkg")
    dataset = LLMTextDataset(make_config(tmp_path, data_path=tiny_copy))
    found = [m for m in warning_messages(caplog) if "miss a field" in m]
    assert len(found) == 1
    examples = re.search(r"movie_title: 3 \(e\.g\. item_id ([\d, ]+)\)", found[0])
    assert examples and sorted(examples.group(1).split(", ")) == ["7", "8", "9"]
    assert "'unknown'" in found[0]
    assert dataset.item_texts()[dataset.field2token_id["item_id"]["7"]].startswith("unknown (")
