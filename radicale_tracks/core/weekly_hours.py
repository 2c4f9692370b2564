"""A week of working hours: per weekday none, one or several time ranges, in one zone —
what a person sets on the Working hours page — and the RFC 7953 VAVAILABILITY it
becomes, and back.

The admin's one-line notation ("Mon-Fri 09:00-17:00", ``core/working_hours.py``) is the
special case of one range on some days; it is written through :func:`week_calendar`
too, so the command line and the page store the same shape: one unbounded
VAVAILABILITY, one AVAILABLE per distinct range with ``FREQ=WEEKLY;BYDAY=`` the days
that have it. Reading back (:func:`week_of`) recognises that shape — and any client's
availability that says no more than a weekly pattern — so hours set over CalDAV or by
the command show on the page; anything more (dated blocks, exceptions, several
VAVAILABILITYs) is not squeezed into a week: the caller says so instead.

Input errors carry the field at fault (``zone``, ``days.mon``, ``days.mon.1.end``) so a
page can show them next to it and an API can name it.

Pure: no I/O; the caller passes the DTSTAMP and the current instant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Availability as ICalAvailability
from icalendar import Available as ICalAvailable
from icalendar import Calendar

from radicale_tracks.core.availability import Availability, AvailabilityError, AvailableTime
from radicale_tracks.core.itip import first, serialize, utc
from radicale_tracks.core.timezones import iana_zone, vtimezone
from radicale_tracks.core.zone_limits import rule_parts

PRODID = "-//radicale-tracks//availability//EN"

#: The Monday of the week generated AVAILABLE components start in: far enough back that
#: any window a server is asked about is covered, and inside the years the generated
#: VTIMEZONE describes (1970–2037).
REFERENCE_MONDAY = date(2000, 1, 3)

#: the days as the API and the form name them, Monday first (0 = Monday … 6 = Sunday)
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

#: Most ranges one day may have: a split day has two or three; six leaves room for
#: unusual days while a week stays far below the 50 components a server reads.
MAX_RANGES_A_DAY = 6

#: the only VAVAILABILITY busy type the week writes (RFC 7953's default)
BUSY_TYPE = "BUSY-UNAVAILABLE"

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")

Range = tuple[time, time]


class HoursError(AvailabilityError):
    """Working hours that cannot be set as given; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WeeklyHours:
    """Per weekday (Monday first) its ranges, sorted; ``zone`` an IANA name.

    Checked when built — seven days, every range ending after it starts on the same
    day, no two overlapping, at most :data:`MAX_RANGES_A_DAY` a day, some working time
    in the week, a known zone (a Windows name is translated) — so no invalid value
    exists and equal weeks compare equal.
    """

    days: tuple[tuple[Range, ...], ...]
    zone: str

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise HoursError("days", "A week has seven days, not %d." % len(self.days))
        days = tuple(tuple(sorted(ranges)) for ranges in self.days)
        for index, ranges in enumerate(days):
            _check_day(index, ranges)
        if not any(days):
            raise HoursError("days", "No working time in the week: give at least one "
                                     "range, or go back to the server's default hours.")
        name = iana_zone(self.zone) if isinstance(self.zone, str) else None
        if name is None:
            raise HoursError("zone", "%r is not a time zone (such as Europe/Berlin)."
                             % (self.zone,))
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "zone", name)

    def groups(self) -> list[tuple[Range, tuple[int, ...]]]:
        """Each distinct range with the days that have it, earliest first: one AVAILABLE
        each (the same hours on several days are one rule, as clients show them)."""
        found: dict[Range, list[int]] = {}
        for index, ranges in enumerate(self.days):
            for span in ranges:
                found.setdefault(span, []).append(index)
        return sorted(((span, tuple(days)) for span, days in found.items()),
                      key=lambda group: (group[0], group[1]))

    def describe(self) -> str:
        """For people, days with the same hours together, by their first day:
        "Mon 09:00-12:00, 13:00-17:00; Tue-Thu 09:00-17:00; Fri 09:00-13:00"."""
        alike: dict[tuple[Range, ...], list[int]] = {}
        for index, ranges in enumerate(self.days):
            if ranges:
                alike.setdefault(ranges, []).append(index)
        return "; ".join("%s %s" % (describe_days(days), ", ".join(map(_range_text, ranges)))
                         for ranges, days in sorted(alike.items(), key=lambda a: a[1][0]))


