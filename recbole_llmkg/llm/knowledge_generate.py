"""Generate item (or user) knowledge with a local causal language model.

Prompts are templates in YAML (``properties/knowledge/prompts.yaml`` by default): the item
prompt reads the ``.item`` fields (what it is, who made it, themes, audience); the user prompt
reads the titles of the user's items from an interactions file that must hold TRAINING
interactions only (a board split's ``<dataset>.train.inter``), so the text leaks no evaluation
item. The model's chat template is applied where it has one.

Decoding is greedy (deterministic), in batches (left padding), with a tqdm bar (ETA). Every
finished batch is appended to a JSONL journal and fsynced, each row keyed by the model's
fingerprint, the prompt's hash and the id: a killed run resumes with the same command and never
generates a finished id again (a half-written row is ignored). The knowledge file is then
written atomically from the journal's rows of this model and prompt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from recbole_llmkg.compat import quiet_model_loading
from recbole_llmkg.errors import ConfigError
from recbole_llmkg.llm.knowledge_file import clean_text, write_knowledge
from recbole_llmkg.llm.templates import render, template_fields

logger = logging.getLogger(__name__)


def default_prompts_file() -> Path:
    from recbole_llmkg.paths import properties_dir

    return properties_dir() / "knowledge" / "prompts.yaml"


@dataclass
class Prompt:
    """A prompt template of one kind (``item`` / ``user``)."""

    system: str | None
    template: str
    max_new_tokens: int

    def digest(self) -> str:
        payload = json.dumps([self.system, self.template, self.max_new_tokens])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_prompt(path: str | os.PathLike | None, kind: str) -> Prompt:
    """The ``kind`` entry of a prompts YAML (keys ``prompt``, optional ``system`` and
    ``max_new_tokens``). Read with ``yaml.safe_load``: loading it runs no code."""
    path = Path(path) if path else default_prompts_file()
    if not path.is_file():
        raise ConfigError(f"Prompts file '{path}' not found.")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entry = data.get(kind)
    if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str):
        raise ConfigError(f"Prompts file '{path}': key '{kind}.prompt' (a template string) is "
                          "missing.")
    try:
        template_fields(entry["prompt"])
    except ValueError as err:
        raise ConfigError(f"Prompts file '{path}', key '{kind}.prompt': {err}.") from None
    return Prompt(entry.get("system"), entry["prompt"], int(entry.get("max_new_tokens", 160)))


def check_causal_lm(path: str | os.PathLike) -> None:
    """A clear error unless ``path`` is a local folder (or ``.gguf`` file) of a causal LM."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ConfigError(f"Generation model '{path}' is not a local Hugging Face model folder "
                          "(config.json, weights, tokenizer) or a .gguf file; models are never "
                          "downloaded.")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    architectures = list(getattr(config, "architectures", None) or [])
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures) or (
        not architectures and config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if not causal:
        raise ConfigError(
            f"Generation model '{path}' is not a causal language model (its config.json declares "
            f"{', '.join(architectures) or config.model_type}); give a decoder model folder, e.g. "
            "an instruct model such as SmolLM2-Instruct.")


def model_fingerprint_of(path: str | os.PathLike) -> str:
    from recbole_llmkg.llm.cache import model_fingerprint

    path = Path(path).expanduser().resolve()
    if path.is_file():  # a .gguf: path, size and mtime
        stat = path.stat()
        return hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return model_fingerprint(path)


class Generator:
    """A causal LM and its tokenizer, greedy decoding in batches."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        check_causal_lm(path)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path).expanduser()
        kwargs: dict = {"local_files_only": True}
        folder = path
        if path.is_file():
            folder, kwargs["gguf_file"] = path.parent, path.name
        self.tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        with quiet_model_loading():
            self.model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).to(device).eval()
        self.device = device

    def chat(self, prompt: Prompt, text: str) -> str:
        """The model's chat template around ``text`` where it has one, else the plain text."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = ([{"role": "system", "content": prompt.system}] if prompt.system else [])
            messages.append({"role": "user", "content": text})
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        return f"{prompt.system}\n\n{text}\n" if prompt.system else f"{text}\n"

    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of ``prompts`` (the prompt itself cut off)."""
        import torch

        batch = self.tokenizer(prompts, return_tensors="pt", padding=True,
                               add_special_tokens=not getattr(self.tokenizer, "chat_template",
                                                              None))
        batch = {k: v.to(self.device) for k, v in batch.items() if k != "token_type_ids"}
        with torch.inference_mode():
            out = self.model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id)
        new = out[:, batch["input_ids"].shape[1]:]
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]


# -- the journal ---------------------------------------------------------------------------
def read_journal(path: Path, key: str) -> dict[str, str]:
    """``{id: text}`` of the journal rows with this ``key`` (model + prompt); rows cut off by a
    kill are skipped with one warning (their ids are generated again)."""
    done: dict[str, str] = {}
    if not path.is_file():
        return done
    cut = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            token, text, row_key = str(row["id"]), str(row["text"]), row.get("key")
        except (json.JSONDecodeError, KeyError, TypeError):
            cut.append(number)
            continue
        if row_key == key:
            done[token] = text
    if cut:
        logger.warning("Journal '%s': %d row(s) cut off by a killed run (line %s); their ids are "
                       "generated again.", path, len(cut), ", ".join(map(str, cut[:5])))
    return done


def append_journal(path: Path, key: str, rows: Iterable[tuple[str, str]]) -> None:
    """Append rows and fsync, so a kill after this call loses none of them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        if f.tell() > 0:  # a previous kill may have left a line without its newline
            with open(path, "rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    f.write(b"\n")
        for token, text in rows:
            f.write((json.dumps({"key": key, "id": token, "text": text}, ensure_ascii=False)
                     + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


# -- the run -------------------------------------------------------------------------------
def generate_knowledge(
    generator: Generator | Callable[[list[str], int], list[str]],
    model_key: str,
    prompt: Prompt,
    rows: dict[str, dict],
    out: Path,
    journal: Path,
    kind: str = "item",
    batch_size: int = 8,
    limit: int | None = None,
    placeholder: str = "unknown",
    show_progress: bool = True,
) -> tuple[int, int]:
    """Generate texts for ``rows`` (``{id: template values}``) not yet in the journal; write the
    knowledge file from the journal. Returns ``(generated now, in the file)``."""
    key = f"{model_key[:16]}-{prompt.digest()}"
    done = read_journal(journal, key)
    todo = [t for t in rows if t not in done]
    if limit is not None:
        todo = todo[: max(int(limit) - len([t for t in rows if t in done]), 0)]
    chat = generator.chat if isinstance(generator, Generator) else (lambda p, text: text)
    run = generator.generate if isinstance(generator, Generator) else generator
    bar = None
    if show_progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"Generating {kind} knowledge", unit=kind)
    generated = 0
    try:
        for start in range(0, len(todo), batch_size):
            ids = todo[start:start + batch_size]
            prompts = [chat(prompt, render(prompt.template, rows[t], placeholder)[0]) for t in ids]
            texts = [clean_text(t) for t in run(prompts, prompt.max_new_tokens)]
            kept = [(t, x) for t, x in zip(ids, texts, strict=True) if x]
            append_journal(journal, key, kept)
            done.update(kept)
            generated += len(kept)
            if len(kept) < len(ids):
                logger.warning("%d empty generation(s) in this batch (ids %s); they are tried "
                               "again on the next run.", len(ids) - len(kept),
                               ", ".join(t for t, x in zip(ids, texts, strict=True) if not x))
            if bar is not None:
                bar.update(len(ids))
    finally:
        if bar is not None:
            bar.close()
    texts = {t: done[t] for t in rows if t in done}
    if texts:
        write_knowledge(out, texts, kind)
    return generated, len(texts)
