"""Model names without importing torch or RecBole, so ``--list-models`` answers at once.

Plugin models are read from the source of the model sub-packages with :mod:`ast` (a public class
whose base is a RecBole ``*Recommender``, a RecBole model, or another plugin model, the rule
:func:`recbole_llmkg.utils.plugin_models` applies to the imported classes); RecBole's from its
bundled ``properties/model/*.yaml`` defaults.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

MODEL_SUBPACKAGES = ("general_recommender", "knowledge_aware_recommender")
_MODEL_DIR = Path(__file__).resolve().parent / "model"


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


@cache
def recbole_model_names() -> tuple[str, ...]:
    """Names of RecBole's built-in models, read from its bundled per-model YAML defaults."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return ()
    folder = Path(next(iter(spec.submodule_search_locations))) / "properties" / "model"
    return tuple(sorted(p.stem for p in folder.glob("*.yaml")))


@cache
def plugin_model_names() -> tuple[str, ...]:
    """Names of the plugin's model classes, found by parsing (not importing) their modules."""
    known = set(recbole_model_names())
    classes: list[tuple[str, list[str]]] = []
    for sub in MODEL_SUBPACKAGES:
        for path in sorted((_MODEL_DIR / sub).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
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
