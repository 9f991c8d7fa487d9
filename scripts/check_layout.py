#!/usr/bin/env python3
"""The house rules of the code base, measured: import cycles, file and function sizes, and who may import what.

    python scripts/check_layout.py          # prints every finding; exit status 1 when there is one

``tests/test_layout.py`` runs the same checks, so CI holds them at zero. An import counts wherever it
is written (module level, inside a function, under ``TYPE_CHECKING``): an import moved into a function
still ties the two modules together, it only hides the cycle from Python until run time.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
# The layering: infrastructure (the flat modules and these packages) never imports a capability package.
INFRA_PACKAGES = {"data", "models", "jobs"}
COMPOSERS = {"__init__", "__main__", "cli", "bench", "plugins"}  # flat modules that put capabilities together


def modules(package: str = "playground") -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` (a package is its ``__init__``)."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(target: str, known: dict[str, Path]) -> str | None:
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(package: str = "playground") -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (explicitly: ``from . import x`` names x)."""
    known = modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = (
                    ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else (node.module or "")
                )
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
            else:
                continue
            deps |= {t for t in (_resolve(t, known) for t in targets if t.split(".")[0] == package) if t}
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def source_files() -> list[Path]:
    return sorted([*(ROOT / "playground").rglob("*.py"), *(ROOT / "app_pages").glob("*.py")])


def long_files(limit: int = MAX_FILE_LINES) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}: {n} lines" for p in source_files() if (n := len(p.read_text().splitlines())) > limit
    ]


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for p in source_files():
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    return out


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every import statement of a file (relative ones made absolute)."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    base = list(rel[:-1]) if rel[-1] != "__init__" else list(rel[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = (
                ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                if node.level
                else (node.module or "")
            )
            out.append((node.lineno, mod, [a.name for a in node.names]))
    return out


def boundary_violations() -> list[str]:
    """The core never imports Streamlit; pages hold no torch code; no module imports another one's
    private (``_name``) names. (Capabilities out of the infrastructure: ``upward_imports``.)"""
    out = []
    for p in source_files():
        rel = p.relative_to(ROOT)
        for line, mod, names in _imports(p):
            top = mod.split(".")[0]
            if rel.parts[0] == "playground" and top == "streamlit":
                out.append(f"{rel}:{line} imports streamlit (the core must run without it)")
            if rel.parts[0] == "app_pages" and top in ("torch", "torchvision"):
                out.append(f"{rel}:{line} imports {top} (pages call playground, never torch)")
            if top == "playground":  # a package's private modules are for that package alone
                own = ".".join(rel.with_suffix("").parts[:-1])
                private = [n for n in names if n.startswith("_")]
                hidden = any(part.startswith("_") for part in mod.split(".")[1:]) and not mod.startswith(own + ".")
                if private or hidden:
                    out.append(f"{rel}:{line} imports private names from {mod}: {private or mod}")
    return out


def layers(package: str = "playground") -> tuple[set[str], set[str]]:
    """(infrastructure, capabilities): the flat modules but the composers, and the packages ``data``,
    ``models`` and ``jobs``; every other package is a capability (train, inside, style, ...)."""
    flat = {p.stem for p in (ROOT / package).glob("*.py")} - COMPOSERS
    packages = {p.name for p in (ROOT / package).iterdir() if (p / "__init__.py").exists()}
    return flat | (packages & INFRA_PACKAGES), packages - INFRA_PACKAGES


def upward_imports(graph: dict[str, set[str]] | None = None) -> list[str]:
    """The arrows back up the layering: an infrastructure module that imports a capability package (at
    module level, in a function or under TYPE_CHECKING alike), as ``module -> imported module``."""
    graph = import_graph() if graph is None else graph
    infra, capabilities = layers()
    out = []
    for mod, deps in sorted(graph.items()):
        parts = mod.split(".")
        if len(parts) < 2 or parts[1] not in infra:
            continue
        out += [f"{mod} -> {dep}" for dep in sorted(deps) if dep.partition(".")[2].split(".")[0] in capabilities]
    return out


def environment_reads() -> list[str]:
    """``os.environ`` / ``os.getenv`` outside playground/settings.py (every variable goes through settings())."""
    out = []
    for p in source_files():
        if p.relative_to(ROOT).as_posix() == "playground/settings.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr in ("environ", "getenv", "putenv")
            ):
                out.append(f"{p.relative_to(ROOT)}:{node.lineno} reads the environment (use settings())")
    return out


def app_pages() -> list[str]:
    """The pages the app navigates to: the keys of ``PAGES`` in app_pages/frame.py (read, not imported: the
    frame imports Streamlit). Every other module in app_pages/ is a part of a page or shared by several."""
    tree = ast.parse((ROOT / "app_pages" / "frame.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PAGES" for t in node.targets):
            assert isinstance(node.value, ast.Dict)
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    raise SystemExit("app_pages/frame.py has no PAGES table")


def page_names() -> list[str]:
    """A page, its package and its test file share a name: app_pages/<x>.py, playground/<x>/, tests/test_<x>.py."""
    out = []
    for x in app_pages():
        if not (ROOT / "playground" / x / "__init__.py").exists():
            out.append(f"app_pages/{x}.py has no package playground/{x}/")
        if not (ROOT / "tests" / f"test_{x}.py").exists():
            out.append(f"app_pages/{x}.py has no tests/test_{x}.py")
    return out


def findings() -> dict[str, list[str]]:
    return {
        "import cycles": [" -> ".join(c) for c in cycles(import_graph())],
        f"files over {MAX_FILE_LINES} lines": long_files(),
        f"functions over {MAX_FUNCTION_LINES} lines": long_functions(),
        "import boundaries": boundary_violations(),
        "imports back up the layering (infrastructure -> capability)": upward_imports(),
        "environment read outside settings()": environment_reads(),
        "page / package / test names": page_names(),
    }


def main() -> int:
    bad = 0
    for title, items in findings().items():
        print(f"{title}: {len(items)}")
        for item in items:
            print(f"  {item}")
        bad += len(items)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
