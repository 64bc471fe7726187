"""The embedding cache: keyed by text content, each text encoded once, bad shards rebuilt."""

from __future__ import annotations

import logging

import pytest
import torch
import transformers
from conftest import warning_messages

from recbole_llmkg import files
from recbole_llmkg.config import Config
from recbole_llmkg.data import LLMKGDataset, LLMTextDataset
from recbole_llmkg.llm import cache as cache_module
from recbole_llmkg.llm.cache import EmbeddingCache, model_fingerprint, settings_key
from recbole_llmkg.llm.encoder import TextEncoder

SETTINGS = {"model": "m", "pooling": "mean", "max_length": 64, "normalize": True}


def make_dataset(cache_dir, model="BPR", dataset_class=LLMTextDataset, **overrides):
    config = Config(
        model=model,
        dataset="tiny",
        config_dict={"llm_cache_dir": str(cache_dir), "show_progress": False, **overrides},
        cmd_args=[],
    )
    return dataset_class(config)


def shard_files(folder):
    return sorted(folder.rglob("*.pt"))


def counting(calls):
    """A stand-in encoder: records the texts it is given, returns their lengths as vectors."""

    def compute(batch):
        calls.append(list(batch))
        return torch.tensor([[float(len(t)), 1.0, 2.0] for t in batch])

    return compute


@pytest.fixture
def encoded_texts(monkeypatch):
    """Every text the real TextEncoder is asked to encode, per call."""
    calls: list[list[str]] = []
    original = TextEncoder.encode

    def spy(self, texts, grad=False):
        calls.append(list(texts))
        return original(self, texts, grad)

    monkeypatch.setattr(TextEncoder, "encode", spy)
    return calls


def test_second_run_uses_cache_and_never_calls_encoder(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    first = make_dataset(folder)
    items, users = first.item_text_embeddings(), first.user_text_embeddings()
    assert len(shard_files(folder)) == 2  # one shard per encode call, in one store

    calls = []

    def spy_forward(self, *args, **kwargs):
        calls.append(1)
        raise AssertionError("the language model ran although the cache was valid")

    monkeypatch.setattr(transformers.BertModel, "forward", spy_forward)
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("encode called"))
    monkeypatch.setattr(TextEncoder, "__init__", lambda *a, **k: pytest.fail("encoder built"))
    second = make_dataset(folder)
    torch.testing.assert_close(second.item_text_embeddings(), items)
    torch.testing.assert_close(second.user_text_embeddings(), users)
    assert calls == []


def test_issue11_kgllmgnn_after_llmaugrec_encodes_no_item_text_again(tmp_path, encoded_texts):
    folder = tmp_path / "cache"
    text_ds = make_dataset(folder, model="LLMAugRec")
    text_items = text_ds.item_text_embeddings()
    item_texts = set(text_ds.item_texts()[1:])
    encoded_texts.clear()
    kg_ds = make_dataset(folder, model="KGLLMGNN", dataset_class=LLMKGDataset)
    kg_items = kg_ds.item_text_embeddings()
    kg_ds.relation_text_embeddings()
    encoded = {t for call in encoded_texts for t in call}
    assert not encoded & item_texts, "item texts were encoded a second time"
    assert encoded, "the relation names, new to the cache, should have been encoded"
    # same text -> same vector, although the two datasets number items differently
    kg_texts = kg_ds.item_texts()
    by_text = dict(zip(text_ds.item_texts()[1:], text_items[1:], strict=True))
    for i in range(1, len(kg_texts)):
        torch.testing.assert_close(kg_items[i], by_text[kg_texts[i]])


def test_each_distinct_text_is_encoded_once(tmp_path):
    cache, calls = EmbeddingCache(tmp_path), []
    out = cache.get_or_compute(SETTINGS, ["a", "bb", "a", "bb", "ccc"], counting(calls))
    assert calls == [["a", "bb", "ccc"]]
    assert out[:, 0].tolist() == [1.0, 2.0, 1.0, 2.0, 3.0]
    out = cache.get_or_compute(SETTINGS, ["ccc", "dddd", "a"], counting(calls))
    assert calls[1:] == [["dddd"]]  # order and company do not matter, only content
    assert out[:, 0].tolist() == [3.0, 4.0, 1.0]


def test_changed_settings_or_texts_miss_the_cache(tmp_path, encoded_texts):
    folder = tmp_path / "cache"
    make_dataset(folder).item_text_embeddings()
    make_dataset(folder, llm_pooling="cls").item_text_embeddings()
    assert len(encoded_texts) == 2 and encoded_texts[0] == encoded_texts[1]  # new store
    make_dataset(folder, item_text_template="{movie_title}").item_text_embeddings()
    assert len(encoded_texts) == 3  # new texts, in the first store
    for change in (
        {"model": "other"},
        {"pooling": "cls"},
        {"max_length": 32},
        {"normalize": False},
        {"precision": "bfloat16"},
    ):
        assert settings_key({**SETTINGS, **change}) != settings_key(SETTINGS), change
    assert settings_key(dict(reversed(SETTINGS.items()))) == settings_key(SETTINGS)


