"""Fixtures: real Radicale servers, and the database backends to run them on.

Database tests run on SQLite always and on PostgreSQL when ``TRACKS_TEST_DATABASE_URL``
points to a server (each test gets a fresh database there, dropped afterwards).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import PLUGIN, RadicaleServer, postgres_admin_url  # noqa: E402

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@contextlib.contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A database URL for the plugin: a SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield "sqlite:///%s" % (folder / "tracks.sqlite3")
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
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            connection.execute(text('DROP DATABASE IF EXISTS "%s"' % name))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


ServerFactory = Callable[..., RadicaleServer]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start Radicale servers in subprocesses; all are stopped after the test."""
    started: list[RadicaleServer] = []

    def factory(name: str = "server", storage_type: str = PLUGIN,
                folder: Path | None = None, start: bool = True,
                **storage_options: str) -> RadicaleServer:
        server = RadicaleServer(tmp_path / name, storage_type=storage_type,
                                storage_options=dict(storage_options), folder=folder)
        started.append(server)
        return server.start() if start else server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def plugin_server(make_server: ServerFactory, database_url: str) -> RadicaleServer:
    return make_server("plugin", database_url=database_url, domain="example.org")
