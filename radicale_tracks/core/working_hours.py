"""Working hours an admin or a user writes ("Mon-Fri 09:00-17:00"), as RFC 7953
availability.

What people type is one rule — the same hours on some days of the week, in one zone —
so it is a value of its own (:class:`WorkingHours`), checked when built, and turned into
the VCALENDAR a server stores for users who never set their own availability
(:func:`availability_calendar`). Reading and expanding any client's VAVAILABILITY is
``core/availability.py``'s.

Pure: no I/O; the caller passes the DTSTAMP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Availability as ICalAvailability
from icalendar import Available as ICalAvailable
from icalendar import Calendar

from radicale_tracks.core.availability import AvailabilityError
from radicale_tracks.core.itip import first, serialize, utc
from radicale_tracks.core.timezones import iana_zone, vtimezone

PRODID = "-//radicale-tracks//availability//EN"

#: The Monday of the week generated AVAILABLE components start in: far enough back that
#: any window a server is asked about is covered, and inside the years the generated
#: VTIMEZONE describes (1970–2037).
REFERENCE_MONDAY = date(2000, 1, 3)

_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
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
        starts = [day for day in sorted(self.days) if (day - 1) % 7 not in self.days] or [0]
        labels = []
        for day in starts:
            length = 1
            while length < 7 and (day + length) % 7 in self.days:
                length += 1
            last = (day + length - 1) % 7
            labels.append(_DAY_LABELS[day] if length == 1 else "%s%s%s" % (
                _DAY_LABELS[day], "-" if length > 2 else ",", _DAY_LABELS[last]))
        return "%s %s-%s" % (",".join(labels), self.start.strftime("%H:%M"),
                             self.end.strftime("%H:%M"))


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
    """The VCALENDAR (CRLF, folded) with one VAVAILABILITY saying ``hours``.

    The VAVAILABILITY is unbounded (no DTSTART/DTEND) with the default BUSYTYPE
    (BUSY-UNAVAILABLE); it holds one AVAILABLE, ``FREQ=WEEKLY;BYDAY=`` the working days,
    as RFC 7953's own example does: the hours are the same every day, and one component
    is what clients show as one rule. It starts on the first working day of the week of
    :data:`REFERENCE_MONDAY` (so DTSTART is an instance of its own RRULE) and its
    UID is ``uid`` + ``-hours``. A VTIMEZONE generated from zoneinfo comes along for
    clients that do not know IANA names. ``stamp`` (the DTSTAMP) is the caller's clock.
    """
    zone = ZoneInfo(hours.zone)
    days = sorted(hours.days)
    first_day = REFERENCE_MONDAY + timedelta(days=days[0])
    available = ICalAvailable()
    available.add("UID", uid + "-hours")
    available.add("DTSTAMP", utc(stamp))
    available.add("SUMMARY", "Working hours " + hours.describe())
    available.add("DTSTART", datetime.combine(first_day, hours.start, tzinfo=zone))
    available.add("DTEND", datetime.combine(first_day, hours.end, tzinfo=zone))
    available.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": [_ICAL_DAYS[day] for day in days]})
    block = ICalAvailability()
    block.add("UID", uid)
    block.add("DTSTAMP", utc(stamp))
    block.add_component(available)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if first(available.get("DTSTART")).params.get("TZID"):  # UTC is written with "Z"
        calendar.add_component(vtimezone(hours.zone))
    calendar.add_component(block)
    return serialize(calendar)
