"""Allowed values of config keys, checked when the Config is built (before any data is read).

One declarative table, :data:`RULES`, keyed by config key (shell-style patterns such as
``*dropout*``): a key means the same thing in every model that reads it, so one rule per key
serves them all, and a rule that holds for one model only names that model (``models``; a
subclass is covered too). A table in one module rather than comment grammar in the YAML files
(fragile to parse) or a schema attribute on each model class (RecBole's built-ins have none, and
shared keys would be declared many times). A test checks that every default in RecBole's and the
plugin's YAML files passes its rule.

Besides values: a package a model imports inside a method must be installed when that method
will run, a knowledge view needs the ``.kg``/``.link`` files, and ``llm_model_path`` must hold a
readable ``config.json``.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import importlib.util
import inspect
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbole_llmkg import optional_packages
from recbole_llmkg.errors import ConfigError


@dataclass(frozen=True)
class Check:
    """A predicate on a value and the words that say what it accepts (or a function giving
    them, for choices read lazily from the module that defines them)."""

    test: Callable[[Any], bool]
    describe: str | Callable[[], str]
    source: tuple[str, str] | None = None  # (module, constant) of a choice

    @property
    def allowed(self) -> str:
        return self.describe if isinstance(self.describe, str) else self.describe()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(low: int | None = None) -> Check:
    """An int (not a bool) of at least ``low``."""
    return Check(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low),
        "an integer" + (f" >= {low}" if low is not None else ""),
    )


def number(low: float, low_open: bool = False, high: float | None = None,
           high_open: bool = False) -> Check:
    """A finite int or float in the interval given (closed unless ``*_open``)."""

    def test(v: Any) -> bool:
        if not _is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    left = "(" if low_open else "["
    right = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
    return Check(test, f"a number in {left}{low}, {right}")


def each(check: Check) -> Check:
    """``check``'s value, or a list of such values (RecBole has per-layer lists of some keys)."""
    return Check(
        lambda v: check.test(v) or (isinstance(v, (list, tuple)) and all(map(check.test, v))),
        f"{check.allowed} (or a list of them)",
    )


def module_constant(module: str, constant: str) -> tuple[Any, ...]:
    """The literal tuple ``module.constant``: from the module if it is imported, else read from
    its source (importing a model module loads torch, ~2 s, which a config error need not wait
    for)."""
    if module in sys.modules:
        return tuple(getattr(sys.modules[module], constant))
    from recbole_llmkg.model_names import parse_python

    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # a sub-module's spec would import its packages
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for node in parse_python(path).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == constant):
            return tuple(ast.literal_eval(node.value))
    return tuple(getattr(importlib.import_module(module), constant))  # not a literal


def choice_of(module: str, constant: str) -> Check:
    """One of the values of the tuple ``module.constant``: the code that interprets a key keeps
    the one list of its options; read only when a config is checked."""

    def values() -> tuple[str, ...]:
        return module_constant(module, constant)

    return Check(lambda v: v in values(), lambda: "one of " + ", ".join(values()),
                 (module, constant))


def optional(check: Check) -> Check:
    """``check``'s value, or None (``~`` in YAML)."""
    return Check(lambda v: v is None or check.test(v), f"{check.allowed}, or ~ (none)")


BOOLEAN = Check(lambda v: isinstance(v, bool), "true or false")
TEXT = Check(lambda v: isinstance(v, str), "a string")
POSITIVE_INT = integer(1)
NON_NEGATIVE = number(0)
PROBABILITY = each(number(0, high=1, high_open=True))


@dataclass(frozen=True)
class Rule:
    """``check`` applies to every key matching one of ``keys``; to ``models`` only, if given,
    and never to ``except_models`` (whose own rule follows)."""

    keys: tuple[str, ...]
    check: Check
    models: tuple[str, ...] = ()
    except_models: tuple[str, ...] = ()


_TEXT_LAYERS = "recbole_llmkg.model.layers.text"
_KG_LOSS = "recbole_llmkg.model.layers.kg_loss"
_LLMAUGREC = "recbole_llmkg.model.general_recommender.llmaugrec"
_KGLLMGNN = "recbole_llmkg.model.knowledge_aware_recommender.kgllmgnn"
_KASIMCF = "recbole_llmkg.model.general_recommender.kasimcf"

