"""Model names without importing torch or RecBole, so ``--list-models`` answers at once.

Plugin models are read from the source of the model sub-packages with :mod:`ast` (a public class
whose base is a RecBole ``*Recommender``, a RecBole model, or another plugin model, the rule
:func:`recbole_llmkg.registry.plugin_models` applies to the imported classes); RecBole's by
reading its model files the way its ``get_model`` resolves names.
"""

from __future__ import annotations

import ast
import re
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

MODEL_SUBPACKAGES = ("general_recommender", "knowledge_aware_recommender")
_MODEL_DIR = Path(__file__).resolve().parent / "model"


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def parse_python(path: str | Path) -> ast.Module:
    """``ast.parse`` of a source file, run in a fresh thread: CPython 3.11 can raise a spurious
    ``SystemError: AST constructor recursion depth mismatch`` when earlier code left the calling
    thread's recursion counter off (seen in the test suite); a new thread starts clean."""
    source = Path(path).read_text(encoding="utf-8")
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, source, str(path)).result()


# RecBole's model sub-packages, in the order ``recbole.utils.get_model`` searches them.
RECBOLE_MODEL_SUBPACKAGES = (
    "general_recommender",
    "context_aware_recommender",
    "sequential_recommender",
    "knowledge_aware_recommender",
    "exlib_recommender",
)


@cache
def recbole_model_files() -> dict[str, Path]:
    """RecBole's built-in model classes by name, each with the file that defines it.

    The names RecBole's ``get_model`` resolves: a class whose lower-cased name is its module's
    name, in the first model sub-package holding that module (``Random`` has no YAML file of
    defaults; ``LightGBM`` lives in ``lightgbm.py``). Found by reading the files, so nothing is
    imported (importing ``exlib_recommender`` needs lightgbm and xgboost).
    """
    from recbole_llmkg.paths import recbole_dir

    package = recbole_dir()
    if package is None:
        return {}
    root = package / "model"
    found: dict[str, Path] = {}
    for sub in RECBOLE_MODEL_SUBPACKAGES:
        for path in sorted((root / sub).glob("*.py")):
            if path.stem.startswith("_") or any(p.stem == path.stem for p in found.values()):
                continue
            text = path.read_text(encoding="utf-8")
            for name in re.findall(r"^class (\w+)\b", text, flags=re.MULTILINE):
                if name.lower() == path.stem:
                    found.setdefault(name, path)
    return found


def recbole_model_names() -> tuple[str, ...]:
    """Names of RecBole's built-in models (see :func:`recbole_model_files`)."""
    return tuple(sorted(recbole_model_files()))


@cache
def plugin_model_names() -> tuple[str, ...]:
    """Names of the plugin's model classes, found by parsing (not importing) their modules."""
    known = set(recbole_model_names())
    classes: list[tuple[str, list[str]]] = []
    for sub in MODEL_SUBPACKAGES:
        for path in sorted((_MODEL_DIR / sub).glob("*.py")):
            tree = parse_python(path)
            classes += [
                (node.name, [_base_name(b) for b in node.bases])
                for node in tree.body
                if isinstance(node, ast.ClassDef)
            ]
    found: set[str] = set()
    changed = True
    while changed:  # a plugin model may subclass another (possibly private) plugin class
        changed = False
        for name, bases in classes:
            if name not in found and any(
                b.endswith("Recommender") or b in known or b in found for b in bases
            ):
                found.add(name)
                changed = True
    return tuple(sorted(name for name in found if not name.startswith("_")))


def close_names(name: str, names: list[str]) -> list[str]:
    """The model names a mistyped ``name`` most likely meant (spelling, then letter case)."""
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return close + [n for n in names if n.lower() == name.lower() and n not in close]
