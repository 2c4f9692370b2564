"""Imports point inward: the pure core knows nothing of Radicale, SQL or the clock;
services know no adapter; and no module imports itself back through others.

The rings (docs/architecture.md): ``core/`` (pure, with ``errors.py``) ← services
(``tracks/``, ``inbound/``, ``rooms/``, ``bookings/``, ``outbox/``, ``scheduling/``,
``index/``, ``mail/``, ``db/``, ``migrations/``, ``tables.py``), which also use the shared
``settings.py`` ← adapters (``plugin/``, ``web/``, ``commands/``, ``cli.py``,
``wsgi.py`` and the ``storage.py`` / ``rights.py`` modules Radicale loads by name).
Every module must sit in one ring.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from source_trees import parse_files

PACKAGE = Path(__file__).resolve().parent.parent / "radicale_tracks"
NAME = "radicale_tracks"

#: ``errors.py`` is pure (it imports nothing) and the core raises its TracksError
CORE = ("core", "errors")
SHARED = ("settings",)
SERVICES = ("tracks", "inbound", "rooms", "bookings", "outbox", "scheduling", "index",
            "mail", "db", "migrations", "tables")
ADAPTERS = ("plugin", "web", "commands", "cli", "wsgi", "storage", "rights")
FORBIDDEN_IN_CORE = ("radicale", "sqlalchemy", "alembic", "smtplib", "aiosmtpd", "jinja2",
                     "vobject")

def forbidden(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def ours(*parts: str) -> tuple[str, ...]:
    return tuple("%s.%s" % (NAME, part) for part in parts)


FORBIDDEN_CALLS = ("now", "utcnow", "today", "random", "urandom", "token_hex")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


@cache
def trees() -> dict[Path, ast.Module]:
    """Every module's tree, parsed once in a child process (``source_trees``)."""
    return parse_files(sorted(MODULES.values()))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions and TYPE_CHECKING blocks
    too: a circle through a function is still a circle of design). ``from a import b``
    names the module ``a.b`` when that is one of ours."""
    name = module_name(path)
    found = set()
    for node in ast.walk(trees()[path]):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".")
                keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
                module = ".".join(base[:keep] + ([module] if module else []))
            found.add(module)
            found.update("%s.%s" % (module, alias.name) for alias in node.names
                         if "%s.%s" % (module, alias.name) in MODULES)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (a submodule's import runs its
    packages' ``__init__`` too, so those count — except the importer's own packages,
    which Python has entered before the importer runs)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = set()
        for module in imported_modules(path):
            while module and module not in MODULES:
                module = module.rpartition(".")[0]
            while module and module != NAME:
                if module != name and not name.startswith(module + "."):
                    edges.add(module)
                module = module.rpartition(".")[0]
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_module_sits_in_a_ring() -> None:
    rings = ours(*CORE, *SHARED, *SERVICES, *ADAPTERS)
    unplaced = [name for name in MODULES if name != NAME and not forbidden(name, rings)]
    assert not unplaced, "place these in a ring of tests/test_layers.py: %s" % unplaced


def test_core_imports_nothing_outside_core() -> None:
    for name, path in MODULES.items():
        if not forbidden(name, ours(*CORE)):
            continue
        for module in imported_modules(path):
            assert not forbidden(module, FORBIDDEN_IN_CORE), "%s imports %s" % (name, module)
            assert not forbidden(module, (NAME,)) or forbidden(module, ours(*CORE)), (
                "%s imports %s" % (name, module))


def test_services_never_import_adapters() -> None:
    for name, path in MODULES.items():
        if not forbidden(name, ours(*SERVICES, *SHARED)):
            continue
        for module in imported_modules(path):
            assert not forbidden(module, ours(*ADAPTERS)), "%s imports %s" % (name, module)


def test_settings_know_no_service() -> None:
    """Settings hold text and numbers; the services parse what is theirs (the rooms:
    ``rooms.directory.configured_rooms``)."""
    for name in ours(*SHARED):
        for module in imported_modules(MODULES[name]):
            assert not forbidden(module, ours(*SERVICES)), "%s imports %s" % (name, module)


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    """The check above can fail: a circle through a function-level import is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_core_imports_no_adapter_library() -> None:
    for path in (PACKAGE / "core").glob("*.py"):
        for module in imported_modules(path):
            assert not forbidden(module, FORBIDDEN_IN_CORE), "%s imports %s" % (
                path.name, module)


def test_core_reads_no_clock_and_draws_no_randomness() -> None:
    for path in (PACKAGE / "core").glob("*.py"):
        for node in ast.walk(trees()[path]):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
                raise AssertionError("%s uses .%s" % (path.name, node.attr))


def test_services_do_not_import_radicale() -> None:
    """Services reach Radicale only through ports (``index/extract.py`` reads items with
    vobject, as Radicale hands them over)."""
    services = [path for name, path in MODULES.items()
                if forbidden(name, ours(*SERVICES)) and name != NAME + ".index.extract"]
    for path in services:
        for module in imported_modules(path):
            assert not forbidden(module, ("radicale", "vobject")), (path.name, module)


def test_package_type_checks() -> None:
    """``mypy --strict`` over the whole package, as ``make lint`` runs it; no per-module
    override in pyproject.toml may loosen the pure core."""
    import subprocess
    import sys
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    for override in config.get("overrides", []):
        modules = override["module"]
        for module in [modules] if isinstance(modules, str) else modules:
            name = module.removesuffix(".*")  # a pattern covers what is under it
            covers_core = module.endswith(".*") and forbidden(ours("core")[0], (name,))
            assert not (forbidden(name, ours(*CORE)) or covers_core), (
                "%s loosened in pyproject.toml" % module)
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(PACKAGE)],
                            capture_output=True, text=True, timeout=600,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
