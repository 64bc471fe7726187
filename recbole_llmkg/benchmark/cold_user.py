"""The cold-user protocol: users held out of training, served by fold-in from a few first items.

A seeded share of the users (10% by default) is held out entirely: all their interactions go to
the test part, train and valid come from the other users only, so every model trains on RecBole's
normal path (``benchmark_filename``). The held-out users stay in RecBole's id maps, with no
training row: a model cannot have learnt anything about them.

Each held-out user is then served as a new user through
:meth:`~recbole_llmkg.serve.Recommender.recommend_new_user`: its profile text (the ``.user``
fields through the dataset's user text template, for models with a text space) plus its first
``n`` interactions by timestamp, for ``n`` in 0, 1, 3, 5. Every ``n`` is scored on the same
targets, the user's interactions after its first ``max(ns)``, so the curve moves only with what
the model knows (users with no more than ``max(ns)`` interactions are skipped). Known items are
never recommended back and are never targets.

``Pop`` serves the same popularity list at every ``n`` (the honest baseline); a content kNN
(``TextKNN``) scores from the liked items' text neighbours; a model that cannot fold in is
reported as such in the table, not crashed.

A model without a user text tower reads the profile as a request: at ``n = 0`` that is the
serving layer's profile-text fallback (the report labels those rows as one shared scorer), and
at ``n >= 1`` its fold-in scores are z-blended with the profile's text cosine. That blend weight
is the model's own choice, made on validation (:func:`choose_profile_weight`: warm users served
as new users from their first training items and scored on their valid items, never test),
from ``PROFILE_WEIGHTS`` with 0 (fold-in alone) allowed; a fixed weight would credit the model
with the text scorer's output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recbole_llmkg.benchmark.per_user import topk_metrics
from recbole_llmkg.benchmark.splits import Split, split_for_config
from recbole_llmkg.errors import DataError, ServeError

KNOWN_COUNTS = (0, 1, 3, 5)
TOPK = 10
PROFILE_WEIGHTS = (0.0, 0.25, 0.5, 0.75)  # the profile blend weights tried on validation
VALID_USERS = 200  # warm users (seeded sample) that choose the blend weight


# ---------------------------------------------------------------------------------- the split
def cold_user_split_for_config(config: Any, seed: int, data_root: str | os.PathLike,
                               fraction: float = 0.1,
                               side_files: Mapping[str, str] | None = None) -> Split:
    """:func:`write_cold_user_split` for the dataset, fields and file format of a config
    (through :func:`~recbole_llmkg.benchmark.splits.split_for_config`)."""
    return split_for_config(config, seed, data_root, "cold_user", {"cold_fraction": fraction},
                            side_files)


def held_out_histories(split: Split, user_field: str = "user_id", item_field: str = "item_id",
                       time_field: str | None = "timestamp", separator: str = "\t",
                       encoding: str = "utf-8") -> pd.DataFrame:
    """The held-out users' interactions (the test part), ``user, item, position``: ordered by
    user, then time (file order breaks ties; no time field: file order), ``position`` from 0."""
    path = Path(split.data_path) / split.dataset / f"{split.dataset}.test.inter"
    frame = pd.read_csv(path, sep=separator, dtype=str, encoding=encoding, quoting=3,
                        keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    time = (pd.to_numeric(frame[time_field], errors="coerce").to_numpy()
            if time_field and time_field in frame.columns else np.arange(len(frame), dtype=float))
    if np.isnan(time).any():
        line = int(np.flatnonzero(np.isnan(time))[0]) + 2
        raise DataError(f"Cold users: '{path}' line {line}: field '{time_field}' is not a "
                        "number; fix the value or pass time_field=None to order by file.")
    out = pd.DataFrame({"user": frame[user_field].to_numpy(), "item": frame[item_field].to_numpy(),
                        "time": time})
    out = out.sort_values(["user", "time"], kind="mergesort").reset_index(drop=True)
    out["position"] = out.groupby("user").cumcount()
    return out[["user", "item", "position"]]


# ---------------------------------------------------------------------------------- serving
def fold_in_family(recommender: Any) -> Any:
    """The recommender's family, or an exact item-weight one for a content kNN (``score = x S^T``
    with its fixed neighbourhood ``S``), which the serve layer scores for known users only."""
    from recbole_llmkg.serve.families import ItemWeightFamily, ScoreOnlyFamily

    model, family = recommender.model, recommender.family
    if type(family) is ScoreOnlyFamily and hasattr(model, "neighbour_index") \
            and hasattr(model, "neighbour_value"):
        sim = torch.sparse_coo_tensor(model.neighbour_index, model.neighbour_value,
                                      (model.n_items, model.n_items),
                                      check_invariants=False).to_dense()
        return ItemWeightFamily(model, recommender.trained.train_dataset, sim.T.contiguous())
    return family


def is_popularity(model: Any) -> bool:
    """Whether the model ranks every user the same way (RecBole's ``Pop``)."""
    from recbole.model.general_recommender import Pop

    return isinstance(model, Pop)


def profile_texts(recommender: Any) -> dict[str, str]:
    """External user id -> profile text, for models with a text space (else empty).

    Read from the training dataset, where a held-out user has no interaction, so a template
    that lists recent history adds nothing from the evaluation targets.
    """
    train = recommender.trained.train_dataset
    if not recommender.text.available or not hasattr(train, "user_texts"):
        return {}
    texts = train.user_texts()
    tokens = recommender.user_tokens
    return {str(tokens[i]): texts[i] for i in range(1, len(tokens)) if str(texts[i]).strip()}


def serve_cold_user(recommender: Any, liked: Sequence[str], profile: str | None,
                    k: int = TOPK, profile_weight: float = 0.5) -> list[str]:
    """External ids of the top-``k`` items for a new user (``liked`` never recommended back).

    Raises :class:`ServeError` when the model cannot serve this input.
    """
    if is_popularity(recommender.model):
        scores = recommender.family.scores(torch.ones(1, dtype=torch.long))[0].clone()
        scores[0] = -torch.inf
        if len(liked):
            scores[recommender.item_index(liked)] = -torch.inf
        return [str(t) for t in recommender.item_tokens[scores.topk(k).indices.cpu().numpy()]]
    if not len(liked) and profile is None:
        recommender.family.fold_in_scores(torch.zeros(0, dtype=torch.long), None)  # its reason
        raise ServeError(f"Model {recommender.model_name} has no text space: it needs at least "
                         "one known item to fold in a new user.")
    frame = recommender.recommend_new_user(liked=liked, profile=profile, k=k,
                                           profile_weight=profile_weight)
    return frame["item"].astype(str).tolist()


def cold_user_views(recommender: Any, histories: pd.DataFrame,
                    ns: Sequence[int] = KNOWN_COUNTS, topk: Sequence[int] = (TOPK,),
                    metrics: Sequence[str] = ("ndcg", "recall"),
                    profile_weight: float = 0.5) -> dict[int, dict[str, Any]]:
    """Per ``n``: the held-out users' metrics at every cut-off of ``topk``, or why the model
    cannot serve them.

    ``{n: {"status": "ok" | reason, "users": int, "test": {"ndcg@10": mean, ...},
    "per_user": PerUserMetrics | None}}``; per-user values let two models be paired by user.
    """
    from recbole_llmkg.benchmark.per_user import PerUserMetrics
    from recbole_llmkg.serve.recommender import Recommender

    if isinstance(recommender, Recommender):
        recommender.family = fold_in_family(recommender)
    width = max(topk)
    n_max = max(ns)
    sizes = histories.groupby("user")["item"].transform("size")
    usable = histories[sizes > n_max]
    targets = usable[usable["position"] >= n_max]
    users = sorted(targets["user"].unique())
    profiles = profile_texts(recommender)
    views: dict[int, dict[str, Any]] = {}
    for n in ns:
        known = usable[usable["position"] < n].groupby("user")["item"].agg(list)
        tops, status = [], "ok" if users else "no users"
        try:
            for user in users:
                tops.append(serve_cold_user(recommender, known.get(user, []),
                                            profiles.get(user), width, profile_weight))
        except ServeError as error:
            status = str(error)
        if status != "ok":
            views[n] = {"status": status, "users": 0, "test": {}, "per_user": None}
            continue
        top = pd.DataFrame({"user": np.repeat(users, width),
                            "rank": np.tile(np.arange(width), len(users)),
                            "item": np.concatenate([t + [""] * (width - len(t)) for t in tops])})
        relevant = targets[["user", "item"]].drop_duplicates()
        relevant = relevant.merge(
            usable[usable["position"] < n][["user", "item"]].assign(known=True),
            on=["user", "item"], how="left")
        relevant = relevant[relevant["known"].isna()][["user", "item"]].assign(hit=True)
        hits = top.merge(relevant, on=["user", "item"], how="left")["hit"].notna()
        pos_idx = torch.as_tensor(hits.to_numpy().reshape(len(users), width))
        pos_len = torch.as_tensor(relevant.groupby("user").size().reindex(users).fillna(0)
                                  .to_numpy(), dtype=torch.float64)
        keep = pos_len > 0
        values = topk_metrics(pos_idx[keep], pos_len[keep], topk, metrics)
        per_user = PerUserMetrics(np.asarray(users, dtype=object)[keep.numpy()],
                                  {name: v.numpy() for name, v in values.items()})
        views[n] = {"status": "ok", "users": int(keep.sum()), "test": per_user.mean(),
                    "per_user": per_user}
    return views


def valid_histories(split: Split, user_field: str = "user_id", item_field: str = "item_id",
                    time_field: str | None = "timestamp", separator: str = "\t",
                    encoding: str = "utf-8", n_known: int = max(KNOWN_COUNTS),
                    users: int = VALID_USERS, seed: int = 0) -> pd.DataFrame:
    """Warm users as pseudo-new users, for choices made on validation: ``user, item, position``
    with a user's first ``n_known`` training items by time at positions ``0..n_known-1`` and its
    valid items after them (a seeded sample of ``users`` users that have both)."""
    def read(part: str) -> pd.DataFrame:
        path = Path(split.data_path) / split.dataset / f"{split.dataset}.{part}.inter"
        frame = pd.read_csv(path, sep=separator, dtype=str, encoding=encoding, quoting=3,
                            keep_default_na=False)
        frame.columns = [c.split(":")[0] for c in frame.columns]
        time = (pd.to_numeric(frame[time_field], errors="coerce")
                if time_field and time_field in frame.columns else pd.Series(range(len(frame))))
        return pd.DataFrame({"user": frame[user_field], "item": frame[item_field],
                             "time": time.fillna(0).to_numpy()})

    train = read("train").sort_values(["user", "time"], kind="mergesort")
    train["position"] = train.groupby("user").cumcount()
    known = train[train["position"] < n_known]
    valid = read("valid")
    counts = known.groupby("user").size()
    eligible = np.intersect1d(counts[counts == n_known].index.to_numpy(dtype=str),
                              valid["user"].unique().astype(str))
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(eligible, size=min(users, len(eligible)), replace=False))
    valid = valid[valid["user"].isin(chosen)].assign(position=n_known)
    frame = pd.concat([known[known["user"].isin(chosen)], valid], ignore_index=True)
    return frame[["user", "item", "position"]].sort_values(["user", "position"], kind="mergesort")