def test_model_fingerprint_tracks_weight_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "model.safetensors").write_bytes(b"1234")
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before
    (model / "model.safetensors").write_bytes(b"123456")
    assert model_fingerprint(model) != before


def rebuilt_after(tmp_path, caplog, damage):
    """Fill a cache, ``damage(shard_path)``, look up again: (texts re-encoded, warnings)."""
    cache, calls = EmbeddingCache(tmp_path), []
    first = cache.get_or_compute(SETTINGS, ["x", "yy"], counting(calls))
    (path,) = shard_files(tmp_path)
    damage(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        again = cache.get_or_compute(SETTINGS, ["x", "yy"], counting(calls))
    torch.testing.assert_close(again, first)
    assert len(calls) == 2 and calls[1] == ["x", "yy"]
    assert cache.get_or_compute(SETTINGS, ["x", "yy"], counting(calls)) is not None
    assert len(calls) == 2  # the rebuilt shard is trusted
    return [m for m in warning_messages(caplog) if str(path) in m]


def test_unreadable_file_is_reported_and_rebuilt(tmp_path, caplog):
    warned = rebuilt_after(tmp_path, caplog, lambda p: p.write_bytes(b"not a torch file"))
    assert warned and "cannot be read" in warned[0]


def test_issue10_2_flipped_tensor_bytes_are_rebuilt_with_a_warning(tmp_path, caplog):
    def flip(path):
        stored = torch.load(path, weights_only=True)
        stored["embeddings"][1, 0] += 0.5  # changed vector, old checksum
        torch.save(stored, path)

    warned = rebuilt_after(tmp_path, caplog, flip)
    assert warned and "checksum" in warned[0]


def test_issue10_2_raw_byte_flip_is_never_trusted(tmp_path, caplog):
    def flip(path):
        data = bytearray(path.read_bytes())
        stored = torch.load(path, weights_only=True)["embeddings"].numpy().tobytes()
        at = data.index(stored)  # the stored embedding matrix, byte for byte
        data[at + 7] ^= 0x01
        path.write_bytes(bytes(data))

    assert rebuilt_after(tmp_path, caplog, flip)


def test_issue10_2_cache_holding_nan_is_rebuilt(tmp_path, caplog):
    def poison(path):
        stored = torch.load(path, weights_only=True)
        stored["embeddings"][0, 1] = float("nan")
        stored["checksum"] = cache_module.shard_checksum(stored["digests"], stored["embeddings"])
        torch.save(stored, path)

    warned = rebuilt_after(tmp_path, caplog, poison)
    assert warned and "non-finite" in warned[0]


def test_many_shards_are_merged(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_SHARDS", 3)
    cache, calls = EmbeddingCache(tmp_path), []
    for text in ["a", "bb", "ccc", "dddd"]:
        cache.get_or_compute(SETTINGS, [text], counting(calls))
    assert len(shard_files(tmp_path)) == 1
    out = cache.get_or_compute(SETTINGS, ["dddd", "a", "ccc", "bb"], counting(calls))
    assert len(calls) == 4 and out[:, 0].tolist() == [4.0, 1.0, 3.0, 2.0]


def test_write_is_atomic(tmp_path, monkeypatch, caplog):
    cache, calls = EmbeddingCache(tmp_path), []
    cache.get_or_compute(SETTINGS, ["a"], counting(calls))
    (good,) = shard_files(tmp_path)
    before = good.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        out = cache.get_or_compute(SETTINGS, ["b"], counting(calls))  # warned, not raised
    assert out.shape == (1, 3)
    assert any("Could not write" in m for m in warning_messages(caplog))
    assert shard_files(tmp_path) == [good] and good.read_bytes() == before
    assert [p.name for p in good.parent.iterdir()] == [good.name]  # no temp left


def test_no_texts_give_an_empty_matrix(tmp_path):
    cache, calls = EmbeddingCache(tmp_path), []
    assert cache.get_or_compute(SETTINGS, [], counting(calls)).shape[0] == 0
    cache.get_or_compute(SETTINGS, ["a"], counting(calls))
    assert cache.get_or_compute(SETTINGS, [], counting(calls)).shape == (0, 3)
    assert len(calls) == 1


def test_issue11_fresh_kgllmgnn_run_after_llmaugrec_run_encodes_no_item_text(
    tmp_path, run_tiny, encoded_texts
):
    cache = str(tmp_path / "run-cache")
    run_tiny("LLMAugRec", llm_cache_dir=cache)
    text_ds = make_dataset(tmp_path / "run-cache", model="LLMAugRec")  # served from the cache
    item_texts = set(text_ds.item_texts()[1:])
    assert any(item_texts & set(call) for call in encoded_texts)  # the first run encoded them
    encoded_texts.clear()
    run_tiny("KGLLMGNN", llm_cache_dir=cache)
    encoded = {t for call in encoded_texts for t in call}
    assert not encoded & item_texts
