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
import logging
from typing import TYPE_CHECKING, Any, Protocol

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

logger = logging.getLogger("radicale.tracks.bookings")

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
        with storage.acquire_lock("w", row.holder):
            with storage.database.connect() as connection:
                current = booking_store.booking_by_id(connection, row.id)
            if current is None or current.reminders_until >= until or current.is_cancelled:
                continue    # planned or cancelled meanwhile
            collection = storage.calendar("/%s/" % current.calendar_path.strip("/"))
            item = collection.item(current.href) if collection is not None else None
            with storage.database.begin() as connection:
                if item is None:   # the event is gone: nothing more to remind of
                    booking_store.update_booking(connection, current.id, reminders_until=0)
                    continue
                storage.scheduling.bookings.top_up(
                    connection, current, Calendar.from_ical(item.serialize()), moment)
            done += 1
    if done:
        logger.info("Booking reminders planned further ahead for %d series", done)
    return done
