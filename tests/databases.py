"""The database backends tests run on: SQLite always, PostgreSQL when
``TRACKS_TEST_DATABASE_URL`` points to a server (a fresh, uuid-named database per use,
dropped afterwards, so tests never share one, in parallel either)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import postgres_admin_url

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@contextlib.contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A database URL for the plugin: a SQLite file, or a new PostgreSQL database. A
    storage the test made in this process and never closed leaves its outbox sender
    running: it is stopped first, so that it never polls a database that is gone."""
    from radicale_tracks.plugin.scheduling_writes import stop_process_sender

    if backend == "sqlite":
        url = "sqlite:///%s" % (folder / "tracks.sqlite3")
        try:
            yield url
        finally:
            stop_process_sender(url)
        return
    admin_url = postgres_admin_url()
    if not admin_url:
        pytest.skip("TRACKS_TEST_DATABASE_URL is not set")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "tracks_test_%s" % uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('CREATE DATABASE "%s"' % name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        stop_process_sender(url)
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            connection.execute(text('DROP DATABASE IF EXISTS "%s"' % name))
        admin.dispose()