def choose_profile_weight(recommender: Any, histories: pd.DataFrame,
                          weights: Sequence[float] = PROFILE_WEIGHTS,
                          ns: Sequence[int] = tuple(n for n in KNOWN_COUNTS if n > 0)
                          ) -> dict[str, Any] | None:
    """The profile blend weight with the best mean NDCG@10 over ``ns`` on ``histories``
    (validation users, :func:`valid_histories`); ties go to the smaller weight. None when the
    model blends nothing (it reads the profile itself, or has no text space).

    ``{"weight": w, "valid_ndcg@10": {w: score}}``.
    """
    from recbole_llmkg.serve.recommender import Recommender

    if isinstance(recommender, Recommender):
        recommender.family = fold_in_family(recommender)
    if is_popularity(recommender.model) or recommender.family.reads_profile \
            or not profile_texts(recommender):
        return None
    scores: dict[float, float] = {}
    for weight in weights:
        views = cold_user_views(recommender, histories, ns, (TOPK,), ("ndcg",), weight)
        served = [v["test"][f"ndcg@{TOPK}"] for v in views.values() if v["status"] == "ok"]
        scores[float(weight)] = float(np.mean(served)) if served else float("-inf")
    best = max(scores, key=lambda w: (scores[w], -w))
    return {"weight": best, "valid_ndcg@10": {str(w): s for w, s in scores.items()}}


