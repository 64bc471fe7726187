"""Evaluation protocols: how a run's data is split, checked once loaded, and tested.

Each protocol is an object (:class:`Protocol`) whose methods the worker calls in order:
``prepare`` (config entries and the split), ``verify_loaded`` (RecBole loaded what the split
files hold), ``evaluate`` (test the best checkpoint). The splits are written once per (dataset,
seed, protocol) by :mod:`~recbole_llmkg.benchmark.splits` and read by every model through
``benchmark_filename``. A new protocol is a subclass registered in :data:`REGISTRY`.

``standard``
    RecBole's default split, written out so no model or dataset YAML can change it: interactions
    shuffled, split 8:1:1 per user, full ranking on valid and test.
``cold_item``
    A seeded ``cold_fraction`` of the items (default 10%) is held out entirely: every interaction
    with a cold item is in the test set, none in train or valid. Warm interactions are split per
    user, about 8:1, into train and valid. Test ranks all items, so the test metrics measure how
    well a model finds items it never saw an interaction for (text and KG models can still score
    them: .item/.link/.kg are kept whole). RecBole applies no filtering to split files, so no
    cold item or interaction is dropped (the worker checks this on the loaded dataset).
    ``candidates: cold`` ranks only the cold items at test (warm items are scored -inf): with all
    items as candidates a model must also rank never-seen items above the popular warm ones, and
    on ml-100k every model we ran scores about 0 there, so ``cold`` is what separates models that
    can describe a new item (text, KG) from those that cannot. Rows use the configuration tuned
    on ``standard`` (no study of their own): cold items are only in test, so this protocol's
    validation holds warm items only, the same kind of data ``standard`` tunes on, and a second
    study per row would double the board's tuning cost (~10 CPU-hours on ml-100k) for it.
``cold_user``
    A seeded ``cold_fraction`` of the users (default 10%) is held out entirely
    (:mod:`~recbole_llmkg.benchmark.cold_user`): the model trains and early-stops on the other
    users only; then each held-out user is served as a new user from its profile text plus its
    first ``n`` interactions by time, for ``n`` in 0, 1, 3, 5, and scored on its later
    interactions. One run gives every ``n``; the report shows one table per ``n`` (with
    significance over the same held-out users) and the curve. Rows use the configuration tuned
    on the ``standard`` protocol (no study of their own: tuning reads validation of warm users,
    which is what ``standard`` tunes on).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recbole_llmkg.benchmark.splits import PARTS, Split, split_for_config
from recbole_llmkg.config import Config
from recbole_llmkg.errors import ConfigError, DataError

_FULL_RANKING = {"valid": "full", "test": "full"}
STANDARD_EVAL_ARGS = {
    "split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": _FULL_RANKING,
}


@dataclass
class Evaluation:
    """What a protocol measured on a trained run: entries of the run record (``test`` and any
    protocol-specific ones) and the per-user test metrics significance pairs, when it has them."""

    results: dict[str, Any]
    per_user: Any = None  # PerUserMetrics or None


class Protocol:
    """One evaluation protocol: its parameters, its split, the checks on the loaded data, and the
    test evaluation after training. The worker calls these methods and never asks for a name.

    Subclasses set ``name`` and ``defaults`` (parameter -> default value; a parameter not listed
    there or in ``optional`` is an error), and ``tuned_on`` when their rows take the tuned
    configuration of another protocol instead of a study of their own.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    # parameter -> (default, allowed values): joins a run's identity only when set to a
    # non-default value, so adding one never changes the keys of finished runs
    optional: ClassVar[dict[str, tuple[Any, tuple[Any, ...]]]] = {}
    tuned_on: ClassVar[str | None] = None

    def check_params(self, params: dict[str, Any], where: str, key: str) -> dict[str, Any]:
        """The parameters, validated (one :class:`ConfigError` naming ``key`` otherwise)."""
        return params

    def base_config(self, run: Any) -> Config:
        """The run's RecBole config before any split entry: the dataset, its fields and file
        format, from which :meth:`prepare` writes the split (and the report re-reads it)."""
        return Config(run.model.name, run.dataset, config_dict=copy.deepcopy(run.config),
                      cmd_args=[])

    def prepare(self, run: Any, data_root: Path) -> tuple[dict[str, Any], Split]:
        """Config entries that put ``run`` on this protocol's split, and that split.

        ``run`` is a :class:`recbole_llmkg.benchmark.spec.RunSpec`. The split of (dataset, seed,
        protocol) is written once under ``data_root`` (:mod:`~recbole_llmkg.benchmark.splits`)
        and every model reads it.
        """
        split = split_for_config(self.base_config(run), run.seed, data_root, self.name,
                                 run.protocol.params, run.side_files)
        return {**split.config(), "eval_args": copy.deepcopy(STANDARD_EVAL_ARGS)}, split

    def verify_loaded(self, run: Any, dataset: Any, split: Split) -> dict[str, Any]:
        """Check that RecBole loaded the split as written; returns counts for the run record.

        Raises :class:`DataError` if the part sizes differ from the files: a silently different
        test set never reaches the board.
        """
        sizes = list(getattr(dataset, "file_size_list", []) or [])
        expected = [split.counts[name]["interactions"] for name in PARTS]
        if sizes != expected:
            raise DataError(f"{self.name} split: RecBole loaded {sizes} train/valid/test "
                            f"interactions, the split files hold {expected}.")
        return {"interactions": int(len(dataset.inter_feat)),
                "users": int(dataset.user_num - 1),
                "items": int(dataset.item_num - 1)}  # minus RecBole's [PAD] id

    def evaluate(self, run: Any, trainer: Any, config: Any, dataset: Any,
                 loaders: tuple[Any, Any, Any], split: Split) -> Evaluation:
        """Test the best checkpoint of a trained run: RecBole's metrics and per-user values on
        the test loader, every item a candidate."""
        return self._full_ranking(trainer, config, loaders[2])

    def _full_ranking(self, trainer: Any, config: Any, test_data: Any,
                      mask: Any = None) -> Evaluation:
        from recbole_llmkg.benchmark.per_user import per_user_metrics
        from recbole_llmkg.benchmark.ranking import evaluate_ranking

        trainer.load_best_model()
        test = evaluate_ranking(trainer, test_data, mask.scorer() if mask else None)
        per_user = per_user_metrics(trainer, test_data, topk=config["topk"],
                                    transform=mask.scorer() if mask else None)
        return Evaluation({"test": test}, per_user)


