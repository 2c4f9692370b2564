"""Locks per calendar, not per server (``item_store = database`` on PostgreSQL).

Radicale takes one storage-wide lock around every write request. In database mode on
PostgreSQL, a write hold instead locks the calendars it touches: PostgreSQL session
advisory locks on a connection of the hold's own, one key per *lock unit* — the first
two segments of a path (``alice/work``: a calendar, an inbox, a track; ``alice``: the
principal). Writes to different calendars go on at once, on one node and across nodes;
reads take no lock at all (PostgreSQL's snapshots: a read never waits on a write).

Deadlock is excluded by one global order, the keys' numeric order:

- the units a request names (Radicale passes the path and a MOVE's target) and those an
  earlier attempt learnt it needs (``WriteRequest.lock_plan``) are locked first, in
  ascending order, waiting as needed;
- a unit met later (a delivery into bob's inbox, the assistant's track) is waited for
  only when its key is above every key held; below, it is only *tried*: when another
  writer has it, the hold raises :class:`LockOrderRestart` — nothing waits out of order,
  so no cycle of waits can form. Everything the attempt wrote is in its database
  transaction and rolls back; the entry point (the HTTP application, inbound delivery)
  runs the request again with the learnt units locked up front. A write learns each
  unit once, so restarts are few and bounded (:data:`MAX_ATTEMPTS`; the last attempt
  waits in any order and leaves a true deadlock to PostgreSQL's detector).

A killed node's locks go with its connections. SQLite (one node) keeps one write lock
for the whole database, the only one SQLite allows (``Storage`` takes Radicale's).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.plugin.write_request import WriteRequest, active_request, request_scope

logger = logging.getLogger("radicale.tracks.locks")

T = TypeVar("T")

#: attempts of one request before the last one waits for its locks in any order
MAX_ATTEMPTS = 6


class LockOrderRestart(BaseException):
    """A unit below one held is taken by another writer: roll back and start again with
    ``units`` locked first. A ``BaseException``: no ``except Exception`` on the way
    (Radicale's handlers, the scheduling writer's fallback) may swallow it."""

    def __init__(self, units: frozenset[str]) -> None:
        super().__init__("calendar locks needed in order: %s" % ", ".join(sorted(units)))
        self.units = units


def lock_unit(path: str) -> str:
    """The unit a path's writes lock: its first two segments ("" for the root)."""
    return "/".join(path.strip("/").split("/")[:2])


def lock_key(unit: str) -> int:
    """A signed 64-bit advisory-lock key for a unit, the same on every node."""
    digest = hashlib.sha256(b"radicale-tracks:" + unit.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class CalendarLockHold:
    """The calendar locks of one write hold, on a connection of its own."""

    def __init__(self, engine: Engine, last_attempt: bool,
                 connection: Connection | None = None) -> None:
        self.engine = engine
        self.last_attempt = last_attempt
        self.held: dict[int, str] = {}
        #: the hold's reading connection when given (autocommit; not closed here)
        self._shared = connection
        self._connection: Connection | None = connection

    def take(self, units: Iterable[str]) -> None:
        """Lock ``units`` (those not held yet) in key order; see the module docstring for
        when this waits, tries or raises :class:`LockOrderRestart`."""
        wanted = sorted({lock_key(u): u for u in units if lock_key(u) not in self.held}
                        .items())
        for key, unit in wanted:
            connection = self._connect()
            if not self.held or key > max(self.held) or self.last_attempt:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            elif not connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                        {"key": key}).scalar():
                connection.commit()
                raise LockOrderRestart(frozenset(self.held.values()) | {unit})
            self.held[key] = unit
        if wanted and self._connection is not self._shared:
            # session locks outlive the transaction; a connection of the locks' own is
            # not left in one (the hold's reading connection reads next, in the same
            # READ COMMITTED transaction: a COMMIT and a BEGIN fewer per write)
            self._connect().commit()

    def release(self) -> None:
        """Every lock let go; a connection that cannot say so is closed (PostgreSQL
        drops a closed session's locks)."""
        connection, self._connection = self._connection, None
        held, self.held = self.held, {}
        if connection is None or (connection is self._shared and not held):
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
            connection.commit()
            if connection is not self._shared:
                connection.close()
        except SQLAlchemyError:
            logger.warning("Calendar locks not released cleanly; their connection is "
                           "closed instead", exc_info=True)
            connection.invalidate()
            connection.close()

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection


@contextmanager
def calendar_lock_hold(engine: Engine, units: Iterable[str],
                       connection: Connection | None = None) -> Iterator[None]:
    """A write hold's locks: the request's ``units`` and its plan locked at once, the
    rest as the storage meets them (:func:`need`); all released at the end. The
    locks live on ``connection`` when given (the hold's reading one), else on one of
    their own."""
    request = active_request()
    plan = request.lock_plan if request is not None else frozenset()
    attempt = request.attempt if request is not None else 0
    hold = CalendarLockHold(engine, last_attempt=attempt >= MAX_ATTEMPTS - 1,
                            connection=connection)
    try:
        hold.take(set(units) | plan)
        if request is not None:
            request.calendar_locks = hold
        yield
    finally:
        if request is not None:
            request.calendar_locks = None
        hold.release()


def need(paths: Iterable[str]) -> None:
    """The storage is about to read-for-write or write under these paths: their units
    locked in this hold (nothing outside a write hold, or when locks are not per
    calendar)."""
    request = active_request()
    hold = request.calendar_locks if request is not None else None
    if isinstance(hold, CalendarLockHold):
        hold.take(lock_unit(path) for path in paths if path.strip("/"))


def locking() -> bool:
    """Whether this thread is in a write hold that locks per calendar (a row read now
    is read for a write only once its unit is locked: :func:`need` first)."""
    request = active_request()
    return request is not None and isinstance(request.calendar_locks, CalendarLockHold)


def request_units(path: object, to_path: object) -> set[str]:
    """The units a write request names (Radicale's ``path`` and a MOVE's ``to_path``)."""
    return {lock_unit(p) for p in (path, to_path) if isinstance(p, str) and p.strip("/")}


def restarting(run: Callable[[WriteRequest], T],
               before_attempt: Callable[[], None] = lambda: None) -> T:
    """``run`` in a fresh request, again with the learnt units locked up front whenever
    it raises :class:`LockOrderRestart` (at most :data:`MAX_ATTEMPTS`; the last one
    waits in any order, so this ends). ``before_attempt``: what a new attempt needs
    (the request body put back)."""
    plan: frozenset[str] = frozenset()
    for attempt in range(MAX_ATTEMPTS):
        before_attempt()
        with request_scope() as request:
            request.lock_plan, request.attempt = plan, attempt
            try:
                return run(request)
            except LockOrderRestart as restart:
                logger.debug("Write restarted with %s locked first (attempt %d)",
                             ", ".join(sorted(restart.units)), attempt + 1)
                plan = plan | restart.units
    raise AssertionError("the last attempt waits in any order and never restarts")