def evaluate_cold_users(recommender: Any, histories: pd.DataFrame,
                        ns: Sequence[int] = KNOWN_COUNTS, k: int = TOPK) -> list[dict[str, Any]]:
    """Per ``n``: mean NDCG@k and Recall@k over the held-out users, or why the model cannot.

    Rows: ``{n, users, ndcg@k, recall@k, status}``; ``status`` is ``ok`` or the model's reason.
    """
    views = cold_user_views(recommender, histories, ns, (k,))
    return [{"n": n, "users": view["users"],
             f"ndcg@{k}": view["test"].get(f"ndcg@{k}", float("nan")),
             f"recall@{k}": view["test"].get(f"recall@{k}", float("nan")),
             "status": view["status"]} for n, view in views.items()]


def cold_user_table(recommenders: Mapping[str, Any], histories: pd.DataFrame,
                    ns: Sequence[int] = KNOWN_COUNTS, k: int = TOPK) -> pd.DataFrame:
    """Model x n: mean NDCG@k, Recall@k, number of users, and ``status`` (``ok`` or why the
    model cannot serve that cell); one row per (model, n)."""
    rows = [{"model": name, **row} for name, rec in recommenders.items()
            for row in evaluate_cold_users(rec, histories, ns, k)]
    return pd.DataFrame(rows, columns=["model", "n", "users", f"ndcg@{k}", f"recall@{k}",
                                       "status"])


