"""The bag-of-words encoder (the "encoder swapped" ablation): shared word space, no fitting,
selected by name through llm_model_path, refused for fine-tuning."""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.config.checks import check_encoder_folder
from recbole_llmkg.data.settings import resolve_model_path
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.bag_of_words import BagOfWordsEncoder
from recbole_llmkg.llm.encoder import TextEncoder, get_encoder

TEXTS = ["Star Wars (1977). Genres: Action, Sci-Fi",
         "Return of the Jedi (1983). Genres: Action, Sci-Fi",
         "Sense and Sensibility (1995). Genres: Drama, Romance",
         "the of and"]


def test_the_name_resolves_to_the_shipped_folder_and_loads_the_bag_of_words_encoder():
    path = resolve_model_path("bag-of-words")
    assert path.endswith("encoders/bag-of-words")
    check_encoder_folder({"llm_model_path": "bag-of-words"})  # the config check accepts it
    encoder = get_encoder(path)
    assert isinstance(encoder, BagOfWordsEncoder) and encoder.dim == 384


def test_shared_words_make_texts_similar_and_input_order_is_kept():
    encoder = get_encoder(resolve_model_path("bag-of-words"))
    emb = encoder.encode(TEXTS)
    assert emb.shape == (4, 384) and emb.dtype == torch.float32
    assert torch.allclose(emb[:3].norm(dim=1), torch.ones(3))
    assert emb[3].abs().sum() == 0  # stop words only: no signal, not NaN
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # two Sci-Fi action films vs a romance
    # stateless: a text gets the same vector alone or among others (no corpus is fitted)
    assert torch.allclose(encoder.encode([TEXTS[2]])[0], emb[2])


def test_bag_of_words_cannot_be_fine_tuned():
    path = resolve_model_path("bag-of-words")
    with pytest.raises(ConfigError, match="bag-of-words encoder.*llm_freeze: True"):
        TextEncoder(path)
    with pytest.raises(ConfigError, match="llm_freeze: True"):
        get_encoder(path).encode(TEXTS, grad=True)


def test_the_dataset_embeds_its_texts_with_it(tmp_path):
    from conftest import make_config

    from recbole_llmkg.data import LLMTextDataset

    dataset = LLMTextDataset(make_config(tmp_path, llm_model_path="bag-of-words"))
    expected = get_encoder(resolve_model_path("bag-of-words")).encode(dataset.item_texts()[1:])
    torch.testing.assert_close(dataset.item_text_embeddings()[1:].cpu(), expected.cpu())


@pytest.mark.parametrize("model", ["LLMAugRec", "KGLLMGNN", "KASimCF"])
def test_every_text_model_runs_on_it(run_tiny, model):
    result = run_tiny(model, llm_model_path="bag-of-words")
    assert 0 < result["test_result"]["ndcg@10"] <= 1
