"""A principal's busy time for scheduling: every counted calendar plus working hours.

RFC 6638 free-busy and the slot finder ask about a *person*, not a collection: the union
of their calendars that count (``schedule-calendar-transp`` not ``transparent``, §9.1),
and — from their RFC 7953 availability — time outside working hours as
BUSY-UNAVAILABLE. The free-busy-query REPORT on one calendar (RFC 4791 §7.10) stays
Radicale's per-collection answer and knows nothing of availability.

Availability is the ``calendar-availability`` property of the user's inbox (RFC 7953
§7.2.4, as Apple Calendar and sabre/dav store it), written over CalDAV (PROPPATCH) or —
through :func:`store_availability`, one writer for both — by ``radicale-tracks
availability set`` and the Working hours page; users without one get the configured default
working hours in their time zone (the ``calendar-timezone`` of their first calendar that
has one, else ``default_time_zone``).
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from radicale.storage import BaseCollection

from radicale_tracks.core.availability import (
    Availability,
    AvailabilityError,
    parse_availability,
    unavailable_periods,
)
from radicale_tracks.core.timezones import iana_zone
from radicale_tracks.core.weekly_hours import WeeklyHours, week_calendar, week_of
from radicale_tracks.core.working_hours import availability_calendar, parse_working_hours
from radicale_tracks.core.zone_limits import ZoneLimits
from radicale_tracks.plugin.schedule_boxes import ensure_boxes, inbox_path

if TYPE_CHECKING:
    from radicale_tracks.core.freebusy import BusyPeriod, Estimate
    from radicale_tracks.plugin.storage import Collection, Storage

logger = logging.getLogger("radicale.tracks.availability")

AVAILABILITY_PROP = "C:calendar-availability"
TRANSP_PROP = "C:schedule-calendar-transp"
TIMEZONE_PROP = "C:calendar-timezone"


def _counts(collection: Collection) -> bool:
    """Whether a calendar's events make its owner busy (RFC 6638 §9.1)."""
    return str(collection.get_meta(TRANSP_PROP) or "").strip().lower() != "transparent"


def user_zone(storage: Storage, user: str) -> str:
    """The IANA zone of a user: the first ``calendar-timezone`` among their calendars."""
    return _zone_of(storage, storage.user_calendars(user))


def _zone_of(storage: Storage, calendars: list[Collection]) -> str:
    for collection in calendars:
        text = collection.get_meta(TIMEZONE_PROP)
        if not text:
            continue
        for line in str(text).splitlines():
            if line.upper().startswith("TZID"):
                zone = iana_zone(line.partition(":")[2])
                if zone:
                    return zone
    return storage.settings.default_time_zone


def stored_availability(storage: Storage, user: str) -> str | None:
    """The user's own VAVAILABILITY text, or None."""
    inbox = next(iter(storage.discover(inbox_path(user))), None)
    if not isinstance(inbox, BaseCollection):
        return None
    text = inbox.get_meta(AVAILABILITY_PROP)
    return str(text) if text else None


def default_availability_text(storage: Storage, user: str) -> str:
    return _default_text(storage.settings.default_working_hours, user_zone(storage, user))


@functools.lru_cache(maxsize=64)
def _default_text(hours: str, zone: str) -> str:
    return availability_calendar(parse_working_hours(hours, zone), "default-working-hours",
                                 datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))


def _availability(storage: Storage, user: str, calendars: list[Collection]
                  ) -> Availability:
    """The user's own availability, else the default hours in their zone."""
    own = stored_availability(storage, user)
    if own:
        try:
            _refuse_too_large(storage, own)   # stored before the limit, or by hand
            return _parsed(own, storage.settings.zone_limits())
        except AvailabilityError as e:   # stored before a stricter check: say so, go on
            logger.warning("Availability of %s unreadable (%s); default hours used", user, e)
    return _default_availability(storage, calendars)


def _default_availability(storage: Storage, calendars: list[Collection]
                          ) -> Availability:
    return _parsed(_default_text(storage.settings.default_working_hours,
                                 _zone_of(storage, calendars)), ZoneLimits())


@functools.lru_cache(maxsize=256)
def _parsed(text: str, limits: ZoneLimits) -> Availability:
    """Parsed once per text: most users share the default hours, and a slot search asks
    for everyone's availability at once."""
    return parse_availability(text, zone_limits=limits)


def _unavailable(storage: Storage, user: str, calendars: list[Collection],
                 start: datetime.datetime, end: datetime.datetime
                 ) -> list[tuple[datetime.datetime, datetime.datetime, str]]:
    """Time outside the user's availability. Availability stored before the checks of
    :func:`check_availability` (or written to the file) may need more expansion than
    ``availability_max_iterations`` allows: then the default hours answer, and the log
    says why — a search degrades, it never stalls or fails."""
    limit = storage.settings.availability_max_iterations
    try:
        return unavailable_periods(_availability(storage, user, calendars), start, end,
                                   max_iterations=limit)
    except AvailabilityError as e:
        logger.warning("Availability of %s not used, default hours instead: %s", user, e)
        return unavailable_periods(_default_availability(storage, calendars), start, end,
                                   max_iterations=limit)


