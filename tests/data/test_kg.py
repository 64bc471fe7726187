"""KG tensors of LLMKGDataset: CKG edges, triples, relation texts, knowledge profiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recbole.data import data_preparation

from recbole_llmkg.config import Config
from recbole_llmkg.data import LLMKGDataset
from recbole_llmkg.data.knowledge import item_entity_profile, user_entity_profile
from recbole_llmkg.llm.templates import relation_text


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    config = Config(
        model="CKE",
        dataset="tiny",
        config_dict={"llm_cache_dir": str(cache), "show_progress": False},
        cmd_args=[],
    )
    full = LLMKGDataset(config)
    train_data, valid_data, _ = data_preparation(config, full)
    return full, train_data._dataset, valid_data._dataset


def test_triples_match_kg_feat(split):
    _, train, _ = split
    head, rel, tail = train.kg_triples()
    assert head.dtype == rel.dtype == tail.dtype == torch.long
    assert len(head) == len(train.kg_feat) == 347
    assert torch.equal(head.cpu(), train.kg_feat["head_id"])
    assert int(rel.min()) >= 1 and int(rel.max()) < train.relation_num - 1  # no PAD, no UI


def test_ckg_edges_train_interactions_and_triples(split):
    full, train, _ = split
    n_ui, n_kg = len(train.inter_feat), len(train.kg_feat)
    ui = train.relation_num - 1
    assert train.field2id_token["relation_id"][ui] == "[UI-Relation]"

    edge_index, edge_type = train.ckg_edges(reverse=False)
    assert edge_index.shape == (2, n_ui + n_kg) and edge_type.shape == (n_ui + n_kg,)
    assert edge_index.dtype == edge_type.dtype == torch.long
    assert train.ckg_num_relations(False) == train.relation_num
    assert int(edge_index.max()) < train.ckg_num_nodes() == train.user_num + train.entity_num
    src, dst = edge_index.cpu()
    is_ui = edge_type.cpu() == ui
    assert int(is_ui.sum()) == n_ui < len(full.inter_feat)  # training interactions only
    assert bool((src[is_ui] < train.user_num).all()) and bool((dst[is_ui] >= train.user_num).all())
    users, items = train.inter_feat["user_id"], train.inter_feat["item_id"]
    assert torch.equal(src[:n_ui], users) and torch.equal(dst[:n_ui], items + train.user_num)
    head, rel, tail = (t.cpu() for t in train.kg_triples())
    assert torch.equal(src[n_ui:], head + train.user_num)
    assert torch.equal(dst[n_ui:], tail + train.user_num)
    assert torch.equal(edge_type[n_ui:].cpu(), rel)

    rev_index, rev_type = train.ckg_edges()  # config default: ckg_reverse_edges True
    e = n_ui + n_kg
    assert rev_index.shape == (2, 2 * e) and train.ckg_num_relations() == 2 * train.relation_num
    assert torch.equal(rev_index[:, e:].cpu(), edge_index.flip(0).cpu())
    assert torch.equal(rev_type[e:].cpu(), edge_type.cpu() + train.relation_num)
    assert int(rev_type.max()) < train.ckg_num_relations()


def test_relation_texts_and_embeddings(split):
    _, train, _ = split
    assert relation_text("film.film.actor") == "film film actor"
    assert relation_text("[UI-Relation]") == "user interacted with item"
    assert relation_text("film.film.actor_r") == "inverse of film film actor"
    texts = train.relation_texts()
    assert texts[-1] == "user interacted with item" and "film film director" in texts
    emb = train.relation_text_embeddings()
    assert emb.shape == (train.relation_num, train.text_dim)
    assert torch.count_nonzero(emb[0]) == 0
    assert torch.count_nonzero(emb[1:], dim=1).min() > 0


def neighbours(dataset, item: int) -> set[int]:
    head, tail = dataset.kg_feat["head_id"].numpy(), dataset.kg_feat["tail_id"].numpy()
    return (set(tail[head == item]) | set(head[tail == item])) - {item}


def test_item_knowledge_profile(split):
    _, train, _ = split
    profile = train.item_knowledge_profile()
    assert profile.is_sparse and profile.shape == (train.item_num, train.entity_num)
    dense = profile.to_dense().cpu().numpy()
    linked = [i for i in range(1, train.item_num) if neighbours(train, i)]
    assert len(linked) > 50
    for item in linked:
        assert set(np.flatnonzero(dense[item])) == neighbours(train, item)
        assert dense[item, item] == 0  # own entity excluded
        assert np.linalg.norm(dense[item]) == pytest.approx(1.0, abs=1e-5)
    assert not dense[0].any()


def test_tfidf_weights_rare_entities_more():
    # items 1, 2, 3; entity 4 touches all three items, entity 5 only item 1
    head = np.array([1, 2, 3, 1])
    tail = np.array([4, 4, 4, 5])
    profile = item_entity_profile(head, tail, item_num=4, entity_num=6).toarray()
    assert profile[1, 5] > profile[1, 4] > 0
    assert profile[2, 4] == pytest.approx(1.0)
    users = user_entity_profile(
        np.array([0, 0, 0, 1]), np.array([1, 2, 2, 3]), 2, item_entity_profile(head, tail, 4, 6)
    )
    assert np.allclose(users.toarray()[0], profile[1] + profile[2])  # item 2 twice counts once


def test_user_knowledge_profile_uses_this_split(split):
    full, train, _ = split
    profile = train.user_knowledge_profile()
    assert profile.is_sparse and profile.shape == (train.user_num, train.entity_num)
    items = train.item_knowledge_profile().to_dense().cpu()
    seen = torch.zeros(train.user_num, train.item_num)
    seen[train.inter_feat["user_id"], train.inter_feat["item_id"]] = 1.0
    torch.testing.assert_close(profile.to_dense().cpu(), seen @ items)
    assert not torch.allclose(full.user_knowledge_profile().to_dense(), profile.to_dense())
