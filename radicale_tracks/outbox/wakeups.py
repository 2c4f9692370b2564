"""Senders woken by PostgreSQL ``LISTEN/NOTIFY`` the moment mail is committed.

A transaction that queues mail issues ``NOTIFY tracks_outbox`` (``outbox/store.py``),
which PostgreSQL delivers at its commit to every session that ``LISTEN``s: so a worker
on another host sends an invitation as soon as the node that wrote it commits, instead
of at its next poll. Polling every ``outbox_poll_interval`` stays as the fallback (a
notification lost while the listener reconnects, rows due later after a backoff) and is
the only way on SQLite.

:class:`OutboxListener` is a thread on a dedicated psycopg connection in autocommit
mode (a pooled connection would be handed to others, and a ``LISTEN`` inside a
transaction only starts at its commit). It reconnects after a lost connection, waking
its sender once it listens again (mail committed while it was away sent no one a
notification it could hear; its sender waits for the first ``LISTEN`` before its first
run, see :attr:`OutboxListener.listening`), and stops within about :data:`CHECK_INTERVAL` seconds
of :meth:`OutboxListener.stop`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from radicale_tracks.outbox.store import CHANNEL

logger = logging.getLogger("radicale.tracks.outbox")

#: Longest time a listener waits for a notification before it looks whether to stop.
CHECK_INTERVAL = 0.5
#: Seconds before the first attempt to connect again after the connection was lost;
#: doubled after each failed attempt, at most :data:`MAX_RECONNECT_DELAY`.
RECONNECT_DELAY = 2.0
MAX_RECONNECT_DELAY = 60.0


def listens(engine: Engine) -> bool:
    """Whether senders on ``engine``'s database can be woken by notifications."""
    return engine.dialect.name == "postgresql"


def connection_arguments(url: URL) -> dict[str, Any]:
    """libpq keywords for psycopg from an SQLAlchemy URL of any PostgreSQL driver
    (``postgresql+psycopg://``, ``postgresql://``): host, port, user, password, dbname
    and the URL's query options (``sslmode``, ``application_name``, …)."""
    arguments: dict[str, Any] = dict(url.translate_connect_args(
        username="user", database="dbname"))
    arguments.update({key: value if isinstance(value, str) else value[-1]
                      for key, value in url.query.items()})
    return arguments


class OutboxListener(threading.Thread):
    """Calls ``on_notify`` for each notification on :data:`CHANNEL` (and once after each
    reconnection) until :meth:`stop`.

    A daemon thread: a process that exits does not wait for it.
    """

    def __init__(self, url: URL, on_notify: Callable[[], None],
                 reconnect_delay: float = RECONNECT_DELAY) -> None:
        super().__init__(name="radicale-tracks-outbox-listener", daemon=True)
        self.arguments = connection_arguments(url)
        self.on_notify = on_notify
        self.reconnect_delay = reconnect_delay
        self._stopping = threading.Event()
        #: set each time the listener has issued LISTEN on a new connection
        self.listening = threading.Event()
        self.connections = 0

    def stop(self, timeout: float | None = 10.0) -> None:
        """End the thread; waits up to ``timeout`` seconds (about :data:`CHECK_INTERVAL`
        when it is listening, the connection attempt's own timeout when it is
        connecting)."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        import psycopg

        delay = self.reconnect_delay
        while not self._stopping.is_set():
            try:
                with psycopg.connect(autocommit=True, connect_timeout=10,
                                     **self.arguments) as connection:
                    connection.execute("LISTEN %s" % CHANNEL)
                    self.connections += 1
                    delay = self.reconnect_delay
                    self.listening.set()
                    logger.debug("outbox listener: listening on %s", CHANNEL)
                    if self.connections > 1:  # what was committed while it was away
                        self.on_notify()
                    while not self._stopping.is_set():
                        for _notification in connection.notifies(timeout=CHECK_INTERVAL):
                            self.on_notify()
            except psycopg.Error as e:
                if self._stopping.is_set():
                    return
                # told once per outage, not every few seconds while it lasts
                log = logger.warning if self.listening.is_set() or not self.connections \
                    else logger.debug
                self.listening.clear()
                log("outbox listener: %s: %s; connecting again in %ss (senders poll "
                    "meanwhile)", type(e).__name__, _first_line(e), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
