"""Vectors: what a transaction made on disk goes when the transaction rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from radicale_tracks.db.session import Database, on_rollback


def test_undo_runs_on_rollback_only(tmp_path: Path) -> None:
    database = Database(create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3")))
    undone: list[str] = []
    with database.begin() as connection:
        connection.execute(text("SELECT 1"))
        on_rollback(connection, lambda: undone.append("committed"))
    assert undone == []
    with pytest.raises(RuntimeError):
        with database.begin() as connection:
            on_rollback(connection, lambda: undone.append("first"))
            with database.begin() as joined:  # the write's inner steps join it
                on_rollback(joined, lambda: undone.append("second"))
            raise RuntimeError("a step failed after the folder was made")
    assert sorted(undone) == ["first", "second"]


def test_a_failing_undo_does_not_hide_the_error(tmp_path: Path) -> None:
    database = Database(create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3")))

    def broken() -> None:
        raise OSError("folder already gone")

    with pytest.raises(KeyError):
        with database.begin() as connection:
            on_rollback(connection, broken)
            raise KeyError("the real error")
