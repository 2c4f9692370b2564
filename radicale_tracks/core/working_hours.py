"""Working hours an admin or a user writes ("Mon-Fri 09:00-17:00"), as RFC 7953
availability.

What people type is one rule — the same hours on some days of the week, in one zone —
so it is a value of its own (:class:`WorkingHours`), checked when built, and turned into
the VCALENDAR a server stores for users who never set their own availability
(:func:`availability_calendar`). Several such lines make a week with more than one range
a day (:func:`parse_week`); a week is ``core/weekly_hours.py``'s, which writes both, so
the command line and the Working hours page store the same shape. Reading and
expanding any client's VAVAILABILITY is ``core/availability.py``'s.

Pure: no I/O; the caller passes the DTSTAMP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from radicale_tracks.core.availability import AvailabilityError
from radicale_tracks.core.timezones import iana_zone
from radicale_tracks.core.weekly_hours import (
    PRODID,
    REFERENCE_MONDAY,
    WeeklyHours,
    describe_days,
    week_calendar,
)

__all__ = ["PRODID", "REFERENCE_MONDAY", "WorkingHours", "availability_calendar",
           "parse_week", "parse_working_hours"]

_DAY_NAMES = {name: index for index, names in enumerate(
    (("mo", "mon", "monday"), ("tu", "tue", "tues", "tuesday"),
     ("we", "wed", "wednesday"), ("th", "thu", "thur", "thurs", "thursday"),
     ("fr", "fri", "friday"), ("sa", "sat", "saturday"), ("su", "sun", "sunday")))
    for name in names}
_DASHES = "-\u2013\u2014"
_WORKING_HOURS = re.compile(
    r"^\s*(?P<days>\S.*?)\s+(?P<start>\d{1,2}:\d{2})\s*[%s]\s*(?P<end>\d{1,2}:\d{2})\s*$"
    % _DASHES)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class WorkingHours:
    """The same hours on some days of the week, in one zone (0 = Monday … 6 = Sunday).

    Checked when built, so no invalid value exists; ``zone`` is stored as the IANA name
    (a Windows name is translated) so that equal hours compare equal.
    """

    days: frozenset[int]
    start: time
    end: time
    zone: str

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        if not days:
            raise AvailabilityError("working hours: no working day given")
        wrong = sorted(str(day) for day in days
                       if isinstance(day, bool) or not isinstance(day, int)
                       or not 0 <= day <= 6)
        if wrong:
            raise AvailabilityError("working hours: day %s is not 0 (Monday) to 6 (Sunday)"
                                    % ", ".join(wrong))
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise AvailabilityError("working hours: start and end are wall-clock times in "
                                    "the zone, without a tzinfo of their own")
        if self.end <= self.start:
            raise AvailabilityError(
                "working hours: end %s is not after start %s (hours cannot cross midnight)"
                % (self.end.strftime("%H:%M"), self.start.strftime("%H:%M")))
        name = iana_zone(self.zone)
        if name is None:
            raise AvailabilityError("working hours: unknown time zone %r" % self.zone)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "zone", name)

    def describe(self) -> str:
        """The hours in the notation :func:`parse_working_hours` reads ("Sun-Thu 08:00-16:00"),
        for people: runs of three or more days as ranges, wrapping past Sunday."""
        return "%s %s-%s" % (describe_days(self.days), self.start.strftime("%H:%M"),
                             self.end.strftime("%H:%M"))

    def week(self) -> WeeklyHours:
        """The same hours as a week (``core/weekly_hours.py``): this range on these days."""
        return WeeklyHours(tuple(((self.start, self.end),) if day in self.days else ()
                                 for day in range(7)), self.zone)


def parse_working_hours(text: str, zone: str) -> WorkingHours:
    """Read "Mon-Fri 09:00-17:00", "Mon,Wed,Fri 08:30-12:00" or "Sun-Thu 08:00-16:00".

    Days are English names, their three-letter or iCalendar two-letter abbreviations, in
    any case, as a comma-separated list of single days and ranges; a range may wrap past
    Sunday (Sun-Thu). Times are 24-hour ``H:MM``. ``zone`` is an IANA or Windows name.
    """
    match = _WORKING_HOURS.match(text)
    if match is None:
        raise AvailabilityError("working hours %r: expected days and times such as "
                                "'Mon-Fri 09:00-17:00'" % text)
    days: set[int] = set()
    for item in match.group("days").split(","):
        parts = [part.strip() for part in re.split("[%s]" % _DASHES, item)]
        if len(parts) > 2 or not all(parts):
            raise AvailabilityError("working hours %r: cannot read the days %r"
                                    % (text, item.strip()))
        first_day, last_day = _day(parts[0], text), _day(parts[-1], text)
        days.update((first_day + offset) % 7 for offset in range((last_day - first_day) % 7 + 1))
    return WorkingHours(frozenset(days), _clock(match.group("start"), text),
                        _clock(match.group("end"), text), zone)


def parse_week(texts: Sequence[str], zone: str) -> WeeklyHours:
    """Several lines of :func:`parse_working_hours` as one week: "Mon-Fri 09:00-12:00"
    and "Mon-Fri 13:00-17:00" give a split day. Ranges that overlap on a day are refused
    (:class:`~radicale_tracks.core.weekly_hours.HoursError`)."""
    days: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for text in texts:
        hours = parse_working_hours(text, zone)
        for day in hours.days:
            days[day].append((hours.start, hours.end))
    return WeeklyHours(tuple(tuple(ranges) for ranges in days), zone)


def _day(name: str, text: str) -> int:
    index = _DAY_NAMES.get(name.lower())
    if index is None:
        raise AvailabilityError("working hours %r: unknown day %r" % (text, name))
    return index


def _clock(value: str, text: str) -> time:
    match = _TIME.match(value)
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise AvailabilityError("working hours %r: invalid time %r" % (text, value))
    return time(hour, minute)


def availability_calendar(hours: WorkingHours, uid: str, stamp: datetime) -> str:
    """The VCALENDAR (CRLF, folded) with one VAVAILABILITY saying ``hours``: the week's
    (:func:`~radicale_tracks.core.weekly_hours.week_calendar`) — one AVAILABLE,
    ``FREQ=WEEKLY;BYDAY=`` the working days, its UID ``uid`` + ``-hours``. ``stamp``
    (the DTSTAMP) is the caller's clock."""
    return week_calendar(hours.week(), uid, stamp)
