"""The knowledge view reaches every text path: the text datasets, TextKNN, LLMAugRec's item and
history towers, KGLLMGNN's item initialisation, KASimCF's text view, `recommend --query`
(TextSpace) and user texts; cache keys and long-text handling."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import build_run, make_config, warning_messages

from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.knowledge_file import write_knowledge

BOW = "bag-of-words"  # the shipped hashed bag-of-words encoder: fast and exact about words


def knowledge_of(token: str) -> str:
    return f"zorblax{token} is a film by director quillfeather{token}"


@pytest.fixture
def tiny_knowledge(tiny_copy) -> Path:
    """tiny with item knowledge for items 1..70 (71..80 have none) and one unknown id."""
    texts = {str(i): knowledge_of(str(i)) for i in range(1, 71)}
    texts["9999"] = "an item tiny does not have"
    write_knowledge(tiny_copy / "tiny" / "tiny.knowledge", texts)
    return tiny_copy


def _dataset(tmp_path, data_path, model="TextKNN", **overrides):
    from recbole_llmkg.registry import create_dataset

    return create_dataset(make_config(tmp_path, model, data_path, llm_model_path=BOW,
                                      **overrides))


def _encode(texts: list[str]) -> torch.Tensor:
    from recbole_llmkg.data.settings import resolve_model_path
    from recbole_llmkg.llm.encoder import get_encoder

    return get_encoder(resolve_model_path(BOW)).encode(texts).float().cpu()


def _row(dataset, token: str) -> int:
    return dataset.field2token_id[dataset.iid_field][token]


def test_views_build_the_right_texts_and_keep_metadata_without_knowledge(
        tmp_path, tiny_knowledge, caplog):
    meta = _dataset(tmp_path, tiny_knowledge)
    with caplog.at_level(logging.WARNING):
        know = _dataset(tmp_path, tiny_knowledge, item_text_view="knowledge")
    assert "1 of 71 rows of knowledge file" in " ".join(warning_messages(caplog))
    assert "9999" in " ".join(warning_messages(caplog))
    combined = _dataset(tmp_path, tiny_knowledge, item_text_view="combined")
    r5, r75 = _row(meta, "5"), _row(meta, "75")
    assert know.item_texts()[r5] == knowledge_of("5")
    assert combined.item_texts()[r5] == f"{meta.item_texts()[r5]}. {knowledge_of('5')}"
    assert know.item_texts()[r75] == meta.item_texts()[r75] == combined.item_texts()[r75]
    assert know.item_knowledge_texts()[r5] == knowledge_of("5")
    assert meta.item_knowledge_texts()[r5] is None


def test_separate_view_is_both_embeddings_side_by_side(tmp_path, tiny_knowledge):
    meta = _dataset(tmp_path, tiny_knowledge).item_text_embeddings()
    know = _dataset(tmp_path, tiny_knowledge, item_text_view="knowledge").item_text_embeddings()
    sep = _dataset(tmp_path, tiny_knowledge, item_text_view="separate")
    both = sep.item_text_embeddings()
    assert sep.text_view_count == 2 and both.shape[1] == 2 * meta.shape[1]
    assert torch.allclose(both, torch.cat([meta, know], 1) / 2 ** 0.5, atol=1e-6)
    assert torch.allclose(both[1:].norm(dim=1), torch.ones(len(both) - 1), atol=1e-5)


def test_missing_knowledge_file_names_where_it_looked(tmp_path, tiny_copy):
    with pytest.raises(ConfigError, match=r"item_text_view' = knowledge needs a item knowledge "
                                          r"file; none at .*tiny\.knowledge.*knowledge import"):
        _dataset(tmp_path, tiny_copy, item_text_view="knowledge",
                 knowledge_dir=str(tmp_path / "nothing"))


def test_knowledge_dir_is_searched_after_the_dataset_folder(tmp_path, tiny_copy):
    folder = tmp_path / "kdir"
    write_knowledge(folder / "tiny" / "tiny.knowledge", {"3": "from the knowledge dir"})
    ds = _dataset(tmp_path, tiny_copy, item_text_view="knowledge", knowledge_dir=str(folder))
    assert ds.item_texts()[_row(ds, "3")] == "from the knowledge dir"


def test_embedding_cache_key_includes_view_and_long_text(tmp_path, tiny_knowledge):
    from recbole_llmkg.llm.cache import EmbeddingCache  # noqa: F401  (the stores below)

    cache = tmp_path / "cache"
    _dataset(tmp_path, tiny_knowledge).item_text_embeddings()
    stores = set(cache.iterdir())
    _dataset(tmp_path, tiny_knowledge, item_text_view="knowledge").item_text_embeddings()
    with_view = set(cache.iterdir())
    _dataset(tmp_path, tiny_knowledge, item_text_view="knowledge",
             llm_long_text="truncate").item_text_embeddings()
    assert len(stores) == 1 and len(with_view) == 2 and len(set(cache.iterdir())) == 3


def test_textknn_reads_the_knowledge_view(tmp_path, tiny_knowledge):
    _, model, _, (train, _, _) = build_run("TextKNN", tmp_path, data_path=str(tiny_knowledge),
                                           llm_model_path=BOW, item_text_view="knowledge")
    content = model.item_content(train._dataset).cpu()
    r = _row(train._dataset, "5")
    assert torch.allclose(content[r], _encode([knowledge_of("5")])[0], atol=1e-6)


def test_llmaugrec_item_and_history_towers_read_the_knowledge(tmp_path, tiny_knowledge):
    _, model, _, (train, _, _) = build_run("LLMAugRec", tmp_path, data_path=str(tiny_knowledge),
                                           llm_model_path=BOW, item_text_view="knowledge",
                                           user_text="history", text_rank=0)
    ds = train._dataset
    r = _row(ds, "5")
    assert torch.allclose(model.item_text[r].cpu(), _encode([knowledge_of("5")])[0], atol=1e-6)
    # the history tower: the sum of the user's TRAINING items' knowledge embeddings
    matrix = ds.inter_matrix(form="csr")
    user = int(matrix.getnnz(axis=1).argmax())
    items = matrix[user].indices
    tokens = [ds.field2id_token[ds.iid_field][i] for i in items]
    texts = [knowledge_of(t) if int(t) <= 70 else ds.item_texts()[i]
             for t, i in zip(tokens, items, strict=True)]
    assert torch.allclose(model.history_text_sum[user].cpu(), _encode(texts).sum(0), atol=1e-4)


def test_kgllmgnn_item_initialisation_reads_the_knowledge(tmp_path, tiny_knowledge):
    _, model, _, (train, _, _) = build_run("KGLLMGNN", tmp_path, data_path=str(tiny_knowledge),
                                           llm_model_path=BOW, item_text_view="knowledge",
                                           text_rank=0, epochs=1)
    r = _row(train._dataset, "12")
    assert torch.allclose(model.item_text[r].cpu(), _encode([knowledge_of("12")])[0], atol=1e-6)


def test_kasimcf_text_view_reads_the_knowledge(tmp_path, tiny_knowledge):
    _, model, _, (train, _, _) = build_run("KASimCF", tmp_path, data_path=str(tiny_knowledge),
                                           llm_model_path=BOW, item_text_view="knowledge")
    ds = train._dataset
    behaviour = ds.inter_matrix(form="csr").T.tocsr()
    text_view = model._views(ds, behaviour, item_based=True)[1]
    dense = text_view.toarray() if hasattr(text_view, "toarray") else text_view
    r = _row(ds, "33")
    assert torch.allclose(torch.as_tensor(dense[r]).float(), _encode([knowledge_of("33")])[0],
                          atol=1e-6)


def test_query_is_answered_from_knowledge_only_with_the_view_on(tmp_path, tiny_knowledge):
    from recbole_llmkg.serve.query import TextSpace

    found = {}
    for view in ("metadata", "knowledge", "separate"):
        config = make_config(tmp_path, "TextKNN", tiny_knowledge, llm_model_path=BOW,
                             item_text_view=view)
        from recbole_llmkg.registry import create_dataset

        ds = create_dataset(config)
        space = TextSpace(config, ds, "TextKNN")
        scores = space.similarity(space.encode("a film by director quillfeather42"))
        found[view] = ds.field2id_token[ds.iid_field][int(scores.argmax())]
    assert found["knowledge"] == "42" and found["separate"] == "42"
    assert found["metadata"] != "42"


def test_user_knowledge_view(tmp_path, tiny_copy):
    write_knowledge(tiny_copy / "tiny" / "tiny.user_knowledge",
                    {"1": "loves slow westerns"}, kind="user")
    ds = _dataset(tmp_path, tiny_copy, user_text_view="combined")
    r = ds.field2token_id[ds.uid_field]["1"]
    assert ds.user_texts()[r].endswith(". loves slow westerns")
    assert ds.user_text_embeddings().shape[0] == ds.user_num


def test_chunk_and_pool_reads_the_whole_text(tmp_path):
    from recbole_llmkg.data.settings import default_model_path
    from recbole_llmkg.llm.encoder import TextEncoder

    words = " ".join(f"word{i}" for i in range(60))
    chunk = TextEncoder(default_model_path(), max_length=16, long_text="chunk")
    cut = TextEncoder(default_model_path(), max_length=16)
    short = "a short text"
    assert torch.allclose(chunk.encode([short]), cut.encode([short]), atol=1e-5)
    # a long text: different from its first 16 tokens, equal to the mean of its windows
    long_emb = chunk.encode([words, short])[0]
    assert not torch.allclose(long_emb, cut.encode([words])[0], atol=1e-3)
    raw = TextEncoder(default_model_path(), max_length=16, long_text="chunk", normalize=False)
    ids, owner = raw._token_ids([words])
    parts = torch.stack([raw.encode([raw.tokenizer.decode(i[1:-1])])[0] for i in ids])
    sizes = torch.tensor([float(len(i)) for i in ids]).unsqueeze(1)
    expected = torch.nn.functional.normalize((parts * sizes).sum(0) / sizes.sum(), dim=0)
    assert len(ids) > 1 and torch.allclose(long_emb, expected, atol=1e-3)
