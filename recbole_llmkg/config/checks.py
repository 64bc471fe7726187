"""Allowed values of config keys, checked when the Config is built (before any data is read).

Where a rule lives: a key that many models share (RecBole's training keys, sizes, dropouts, the
text and language-model keys of the plugin's dataset classes and text layers, the kNN keys of
the similarity models) has its rule in one table here, :data:`RULES`. A key one model owns has
its rule beside its default, in the model's YAML under :data:`RULES_KEY`::

    pop_penalty: 0.1
    value_rules:
      pop_penalty: number >= 0

Why the YAML, not a class attribute: the YAML already holds the key's default, so default and
rule sit together; it is read without importing the model's module (torch, ~2 s), so the
start-up check (:mod:`.preflight`) judges a plugin, RecBole or out-of-tree model alike (an
out-of-tree model keeps ``<Class>.yaml`` beside its module); and a subclass's YAML inherits its
parents' as its defaults do. The model's rule for a key wins over the table's (LLMAugRec allows
``n_layers: 0``). Choices that code interprets are named by their constant
(``one of package.module:CONSTANT``) so their list is written once, in the code. A test checks
that every default in RecBole's and the plugin's YAML files passes its rule.

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
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbole_llmkg import registry
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
    from recbole_llmkg.registry import parse_python

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
    """``check`` applies to every key matching one of ``keys`` (shell-style patterns)."""

    keys: tuple[str, ...]
    check: Check


_TEXT_LAYERS = "recbole_llmkg.model.layers.text"
_KG_LOSS = "recbole_llmkg.model.layers.kg_loss"

# Keys many models share. A key one model owns: its rule is in that model's YAML.
RULES: tuple[Rule, ...] = (
    # Training and evaluation (RecBole's keys)
    Rule(("learning_rate",), number(0, low_open=True)),
    Rule(("epochs", "stopping_step"), POSITIVE_INT),
    Rule(("train_batch_size", "eval_batch_size"), POSITIVE_INT),
    Rule(("seed",), integer()),
    Rule(("log_root",), optional(TEXT)),
    Rule(("topk",), each(POSITIVE_INT)),
    Rule(("weight_decay", "reg_weight", "reg_weights"), each(NON_NEGATIVE)),
    # Model sizes and regularisation, shared by many models
    Rule(("embedding_size", "*_embedding_size"), POSITIVE_INT),
    Rule(("n_layers",), POSITIVE_INT),
    Rule(("*dropout*", "drop_ratio"), PROBABILITY),
    # Text and language model (the plugin's dataset classes)
    Rule(("llm_alpha",), NON_NEGATIVE),
    Rule(("llm_pooling",), choice_of("recbole_llmkg.llm.encoder", "POOLINGS")),
    Rule(("llm_max_length", "llm_batch_size"), POSITIVE_INT),
    Rule(("llm_normalize", "ckg_reverse_edges"), BOOLEAN),
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
    # graph models' sampled training (KGLLMGNN, LLMAugRec)
    Rule(("train_sampling",), choice_of("recbole_llmkg.model.layers.sampling",
                                        "TRAIN_SAMPLING_MODES")),
    Rule(("train_fanouts",), each(integer(-1))),
    Rule(("user_history_len",), integer(0)),
    # Text layers (TextFeaturesMixin: every model that fuses IDs with text)
    Rule(("fusion",), choice_of(_TEXT_LAYERS, "FUSION_MODES")),
    Rule(("adapter_hidden_size", "text_rank"), integer(0)),
    Rule(("item_ids",), BOOLEAN),
    # Knowledge-graph losses and similarity models (several models read them)
    Rule(("kg_loss",), choice_of(_KG_LOSS, "KG_LOSSES")),
    Rule(("kg_loss_weight",), NON_NEGATIVE),
    Rule(("shrink",), NON_NEGATIVE),
    Rule(("knn_topk", "chunk_size"), POSITIVE_INT),
)

# The key of a model's YAML that holds the rules of its own keys (never a config key itself).
RULES_KEY = "value_rules"

_BOUND = re.compile(r"(number|integer)(?:\s*(>=|>)\s*(-?[\d.eE+-]+))?")
_INTERVAL = re.compile(r"number in ([\[(])\s*(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+|inf)\s*([\])])")
_CHOICE = re.compile(r"one of (.+)")


def _literal_number(text: str) -> int | float:
    """``"1"`` -> 1, ``"0.5"`` -> 0.5 (an int stays an int in messages)."""
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def parse_rule(spec: str) -> Check:
    """A rule written in a model's YAML, as a :class:`Check`; ValueError if it is not one of:

    ``boolean``; ``string``; ``integer``, ``integer >= 1``; ``number >= 0``, ``number > 0``,
    ``number in [0, 1)``; ``one of a, b, c``; ``one of package.module:CONSTANT`` (a tuple in the
    code); each optionally followed by ``or a list`` and then ``or ~`` (none).
    """
    text = str(spec).strip()
    optional_value = text.endswith(" or ~")
    text = text.removesuffix(" or ~").strip()
    listed = text.endswith(" or a list")
    text = text.removesuffix(" or a list").strip()
    check: Check
    if text == "boolean":
        check = BOOLEAN
    elif text == "string":
        check = TEXT
    elif match := _INTERVAL.fullmatch(text):
        left, low, high, right = match.groups()
        check = number(_literal_number(low), left == "(",
                       None if high == "inf" else _literal_number(high), right == ")")
    elif match := _BOUND.fullmatch(text):
        kind, op, bound = match.groups()
        if kind == "integer":
            low = None if bound is None else int(float(bound)) + (op == ">")
            check = integer(low)
        elif bound is None:
            check = Check(_is_number, "a number")
        else:
            check = number(_literal_number(bound), low_open=op == ">")
    elif match := _CHOICE.fullmatch(text):
        body = match.group(1).strip()
        if ":" in body and "," not in body:
            module, _, constant = body.partition(":")
            check = choice_of(module.strip(), constant.strip())
        else:
            values = tuple(v.strip() for v in body.split(","))
            check = Check(lambda v, values=values: v in values, "one of " + ", ".join(values))
    else:
        raise ValueError(f"'{spec}' is not a rule (see recbole_llmkg.config.checks.parse_rule)")
    if listed:
        check = each(check)
    return optional(check) if optional_value else check


def _read_rules(path: Path) -> dict[str, str]:
    """The ``value_rules`` mapping of one YAML file (empty when it has none)."""
    import yaml

    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Model defaults '{path}' cannot be read ({error}).") from None
    rules = body.get(RULES_KEY, {}) if isinstance(body, dict) else {}
    if not isinstance(rules, dict):
        raise ConfigError(f"'{RULES_KEY}' in '{path}' must map each key to its rule, e.g. "
                          f"'{RULES_KEY}: {{my_key: number >= 0}}'.")
    return {str(key): str(value) for key, value in rules.items()}


def class_yaml_files(source: Path | str | None, name: str) -> list[Path]:
    """The plugin-side YAML files of one model class, lowest first:
    ``properties/model/<Class>.yaml``, and ``<Class>.yaml`` beside its module when the class
    lives outside the plugin (an out-of-tree model keeps its defaults and rules there)."""
    from recbole_llmkg.paths import PACKAGE_DIR, properties_dir

    files = [properties_dir() / "model" / f"{name}.yaml"]
    if source is not None and not Path(source).resolve().is_relative_to(PACKAGE_DIR):
        files.append(Path(source).with_name(f"{name}.yaml"))
    return files


def rule_files(lineage: Iterable[tuple[Path | None, str]]) -> list[Path]:
    """The YAML files that hold defaults (and rules) for a model, nearest class first.

    ``lineage`` is ``(source file, class name)`` of the model and its ancestors, nearest first:
    from the imported class (:func:`class_lineage`) or read from source without importing it
    (:func:`recbole_llmkg.registry.source_lineage`); each class's files are
    :func:`class_yaml_files` (beside its module before the plugin's).
    """
    files = [f for source, name in lineage for f in reversed(class_yaml_files(source, name))]
    return [f for f in dict.fromkeys(files) if f.is_file()]


def class_lineage(model_class: type) -> list[tuple[Path | None, str]]:
    """``(source file, class name)`` of ``model_class`` and its ancestors, nearest first."""
    lineage: list[tuple[Path | None, str]] = []
    for cls in model_class.__mro__:
        try:
            source = inspect.getsourcefile(cls)
        except TypeError:  # a built-in class (object)
            source = None
        lineage.append((Path(source) if source else None, cls.__name__))
    return lineage


def declared_rules(files: Iterable[Path]) -> dict[str, tuple[Check, Path]]:
    """Each key's rule from the models' YAML ``files`` (nearest first: the first one wins),
    with the file that declares it. A rule that does not parse is a ConfigError naming both."""
    declared: dict[str, tuple[Check, Path]] = {}
    for path in files:
        for key, spec in _read_rules(path).items():
            if key in declared:
                continue
            try:
                declared[key] = (parse_rule(spec), path)
            except ValueError as error:
                raise ConfigError(f"'{RULES_KEY}' in '{path}', key '{key}': {error}.") from None
    return declared


def rules_of(model_class: type) -> dict[str, tuple[Check, Path]]:
    """The rules ``model_class`` and its ancestors declare in their YAML files."""
    return declared_rules(rule_files(class_lineage(model_class)))


def rule_for(key: str, declared: Mapping[str, tuple[Check, Path]]) -> Check | None:
    """The check for ``key``: the model's own rule, else the shared table's, else None."""
    if key in declared:
        return declared[key][0]
    return next((rule.check for rule in RULES
                 if any(fnmatch.fnmatchcase(key, pattern) for pattern in rule.keys)), None)


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


def check_values(config: Mapping[str, Any], declared: Mapping[str, tuple[Check, Path]],
                 origins: Mapping[str, str] | None = None) -> None:
    """Raise a :class:`ConfigError` naming the first key whose value its rule refuses
    (``declared``: the model's own rules, :func:`rules_of` or :func:`declared_rules`)."""
    origins = origins or {}
    for key, value in config.items():
        check = rule_for(key, declared)
        if check is not None and not check.test(value):
            where = origins.get(key, "defaults")
            raise ConfigError(
                f"Config key '{key}' = {value!r} ({where}) is not allowed: it must be "
                f"{check.allowed}. Fix it in your YAML file or with --{key}=..."
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
        for function, packages in registry.file_imports(source).in_functions.items():
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
                    registry.require(model_class.__name__, [package])


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


# --------------------------------------------------------------------------- run options
# RecBole's run options that only fail after training (the valid metric is looked up in the
# first validation result) or after the dataset is read (a time order sorts by a field that was
# never loaded): checked with the other values, before any data is read.
_DEFAULT_SPLIT = {"RS": [0.8, 0.1, 0.1]}


def _metric_names(config: Mapping[str, Any]) -> list[str]:
    metrics = config.get("metrics") or []
    return [metrics] if isinstance(metrics, str) else [str(m) for m in metrics]


def _topk_list(config: Mapping[str, Any]) -> list[int]:
    topk = config.get("topk")
    return [topk] if isinstance(topk, int) else list(topk or [])


def _has_cutoff(metric: str) -> bool:
    """Whether RecBole reports ``metric`` per cut-off (``ndcg@10``) rather than as one value
    (``auc``, ``gauc``, ``rmse``): the metrics that read the top-k items."""
    from recbole.evaluator import metrics_dict

    metric_class = metrics_dict.get(metric.lower())
    needs = getattr(metric_class, "metric_need", []) if metric_class else []
    return "rec.topk" in needs or "rec.items" in needs


def check_valid_metric(config: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """``valid_metric`` must be one of the results ``metrics`` x ``topk`` computes.

    RecBole reads it from the first validation result: a ``valid_metric`` that is not computed
    (RecBole's default ``MRR@10`` with ``metrics`` or ``topk`` changed) trains a whole epoch and
    then dies with ``KeyError: 'mrr@10'``.
    """
    valid_metric = config.get("valid_metric")
    if not isinstance(valid_metric, str) or not valid_metric:
        return
    metrics, topk = _metric_names(config), _topk_list(config)
    name, at, cutoff = valid_metric.partition("@")
    lowered = {m.lower(): m for m in metrics}
    where = origins.get("valid_metric", "defaults")
    computed = [f"{m}@{k}" if _has_cutoff(m) else m for m in metrics
                for k in (topk if _has_cutoff(m) else [None])]
    computed = list(dict.fromkeys(computed))
    problem = None
    if name.lower() not in lowered:
        problem = f"'{name}' is not in metrics {metrics}"
    elif _has_cutoff(name) and not at:
        problem = f"'{name}' is reported per cut-off ({name}@k)"
    elif not _has_cutoff(name) and at:
        problem = f"'{name}' has no cut-off"
    elif at and (not cutoff.isdigit() or int(cutoff) not in topk):
        problem = f"cut-off {cutoff} is not in topk {topk}"
    if problem is None:
        return
    computed.sort(key=lambda m: not m.lower().startswith(name.lower()))  # same metric first
    raise ConfigError(
        f"Config key 'valid_metric' = {valid_metric!r} ({where}) is not computed: {problem}, "
        f"so RecBole would fail after the first epoch. Use one of {', '.join(computed)} "
        f"(e.g. --valid_metric={computed[0]}), or add it to 'metrics' / 'topk'."
    )


def check_time_order(config: Mapping[str, Any], dataset_folder: Path, dataset: str) -> None:
    """A time-ordered split (``eval_args`` ``order: TO``, or the ``TS`` split) needs the time
    field in every ``.inter`` file and among the loaded columns; RecBole's own error comes
    after the data is read and prints the whole interaction table."""
    eval_args = config.get("eval_args")
    eval_args = eval_args if isinstance(eval_args, Mapping) else {}
    split = eval_args.get("split") or _DEFAULT_SPLIT
    split_mode = next(iter(split), None) if isinstance(split, Mapping) else None
    order = eval_args.get("order", "RO")
    if order != "TO" and split_mode != "TS":
        return
    why = "eval_args order 'TO' sorts interactions by time" if order == "TO" else \
        "the eval_args split 'TS' splits by time"
    fix_order = "or use order: RO (random order)" if order == "TO" else "or use split RS or LS"
    time_field = config.get("TIME_FIELD")
    if not time_field:
        raise ConfigError(
            f"Config key 'TIME_FIELD' is empty, but {why}. Set TIME_FIELD to the time column of "
            f"the .inter file, {fix_order}."
        )
    parts = config.get("benchmark_filename")
    for suffix in ([f"{p}.inter" for p in parts] if parts else ["inter"]):
        path = dataset_folder / f"{dataset}.{suffix}"
        if not path.is_file():
            continue  # the dataset checks name a missing file
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            header = f.readline().rstrip("\r\n")
        fields = [c.partition(":")[0] for c in header.split(config.get("field_separator") or "\t")]
        if time_field not in fields:
            raise ConfigError(
                f"Config key 'eval_args': {why}, but the time field '{time_field}' "
                f"(TIME_FIELD) is not in '{path}' (fields: {', '.join(fields)}). Add a "
                f"'{time_field}:float' column, set TIME_FIELD to the file's time column, "
                f"{fix_order}."
            )
    unload_col = config.get("unload_col")
    if isinstance(unload_col, Mapping) and time_field in (unload_col.get("inter") or []):
        raise ConfigError(
            f"Config key 'unload_col': {why}, but it leaves the time field '{time_field}' out "
            f"of the .inter file. Remove it from unload_col, {fix_order}."
        )
    load_col = config.get("load_col")
    inter_cols = load_col.get("inter") if isinstance(load_col, Mapping) else None
    if isinstance(load_col, Mapping) and inter_cols != "*" and time_field not in (inter_cols or []):
        wanted = [*(inter_cols or []), time_field]
        raise ConfigError(
            f"Config key 'load_col': {why}, but the time field '{time_field}' is not loaded "
            f"(load_col inter: {inter_cols}). Add it: --load_col=\"{{'inter': {wanted}}}\", "
            f"{fix_order}."
        )


def check_negative_sampling(config: Mapping[str, Any], model_class: type,
                            origins: Mapping[str, str]) -> None:
    """A pairwise model (BPR's loss: one positive against one negative item) needs negative
    sampling; without it RecBole trains until the first batch, then ``KeyError: 'neg_item_id'``."""
    from recbole.utils import InputType

    if getattr(model_class, "input_type", None) != InputType.PAIRWISE:
        return
    if config.get("loss_type") in ("CE", "NLL"):  # a softmax over every item (SINE, SASRec...)
        return  # needs no sampled negative, whatever input_type the class declares
    args = config.get("train_neg_sample_args")
    distribution = args.get("distribution") if isinstance(args, Mapping) else args
    if distribution in (None, "None", "none"):
        where = origins.get("train_neg_sample_args", "defaults")
        raise ConfigError(
            f"Config key 'train_neg_sample_args' ({where}) turns negative sampling off, but "
            f"{model_class.__name__} is a pairwise model: its loss compares each "
            "positive item with a sampled negative one. Set it to e.g. "
            "{distribution: uniform, sample_num: 1}, or pick a model that needs no negatives."
        )


def check_run_options(config: Mapping[str, Any], model_class: type,
                      origins: Mapping[str, str], dataset_folder: Path, dataset: str) -> None:
    """The run options RecBole itself would only refuse after reading data or training."""
    check_valid_metric(config, origins)
    check_negative_sampling(config, model_class, origins)
    check_time_order(config, dataset_folder, dataset)


# --------------------------------------------------------------------------- blame
def layer_origins(final: Mapping[str, Any],
                  layers: Sequence[tuple[str, Mapping[str, Any]]],
                  otherwise: str) -> dict[str, str]:
    """For each key of a merged config ``final``, the name of the last of ``layers`` (lowest
    first) that holds exactly its value; ``otherwise`` when none does (a later layer that is not
    listed, such as the command line)."""
    origins = {}
    for key, value in final.items():
        origins[key] = next((name for name, layer in reversed(layers)
                             if key in layer and layer[key] == value), otherwise)
    return origins


def blamed_key(message: str, keys: Iterable[str]) -> str | None:
    """The config key an error message is about: the one named ``config key 'k'`` (the plugin's
    messages), else the longest key named as a word (RecBole's, e.g. ``... of
    train_neg_sample_args should ...``); None when it names none."""
    named = re.search(r"[Cc]onfig key '([^']+)'", message)
    if named:
        return named.group(1)
    found = [k for k in keys if re.search(rf"(?<![\w]){re.escape(k)}(?![\w])", message)]
    return max(found, key=len) if found else None
