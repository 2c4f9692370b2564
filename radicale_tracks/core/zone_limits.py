"""VTIMEZONE rules bounded before any reader expands them (RFC 5545 §3.6.5).

Every reader of a time zone — vobject and dateutil's ``tzical`` (Radicale), icalendar's
``to_tz`` — finds the offset at a date by walking each STANDARD/DAYLIGHT rule from its
DTSTART to that date, keeping every instance it met. A 512-byte zone whose rule is
``FREQ=SECONDLY`` from 1601 therefore costs billions of steps and gigabytes the first
time anything asks for an offset — and vobject asks while it *reads* the object. So the
check is made here, on the text, before anything parses it:

* a zone rule recurs yearly (``FREQ=YEARLY``): that is how zones change their clocks,
  and what every client sends (Outlook, Google, Apple, Thunderbird, our own
  ``core/zone_rules.py``);
* each rule changes the offset at most ``max_changes_per_year`` times a year, an upper
  bound read from its BY parts (``BYMONTH=4;BYMONTHDAY=8,…,14;BYDAY=SU`` counts 1);
* the zone makes at most ``max_transitions`` changes up to the year 2100, counted from
  every rule (changes a year × years from DTSTART), lone components and RDATEs — what a
  reader walks to place a date today.

A zone that breaks one is replaced when its TZID names a zone we know (``core/timezones``
generates that zone's VTIMEZONE: the sender's rules were meaningless anyway) and refused
otherwise (:class:`UnboundedTimezones`, with a sentence).

Pure: text in, text out; no parsing library, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod

from radicale_tracks.core.timezones import iana_zone

#: Transitions are counted up to this year: where readers are asked about today's dates.
HORIZON_YEAR = 2100

#: RRULE parts that name when in a year a rule recurs.
_BY_PARTS = ("BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYHOUR",
             "BYMINUTE", "BYSECOND", "BYSETPOS")

#: The folding of RFC 5545 §3.1: a line break followed by one space or tab.
_FOLD = re.compile(r"\r?\n[ \t]")
_YEAR = re.compile(r"^(\d{4})")
_ORDINAL = re.compile(r"^[+-]?\d")


@dataclass(frozen=True)
class ZoneLimits:
    """How much work one VTIMEZONE may ask of a reader (docs/admin.md)."""

    max_transitions: int = 10_000
    max_changes_per_year: int = 24


@dataclass(frozen=True)
class ZoneFault:
    """A VTIMEZONE that breaks a limit: its TZID and why, in words."""

    tzid: str
    reason: str


class UnboundedTimezones(ValueError):
    """VTIMEZONEs whose rules would cost unbounded work, for zones we cannot replace.

    A ValueError, as :class:`~radicale_tracks.core.timezones.UnknownTimezones` is, so
    that the paths refusing one refuse the other alike.
    """

    def __init__(self, faults: list[ZoneFault]) -> None:
        self.faults = tuple(faults)
        super().__init__(
            "The time zone definition%s %s cannot be used: %s. A time zone's STANDARD and "
            "DAYLIGHT rules recur yearly (RRULE:FREQ=YEARLY;BYMONTH=…;BYDAY=…); send the "
            "zone as your calendar program writes it, or use a known time zone name." % (
                "s" if len(faults) > 1 else "",
                ", ".join('"%s"' % fault.tzid for fault in faults),
                "; ".join(fault.reason for fault in faults)))


def rule_parts(value: str) -> dict[str, list[str]]:
    """An RRULE value as ``{PART: [values]}``, names upper-cased; unreadable parts kept
    as they are written (the checks treat what they cannot read as the worst case)."""
    parts: dict[str, list[str]] = {}
    for part in value.strip().split(";"):
        name, _, text = part.partition("=")
        if name.strip():
            parts[name.strip().upper()] = [v.strip().upper() for v in text.split(",")
                                           if v.strip()]
    return parts


def changes_per_year(parts: dict[str, list[str]]) -> int:
    """An upper bound of the instances a FREQ=YEARLY rule has in one year.

    Days: BYYEARDAY's values, else BYWEEKNO's weeks of BYDAY's days, else per month
    (BYMONTH's, twelve when absent) BYMONTHDAY's days or BYDAY's (five a month for a
    weekday without ordinal) — the fewer of the two when both restrict; DTSTART's day
    when none does. Times: BYHOUR × BYMINUTE × BYSECOND. BYSETPOS keeps at most its own
    count of them.
    """
    def size(name: str) -> int:
        return len(parts.get(name, []))

    days_by_day = sum(1 if _ORDINAL.match(day) else 5 for day in parts.get("BYDAY", []))
    if size("BYYEARDAY"):
        days = size("BYYEARDAY")
    elif size("BYWEEKNO"):
        days = size("BYWEEKNO") * (size("BYDAY") or 7)
    elif size("BYMONTHDAY") or days_by_day:
        months = size("BYMONTH") or 12
        per_month = min(n for n in (size("BYMONTHDAY"), days_by_day,
                                    _weekdays_in_days(parts)) if n)
        days = months * per_month
    else:
        days = size("BYMONTH") or 1
    times = prod(max(size(name), 1) for name in ("BYHOUR", "BYMINUTE", "BYSECOND"))
    instances = days * times
    return min(instances, size("BYSETPOS")) if size("BYSETPOS") else instances


def _weekdays_in_days(parts: dict[str, list[str]]) -> int:
    """How many of BYMONTHDAY's days can fall on BYDAY's weekdays in one month (0: no
    bound from that), trying each weekday the month can start on.

    ``BYMONTHDAY=8,…,14;BYDAY=SU`` (the second Sunday, as Outlook writes it) is 1. Only
    positive days and weekdays without ordinal are counted this way; others are left to
    the plainer bounds.
    """
    days, weekdays = parts.get("BYMONTHDAY", []), parts.get("BYDAY", [])
    names = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    if not days or not weekdays or not all(d.isdigit() for d in days) or not all(
            w in names for w in weekdays):
        return 0
    wanted = {names.index(w) for w in weekdays}
    return max(sum((int(day) + first) % 7 in wanted for day in set(days))
               for first in range(7))


def _years(start_year: int, parts: dict[str, list[str]]) -> int:
    """Years a rule runs from DTSTART up to :data:`HORIZON_YEAR` (or its UNTIL)."""
    last = HORIZON_YEAR
    until = _YEAR.match(parts.get("UNTIL", [""])[0] if parts.get("UNTIL") else "")
    if until:
        last = min(last, int(until.group(1)))
    try:
        interval = max(int(parts.get("INTERVAL", ["1"])[0]), 1)
    except ValueError:
        interval = 1
    return max(last - start_year, 0) // interval + 1


@dataclass
class _Part:
    """One STANDARD or DAYLIGHT as read from the text."""

    start_year: int | None = None
    rules: list[str] | None = None
    dates: int = 0


@dataclass
class _Zone:
    tzid: str = ""
    parts: list[_Part] | None = None
    first_line: int = 0
    last_line: int = 0


def _unfolded_lines(text: str) -> list[str]:
    return _FOLD.sub("", text).splitlines()


def _zones(lines: list[str]) -> list[_Zone]:
    """Every VTIMEZONE block (wherever it is nested) with its STANDARD/DAYLIGHT parts."""
    zones: list[_Zone] = []
    zone: _Zone | None = None
    part: _Part | None = None
    for number, line in enumerate(lines):
        upper = line.upper()
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].strip().upper()
        if upper.startswith("BEGIN:VTIMEZONE"):
            zone = _Zone(parts=[], first_line=number)
        elif zone is None:
            continue
        elif upper.startswith("END:VTIMEZONE"):
            zone.last_line = number
            zones.append(zone)
            zone, part = None, None
        elif upper.startswith(("BEGIN:STANDARD", "BEGIN:DAYLIGHT")):
            part = _Part(rules=[])
            assert zone.parts is not None
            zone.parts.append(part)
        elif upper.startswith(("END:STANDARD", "END:DAYLIGHT")):
            part = None
        elif part is None:
            if name == "TZID":
                zone.tzid = value.strip()
        elif name == "DTSTART":
            year = _YEAR.match(value.strip())
            part.start_year = int(year.group(1)) if year else None
        elif name == "RRULE":
            assert part.rules is not None
            part.rules.append(value)
        elif name in ("RDATE", "EXDATE"):
            part.dates += len([v for v in value.split(",") if v.strip()])
    return zones


def _fault(zone: _Zone, limits: ZoneLimits) -> str | None:
    """Why ``zone`` would cost unbounded work, or None."""
    transitions, yearly = 0, 0
    for part in zone.parts or []:
        transitions += part.dates + 1
        for rule in part.rules or []:
            parts = rule_parts(rule)
            freq = (parts.get("FREQ") or ["(none)"])[0]
            if freq != "YEARLY":
                return "a rule recurs %s (FREQ=%s), not yearly" % (freq.lower(), freq)
            if part.start_year is None:
                return "a rule has no readable DTSTART"
            changes = changes_per_year(parts)
            yearly += changes
            transitions += changes * _years(part.start_year, parts)
    if yearly > limits.max_changes_per_year:
        return ("its rules change the offset up to %d times a year; the limit is %d "
                "(timezone_max_changes_per_year)" % (yearly, limits.max_changes_per_year))
    if transitions > limits.max_transitions:
        return ("it describes %d changes of offset up to %d; the limit is %d "
                "(timezone_max_transitions)" % (transitions, HORIZON_YEAR,
                                                limits.max_transitions))
    return None


def zone_faults(text: str, limits: ZoneLimits) -> list[ZoneFault]:
    """The VTIMEZONEs of ``text`` that break ``limits``, in order; [] for most objects
    (answered by a substring test when the text has no VTIMEZONE with a rule or date)."""
    if "VTIMEZONE" not in text.upper():
        return []
    found: list[ZoneFault] = []
    for zone in _zones(_unfolded_lines(text)):
        reason = _fault(zone, limits)
        if reason is not None:
            found.append(ZoneFault(zone.tzid, reason))
    return found


def bounded_zones_in_text(text: str, limits: ZoneLimits) -> str | None:
    """``text`` without the VTIMEZONEs that break ``limits``, or None when all are within.

    A removed zone's TZID must name a zone :func:`~radicale_tracks.core.timezones.iana_zone`
    knows: the caller then defines it as for any TZID without VTIMEZONE
    (``define_timezones``), from zoneinfo. Otherwise raises :class:`UnboundedTimezones`
    naming every zone that cannot be replaced.
    """
    faults = zone_faults(text, limits)
    if not faults:
        return None
    unplaceable = [fault for fault in faults if iana_zone(fault.tzid) is None]
    if unplaceable:
        raise UnboundedTimezones(unplaceable)
    lines = _unfolded_lines(text)
    faulty = {fault.tzid for fault in faults}
    dropped: set[int] = set()
    for zone in _zones(lines):
        if zone.tzid in faulty:
            dropped.update(range(zone.first_line, zone.last_line + 1))
    return "\r\n".join(line for number, line in enumerate(lines)
                       if number not in dropped) + "\r\n"
