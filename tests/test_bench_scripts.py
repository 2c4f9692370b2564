"""The bench scripts are not run by ``make test`` (they take minutes and measure), but each
must still start: an import moved by a refactoring or an import sorter (``bench/common.py``
must put the tests' harness on the path before anything imports from it) would otherwise
be found only by the next person who measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py") if path.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts(script: str) -> None:
    result = subprocess.run([sys.executable, str(BENCH / script), "--help"],
                            capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower(), result.stdout[-500:]
