"""One database transaction per storage write, shared by everything that write causes.

A PUT that invites the assistant changes the index (organizer's object and the track
copy), the tracks tables and the outbox. :meth:`Database.begin` opens a transaction, or
joins the one already open on this thread, so all of that commits or rolls back together
(the outbox rows are written only if the change that caused them is). Radicale serves
each request on its own thread and writes under its storage-wide lock, so a thread-local
"current transaction" is exactly one write's scope.

Files the transaction changes under Radicale's write lock are journaled
(:mod:`radicale_tracks.db.journal`, through :meth:`Database.changing`): the commit decides
for rows and files together, a rollback restores the files, and a journal a killed
process left behind is finished by :meth:`Database.recover`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select

from radicale_tracks.db import journal as journals
from radicale_tracks.db.journal import Journal, JournalFolder, write_journal

logger = logging.getLogger("radicale.tracks.db")


def on_rollback(connection: Connection, undo: Callable[[], None]) -> None:
    """Run ``undo`` if the transaction open on ``connection`` rolls back.

    The database forgets a failed write's rows and the journal puts its files back;
    what the process remembers about them (the storage's cache of principals whose
    inbox exists) registers here to be forgotten too.
    """
    def _undo(_connection: Connection) -> None:
        try:
            undo()
        except Exception:
            logger.exception("Could not undo a file-system change after a rollback")

    event.listen(connection, "rollback", _undo, once=True)


@dataclass(frozen=True)
class Recovery:
    """What finishing the journals left by killed processes did."""

    committed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    #: folders whose files were put back (their index is re-synced)
    folders: set[str] = field(default_factory=set)


class Database:
    """An engine plus the transaction the current thread has open, if any.

    ``journals``: where the transactions' file changes are journaled (the storage's);
    None for a database without files (admin commands on the outbox, tests).
    """

    def __init__(self, engine: Engine, journals: JournalFolder | None = None) -> None:
        self.engine = engine
        self.journals = journals
        #: this thread's hold of the storage's write lock (a new object per hold, None
        #: outside it), set by the storage; None: no lock to check (tests, no files)
        self.write_hold: Callable[[], object | None] | None = None
        self._local = threading.local()
        #: txids of committed writes whose journal file is gone: their rows are deleted
        #: by the next journaled transaction (no extra commit per write)
        self._finished: list[str] = []
        self._finished_lock = threading.Lock()

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "connection", None) is not None

    @property
    def journal_open(self) -> bool:
        """Whether this thread's transaction has changed files (and not ended yet)."""
        return getattr(self._local, "journal", None) is not None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: the thread's open one, or a new one committed on exit."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            yield current
            return
        body_done = False
        self._local.hold = self.write_hold() if self.write_hold is not None else None
        try:
            with self.engine.begin() as connection:
                self._local.connection = connection
                try:
                    yield connection
                    body_done = True
                finally:
                    self._local.connection = None
        except BaseException:
            # the body failed: rolled back; the commit failed: ask the database
            self._settle(committed=None if body_done else False)
            raise
        self._settle(committed=True)

    def hold_cache(self) -> dict[Any, Any] | None:
        """Rows read in this lock hold, for its later reads (the database item store's
        collection and object rows: a PUT reads them several times). None inside a
        transaction — it reads its own writes — and outside a hold; the item store
        clears it with each write."""
        if getattr(self._local, "connection", None) is not None:
            return None
        cache: dict[Any, Any] | None = getattr(self._local, "cache", None)
        return cache

    def forget_reads(self) -> None:
        cache = getattr(self._local, "cache", None)
        if cache:
            cache.clear()

    @contextmanager
    def reading(self) -> Iterator[Connection | None]:
        """One connection for the reads of a lock hold (:meth:`connect` outside a
        transaction) where each statement sees what is committed at that moment — a
        write committed by this thread on another connection too: PostgreSQL's READ
        COMMITTED (a transaction, which its streamed results need), SQLite in
        autocommit (its transactions read one snapshot). A request checks out and pings
        once instead of once per read. Writes never use it (:meth:`begin` opens its own
        transaction). Yields it (None when this thread already has one)."""
        if getattr(self._local, "reader", None) is not None:
            yield None
            return
        with self.engine.connect() as opened:
            connection = (opened.execution_options(isolation_level="AUTOCOMMIT")
                          if opened.dialect.name == "sqlite" else opened)
            self._local.reader = connection
            self._local.cache = {}
            try:
                yield connection
            finally:
                self._local.reader = None
                self._local.cache = None
            if connection.in_transaction():
                connection.commit()

    # -- the write journal ------------------------------------------------------------

    @contextmanager
    def changing(self, path: str, new_folder: bool = False) -> Iterator[None]:
        """Around one file change (``new_folder``: creating the folder ``path``) made
        under the storage's write lock: journaled when a transaction is open, so that
        the change lives or dies with it. Outside a transaction nothing is recorded:
        such writes (a plain PUT) are one file each, and the index re-syncs from it."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or self.journals is None:
            yield
            return
        journal: Journal | None = getattr(self._local, "journal", None)
        if journal is None:
            self._check_hold()
            journal = self._open_journal(connection)
        if new_folder:
            journal.record_new_folder(path)
        else:
            journal.record_file(path)
        yield
        journal.changed()

    def _check_hold(self) -> None:
        """A transaction that changes files must begin and end within one hold of the
        write lock: whoever takes the lock next finishes any journal it finds as a dead
        process's, and a rollback after the lock was let go would put files back while
        another write changes them. Refused before the first change, nothing to undo."""
        if self.write_hold is None:
            return
        hold = self.write_hold()
        if hold is None or getattr(self._local, "hold", None) is not hold:
            raise RuntimeError("a transaction that changes files must begin inside the "
                               "storage's write lock, and end inside it")

    def abandon(self) -> None:
        """Roll back this thread's transaction now, files included — for the lock that
        ends while a transaction that changed files is still open: the files are put
        back before the lock is let go, and the transaction can no longer commit."""
        connection: Connection | None = getattr(self._local, "connection", None)
        try:
            if connection is not None:
                connection.rollback()
        finally:
            self._settle(committed=False)

    def _open_journal(self, connection: Connection) -> Journal:
        assert self.journals is not None
        journal = self.journals.open()
        self._local.journal = journal
        with self._finished_lock:
            journal.cleared = list(self._finished)
        if journal.cleared:
            connection.execute(delete(write_journal).where(
                write_journal.c.txid.in_(journal.cleared)))
        connection.execute(insert(write_journal).values(txid=journal.txid,
                                                        created_at=int(time.time())))
        return journal

    def _settle(self, committed: bool | None) -> None:
        journal: Journal | None = getattr(self._local, "journal", None)
        if journal is None:
            return
        self._local.journal = None
        assert self.journals is not None
        try:
            if committed is None:
                committed = self._has_row(journal.txid)
            if committed:
                if journals.CRASH_AFTER_COMMIT:
                    journals.crash()
                self.journals.remove(journal.txid)
                with self._finished_lock:
                    self._finished = [t for t in self._finished if t not in journal.cleared]
                    self._finished.append(journal.txid)
            else:
                self.journals.undo(journal.txid)
                self.journals.remove(journal.txid)
        except Exception:
            logger.exception("Write journal %s not finished; the next start-up (or "
                             "'radicale-tracks verify --repair') finishes it", journal.txid)

    def _has_row(self, txid: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(write_journal.c.txid).where(
                write_journal.c.txid == txid)).first() is not None

    def has_journal_rows(self) -> bool:
        """Whether any write's journal row is stored (the next start-up's work)."""
        with self.engine.connect() as connection:
            return connection.execute(select(write_journal.c.txid).limit(1)
                                      ).first() is not None

    def recover(self) -> Recovery:
        """Finish every journal a killed process left, and delete the rows of the
        committed writes whose journal is gone (after syncing the journal folder: a
        journal back after a power loss without its row would undo a committed write).
        The caller holds Radicale's write lock, so none of them belongs to a write
        still running."""
        if self.journals is None:
            return Recovery()
        leftovers = self.journals.leftovers()
        with self.engine.connect() as connection:
            rows = set(connection.execute(select(write_journal.c.txid)).scalars())
        recovery = Recovery()
        for txid in leftovers:
            if txid in rows:
                recovery.committed.append(txid)
            else:
                recovery.folders.update(self.journals.undo(txid))
                recovery.rolled_back.append(txid)
            self.journals.remove(txid)
        kept = set(self.journals.leftovers())
        if os.path.isdir(self.journals.folder):
            self.journals.sync_folder(self.journals.folder)   # the removals, durably
        with self.engine.begin() as connection:
            stale = [txid for txid in rows if txid not in kept]
            if stale:
                connection.execute(delete(write_journal).where(
                    write_journal.c.txid.in_(stale)))
        with self._finished_lock:
            self._finished = [t for t in self._finished if t in kept]
        return recovery

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading: inside an open transaction, that one (it sees its
        own uncommitted writes)."""
        current: Connection | None = getattr(self._local, "connection", None)
        if current is None:
            current = getattr(self._local, "reader", None)
        if current is not None:
            yield current
            return
        with self.engine.connect() as connection:
            yield connection
