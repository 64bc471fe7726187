"""The embedding cache: a second run never calls the encoder; bad files are rebuilt."""

from __future__ import annotations

import logging

import pytest
import torch
import transformers

from recbole_llmkg.config import Config
from recbole_llmkg.data import LLMTextDataset
from recbole_llmkg.llm import cache as cache_module
from recbole_llmkg.llm.cache import EmbeddingCache, cache_key, model_fingerprint
from recbole_llmkg.llm.encoder import TextEncoder


def make_dataset(cache_dir, **overrides) -> LLMTextDataset:
    config = Config(
        model="BPR",
        dataset="tiny",
        config_dict={"llm_cache_dir": str(cache_dir), "show_progress": False, **overrides},
        cmd_args=[],
    )
    return LLMTextDataset(config)


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_second_run_uses_cache_and_never_calls_encoder(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "cache"
    first = make_dataset(folder)
    items, users = first.item_text_embeddings(), first.user_text_embeddings()
    names = cache_files(folder)
    assert len(names) == 2
    assert names[0].startswith("tiny-item-") and names[1].startswith("tiny-user-")

    calls = []

    def spy_forward(self, *args, **kwargs):
        calls.append(1)
        raise AssertionError("the language model ran although the cache was valid")

    monkeypatch.setattr(transformers.BertModel, "forward", spy_forward)
    monkeypatch.setattr(TextEncoder, "encode", lambda *a, **k: pytest.fail("encode called"))
    monkeypatch.setattr(TextEncoder, "__init__", lambda *a, **k: pytest.fail("encoder built"))
    caplog.set_level(logging.INFO, logger="recbole_llmkg")
    second = make_dataset(folder)
    torch.testing.assert_close(second.item_text_embeddings(), items)
    torch.testing.assert_close(second.user_text_embeddings(), users)
    assert calls == []
    used = [r.getMessage() for r in caplog.records if "Using cached" in r.getMessage()]
    assert any("tiny-item" in m for m in used) and any("tiny-user" in m for m in used)


def test_changed_settings_or_texts_miss_the_cache(tmp_path):
    folder = tmp_path / "cache"
    make_dataset(folder).item_text_embeddings()
    make_dataset(folder, llm_pooling="cls").item_text_embeddings()
    make_dataset(folder, item_text_template="{movie_title}").item_text_embeddings()
    assert len(list(folder.glob("tiny-item-*.pt"))) == 3

    base = {"model": "m", "pooling": "mean", "max_length": 64, "normalize": True, "template": "t"}
    texts = ["a", "b"]
    key = cache_key(base, texts)
    for change in (
        {"model": "other"},
        {"pooling": "cls"},
        {"max_length": 32},
        {"normalize": False},
        {"template": "u"},
    ):
        assert cache_key({**base, **change}, texts) != key, change
    assert cache_key(base, ["a", "c"]) != key
    assert cache_key(base, ["ab", ""]) != cache_key(base, ["a", "b"])  # no join collisions
    assert cache_key(dict(reversed(base.items())), texts) == key


def test_model_fingerprint_tracks_weight_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 4}')
    (model / "model.safetensors").write_bytes(b"1234")
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before
    (model / "model.safetensors").write_bytes(b"123456")
    assert model_fingerprint(model) != before


def test_corrupt_file_is_reported_and_rebuilt(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    settings, texts = {"kind": "item"}, ["x", "y"]
    key = cache_key(settings, texts)
    path = cache.path("ds-item", key)
    path.write_bytes(b"not a torch file")
    calls = []

    def compute(batch):
        calls.append(len(batch))
        return torch.ones(len(batch), 3)

    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        out = cache.get_or_compute("ds-item", settings, texts, compute)
    assert calls == [2] and out.shape == (2, 3)
    assert any("corrupt" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert cache.load("ds-item", key, 2) is not None  # rebuilt and readable


def test_mismatched_file_is_reported_and_rebuilt(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    settings, texts = {"kind": "item"}, ["x", "y"]
    key = cache_key(settings, texts)
    torch.save({"key": "something else", "embeddings": torch.zeros(2, 3)}, cache.path("n", key))
    with caplog.at_level(logging.WARNING, logger="recbole_llmkg"):
        out = cache.get_or_compute("n", settings, texts, lambda b: torch.ones(len(b), 3))
    assert torch.equal(out, torch.ones(2, 3))
    assert any("does not match" in r.getMessage() for r in caplog.records)
    # wrong row count under the right key is a mismatch too
    cache.save("n", key, torch.ones(5, 3), {})
    assert cache.load("n", key, 2) is None


def test_write_is_atomic(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    key = cache_key({}, ["a"])
    cache.save("n", key, torch.ones(1, 2), {})
    good = cache.path("n", key).read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.torch, "save", broken_save)
    assert cache.save("n", key, torch.zeros(1, 2), {}) is None  # warned, not raised
    assert cache.path("n", key).read_bytes() == good  # old file untouched
    assert [p.name for p in tmp_path.iterdir()] == [cache.path("n", key).name]  # no temp left
