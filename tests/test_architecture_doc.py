"""docs/architecture.md stays the map of the code: every module of the package has a row
in its modules table, and every path the document names exists.

A module nobody can find from README → architecture → code is a module the next engineer
rewrites; a row naming a moved file sends them to nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "radicale_tracks"
DOC = (ROOT / "docs" / "architecture.md").read_text()


def modules_table() -> str:
    start = DOC.index("\n## Modules\n")
    return DOC[start:DOC.index("\n## ", start + 1)]


def package_modules() -> list[Path]:
    return sorted(path.relative_to(PACKAGE) for path in PACKAGE.rglob("*.py")
                  if path.name != "__init__.py"
                  and "versions" not in path.relative_to(PACKAGE).parts)


def test_every_module_has_a_row() -> None:
    """Named by its path (`plugin/storage.py`), or by its file name in the row of its
    package (`outbox/` … `sender.py`)."""
    rows = [line for line in modules_table().splitlines() if line.startswith("| `")]
    missing = []
    for module in package_modules():
        path = module.as_posix()
        package = module.parent.as_posix() + "/"
        in_package_row = any(row.startswith("| `%s`" % package) and "`%s`" % module.name in row
                             for row in rows)
        if "`%s`" % path not in modules_table() and not in_package_row:
            missing.append(path)
    assert not missing, "modules without a row in docs/architecture.md: %s" % missing


def test_every_named_path_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", DOC))
    absent = sorted(name for name in named
                    if not (PACKAGE / name).exists() and not (ROOT / name).exists())
    assert not absent, "docs/architecture.md names files that do not exist: %s" % absent
