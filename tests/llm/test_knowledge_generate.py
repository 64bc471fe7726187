"""`knowledge generate` end to end on CPU with a tiny random causal LM built offline, resume after
a kill, and the clear error for a model that is not a causal LM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recbole_llmkg.llm import knowledge_generate
from recbole_llmkg.llm.knowledge_commands import main
from recbole_llmkg.llm.knowledge_file import read_knowledge


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    """A randomly initialised 1-layer GPT-2 with the MiniLM word-piece tokenizer (offline)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from recbole_llmkg.data.settings import default_model_path

    folder = tmp_path_factory.mktemp("tiny_lm")
    tokenizer = AutoTokenizer.from_pretrained(default_model_path(), local_files_only=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=16,
                                       n_layer=1, n_head=2))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _generate(tmp_path: Path, model: Path, *extra: str) -> int:
    return main(["generate", "-d", "tiny", "--model", str(model), "--out",
                 str(tmp_path / "tiny.knowledge"), "--batch-size", "4", "--no-progress", *extra])


def _prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.yaml"
    path.write_text("item:\n  prompt: 'Tell me about {movie_title} ({release_year}), {class:, }'\n"
                    "  max_new_tokens: 5\nuser:\n  prompt: 'Liked: {history}'\n"
                    "  max_new_tokens: 4\n")
    return path


def test_generate_writes_every_item_deterministically(tmp_path, tiny_lm, capsys):
    prompts = _prompts(tmp_path)
    assert _generate(tmp_path, tiny_lm, "--prompts", str(prompts), "--limit", "6") == 0
    first = read_knowledge(tmp_path / "tiny.knowledge")
    assert len(first) == 6 and all(first.values())
    (tmp_path / "tiny.knowledge").unlink()
    (tmp_path / "tiny.knowledge.journal.jsonl").unlink()
    assert _generate(tmp_path, tiny_lm, "--prompts", str(prompts), "--limit", "6") == 0
    assert read_knowledge(tmp_path / "tiny.knowledge") == first  # greedy: the same texts
    assert "Generated 6 new texts; 6 of 80 items" in capsys.readouterr().out


def test_generation_resumes_after_a_kill_without_regenerating(tmp_path, tiny_lm, monkeypatch):
    prompts = _prompts(tmp_path)
    real = knowledge_generate.Generator.generate
    calls: list[int] = []

    def killed_on_third_batch(self, batch, max_new_tokens):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is killed mid-run
        return real(self, batch, max_new_tokens)

    monkeypatch.setattr(knowledge_generate.Generator, "generate", killed_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        _generate(tmp_path, tiny_lm, "--prompts", str(prompts), "--limit", "12")
    journal = tmp_path / "tiny.knowledge.journal.jsonl"
    finished = [json.loads(line)["id"] for line in journal.read_text().splitlines()]
    assert len(finished) == 8  # two batches of 4 were fsynced before the kill
    with open(journal, "a") as f:
        f.write('{"key": "half-writ')  # a row cut off by the kill

    seen: list[str] = []

    def spy(self, batch, max_new_tokens):
        seen.extend(batch)
        return real(self, batch, max_new_tokens)

    monkeypatch.setattr(knowledge_generate.Generator, "generate", spy)
    assert _generate(tmp_path, tiny_lm, "--prompts", str(prompts), "--limit", "12") == 0
    assert len(seen) == 4  # only the 4 unfinished ids
    texts = read_knowledge(tmp_path / "tiny.knowledge")
    assert len(texts) == 12 and set(finished) <= set(texts)
    # another prompt is another key: its ids are generated again
    other = tmp_path / "other.yaml"
    other.write_text(prompts.read_text().replace("Tell me about", "Describe"))
    seen.clear()
    assert _generate(tmp_path, tiny_lm, "--prompts", str(other), "--limit", "4") == 0
    assert len(seen) == 4


def test_user_knowledge_reads_training_interactions_only(tmp_path, tiny_lm, monkeypatch):
    from recbole_llmkg.config import datasets_dir

    lines = (datasets_dir() / "tiny" / "tiny.inter").read_text().splitlines()
    train = tmp_path / "tiny.train.inter"
    train.write_text("\n".join(lines[:200]) + "\n")  # a "training" part
    allowed_items = {line.split("\t")[1] for line in lines[1:200]}
    prompts_seen: list[str] = []
    real = knowledge_generate.Generator.generate

    def spy(self, batch, max_new_tokens):
        prompts_seen.extend(batch)
        return real(self, batch, max_new_tokens)

    monkeypatch.setattr(knowledge_generate.Generator, "generate", spy)
    assert main(["generate", "-d", "tiny", "--kind", "user", "--model", str(tiny_lm),
                 "--prompts", str(_prompts(tmp_path)), "--train-inter", str(train),
                 "--out", str(tmp_path / "tiny.user_knowledge"), "--no-progress",
                 "--limit", "3"]) == 0
    titles = {line.split("\t")[0]: line.split("\t")[1]
              for line in (datasets_dir() / "tiny" / "tiny.item").read_text().splitlines()[1:]}
    held_out = {titles[i] for i in titles if i not in allowed_items}
    assert prompts_seen and not any(f"{t};" in p or p.rstrip().endswith(t)
                                    for p in prompts_seen for t in held_out)
    assert (tmp_path / "tiny.user_knowledge").read_text().startswith("user_id\tknowledge\n")
    assert main(["generate", "-d", "tiny", "--kind", "user", "--model", str(tiny_lm),
                 "--out", str(tmp_path / "u.user_knowledge")]) == 2  # no --train-inter


def test_a_folder_that_is_not_a_causal_lm_is_one_line_error(tmp_path, capsys):
    from recbole_llmkg.data.settings import default_model_path

    assert _generate(tmp_path, Path(default_model_path())) == 2
    err = capsys.readouterr().err
    assert "is not a causal language model (its config.json declares BertModel)" in err
    assert _generate(tmp_path, tmp_path / "nowhere") == 2
    assert "not a local Hugging Face model folder" in capsys.readouterr().err
