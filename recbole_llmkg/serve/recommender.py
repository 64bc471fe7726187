"""``Recommender``: top-k items for known users, new users, requests in words, with reasons.

    rec = Recommender.load("saved/LLMAugRec-....pth")
    rec.recommend(["196"], k=10)             # DataFrame: user, rank, item, title, score
    rec.recommend_new_user(liked=["50", "181"], profile="likes sci-fi")
    rec.explain("196", rec.recommend(["196"])["item"])

Ids are the dataset's external tokens (strings, as in the atomic files). Training items are
excluded by default, as in RecBole's full-ranking evaluation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from recbole_llmkg.errors import ServeError
from recbole_llmkg.serve.explain import EdgeAttention, KGPaths, knowledge_quote
from recbole_llmkg.serve.families import family_for
from recbole_llmkg.serve.loading import TrainedModel, load_trained
from recbole_llmkg.serve.query import DEFAULT_QUERY_WEIGHT, TextSpace, blend

# a profile read as a request, beside liked items: half of the blend by default (the benchmark's
# cold-user protocol chooses it per model on validation instead)
DEFAULT_PROFILE_WEIGHT = 0.5

TITLE_FIELDS = ("movie_title", "title", "name", "item_name")
USER_BATCH = 512  # users scored per full-ranking batch


def _ids(values: Iterable[Any]) -> list[str]:
    return [str(v).strip() for v in values]


def read_item_column(config, dataset, names: Sequence[str]) -> np.ndarray | None:
    """The first of ``names`` in the ``.item`` file, as raw strings by internal item id."""
    path = os.path.join(config["data_path"], f"{config['dataset']}.item")
    if not os.path.isfile(path):
        return None
    frame = pd.read_csv(path, sep=config["field_separator"], dtype=str, quoting=3,
                        encoding=config["encoding"] or "utf-8", keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    field = next((n for n in names if n in frame.columns), None)
    if field is None or dataset.iid_field not in frame.columns:
        return None
    by_token = frame.drop_duplicates(dataset.iid_field).set_index(dataset.iid_field)[field]
    tokens = pd.Index(dataset.field2id_token[dataset.iid_field])
    return by_token.reindex(tokens).fillna("").to_numpy(dtype=object)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of one user's recommendation frame as JSON-ready dicts."""
    return [{"rank": int(r.rank), "item": r.item, "title": r.title, "score": float(r.score)}
            for r in frame.itertuples()]


def to_jsonl(frame: pd.DataFrame) -> str:
    """One JSON line per user: ``{"user": ..., "items": [{rank, item, title, score}, ...]}``."""
    return "\n".join(json.dumps({"user": user, "items": frame_records(group)})
                     for user, group in frame.groupby("user", sort=False))


