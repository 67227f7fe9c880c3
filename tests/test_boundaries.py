"""The house rules that keep a provider one folder, checked on the source tree itself:

* SQL lives only in the storage modules (``store/``, each provider's ``store.py`` and its
  migrations);
* the core packages name no provider — only the registration list does;
* the import graph of ``src/`` has no circle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paysandbox.providers import REGISTERED

SRC = Path(__file__).resolve().parents[1] / "src" / "paysandbox"
#: The core: everything but the providers' folders and the client tools (ctl.py, testing.py and
#: the pytest plugin, which drive provider routes from outside the server, by name).
CORE = [
    "store",
    "security",
    "observe",
    "dashboard",
    "paths.py",
    "startup.py",
    "workers.py",
    "settings.py",
    "config.py",
    "cli.py",
    "control",
    "dashboard",
    "delivery",
    "core",
    "app.py",
    "plugin.py",
    "edge.py",
    "web.py",
    "openapi.py",
    "logs.py",
    "validation.py",
]
SQL = re.compile(
    r"\b(SELECT\s+[\w*(].*\bFROM\b|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE)",
    re.S,
)


def _py_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _is_storage(path: Path) -> bool:
    rel = path.relative_to(SRC)
    return rel.parts[0] == "store" or path.name == "store.py" or "migrations" in rel.parts


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            found.append((node.lineno, text))
    return found


def test_sql_lives_only_in_storage_modules() -> None:
    offenders = [
        f"{p.relative_to(SRC)}:{line}: {text[:60]!r}"
        for p in _py_files()
        if not _is_storage(p)
        for line, text in _strings(p)
        if SQL.search(text)
    ]
    assert offenders == []


def test_the_guard_sees_sql() -> None:
    """The check above can fail: it finds the SQL of a storage module."""
    store = SRC / "providers" / REGISTERED[0].name / "store.py"
    assert any(SQL.search(text) for _, text in _strings(store))


def test_core_packages_name_no_provider() -> None:
    words = {w.lower() for p in REGISTERED for w in (p.name, p.title)}
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words)), re.I)
    offenders = []
    for entry in CORE:
        for path in (
            sorted((SRC / entry).rglob("*.py")) if (SRC / entry).is_dir() else [SRC / entry]
        ):
            for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            root = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            if node.level and not node.module:
                root = base
            targets = [root] + [f"{root}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != me:
                out.add(t)
    return out


def test_the_import_graph_has_no_circle() -> None:
    files = _py_files()
    modules = {_module(p) for p in files}
    graph = {_module(p): _imports(p, modules) for p in files}
    # a package's __init__ importing its own submodules is not a circle of the design
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not d.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