RULES: tuple[Rule, ...] = (
    # Training and evaluation (RecBole's keys)
    Rule(("learning_rate",), number(0, low_open=True)),
    Rule(("epochs", "stopping_step"), POSITIVE_INT),
    Rule(("train_batch_size", "eval_batch_size"), POSITIVE_INT),
    Rule(("seed",), integer()),
    Rule(("topk",), each(POSITIVE_INT)),
    Rule(("weight_decay", "reg_weight", "reg_weights"), each(NON_NEGATIVE)),
    # Model sizes and regularisation, shared by many models
    Rule(("embedding_size", "*_embedding_size"), POSITIVE_INT),
    Rule(("n_layers",), POSITIVE_INT, except_models=("LLMAugRec",)),
    Rule(("n_layers",), integer(0), models=("LLMAugRec",)),  # 0: no graph smoothing
    Rule(("*dropout*", "drop_ratio"), PROBABILITY),
    # Text and language model (the plugin's dataset classes)
    Rule(("llm_alpha",), NON_NEGATIVE),
    Rule(("llm_pooling",), choice_of("recbole_llmkg.llm.encoder", "POOLINGS")),
    Rule(("llm_max_length", "llm_batch_size"), POSITIVE_INT),
    Rule(("llm_normalize", "llm_freeze", "ckg_reverse_edges"), BOOLEAN),
    Rule(("llm_model_path",), optional(TEXT)),
    Rule(("llm_devices",), Check(
        lambda v: v is None or isinstance(v, str) and bool(v)
        or isinstance(v, list) and bool(v) and all(isinstance(d, str) and d for d in v),
        "~ (the run's device), all (every visible CUDA GPU), or a list of devices such as "
        "[cuda:0, cuda:1]")),
    Rule(("llm_cache_dir",), Check(lambda v: v is None or v is False or isinstance(v, str),
                                   "a folder, false (no cache) or ~ (the default folder)")),
    Rule(("item_text_template", "user_text_template", "item_title_field"), optional(TEXT)),
    Rule(("user_history_template", "text_placeholder"), TEXT),
    Rule(("item_text_view",), choice_of("recbole_llmkg.data.text", "ITEM_TEXT_VIEWS")),
    Rule(("user_text_view",), choice_of("recbole_llmkg.data.text", "USER_TEXT_VIEWS")),
    Rule(("llm_long_text",), choice_of("recbole_llmkg.llm.encoder", "LONG_TEXT_MODES")),
    Rule(("knowledge_dir", "kg_link_file"), optional(TEXT)),
    Rule(("knowledge_combined_template",), TEXT),
    Rule(("user_history_len",), integer(0)),
    Rule(("llm_finetune_items",), POSITIVE_INT),
    # Plugin models
    Rule(("fusion",), choice_of(_TEXT_LAYERS, "FUSION_MODES")),
    Rule(("adapter_hidden_size", "text_rank"), integer(0)),
    Rule(("user_text",), choice_of(_LLMAUGREC, "USER_TEXT_SOURCES")),
    Rule(("use_bias", "attention", "reverse_edges", "relation_text_init", "item_ids",
           "use_kg"), BOOLEAN),
    Rule(("loss_type",), choice_of(_LLMAUGREC, "LOSS_TYPES"), models=("LLMAugRec",)),
    Rule(("kg_loss",), choice_of(_KG_LOSS, "KG_LOSSES")),
    Rule(("kg_loss_weight",), NON_NEGATIVE),
    Rule(("kg_training",), choice_of(_KGLLMGNN, "KG_TRAINING_MODES")),
    Rule(("sim_mode",), choice_of(_KASIMCF, "SIM_MODES")),
    Rule(("behaviour_weight", "text_weight", "knowledge_weight", "shrink", "pop_reg_weight"),
         NON_NEGATIVE),
    Rule(("knn_topk", "chunk_size"), POSITIVE_INT),
)

# A package a RecBole model imports inside a method that runs only under some settings.
LAZY_IMPORT_NEEDED_WHEN: dict[tuple[str, str], Callable[[Mapping[str, Any]], bool]] = {
    ("NNCF", "networkx"): lambda c: c.get("neigh_info_method") == "louvain",
    ("NNCF", "community"): lambda c: c.get("neigh_info_method") == "louvain",
    ("LDiffRec", "kmeans_pytorch"): lambda c: _is_number(c.get("n_cate")) and c["n_cate"] > 1,
}

