"""Requests in words: blended into the scores for text models, refused for the others."""

from __future__ import annotations

import pytest
import torch

from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve import Recommender
from recbole_llmkg.serve.query import blend, standardise


def test_blend_of_zero_and_one_weight_are_the_two_rankings():
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    text = torch.tensor([0.0, 0.1, 0.9, 0.5])
    assert blend(scores, text, 0.0)[0, 1:].argsort().tolist() == [1, 2, 0]
    assert blend(scores, text, 1.0)[0, 1:].argsort().tolist() == [0, 2, 1]
    z = standardise(scores)[0, 1:]
    assert abs(float(z.mean())) < 1e-6 and abs(float(z.std()) - 1) < 1e-6


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_query_weight_outside_zero_one_is_refused(weight):
    with pytest.raises(ServeError, match="between 0 and 1"):
        blend(torch.zeros(1, 3), torch.zeros(3), weight)


@pytest.fixture(scope="module")
def text_model(served_checkpoints):
    return Recommender.load(served_checkpoints("LLMAugRec"))


def test_query_pulls_the_ranking_towards_the_request(text_model):
    rec = text_model
    title = "The Silent Empire 37"
    plain = rec.recommend(["3"], k=3)
    asked = rec.recommend(["3"], k=3, query=title, query_weight=1.0)
    assert asked["title"].iloc[0] == title
    assert list(plain["item"]) != list(asked["item"])
    half = rec.recommend(["3"], k=3, query=title, query_weight=0.5)
    assert len(half) == 3


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_query_is_refused(text_model, text):
    with pytest.raises(ServeError, match="--query is empty"):
        text_model.recommend(["3"], k=3, query=text)


def test_query_on_a_model_without_texts(served_checkpoints):
    rec = Recommender.load(served_checkpoints("BPR"))
    with pytest.raises(ServeError, match=r"BPR .* without item texts.*LLMAugRec"):
        rec.recommend(["3"], k=3, query="a comedy")


@pytest.fixture(scope="module")
def knowledge_data(tmp_path_factory):
    """A copy of tiny whose items 1..70 have knowledge naming a made-up director."""
    import shutil

    from recbole_llmkg.config import datasets_dir
    from recbole_llmkg.llm.knowledge_file import write_knowledge

    root = tmp_path_factory.mktemp("knowledge_data")
    shutil.copytree(datasets_dir() / "tiny", root / "tiny")
    write_knowledge(root / "tiny" / "tiny.knowledge",
                    {str(i): f"A film by director quillfeather{i}. Its story is long."
                     for i in range(1, 71)})
    return root


def test_query_and_explain_use_the_knowledge_view(served_checkpoints, knowledge_data):
    rec = Recommender.load(served_checkpoints(
        "LLMAugRec", data_path=str(knowledge_data), item_text_view="knowledge",
        llm_model_path="bag-of-words"))
    users = [str(t) for t in rec.dataset.field2id_token[rec.dataset.uid_field][1:3]]
    top = rec.recommend(users, 1, query="a film by director quillfeather42", query_weight=1.0)
    assert set(top["item"]) == {"42"}  # only the knowledge names this director
    rows = rec.explain(users[0], ["42", "75"])
    assert rows[0]["knowledge"] == "A film by director quillfeather42. Its story is long."
    assert "knowledge" not in rows[1]  # item 75 has no knowledge: nothing to quote


def test_knowledge_quote_keeps_whole_sentences_within_the_limit():
    from recbole_llmkg.serve.explain import knowledge_quote

    assert knowledge_quote("One two. Three four five. Six.", limit=20) == "One two."
    assert knowledge_quote("x" * 10 + " yyyyyyyyyy zzz", limit=15) == "xxxxxxxxxx ..."
    assert knowledge_quote(None) is None
