"""The run's augmentations for the standalone script, written out from the playground's own code.

The playground augments a batch at a time on the device (``data.augment``), drawing every random number
from the run's generator. For the script to repeat the run's losses it must draw the same numbers in the
same order and compute the same pixels, so it gets the playground's functions themselves: the factory of
each augmentation the run used (its registry decorator dropped), ``Pipeline``, and every module-level
name of ``data/augment_functional.py`` and ``data/augment.py`` those reach, copied verbatim in the
modules' order (the functional layer first). Each step carries its
torchvision counterpart as a comment, for a reader who knows ``transforms.v2``.
"""

from __future__ import annotations

import ast
import inspect
from functools import lru_cache

from ..data import augment as augment_module
from ..data import augment_functional
from ..data.augment import parse_spec
from .emitters import AUGMENT_EMITTERS, emit

__all__ = ["augment_source"]

_REGISTRY = "AUGMENTATIONS"  # the registry's name: decorators naming it are dropped, it is never copied
# Names the copied code takes from outside the module: the line that gives each to the script.
_OUTSIDE = {
    "dataclass": "from dataclasses import dataclass",
    "Any": "from typing import Any",
    "Sequence": "from typing import Sequence",
    "ConfigError": "ConfigError = ValueError  # the playground's error type: a ValueError with a message",
}


_MODULES = (augment_functional, augment_module)  # in the order the script needs them: the functional layer first


@lru_cache(maxsize=1)
def _module() -> tuple[dict[str, list[str]], dict[str, ast.stmt], list[str]]:
    """(top-level name -> its module's lines, top-level name -> its statement, names in source order)."""
    lines: dict[str, list[str]] = {}
    defs: dict[str, ast.stmt] = {}
    for module in _MODULES:
        src = inspect.getsource(module)
        for node in ast.parse(src).body:
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name) and t.id != "__all__"]
            for name in names:
                defs[name], lines[name] = node, src.splitlines()
    return lines, defs, list(defs)


def _kept_decorators(node: ast.stmt) -> list[ast.expr]:
    decorators = getattr(node, "decorator_list", [])
    return [d for d in decorators if _REGISTRY not in {n.id for n in ast.walk(d) if isinstance(n, ast.Name)}]


def _names_used(node: ast.stmt) -> set[str]:
    body = [node] if not hasattr(node, "decorator_list") else [*_kept_decorators(node), *_body(node)]
    return {n.id for part in body for n in ast.walk(part) if isinstance(n, ast.Name)}


def _body(node) -> list[ast.AST]:
    """A def's or class's parts other than its decorators."""
    parts: list[ast.AST] = list(node.body)
    if isinstance(node, ast.FunctionDef):
        parts += [node.args, *([node.returns] if node.returns else [])]
    else:
        parts += node.bases
    return parts


def _closure(roots: set[str]) -> set[str]:
    """Every top-level name of the module that ``roots`` reach (the registry left out)."""
    _, defs, _ = _module()
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen or name == _REGISTRY:
            continue
        seen.add(name)
        todo += [n for n in _names_used(defs[name]) if n in defs and n not in seen]
    return seen


def _segment(name: str, node: ast.stmt) -> str:
    lines = _module()[0][name]
    kept = _kept_decorators(node)
    start = min([d.lineno - 1 for d in kept] + [node.lineno]) if kept else node.lineno  # 1-based def line
    return "\n".join(lines[start - 1 : node.end_lineno])


def augment_source(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The script's ``augment_source`` (the code) and ``augment`` (the ``AUGMENT`` pipeline or None)."""
    if not specs:
        return {"augment_source": "# (no augmentation: the run trained on the images as they are)", "augment": "None"}
    steps = [parse_spec(s) for s in specs]
    names = _closure({name for name, _ in steps} | {"Pipeline"})
    _, defs, order = _module()
    copied: list[str] = []
    for name in order:
        node = defs[name]
        if name in names and (segment := _segment(name, node)) not in copied:
            copied.append(segment)
    outside = [n for n in _OUTSIDE if any(n in _names_used(defs[k]) for k in names)]
    calls = []
    for name, params in steps:
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        counterpart = emit(AUGMENT_EMITTERS, name, dict(params), "augmentation")
        calls.append(f"    {name}({args}),  # torchvision: {counterpart}")
    head = ["\n".join(_OUTSIDE[n] for n in outside)] if outside else []
    return {"augment_source": "\n\n\n".join([*head, *copied]), "augment": "Pipeline([\n" + "\n".join(calls) + "\n])"}
