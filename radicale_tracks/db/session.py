"""One database transaction per storage write, shared by everything that write causes.

A PUT that invites the assistant changes the index (organizer's object and the track
copy), the tracks tables and the outbox. :meth:`Database.begin` opens a transaction, or
joins the one already open on this thread, so all of that commits or rolls back together
(the outbox rows are written only if the change that caused them is). Radicale serves
each request on its own thread and writes under its storage-wide lock, so a thread-local
"current transaction" is exactly one write's scope.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import Connection, Engine, event

logger = logging.getLogger("radicale.tracks.db")


def on_rollback(connection: Connection, undo: Callable[[], None]) -> None:
    """Run ``undo`` if the transaction open on ``connection`` rolls back.

    The database forgets a failed write's rows; the file system does not. Whatever a
    transaction's work creates on disk (a track's calendar folder) registers its undo
    here, so a failure leaves neither rows nor folders behind.
    """
    def _undo(_connection: Connection) -> None:
        try:
            undo()
        except Exception:
            logger.exception("Could not undo a file-system change after a rollback")

    event.listen(connection, "rollback", _undo, once=True)


class Database:
    """An engine plus the transaction the current thread has open, if any."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "connection", None) is not None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: the thread's open one, or a new one committed on exit."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            yield current
            return
        with self.engine.begin() as connection:
            self._local.connection = connection
            try:
                yield connection
            finally:
                self._local.connection = None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading: inside an open transaction, that one (it sees its
        own uncommitted writes)."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            yield current
            return
        with self.engine.connect() as connection:
            yield connection
