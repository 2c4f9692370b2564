"""Reminders of booked series kept planned ahead, on Radicale's storage.

A booking's reminders are planned up to ``bookings/reminders.HORIZON`` ahead whenever
its meeting is written. A series goes on beyond that: every sender's periodic pass
(hourly) plans again the bookings whose planned window ends within half the horizon,
each under the write lock of its holder's calendar — the lock every write of that event
takes, so a pass and a change of the meeting never plan the same reminders twice.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from icalendar import Calendar

from radicale_tracks.bookings import store as booking_store
from radicale_tracks.bookings.reminders import HORIZON

if TYPE_CHECKING:
    from radicale_tracks.db.session import Database
    from radicale_tracks.plugin.calendar_store import StoredCalendar
    from radicale_tracks.plugin.scheduling_writes import SchedulingWriter


class ReminderStore(Protocol):
    """What the pass needs of the storage (``plugin/storage.py`` is one): its lock,
    database, collections and scheduling writer."""

    database: Database
    scheduling: SchedulingWriter

    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any
                     ) -> contextlib.AbstractContextManager[Any]: ...

    def calendar(self, path: str) -> StoredCalendar | None: ...

    def restartable(self, work: Callable[[], _T]) -> _T: ...

logger = logging.getLogger("radicale.tracks.bookings")

_T = TypeVar("_T")

#: bookings planned again per pass (the next pass takes the rest)
PER_PASS = 100


def top_up_reminders(storage: ReminderStore, now: datetime.datetime | None = None) -> int:
    """Plan the reminders of series whose planned window runs out; how many."""
    moment = now or datetime.datetime.now(datetime.UTC)
    until = int(moment.timestamp()) + HORIZON // 2
    with storage.database.connect() as connection:
        due = booking_store.series_to_top_up(connection, until, PER_PASS)
    done = 0
    for row in due:
        if storage.restartable(functools.partial(_top_up, storage, row, until, moment)):
            done += 1
    if done:
        logger.info("Booking reminders planned further ahead for %d series", done)
    return done


def _top_up(storage: ReminderStore, row: booking_store.BookingRow, until: int,
            moment: datetime.datetime) -> bool:
    """One series planned again: its calendar read first — which locks it (per
    calendar on PostgreSQL) — then its row, so both are what the last write left."""
    with storage.acquire_lock("w", row.holder):
        collection = storage.calendar("/%s/" % row.calendar_path.strip("/"))
        item = collection.item(row.href) if collection is not None else None
        with storage.database.begin() as connection:
            current = booking_store.booking_by_id(connection, row.id)
            if (current is None or current.reminders_until >= until
                    or current.is_cancelled
                    or (current.calendar_path, current.href) != (row.calendar_path,
                                                                 row.href)):
                return False    # planned, cancelled or moved meanwhile: done there
            if item is None:    # the event is gone: nothing more to remind of
                booking_store.update_booking(connection, current.id, reminders_until=0)
                return False
            storage.scheduling.bookings.top_up(
                connection, current, Calendar.from_ical(item.serialize()), moment)
    return True
