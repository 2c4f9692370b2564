"""Python source parsed into ``ast`` trees in a child process, for the tests that read code.

CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread
(CPython gh-106905): an ``ast.parse`` racing with any other thread that compiles — an
in-process test server importing a module for the first time, on a fresh checkout with no
``.pyc`` files — fails with ``SystemError: AST constructor recursion depth mismatch``. The
test process runs servers in threads; the child process runs nothing else. The trees come
back pickled (``ast`` nodes pickle), one child per call.
"""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

_CHILD = """
import ast, pickle, sys
texts = pickle.loads(sys.stdin.buffer.read())
sys.stdout.buffer.write(pickle.dumps([ast.parse(text) for text in texts]))
"""


def parse_texts(texts: list[str]) -> list[ast.Module]:
    """One tree per text, in order."""
    result = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(texts),
                            capture_output=True, check=True, timeout=300)
    trees: list[ast.Module] = pickle.loads(result.stdout)
    return trees


def parse_files(paths: list[Path]) -> dict[Path, ast.Module]:
    """The tree of each file (UTF-8)."""
    return dict(zip(paths, parse_texts([path.read_text(encoding="utf-8") for path in paths]),
                    strict=True))