class Standard(Protocol):
    """RecBole's default split, written out: 8:1:1 per user, full ranking."""

    name = "standard"


class _HeldOut(Protocol):
    """A protocol that holds out a seeded ``cold_fraction`` of the users or items."""

    defaults = {"cold_fraction": 0.1}
    tuned_on = "standard"  # validation holds warm data only, of the kind standard tunes on

    def check_params(self, params: dict[str, Any], where: str, key: str) -> dict[str, Any]:
        fraction = params["cold_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0 < fraction < 1:
            raise ConfigError(f"{where}: key '{key}.cold_fraction' must be a number strictly "
                              f"between 0 and 1, got {fraction!r}.")
        return {**params, "cold_fraction": float(fraction)}

    @staticmethod
    def _warm_and_test(dataset: Any, field_name: str) -> tuple[np.ndarray, np.ndarray]:
        """External tokens of ``field_name`` in train + valid, and in test."""
        sizes = dataset.file_size_list
        tokens = dataset.id2token(field_name, np.asarray(dataset.inter_feat[field_name]))
        return tokens[: sizes[0] + sizes[1]], tokens[sizes[0] + sizes[1]:]


class ColdItem(_HeldOut):
    """Cold items only in test; ``candidates: cold`` ranks only them (see the module docstring)."""

    name = "cold_item"
    optional = {"candidates": ("all", ("all", "cold"))}

    def verify_loaded(self, run: Any, dataset: Any, split: Split) -> dict[str, Any]:
        """Also: no cold item in train or valid, no warm item in test, every cold item known."""
        loaded = super().verify_loaded(run, dataset, split)
        warm_part, test_part = self._warm_and_test(dataset, dataset.iid_field)
        cold = set(split.cold_items)
        if np.isin(warm_part, list(cold)).any():
            raise DataError("cold_item split: a cold item appears in train or valid.")
        if not np.isin(test_part, list(cold)).all():
            raise DataError("cold_item split: a warm item appears in test.")
        missing = cold - set(dataset.field2token_id[dataset.iid_field])
        if missing:
            raise DataError(f"cold_item split: {len(missing)} cold items unknown to the dataset.")
        return {**loaded, "cold_items": len(cold)}

    def evaluate(self, run: Any, trainer: Any, config: Any, dataset: Any,
                 loaders: tuple[Any, Any, Any], split: Split) -> Evaluation:
        """Test over the candidates (all items, or the cold ones: other items -inf, ties broken
        by the run's seed), plus ``cold_share@k``: can a cold item reach a top-k among all?"""
        from recbole_llmkg.benchmark.per_user import share_in_topk
        from recbole_llmkg.benchmark.ranking import CandidateMask

        test_data = loaders[2]
        cold = cold_item_ids(dataset, split)
        mask = None
        if run.protocol.params.get("candidates", "all") == "cold":
            mask = CandidateMask(cold, seed=run.seed)
        evaluation = self._full_ranking(trainer, config, test_data, mask)
        k = int(str(config["valid_metric"]).split("@")[1])
        evaluation.results[f"cold_share@{k}"] = share_in_topk(trainer, test_data, cold, k)
        return evaluation


class ColdUser(_HeldOut):
    """Held-out users served as new users after training (:mod:`.cold_user`)."""

    name = "cold_user"

    def verify_loaded(self, run: Any, dataset: Any, split: Split) -> dict[str, Any]:
        """Also: no held-out user in train or valid."""
        loaded = super().verify_loaded(run, dataset, split)
        warm_part, _ = self._warm_and_test(dataset, dataset.uid_field)
        if np.isin(warm_part, list(split.cold_users)).any():
            raise DataError("cold_user split: a held-out user appears in train or valid.")
        return {**loaded, "cold_users": len(split.cold_users)}

    def evaluate(self, run: Any, trainer: Any, config: Any, dataset: Any,
                 loaders: tuple[Any, Any, Any], split: Split) -> Evaluation:
        """Per number of known interactions, the held-out users' metrics (the report pairs the
        held-out users per ``n``), and as ``test`` those of the largest ``n`` served."""
        from recbole_llmkg.benchmark.cold_user import protocol_result

        return Evaluation(protocol_result(trainer, config, dataset, loaders, split,
                                          config["metrics"]))


# every protocol by name
REGISTRY: dict[str, Protocol] = {p.name: p for p in (Standard(), ColdItem(), ColdUser())}
# name -> parameter defaults (see Protocol.defaults)
PROTOCOLS: dict[str, dict[str, Any]] = {name: dict(p.defaults) for name, p in REGISTRY.items()}
# protocols whose rows take the tuned configuration of another protocol instead of a study
TUNED_ON: dict[str, str] = {name: p.tuned_on for name, p in REGISTRY.items() if p.tuned_on}
OPTIONAL: dict[str, dict[str, tuple[Any, tuple[Any, ...]]]] = {
    name: dict(p.optional) for name, p in REGISTRY.items() if p.optional}


def protocol_for(entry: Any) -> Protocol:
    """The protocol object of a :class:`ProtocolEntry` (or of a name)."""
    name = getattr(entry, "name", entry)
    if name not in REGISTRY:
        raise ConfigError(f"Unknown protocol '{name}' (protocols: {', '.join(REGISTRY)}).")
    return REGISTRY[name]


@dataclass(frozen=True)
class ProtocolEntry:
    """An evaluation protocol by name, with its parameters (defaults filled in)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    # labels of the rows run under this protocol (empty: every row); not part of a run's
    # identity, so narrowing the list never changes the keys of the runs that remain
    models: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """Short, file-name-safe id; parameters appear only when they differ from defaults."""
        return protocol_slug(self)


def parse_protocol(entry: Any, where: str, key: str) -> ProtocolEntry:
    """A protocol from the file: a name, or ``{name: ..., <param>: ...}``; defaults filled in."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where}: key '{key}' must be a protocol name or a mapping with "
                          f"'name' (protocols: {', '.join(PROTOCOLS)}).")
    name = entry["name"]
    if name not in PROTOCOLS:
        raise ConfigError(f"{where}: key '{key}': unknown protocol '{name}' "
                          f"(protocols: {', '.join(PROTOCOLS)}).")
    params = dict(PROTOCOLS[name])
    optional = OPTIONAL.get(name, {})
    models = entry.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(f"{where}: key '{key}.models' must be a list of model labels (the "
                          f"rows this protocol runs), got {models!r}.")
    for param, value in entry.items():
        if param in ("name", "models"):
            continue
        if param in optional:
            default, allowed_values = optional[param]
            if value not in allowed_values:
                raise ConfigError(f"{where}: key '{key}.{param}' must be one of "
                                  f"{', '.join(map(str, allowed_values))}, got {value!r}.")
            if value != default:
                params[param] = value
            continue
        if param not in params:
            allowed = ", ".join([*PROTOCOLS[name], *optional]) or "none"
            raise ConfigError(f"{where}: unknown key '{key}.{param}' for protocol '{name}' "
                              f"(parameters: {allowed}).")
        params[param] = value
    params = REGISTRY[name].check_params(params, where, key)
    return ProtocolEntry(name, params, tuple(models))


def protocol_slug(protocol: ProtocolEntry) -> str:
    """``standard``, ``cold_item``, or ``cold_item-cold_fraction0.2`` when a default changed."""
    defaults = PROTOCOLS.get(protocol.name, {})
    changed = [f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
               for k, v in sorted(protocol.params.items()) if defaults.get(k) != v]
    return "-".join([protocol.name, *changed])


def prepare(run: Any, data_root: Path) -> tuple[dict[str, Any], Split]:
    """Config entries that put ``run`` on its protocol's split, and that split
    (:meth:`Protocol.prepare`)."""
    return protocol_for(run.protocol).prepare(run, data_root)


def cold_item_ids(dataset: Any, split: Split) -> Any:
    """Internal ids of the split's cold items, as a tensor."""
    import torch

    ids = dataset.token2id(dataset.iid_field, list(split.cold_items))
    return torch.as_tensor(np.atleast_1d(ids), dtype=torch.long)