def recommender_for_run(parts: Any, checkpoint: str | None = None) -> Any:
    """A :class:`~recbole_llmkg.serve.Recommender` over a run prepared in this process
    (:func:`recbole_llmkg.quick_start.prepare`), without reloading data from a checkpoint."""
    return recommender_for(parts.config, parts.dataset, parts.train_data, parts.valid_data,
                           parts.test_data, parts.model, checkpoint)


def recommender_for(config: Any, dataset: Any, train_data: Any, valid_data: Any, test_data: Any,
                    model: Any, checkpoint: str | None = None) -> Any:
    """A :class:`~recbole_llmkg.serve.Recommender` over a model trained in this process."""
    from recbole_llmkg.serve.loading import TrainedModel
    from recbole_llmkg.serve.recommender import Recommender

    model.eval()
    splits = (train_data._dataset, valid_data._dataset, test_data._dataset)
    return Recommender(TrainedModel(config, dataset, splits[0], model, checkpoint or "", splits))


def protocol_result(trainer: Any, config: Any, dataset: Any, loaders: Sequence[Any],
                    split: Split, metrics: Sequence[str]) -> dict[str, Any]:
    """What a board run of the ``cold_user`` protocol records after training: per ``n``, the
    held-out users' mean metrics and per-user values (``cold_user``), and as ``test`` those of
    the largest ``n`` the model could serve."""
    from recbole_llmkg.benchmark.per_user import METRICS

    checkpoint = trainer.load_best_model()  # the best epoch, as the other protocols test it
    recommender = recommender_for(config, dataset, *loaders, trainer.model, checkpoint)
    wanted = [m.lower() for m in metrics if m.lower() in METRICS] or ["ndcg"]
    fields = (config["USER_ID_FIELD"], config["ITEM_ID_FIELD"], config["TIME_FIELD"],
              config["field_separator"] or "\t", config["encoding"] or "utf-8")
    histories = held_out_histories(split, *fields)
    blend = choose_profile_weight(recommender, valid_histories(split, *fields))
    views = cold_user_views(recommender, histories, KNOWN_COUNTS, config["topk"], wanted,
                            blend["weight"] if blend else 0.0)
    served = [n for n, view in views.items() if view["status"] == "ok"]
    return {
        "profile_weight": blend,
        "test": views[max(served)]["test"] if served else {},
        "cold_user": {str(n): {"status": view["status"], "users": view["users"],
                               "test": view["test"],
                               "per_user": view["per_user"].to_dict() if view["per_user"]
                               else None}
                      for n, view in views.items()},
    }


def train_recommender(model: str, split: Split, overrides: Mapping[str, Any] | None = None) -> Any:
    """Train ``model`` on the split's train/valid files (RecBole's normal path), reload its best
    epoch, and return it as a :class:`~recbole_llmkg.serve.Recommender`."""
    from recbole_llmkg.config import Config
    from recbole_llmkg.quick_start import prepare

    config = Config(model, split.dataset, config_dict={**split.config(), **(overrides or {})},
                    cmd_args=[])
    parts = prepare(config)
    parts.trainer.fit(parts.train_data, parts.valid_data, saved=True,
                      show_progress=config["show_progress"])
    return recommender_for_run(parts, parts.trainer.load_best_model())