def check_availability(storage: Storage, text: str) -> None:
    """Refuse, with the reason, availability nobody should store: larger than
    ``availability_max_bytes`` (before anything parses it), unreadable, more than 50
    components (``parse_availability``'s fixed cap), rules finer than daily or without
    instance, time zones of unbounded work (``parse_availability(strict=True)``).
    Bounded work: call it before taking a lock."""
    _refuse_too_large(storage, text)
    parse_availability(text, strict=True, zone_limits=storage.settings.zone_limits())


def _refuse_too_large(storage: Storage, text: str) -> None:
    """The size bound: the text is stored in the inbox's properties, read back for
    every slot search and free-busy answer including the user, and is the key of
    :func:`_parsed`'s cache — a week of working hours takes a few KB."""
    limit = storage.settings.availability_max_bytes
    size = len(text.encode("utf-8"))
    if size > limit:
        raise AvailabilityError(
            "the calendar-availability is %d bytes; this server takes at most %d "
            "(availability_max_bytes): working hours need a few kilobytes" % (size, limit))


def set_availability(storage: Storage, user: str, text: str | None, *,
                     checked: bool = False) -> None:
    """Store (or with None remove) the user's availability; checked first unless the
    caller did (:func:`check_availability`). Call under the storage's write lock."""
    if text is not None and not checked:
        check_availability(storage, text)
    ensure_boxes(storage, user)
    inbox = storage.calendar(inbox_path(user))
    assert inbox is not None
    inbox.set_property(AVAILABILITY_PROP, text)


@dataclass(frozen=True)
class OwnHours:
    """A user's working hours as the Working hours page shows them.

    ``text``: their own availability (None: they set none and ``default`` counts);
    ``week``: what it says as a week, None when it says more than a week can (dated
    blocks, exceptions — a calendar app's, or a file's) or cannot be read;
    ``default``: the server's default hours in their zone.
    """

    text: str | None
    week: WeeklyHours | None
    default: WeeklyHours

    @property
    def source(self) -> str:
        return "own" if self.text else "default"


def own_hours(storage: Storage, user: str, now: datetime.datetime) -> OwnHours:
    """The user's working hours (:class:`OwnHours`); call under the storage's lock."""
    text = stored_availability(storage, user)
    week = None
    if text:
        try:
            week = week_of(_parsed(text, storage.settings.zone_limits()), now)
        except AvailabilityError as e:
            logger.info("Availability of %s not shown as a week: %s", user, e)
    return OwnHours(text, week, default_week(storage, user))


def own_hours_calendar(user: str, week: WeeklyHours, stamp: datetime.datetime) -> str:
    """The availability a user's own working hours become, the command's and the page's
    alike (the same UID, so either replaces the other's)."""
    return week_calendar(week, "working-hours-%s" % user, stamp)


def default_week(storage: Storage, user: str) -> WeeklyHours:
    """The server's default hours (``default_working_hours``) in the user's zone: what
    counts while they set none."""
    return parse_working_hours(storage.settings.default_working_hours,
                               user_zone(storage, user)).week()


def store_availability(storage: Storage, user: str, text: str | None) -> None:
    """Set (or with None remove, back to the default hours) the user's availability as
    the command and the Working hours page do: checked before the lock — bounded work,
    and nobody waits for a refusal —, stored under the write lock. Call outside any
    lock; a command wraps it in ``storage.restartable``, an HTTP request is restartable
    already (the PROPPATCH of the inbox does the same in ``http/proppatch.py``)."""
    if text is not None:
        check_availability(storage, text)
    with storage.acquire_lock("w", user):
        set_availability(storage, user, text, checked=True)


def people_busy(storage: Storage, users: Iterable[str], start: datetime.datetime,
                end: datetime.datetime, max_occurrence: int,
                working_hours: Container[str] = (),
                estimates: dict[str, list[Estimate]] | None = None
                ) -> dict[str, list[BusyPeriod]]:
    """Busy periods of each of ``users`` in [start, end), POSIX seconds: their counted
    calendars from the index (all users' in one pass, see ``Storage.calendars_busy``),
    and for those in ``working_hours`` the time outside their availability as
    BUSY-UNAVAILABLE (or its BUSYTYPE). An event that cannot be expanded counts as busy
    where it spans and is listed per user in ``estimates``: it never fails the answer."""
    calendars = {user: storage.user_calendars(user)
                 for user in dict.fromkeys(users)}
    counted = {user: [c for c in found if _counts(c)] for user, found in calendars.items()}
    by_calendar: dict[str, list[Estimate]] = {}
    busy = storage.calendars_busy([c for found in counted.values() for c in found],
                                  int(start.timestamp()), int(end.timestamp()),
                                  max_occurrence, by_calendar)
    answer: dict[str, list[BusyPeriod]] = {}
    for user, found in calendars.items():
        guessed = [e for c in counted[user] for e in by_calendar.get(c.path, ())]
        if guessed and estimates is not None:
            estimates[user] = guessed
        periods = [period for c in counted[user] for period in busy.get(c.path, ())]
        if user in working_hours:
            periods.extend((int(s.timestamp()), int(e.timestamp()), kind)
                           for s, e, kind in _unavailable(storage, user, found, start, end))
        answer[user] = periods
    return answer
