"""Imports point inward: the pure core knows nothing of Radicale, SQL or the clock."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "radicale_tracks"
FORBIDDEN_IN_CORE = ("radicale", "sqlalchemy", "alembic", "smtplib", "aiosmtpd", "jinja2",
                     "vobject", "radicale_tracks.plugin", "radicale_tracks.index",
                     "radicale_tracks.db", "radicale_tracks.tracks", "radicale_tracks.outbox",
                     "radicale_tracks.mail")


def forbidden(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)
FORBIDDEN_CALLS = ("now", "utcnow", "today", "random", "urandom", "token_hex")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_core_imports_no_adapter_library() -> None:
    for path in (PACKAGE / "core").glob("*.py"):
        for module in imported_modules(path):
            assert not forbidden(module, FORBIDDEN_IN_CORE), "%s imports %s" % (
                path.name, module)


def test_core_reads_no_clock_and_draws_no_randomness() -> None:
    for path in (PACKAGE / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
                raise AssertionError("%s uses .%s" % (path.name, node.attr))


def test_services_do_not_import_radicale() -> None:
    """Index, tracks, outbox, mail and database code reach Radicale only through ports."""
    services = [PACKAGE / "index" / "schema.py", PACKAGE / "index" / "store.py",
                *(PACKAGE / "db").glob("*.py"), *(PACKAGE / "tracks").glob("*.py"),
                *(PACKAGE / "outbox").glob("*.py"), *(PACKAGE / "mail").glob("*.py")]
    for path in services:
        for module in imported_modules(path):
            assert not forbidden(module, ("radicale", "vobject")), (path.name, module)


def test_package_type_checks() -> None:
    """mypy over the package, and --strict over the pure core."""
    import subprocess
    import sys

    for extra in ([str(PACKAGE)], ["--strict", str(PACKAGE / "core")]):
        result = subprocess.run([sys.executable, "-m", "mypy", *extra],
                                capture_output=True, text=True, timeout=600,
                                cwd=PACKAGE.parent)
        assert result.returncode == 0, result.stdout + result.stderr