def _check_day(index: int, ranges: Sequence[Range]) -> None:
    key = DAY_KEYS[index]
    if len(ranges) > MAX_RANGES_A_DAY:
        raise HoursError("days.%s" % key, "%s has %d ranges; at most %d." % (
            DAY_NAMES[index], len(ranges), MAX_RANGES_A_DAY))
    for number, (start, end) in enumerate(ranges):
        if start.tzinfo is not None or end.tzinfo is not None:
            raise HoursError("days.%s.%d" % (key, number), "Times are wall-clock times in "
                             "the zone, without a tzinfo of their own.")
        if end <= start:
            raise HoursError("days.%s.%d.end" % (key, number), _not_after(start, end))
        if number and start < ranges[number - 1][1]:
            raise HoursError("days.%s.%d" % (key, number), _overlap(
                index, ranges[number - 1], (start, end)))


def _not_after(start: time, end: time) -> str:
    return "The end %s is not after the start %s: a range cannot cross midnight." % (
        end.strftime("%H:%M"), start.strftime("%H:%M"))


def _overlap(index: int, earlier: Range, later: Range) -> str:
    return "%s: %s overlaps %s." % (DAY_NAMES[index], _range_text(later),
                                  _range_text(earlier))


def _range_text(span: Range) -> str:
    return "%s-%s" % (span[0].strftime("%H:%M"), span[1].strftime("%H:%M"))


def describe_days(days: Sequence[int] | frozenset[int]) -> str:
    """Days as people read them ("Mon-Fri", "Mon,Wed,Fri", "Sun-Thu"): runs of three or
    more days as ranges, wrapping past Sunday."""
    chosen = set(days)
    starts = [day for day in sorted(chosen) if (day - 1) % 7 not in chosen] or [0]
    labels = []
    for day in starts:
        length = 1
        while length < 7 and (day + length) % 7 in chosen:
            length += 1
        last = (day + length - 1) % 7
        labels.append(DAY_LABELS[day] if length == 1 else "%s%s%s" % (
            DAY_LABELS[day], "-" if length > 2 else ",", DAY_LABELS[last]))
    return ",".join(labels)


# --- reading what a person sends -----------------------------------------------------------


def read_week(days: Mapping[str, Sequence[tuple[str, str]]], zone: str) -> WeeklyHours:
    """A week from text: ``{"mon": [("09:00", "12:00"), …], …}`` and a zone name.

    Missing days are days off; a range whose start and end are both blank is ignored
    (a form's empty row). Each error names the field as sent — ``days.tue.2.start`` is
    the third range given for Tuesday, whatever the order of the others.
    """
    unknown = sorted(set(days) - set(DAY_KEYS))
    if unknown:
        raise HoursError("days.%s" % unknown[0], "Unknown day %r; the days are %s." % (
            unknown[0], ", ".join(DAY_KEYS)))
    week: list[tuple[Range, ...]] = []
    for index, key in enumerate(DAY_KEYS):
        given: list[tuple[int, Range]] = []
        for number, (start, end) in enumerate(days.get(key, ())):
            if not start.strip() and not end.strip():
                continue
            field = "days.%s.%d" % (key, number)
            for part, value in (("start", start), ("end", end)):
                if not value.strip():
                    raise HoursError("%s.%s" % (field, part), "The %s is missing: give both "
                                     "times of a range, or neither for no range." % part)
            begin = read_clock(start, field + ".start")
            finish = read_clock(end, field + ".end")
            if finish <= begin:
                raise HoursError(field + ".end", _not_after(begin, finish))
            given.append((number, (begin, finish)))
        if len(given) > MAX_RANGES_A_DAY:
            raise HoursError("days.%s" % key, "%s has %d ranges; at most %d." % (
                DAY_NAMES[index], len(given), MAX_RANGES_A_DAY))
        given.sort(key=lambda item: item[1])
        for first_row, second_row in zip(given, given[1:], strict=False):
            if second_row[1][0] < first_row[1][1]:   # the one given last is at fault
                (_, other), (number, fault) = sorted((first_row, second_row))
                raise HoursError("days.%s.%d" % (key, number), _overlap(index, other, fault))
        week.append(tuple(span for _, span in given))
    if not isinstance(zone, str) or not zone.strip():
        raise HoursError("zone", "Choose a time zone (such as Europe/Berlin).")
    return WeeklyHours(tuple(week), zone.strip())


def read_clock(value: str, field: str) -> time:
    """``H:MM`` or ``HH:MM`` (24-hour; ``:00`` seconds, as some time pickers send, are
    allowed), refused with the field's name otherwise."""
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise HoursError(field, "%r is not a time of day: write it as 09:30 (00:00 to 23:59)."
                         % (value,))
    return time(hour, minute)


# --- the VAVAILABILITY it becomes ---------------------------------------------------------


