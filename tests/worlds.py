"""Running servers for end-to-end tests: a server with the plugins, its database and the
mail sink its outbox sends to.

The servers are :class:`inprocess.ThreadedServer`: Radicale with the plugins served by a
thread of the test process, reached over HTTP like a process (``deliver`` and the CLI run
as processes on its config file). The ``world`` and ``inbound`` fixtures of
``conftest.py`` and the modules' own worlds are built here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from caldav_clients import calendars
from databases import fresh_database
from helpers import PLUGIN, USERS, RadicaleServer
from inprocess import ThreadedServer
from mailserver import MailSink

DOMAIN = "example.org"


def server_options(smtp_port: int, database_url: str, **extra: str) -> dict[str, str]:
    """A server that sends its mail to ``smtp_port`` (the assistant's options)."""
    options = {"database_url": database_url, "domain": DOMAIN, "mail_transport": "smtp",
               "smtp_server": "127.0.0.1", "smtp_port": str(smtp_port),
               "outbox_poll_interval": "1", "outbox_retry_base": "1",
               "join_url_template": "https://meet.example.org/{track}"}
    options.update(extra)
    return options


def start_server(workdir: Path, options: dict[str, str]) -> RadicaleServer:
    server = ThreadedServer(workdir, storage_type=PLUGIN, storage_options=options,
                            rights_type="radicale_tracks.rights")
    return server.start()


def web_options(database_url: str, smtp_port: int) -> dict[str, str]:
    """The pages, mail to ``smtp_port``, alice as booking agent and the pool 3rd-floor
    (Atlas, then Borealis)."""
    return {"database_url": database_url, "domain": "example.org",
            "mail_transport": "smtp", "smtp_server": "127.0.0.1",
            "smtp_port": str(smtp_port), "outbox_poll_interval": "1",
            "outbox_retry_base": "1", "default_time_zone": "Europe/Berlin",
            "web_booking_agents": "alice", "inbound_trusted_authserv_ids": "mx.example.org",
            "rooms": "\n    atlas@example.org: name=Atlas; pools=3rd-floor; "
                     "policy=if-free\n"
                     "    borealis@example.org: name=Borealis; pools=3rd-floor; "
                     "policy=if-free; priority=1"}


def web_server(workdir: Path, database_url: str, smtp_port: int) -> RadicaleServer:
    """A started server with the pages (:func:`web_options`)."""
    return ThreadedServer(workdir, storage_options=web_options(database_url, smtp_port),
                          rights_type="radicale_tracks.rights",
                          web_type="radicale_tracks.web").start()


@contextlib.contextmanager
def mail_world(folder: Path, backend: str,
               make: Callable[[Path, str, MailSink], RadicaleServer],
               users: tuple[str, ...] = tuple(USERS)
               ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """A sink, a fresh database on ``backend`` and the server ``make(workdir, database
    URL, sink)`` starts; each of ``users`` has logged in once and has a "Work" calendar.
    The sink settles on that server's outbox. Everything is stopped afterwards."""
    sink = MailSink().start()
    try:
        with fresh_database(backend, folder) as url:
            sink.watch(url)
            server = make(folder / "server", url, sink)
            try:
                for user in users:
                    calendars(server, user)
                yield server, sink
            finally:
                server.stop()
    finally:
        sink.stop()