class Recommender:
    """A trained model ready to answer requests (see the module docstring)."""

    def __init__(self, trained: TrainedModel) -> None:
        self.trained = trained
        self.model = trained.model
        self.dataset = trained.dataset
        self.model_name = type(self.model).__name__
        self.family = family_for(self.model, trained.train_dataset)
        self.text = TextSpace(trained.config, trained.train_dataset, self.model_name)
        self.item_tokens = np.asarray(self.dataset.field2id_token[self.dataset.iid_field])
        self.user_tokens = np.asarray(self.dataset.field2id_token[self.dataset.uid_field])
        self.titles = read_item_column(trained.config, self.dataset, TITLE_FIELDS)
        self._kg: KGPaths | None | bool = False  # built on first explanation
        self._attention: EdgeAttention | None = None

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, device: str = "cpu",
             data_path: str | None = None,
             trusted_modules: tuple[str, ...] | list[str] = ()) -> Recommender:
        """Rebuild the model saved in ``checkpoint`` (``data_path``: where its dataset is now;
        ``trusted_modules``: modules that may be imported to find an out-of-tree model)."""
        return cls(load_trained(checkpoint, device=device, data_path=data_path,
                                trusted_modules=trusted_modules))

    # ------------------------------------------------------------------ ids
    def user_index(self, user_ids: Iterable[Any]) -> torch.Tensor:
        """Internal ids of external user ids; a clear error for unknown ones."""
        return self._index(_ids(user_ids), self.dataset.uid_field, "user")

    def item_index(self, item_ids: Iterable[Any]) -> torch.Tensor:
        """Internal ids of external item ids; a clear error for unknown ones."""
        return self._index(_ids(item_ids), self.dataset.iid_field, "item")

    def _index(self, tokens: list[str], field: str, kind: str) -> torch.Tensor:
        mapping = self.dataset.field2token_id[field]
        unknown = [t for t in tokens if t not in mapping or t == "[PAD]"]
        if unknown:
            known = list(mapping)[1:4]
            raise ServeError(
                f"Unknown {kind} id {', '.join(map(repr, unknown[:5]))} for dataset "
                f"'{self.trained.config['dataset']}': give ids as in its .inter file "
                f"(e.g. {', '.join(known)}; {len(mapping) - 1} {kind}s known)."
            )
        return torch.as_tensor([mapping[t] for t in tokens], dtype=torch.long)

    @property
    def all_user_ids(self) -> list[str]:
        return list(self.user_tokens[1:])

    # ------------------------------------------------------------------ scores
    def scores(self, users: torch.Tensor, query: str | None = None,
               query_weight: float = DEFAULT_QUERY_WEIGHT) -> torch.Tensor:
        """``[len(users), n_items]`` model scores (internal ids), blended with ``query``."""
        scores = self.family.scores(users)
        if query is not None:
            scores = blend(scores, self.text.similarity(self.text.encode(query)), query_weight)
        return scores

    def _top(self, scores: torch.Tensor, users: torch.Tensor | None, k: int,
             exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (values, internal item ids) per row, masking padding and seen items."""
        scores = scores.clone()
        scores[:, 0] = -torch.inf
        if users is not None:
            seen = self.family.history[users.numpy()].tocoo()
            scores[torch.as_tensor(seen.row, dtype=torch.long),
                   torch.as_tensor(seen.col, dtype=torch.long)] = -torch.inf
        if exclude is not None and len(exclude):
            scores[:, exclude] = -torch.inf
        k = min(k, int(torch.isfinite(scores).sum(dim=1).min()))
        return scores.topk(k, dim=1)

    def _frame(self, user_labels: Sequence[str], values: torch.Tensor,
               items: torch.Tensor) -> pd.DataFrame:
        n, k = items.shape
        items_np = items.cpu().numpy().ravel()
        frame = pd.DataFrame({
            "user": np.repeat(np.asarray(user_labels, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), n),
            "item": self.item_tokens[items_np],
            "title": self.titles[items_np] if self.titles is not None else "",
            "score": values.cpu().numpy().ravel().astype(float),
        })
        return frame

    @staticmethod
    def _check_k(k: int) -> int:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ServeError(f"k must be a whole number >= 1; got {k!r}.")
        return int(k)

    def recommend(self, user_ids: Iterable[Any], k: int = 10, include_seen: bool = False,
                  query: str | None = None,
                  query_weight: float = DEFAULT_QUERY_WEIGHT) -> pd.DataFrame:
        """Top-``k`` items per user: columns ``user, rank, item, title, score``."""
        k = self._check_k(k)
        labels = _ids(user_ids)
        users = self.user_index(labels)
        query_scores = None
        if query is not None:
            query_scores = self.text.similarity(self.text.encode(query))
        frames = []
        for start in range(0, len(users), USER_BATCH):
            batch = users[start:start + USER_BATCH]
            scores = self.family.scores(batch)
            if query_scores is not None:
                scores = blend(scores, query_scores, query_weight)
            values, items = self._top(scores, None if include_seen else batch, k)
            frames.append(self._frame(labels[start:start + USER_BATCH], values, items))
        return pd.concat(frames, ignore_index=True)

    def recommend_new_user(self, liked: Iterable[Any] = (), profile: str | None = None,
                           k: int = 10, query: str | None = None,
                           query_weight: float = DEFAULT_QUERY_WEIGHT,
                           label: str = "new",
                           profile_weight: float = DEFAULT_PROFILE_WEIGHT) -> pd.DataFrame:
        """Top-``k`` for a user not in the training data, from liked items and/or a profile text
        (no retraining); the liked items are not recommended back. A model without a user text
        tower reads the profile as a request: its fold-in scores and the profile's cosine to the
        item texts are z-blended with ``profile_weight`` on the cosine (0: fold-in alone)."""
        k = self._check_k(k)
        liked_idx = self.item_index(liked)
        if len(liked_idx) == 0 and profile is None:
            raise ServeError("A new user needs --liked item ids and/or a --profile text.")
        profile_emb = self.text.encode(profile, "--profile") if profile is not None else None
        scores = self.family.fold_in_scores(liked_idx, profile_emb).view(1, -1).float()
        if profile_emb is not None and not self.family.reads_profile:
            # models without a user text tower read the profile as a request
            text = self.text.similarity(profile_emb)
            scores = (text.view(1, -1) if len(liked_idx) == 0
                      else blend(scores, text, profile_weight))
        if query is not None:
            scores = blend(scores, self.text.similarity(self.text.encode(query)), query_weight)
        values, items = self._top(scores, None, k, exclude=liked_idx)
        return self._frame([label], values, items)

    # ------------------------------------------------------------------ explanations
    def _kg_paths(self) -> KGPaths | None:
        if self._kg is False:
            self._kg = KGPaths.of(self.dataset)
            # the model's own edge weights rank the paths, where it has them (KGLLMGNN)
            self._attention = EdgeAttention.of(self.model) if self._kg is not None else None
        return self._kg

    def explain(self, user_id: Any, item_ids: Iterable[Any], n_history: int = 3,
                n_paths: int = 3) -> list[dict[str, Any]]:
        """Per item: the user's history items that explain its score most, and KG paths.

        ``history[].weight`` is the exact share of the score for item-weight and two-tower
        models (``kind: contribution``) and a vector similarity for embedding models
        (``kind: similarity``).
        """
        user = int(self.user_index([user_id])[0])
        items = self.item_index(item_ids)
        history, share = self.family.contributions(user, items)
        scores = self.family.scores(torch.tensor([user]))[0, items]
        share = share.cpu().numpy()
        kg = self._kg_paths()
        knowledge = (self.dataset.item_knowledge_texts()  # LLM-written text, quoted when on
                     if hasattr(self.dataset, "item_knowledge_texts") else None)
        explained = []
        for col, item in enumerate(items.tolist()):
            weight = share[:, col]
            top = np.argsort(-weight, kind="stable")[:n_history]
            entry: dict[str, Any] = {
                "item": str(self.item_tokens[item]),
                "title": self._title(item),
                "score": float(scores[col]),
                "kind": self.family.contribution_kind,
                "history": [{"item": str(self.item_tokens[history[j]]),
                             "title": self._title(history[j]), "weight": float(weight[j])}
                            for j in top],
            }
            quote = knowledge_quote(knowledge[item]) if knowledge is not None else None
            if quote is not None:
                entry["knowledge"] = quote
            if kg is not None:
                paths = kg.paths(history, weight, item, n_paths, self._attention)
                entry["paths"] = [
                    {"from": str(self.item_tokens[p.source]), "from_title": self._title(p.source),
                     "relation_out": p.relation_out, "entity": p.entity,
                     "relation_in": p.relation_in, "to": entry["item"],
                     **({} if np.isnan(p.attention) else {"attention": float(p.attention)})}
                    for p in paths.itertuples()
                ]
            explained.append(entry)
        return explained

    def _title(self, item: int) -> str:
        return "" if self.titles is None else str(self.titles[item])