def week_calendar(week: WeeklyHours, uid: str, stamp: datetime) -> str:
    """The VCALENDAR (CRLF, folded) with one VAVAILABILITY saying ``week``.

    The VAVAILABILITY is unbounded (no DTSTART/DTEND) with the default BUSYTYPE
    (BUSY-UNAVAILABLE); it holds one AVAILABLE per distinct range
    (:meth:`WeeklyHours.groups`), ``FREQ=WEEKLY;BYDAY=`` the days that have it, as RFC
    7953's own example does. Each starts on its first day in the week of
    :data:`REFERENCE_MONDAY` (so DTSTART is an instance of its own RRULE); UIDs are
    ``uid`` + ``-hours``, then ``-hours-2``, ``-hours-3`` …. A VTIMEZONE generated from
    zoneinfo comes along for clients that do not know IANA names. ``stamp`` (the
    DTSTAMP) is the caller's clock.
    """
    zone = ZoneInfo(week.zone)
    block = ICalAvailability()
    block.add("UID", uid)
    block.add("DTSTAMP", utc(stamp))
    zoned = False
    for number, ((start, end), days) in enumerate(week.groups()):
        first_day = REFERENCE_MONDAY + timedelta(days=days[0])
        available = ICalAvailable()
        available.add("UID", uid + "-hours" + ("-%d" % (number + 1) if number else ""))
        available.add("DTSTAMP", utc(stamp))
        available.add("SUMMARY", "Working hours %s %s" % (describe_days(days),
                                                           _range_text((start, end))))
        available.add("DTSTART", datetime.combine(first_day, start, tzinfo=zone))
        available.add("DTEND", datetime.combine(first_day, end, tzinfo=zone))
        available.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": [ICAL_DAYS[d] for d in days]})
        zoned = zoned or bool(first(available.get("DTSTART")).params.get("TZID"))
        block.add_component(available)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if zoned:  # UTC is written with "Z"
        calendar.add_component(vtimezone(week.zone))
    calendar.add_component(block)
    return serialize(calendar)


# --- and back ------------------------------------------------------------------------------


def week_of(availability: Availability, now: datetime) -> WeeklyHours | None:
    """The week ``availability`` says, when it says no more than a week: one VAVAILABILITY
    in force from before ``now`` with no end, BUSY-UNAVAILABLE, whose AVAILABLEs each
    repeat weekly (or daily) from before ``now``, without exceptions, each instance
    within one day, all in one named zone. None otherwise — the caller shows that the
    availability says more than a week can."""
    if len(availability.blocks) != 1:
        return None
    block = availability.blocks[0]
    if (block.end is not None or (block.start is not None and block.start > now)
            or block.busy_type != BUSY_TYPE or not block.available):
        return None
    week: list[list[Range]] = [[] for _ in DAY_KEYS]
    zones: set[str] = set()
    for available in block.available:
        found = _weekly(available, now)
        if found is None:
            return None
        zone, days, span = found
        zones.add(zone)
        for day in days:
            week[day].append(span)
    if len(zones) != 1:
        return None
    try:
        return WeeklyHours(tuple(tuple(ranges) for ranges in week), zones.pop())
    except HoursError:   # overlapping AVAILABLEs, or more ranges than a day takes here
        return None


def _weekly(available: AvailableTime, now: datetime
            ) -> tuple[str, tuple[int, ...], Range] | None:
    """Zone, days and range of one AVAILABLE that repeats weekly without exceptions."""
    start = available.start
    if (available.recurrence_id is not None or available.rdates or available.exdates
            or start.is_date or len(available.rrules) != 1 or start.instant() > now):
        return None
    zone = _zone_name(start.zone)
    if zone is None:
        return None
    if available.end is not None:
        if available.end.is_date or _zone_name(available.end.zone) != zone:
            return None
        finish = available.end.wall
    elif available.duration is not None:
        finish = start.wall + available.duration
    else:
        return None
    if finish.date() != start.wall.date() or finish <= start.wall:
        return None
    days = _rule_days(available.rrules[0])
    if days is None:
        return None
    return zone, days, (start.wall.time(), finish.time())


def _rule_days(text: str) -> tuple[int, ...] | None:
    """The weekdays of ``FREQ=WEEKLY;BYDAY=…`` or ``FREQ=DAILY``, every week, for ever."""
    parts = rule_parts(text)
    freq = parts.pop("FREQ", [""])
    parts.pop("WKST", None)
    if parts.pop("INTERVAL", ["1"]) != ["1"]:
        return None
    byday = parts.pop("BYDAY", None)
    if parts:   # COUNT, UNTIL, BYMONTH, BYHOUR …: more than a weekly pattern
        return None
    if freq == ["DAILY"] and byday is None:
        return tuple(range(7))
    if freq != ["WEEKLY"] or not byday or not set(byday) <= set(ICAL_DAYS):
        return None
    return tuple(sorted({ICAL_DAYS.index(day) for day in byday}))


def _zone_name(zone: object) -> str | None:
    """The IANA name of a parsed zone (zoneinfo's, or UTC); None for a zone known only
    from the calendar's own VTIMEZONE, which a week cannot name."""
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    return "UTC" if zone is UTC else None
