"""Fixtures shared by the test modules: database backends, real Radicale servers (in
subprocesses, or served in the test process), and the worlds of the end-to-end tests.

Database tests run on SQLite always and on PostgreSQL when ``TRACKS_TEST_DATABASE_URL``
points to a server (``databases.py``: each test gets a fresh database there, dropped
afterwards). The helpers live in modules of their own (``helpers``, ``inprocess``,
``mailserver``, ``worlds``, ``caldav_clients``, ``inbound_mta``); no test module imports
another.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))


from caldav_clients import principal  # noqa: E402
from databases import BACKENDS, fresh_database  # noqa: E402
from helpers import PLUGIN, RadicaleServer  # noqa: E402
from inbound_mta import ALLOWED, AUTHSERV, Inbound  # noqa: E402
from inprocess import ThreadedServer  # noqa: E402
from mailserver import MailSink  # noqa: E402
from worlds import mail_world, server_options, start_server  # noqa: E402


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


ServerFactory = Callable[..., RadicaleServer]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start Radicale servers, served by threads of the test process (stopping one ends
    what a process would end: its socket, its outbox sender) or as processes; all are
    stopped after the test."""
    started: list[RadicaleServer] = []

    def factory(name: str = "server", storage_type: str = PLUGIN,
                folder: Path | None = None, start: bool = True, process: bool = False,
                **storage_options: str) -> RadicaleServer:
        """``process``: a server process of its own (``helpers.RadicaleServer``), for a
        test that must not meet what earlier tests left in this process (icalendar
        keeps every VTIMEZONE it parsed, by TZID)."""
        kind = RadicaleServer if process else ThreadedServer
        server = kind(tmp_path / name, storage_type=storage_type,
                      storage_options=dict(storage_options), folder=folder)
        started.append(server)
        return server.start() if start else server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def plugin_server(make_server: ServerFactory, database_url: str) -> RadicaleServer:
    return make_server("plugin", database_url=database_url, domain="example.org")


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """alice, bob and carol (also carol.c@example.org) scheduling on one server per
    module, mail for people elsewhere to the sink; each test uses its own UIDs."""

    def make(workdir: Path, url: str, sink: MailSink) -> RadicaleServer:
        options = server_options(sink.port, url, addresses="carol: carol.c@example.org")
        del options["join_url_template"]
        return ThreadedServer(workdir, storage_type=PLUGIN, storage_options=options,
                              rights_type="radicale_tracks.rights").start()

    with mail_world(tmp_path_factory.mktemp("scheduling"), request.param, make) as world:
        yield world


@pytest.fixture
def mail(world: tuple[RadicaleServer, MailSink]) -> Iterator[MailSink]:
    """The world's sink, emptied of what earlier tests sent."""
    sink = world[1]
    sink.settle()
    sink.take()
    yield sink


@pytest.fixture(scope="module", params=BACKENDS)
def inbound(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Inbound]:
    """A server that takes invitations from the allowed domains by ``deliver``; alice
    and bob have logged in (users here)."""
    folder = tmp_path_factory.mktemp("inbound-%s" % request.param)
    sink = MailSink().start()
    try:
        with fresh_database(request.param, folder) as url:
            sink.watch(url)
            options = server_options(sink.port, url, inbound_allowed_senders=ALLOWED,
                                     inbound_trusted_authserv_ids=AUTHSERV)
            server = start_server(folder / "server", options)
            try:
                for user in ("alice", "bob"):
                    principal(server, user)  # they have logged in: users here
                yield Inbound(server, sink)
            finally:
                server.stop()
    finally:
        sink.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``TRACKS_TEST_ITEM_STORE=database`` runs the suite on the database item store:
    tests about the files backend itself (``files_only``) have nothing to test there."""
    if os.environ.get("TRACKS_TEST_ITEM_STORE") != "database":
        return
    skip = pytest.mark.skip(reason="about the files item store (TRACKS_TEST_ITEM_STORE)")
    for item in items:
        if item.get_closest_marker("files_only"):
            item.add_marker(skip)