# Dataset files a model reads only when a key switches a view on: model -> (key, on?, suffixes).
FILES_NEEDED_WHEN: dict[str, tuple[str, Callable[[Any], bool], tuple[str, ...]]] = {
    "KASimCF": ("knowledge_weight", lambda v: _is_number(v) and v > 0, ("kg", "link")),
}


def _lineage_names(model_class: type) -> set[str]:
    return {cls.__name__ for cls in model_class.__mro__}


def rule_matches(rule: Rule, key: str, lineage: set[str]) -> bool:
    """Whether ``rule`` applies to ``key`` for a model whose class names are ``lineage``."""
    return (any(fnmatch.fnmatchcase(key, pattern) for pattern in rule.keys)
            and (not rule.models or bool(lineage & set(rule.models)))
            and not lineage & set(rule.except_models))


def rules_for(key: str, model_class: type) -> list[Rule]:
    """The rules that apply to ``key`` for ``model_class``."""
    lineage = _lineage_names(model_class)
    return [rule for rule in RULES if rule_matches(rule, key, lineage)]


def check_values(config: Mapping[str, Any], model_class: type,
                 origins: Mapping[str, str] | None = None) -> None:
    """Raise a :class:`ConfigError` naming the first key whose value its rule refuses."""
    origins = origins or {}
    for key, value in config.items():
        for rule in rules_for(key, model_class):
            if not rule.check.test(value):
                where = origins.get(key, "defaults")
                raise ConfigError(
                    f"Config key '{key}' = {value!r} ({where}) is not allowed: it must be "
                    f"{rule.check.allowed}. Fix it in your YAML file or with --{key}=..."
                )


def check_packages(config: Mapping[str, Any], model_class: type) -> None:
    """Packages the model's code imports inside methods that will run must be installed.

    A method a subclass overrides does not run (the plugin's KGAT replaces the methods of
    RecBole's KGAT that import DGL), so its imports are not needed.
    """
    from recbole.model.abstract_recommender import AbstractRecommender

    for cls in model_class.__mro__:
        if not issubclass(cls, AbstractRecommender):
            continue
        source = inspect.getsourcefile(cls)
        if not source or not source.endswith(".py"):
            continue
        for function, packages in optional_packages.file_imports(source).in_functions.items():
            owner, _, method = function.partition(".")
            if method:
                if owner != cls.__name__:
                    continue
                name = method.split(".")[0]
                if inspect.getattr_static(model_class, name, None) is not cls.__dict__.get(name):
                    continue  # overridden below ``cls``
            for package in packages:
                needed_when = LAZY_IMPORT_NEEDED_WHEN.get((cls.__name__, package))
                if needed_when is None or needed_when(config):
                    optional_packages.require(model_class.__name__, [package])


def check_files(config: Mapping[str, Any], model_class: type, dataset_folder: Path,
                dataset: str) -> None:
    """A view switched on by a key needs its dataset files: a ConfigError naming both."""
    for name in _lineage_names(model_class) & set(FILES_NEEDED_WHEN):
        key, switched_on, suffixes = FILES_NEEDED_WHEN[name]
        if not switched_on(config.get(key)):
            continue
        for suffix in suffixes:
            path = dataset_folder / f"{dataset}.{suffix}"
            if not path.is_file():
                raise ConfigError(
                    f"Config key '{key}' = {config.get(key)!r} switches the knowledge view on, "
                    f"which needs '{path}' (not found). Add the file, or set {key}: 0."
                )


def check_encoder_folder(config: Mapping[str, Any]) -> None:
    """``llm_model_path``, when set, must hold a ``config.json`` that parses as a JSON object."""
    from recbole_llmkg.data.settings import resolve_model_path

    value = config.get("llm_model_path")
    if value in (None, ""):
        return
    folder = Path(resolve_model_path(str(value)))
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"Config key 'llm_model_path' = '{value}': '{config_file}' not found. Point it at a "
            "local Hugging Face model folder (config.json, weights, tokenizer files), or to "
            "'bag-of-words' (the shipped bag-of-words encoder)."
        )
    try:
        parsed = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(
            f"Config key 'llm_model_path' = '{value}': '{config_file}' is not valid JSON "
            f"({error}). Restore the file from the model's original folder."
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(
            f"Config key 'llm_model_path' = '{value}': '{config_file}' must hold a JSON object."
        )
