"""RFC 7953 calendar availability (VAVAILABILITY): read once, expanded per window.

A calendar user's availability decides when others may book them: outside it the user
is ``BUSY-UNAVAILABLE`` even with an empty calendar. CalDAV clients (Apple Calendar,
sabre/dav servers) keep it in the ``calendar-availability`` property of the inbox (RFC
7953 §7.2.4). :func:`parse_availability` reads any client's VAVAILABILITY once into
immutable values (:class:`Availability`), and :func:`unavailable_periods` /
:func:`available_periods` expand them for one window at a time, so a free-busy answer
costs one expansion per window, not one parse. Working hours written by an admin
("Mon-Fri 09:00-17:00") become a VAVAILABILITY in ``core/working_hours.py``.

Design decisions:

* **Wall-clock expansion.** Recurrences are expanded on naive wall-clock times with
  ``dateutil.rrule`` and only then placed on the time zone, so 09:00 Europe/Berlin stays
  09:00 local across daylight saving time. Local times in a gap are read with the
  offset before the gap and ambiguous ones as their first occurrence (RFC 5545 §3.3.5),
  whatever tzinfo implementation the zone comes from.
* **Zones.** A TZID is read as the IANA zone :func:`~radicale_tracks.core.timezones.iana_zone`
  maps it to (IANA names, Windows names, "globally unique" TZIDs), as the rest of the
  project stores them; only a TZID that maps to nothing is read from the calendar's own
  VTIMEZONE, and one defined nowhere is an error (RFC 7953 §3.1 wants a VTIMEZONE for
  every TZID). icalendar's global zone cache is bypassed, since two clients may give
  different VTIMEZONEs the same made-up TZID.
* **Floating times** (and DATE values) have no zone of their own. They are read in the
  calendar's default zone when it names one: ``X-WR-TIMEZONE`` if it maps to a zone,
  else the calendar's only VTIMEZONE; UTC only when neither says anything.
* **Strict where an answer would be wrong, lenient elsewhere.** No VAVAILABILITY, an
  AVAILABLE without DTSTART, an end not after its start, DTEND together with DURATION,
  an unknown TZID, an unreadable RRULE, EXRULE or ``RANGE=THISANDFUTURE`` (not
  supported: ignoring them would report free time that is not free) and too many
  components raise :class:`AvailabilityError` naming the rule. Missing UID/DTSTAMP,
  unknown properties, a PRIORITY outside 0–9 (read as undefined), unknown BUSYTYPEs
  (read as BUSY) and DATE values where RFC 7953 wants DATE-TIME (read as whole days)
  are accepted. (Values icalendar cannot parse at all make the whole calendar invalid.)
* **Instance durations** follow RFC 5545 §3.8.5.3: DTEND gives every instance the same
  exact duration (DATE to DATE: whole days); DURATION counts days nominally and hours
  exactly. An AVAILABLE without DTEND or DURATION lasts one day when it is a DATE and
  no time at all otherwise (RFC 5545 §3.6.1).
* **Bounded work.** Each AVAILABLE may contribute at most ``max_instances`` instances
  to a window; expansion stops at the window's end. Instances before the window are
  skipped by moving the rule's start forward by whole periods where that leaves the
  recurrence set unchanged (FREQ up to WEEKLY without COUNT). The rule periods from
  there to the window's end are counted before dateutil walks them, and the instances
  met while it does (``core/rule_bounds``), each bounded by ``max_iterations``
  (:class:`AvailabilityError` beyond: the caller degrades); a rule no date matches is
  found at parse time, so no walk goes on to the year 9999. Counted, not timed: the
  bound is the same on every machine.
* **Strict when set** (``strict=True``, the PROPPATCH and ``availability set``): a rule
  finer than daily, one starting more than :data:`MAX_STARTS_A_DAY` times a day, and one
  with no instance (``BYMONTH=2;BYMONTHDAY=30``) are refused with the reason rather
  than stored; read back from storage they are expanded within the bounds above, and a
  rule without instance is dropped. A VTIMEZONE whose rules would cost unbounded work
  (``core/zone_limits``) is ignored when its TZID names a known zone and refused
  otherwise.

Pure: no I/O, no clock (callers pass every instant), no randomness.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from math import prod
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, Timezone, vBroken, vRecur

from radicale_tracks.core.busy import FbType
from radicale_tracks.core.itip import ItipError, as_list, first, parse_calendar, utc
from radicale_tracks.core.rule_bounds import FIXED_PERIODS, ever_recurs, walked_periods
from radicale_tracks.core.timezones import iana_zone
from radicale_tracks.core.zone_limits import (
    UnboundedTimezones,
    ZoneLimits,
    bounded_zones_in_text,
    rule_parts,
)
from radicale_tracks.errors import TracksError

#: Rule periods walked and instances met per AVAILABLE and expansion, by default
#: (setting ``availability_max_iterations``).
MAX_ITERATIONS = 20_000

#: Frequencies availability may be set with: free time repeats by the day at the finest.
SETTABLE_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")

#: Starts a rule may have in one day when set (BYHOUR × BYMINUTE × BYSECOND values).
MAX_STARTS_A_DAY = 24

Span: TypeAlias = tuple[datetime, datetime]
"""A stretch of time: start, end (aware, UTC)."""

Period: TypeAlias = tuple[datetime, datetime, str]
"""A busy stretch: start, end (aware, UTC) and its RFC 7953 §3.2 BUSYTYPE."""

_RFC_COMPONENT = "RFC 7953 §3.1"
_RFC_BUSYTYPE = "RFC 7953 §3.2"
_RFC_FREEBUSY = "RFC 7953 §4"


#: Instances may start in a local time the zone skips or repeats; this much slack keeps
#: them when deciding where a window begins and ends in wall-clock time.
_SLACK = timedelta(days=2)

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


class AvailabilityError(TracksError, ValueError):
    """Working hours or a VAVAILABILITY we refuse; the message names the rule broken.

    A :class:`ValueError` for callers that validate input, a :class:`TracksError` for
    the adapters that report the project's errors.
    """


# --- parsed values -----------------------------------------------------------------------


@dataclass(frozen=True)
class WallTime:
    """A DATE or DATE-TIME as written: naive wall-clock time and the zone it is read in.

    Kept as wall-clock time rather than an instant because recurrences repeat the wall
    clock, not the instant. DATE values are midnight with ``is_date``; UTC values are
    on :data:`datetime.timezone.utc`.
    """

    wall: datetime
    zone: tzinfo
    is_date: bool = False

    def instant(self) -> datetime:
        """The moment meant, aware, in UTC."""
        return _instant(self.wall, self.zone)


RecurrenceDate: TypeAlias = tuple[WallTime, WallTime | timedelta | None]
"""An RDATE: its start, and its own end or duration for a PERIOD value (else None)."""


@dataclass(frozen=True)
class AvailableTime:
    """One AVAILABLE subcomponent: a (recurring) stretch of free time.

    ``rrules`` are RRULE texts whose UNTIL is rewritten to wall-clock time in the zone of
    ``start``, ready for ``dateutil.rrule.rrulestr`` with a naive ``dtstart``.
    """

    uid: str
    start: WallTime
    end: WallTime | None
    duration: timedelta | None
    rrules: tuple[str, ...]
    rdates: tuple[RecurrenceDate, ...]
    exdates: tuple[WallTime, ...]
    recurrence_id: WallTime | None


@dataclass(frozen=True)
class AvailabilityBlock:
    """One VAVAILABILITY: within [start, end) busy as ``busy_type`` except when available.

    ``start``/``end`` are aware UTC instants, None when unbounded; ``priority`` as
    written, 0 when absent or unreadable (RFC 7953 §4: undefined, the lowest).
    """

    uid: str
    start: datetime | None
    end: datetime | None
    busy_type: str
    priority: int
    available: tuple[AvailableTime, ...]


@dataclass(frozen=True)
class Availability:
    """What a ``calendar-availability`` VCALENDAR says, parsed once, expanded per window.

    The original text is not kept: callers that store it already have it.
    """

    blocks: tuple[AvailabilityBlock, ...]


# --- parsing -----------------------------------------------------------------------------


def parse_availability(data: str | bytes, *, max_components: int = 50,
                       strict: bool = False, zone_limits: ZoneLimits = ZoneLimits()
                       ) -> Availability:
    """Read a VCALENDAR with VAVAILABILITY components (RFC 7953 §3.1, §7.2.4).

    Raises :class:`AvailabilityError` naming the rule when the answer would otherwise be
    wrong (see the module documentation); ``max_components`` bounds the VAVAILABILITY
    and AVAILABLE components together, so that one property cannot make every free-busy
    answer expensive; ``strict`` refuses the rules nobody should set (see the module
    documentation). Other components in the calendar are ignored.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:   # before parsing: icalendar expands a VTIMEZONE when it reads a TZID
        text = bounded_zones_in_text(text, zone_limits) or text
    except UnboundedTimezones as error:
        raise AvailabilityError(str(error)) from error
    try:
        calendar = parse_calendar(text)
    except ItipError as error:
        raise AvailabilityError(error.rule) from error
    blocks = [c for c in calendar.subcomponents if _name(c) == "VAVAILABILITY"]
    if not blocks:
        raise AvailabilityError("%s: the calendar has no VAVAILABILITY component"
                                % _RFC_COMPONENT)
    count = len(blocks) + sum(_name(sub) == "AVAILABLE"
                              for block in blocks for sub in block.subcomponents)
    if count > max_components:
        raise AvailabilityError("%s: %d VAVAILABILITY/AVAILABLE components, more than the "
                                "%d this server reads" % (_RFC_COMPONENT, count, max_components))
    zones = _Zones(calendar)
    return Availability(tuple(_block(block, zones, strict) for block in blocks))


def _name(component: Component) -> str:
    return str(component.name).upper()


class _Zones:
    """Reads the dates of one calendar: its TZIDs, VTIMEZONEs and floating-time zone."""

    def __init__(self, calendar: Calendar) -> None:
        self.timezones: dict[str, Timezone] = {}
        for sub in calendar.subcomponents:
            if isinstance(sub, Timezone):
                self.timezones.setdefault(str(sub.get("TZID", "")), sub)
        self.cache: dict[str, tzinfo] = {}
        self.floating = self._floating(calendar)

    def _floating(self, calendar: Calendar) -> tzinfo:
        """The zone floating times are read in (see the module documentation)."""
        name = iana_zone(str(calendar.get("X-WR-TIMEZONE", "")))
        if name is not None:
            return ZoneInfo(name)
        if len(self.timezones) == 1:
            try:
                return self.zone(next(iter(self.timezones)))
            except AvailabilityError:
                pass
        return UTC

    def zone(self, tzid: str) -> tzinfo:
        """The zone a TZID names; an error when neither zoneinfo nor the calendar knows it."""
        found = self.cache.get(tzid)
        if found is not None:
            return found
        name = iana_zone(tzid)
        if name is not None:
            found = ZoneInfo(name)
        else:
            definition = self.timezones.get(tzid)
            if definition is None:
                raise AvailabilityError(
                    "%s: TZID %r is defined by no VTIMEZONE and is no known zone name"
                    % (_RFC_COMPONENT, tzid))
            try:
                # Not icalendar's global cache: another calendar's zone of that name.
                found = definition.to_tz(lookup_tzid=False)
            except _PARSE_ERRORS as error:
                raise AvailabilityError("RFC 5545 §3.6.5: VTIMEZONE %r cannot be read: %s"
                                        % (tzid, error)) from error
        self.cache[tzid] = found
        return found

    def wall_time(self, value: Any, tzid: str | None, as_date: bool = False) -> WallTime:
        """A parsed DATE/DATE-TIME as a :class:`WallTime` (TZID as written, not mapped).

        icalendar turns ``VALUE=DATE;TZID=…`` into midnight in that zone; ``as_date``
        (the VALUE parameter) keeps it a whole day, in that zone.
        """
        if isinstance(value, datetime):
            if tzid and as_date:
                return WallTime(datetime.combine(value.date(), time()), self.zone(tzid), True)
            if tzid:
                return WallTime(value.replace(tzinfo=None), self.zone(tzid))
            if value.tzinfo is not None:
                return WallTime(value.astimezone(UTC).replace(tzinfo=None),
                                UTC)
            return WallTime(value, self.floating)
        if isinstance(value, date):
            return WallTime(datetime.combine(value, time()), self.floating, True)
        raise AvailabilityError("RFC 5545 §3.3.4/§3.3.5: %r is not a DATE or DATE-TIME"
                                % (value,))

    def property_time(self, component: Component, name: str) -> WallTime | None:
        """DTSTART, DTEND or RECURRENCE-ID; None when absent, an error when unreadable."""
        prop = first(component.get(name))
        if prop is None:
            return None
        value = getattr(prop, "dt", None)
        if isinstance(prop, vBroken) or not isinstance(value, (date, datetime)):
            raise AvailabilityError("%s: %s of %s %r is not a DATE or DATE-TIME value"
                                    % (_RFC_COMPONENT, name, _name(component),
                                       _uid(component)))
        return self.wall_time(value, _tzid(prop), _is_date(prop))

    def list_values(self, component: Component, name: str) -> list[RecurrenceDate]:
        """The values of every RDATE/EXDATE property, PERIOD values with their ends."""
        result: list[RecurrenceDate] = []
        for prop in as_list(component.get(name)):
            items = getattr(prop, "dts", None)
            if isinstance(prop, vBroken) or items is None:
                raise AvailabilityError("RFC 5545 §3.8.5: %s of AVAILABLE %r cannot be read"
                                        % (name, _uid(component)))
            tzid, as_date = _tzid(prop), _is_date(prop)
            for item in items:
                value = getattr(item, "dt", None)
                if isinstance(value, tuple):
                    begin = self.wall_time(value[0], tzid)
                    finish = value[1]
                    result.append((begin, finish if isinstance(finish, timedelta)
                                   else self.wall_time(finish, tzid)))
                else:
                    result.append((self.wall_time(value, tzid, as_date), None))
        return result


def _tzid(prop: Any) -> str | None:
    params = getattr(prop, "params", None)
    tzid = params.get("TZID") if params else None
    return str(tzid) if tzid else None


def _is_date(prop: Any) -> bool:
    params = getattr(prop, "params", None)
    return params is not None and str(params.get("VALUE", "")).upper() == "DATE"


def _uid(component: Component) -> str:
    return str(component.get("UID", ""))


def _duration(component: Component) -> timedelta | None:
    prop = first(component.get("DURATION"))
    if prop is None:
        return None
    value = getattr(prop, "dt", None)
    if isinstance(prop, vBroken) or not isinstance(value, timedelta):
        raise AvailabilityError("RFC 5545 §3.8.2.5: DURATION of %s %r cannot be read"
                                % (_name(component), _uid(component)))
    return value


def _block(component: Component, zones: _Zones, strict: bool) -> AvailabilityBlock:
    uid = _uid(component)
    start = zones.property_time(component, "DTSTART")
    end = zones.property_time(component, "DTEND")
    duration = _duration(component)
    if end is not None and duration is not None:
        raise AvailabilityError("%s: VAVAILABILITY %r has both DTEND and DURATION"
                                % (_RFC_COMPONENT, uid))
    if duration is not None and start is None:
        raise AvailabilityError("%s: VAVAILABILITY %r has DURATION without DTSTART"
                                % (_RFC_COMPONENT, uid))
    begin = start.instant() if start is not None else None
    finish = end.instant() if end is not None else None
    if start is not None and duration is not None:
        finish = _after(start.wall, start.zone, duration)
    if begin is not None and finish is not None and finish <= begin:
        raise AvailabilityError("%s: the end of VAVAILABILITY %r is not after its DTSTART"
                                % (_RFC_COMPONENT, uid))
    available = tuple(_available(sub, zones, strict) for sub in component.subcomponents
                      if _name(sub) == "AVAILABLE")
    return AvailabilityBlock(uid=uid, start=begin, end=finish,
                             busy_type=_busy_type(component), priority=_priority(component),
                             available=available)


def _busy_type(component: Component) -> str:
    """BUSYTYPE; unknown values count as BUSY, as RFC 5545 §3.2.9 says of FBTYPE."""
    value = str(component.get("BUSYTYPE", "")).strip().upper()
    if not value:
        return FbType.BUSY_UNAVAILABLE.value
    if value == FbType.FREE.value:
        raise AvailabilityError("%s: BUSYTYPE of VAVAILABILITY %r must not be FREE"
                                % (_RFC_BUSYTYPE, _uid(component)))
    known = (FbType.BUSY.value, FbType.BUSY_TENTATIVE.value, FbType.BUSY_UNAVAILABLE.value)
    return value if value in known else FbType.BUSY.value


def _priority(component: Component) -> int:
    """PRIORITY 0–9 (RFC 5545 §3.8.1.9); anything else is read as 0, undefined: a value
    out of range says nothing about which component should win."""
    prop = first(component.get("PRIORITY"))
    try:
        value = int(str(prop)) if prop is not None and not isinstance(prop, vBroken) else 0
    except ValueError:
        return 0
    return value if 0 <= value <= 9 else 0


def _available(component: Component, zones: _Zones, strict: bool) -> AvailableTime:
    uid = _uid(component)
    start = zones.property_time(component, "DTSTART")
    if start is None:
        raise AvailabilityError("%s: AVAILABLE %r has no DTSTART" % (_RFC_COMPONENT, uid))
    end = zones.property_time(component, "DTEND")
    duration = _duration(component)
    if end is not None and duration is not None:
        raise AvailabilityError("%s: AVAILABLE %r has both DTEND and DURATION"
                                % (_RFC_COMPONENT, uid))
    if end is not None and not _is_after(end, start):
        raise AvailabilityError("%s: DTEND of AVAILABLE %r is not after its DTSTART"
                                % (_RFC_COMPONENT, uid))
    if duration is not None and duration <= timedelta(0):
        raise AvailabilityError("%s: DURATION of AVAILABLE %r is not positive"
                                % (_RFC_COMPONENT, uid))
    if component.get("EXRULE") is not None:
        raise AvailabilityError("RFC 5545 §3.8.5 (EXRULE was removed from RFC 2445): "
                                "EXRULE of AVAILABLE %r is not supported" % uid)
    recurrence_id = zones.property_time(component, "RECURRENCE-ID")
    if recurrence_id is not None:
        range_ = str(first(component.get("RECURRENCE-ID")).params.get("RANGE", "")).upper()
        if range_ == "THISANDFUTURE":
            raise AvailabilityError("RFC 5545 §3.2.13: RANGE=THISANDFUTURE of AVAILABLE %r "
                                    "is not supported" % uid)
    rdates = zones.list_values(component, "RDATE")
    for begin, finish in rdates:
        if isinstance(finish, WallTime) and not _is_after(finish, begin) or (
                isinstance(finish, timedelta) and finish <= timedelta(0)):
            raise AvailabilityError("RFC 5545 §3.3.9: an RDATE period of AVAILABLE %r does "
                                    "not end after it starts" % uid)
    return AvailableTime(
        uid=uid, start=start, end=end, duration=duration,
        rrules=tuple(text for text in (_rule_text(prop, start, uid, strict)
                                       for prop in as_list(component.get("RRULE")))
                     if text is not None),
        rdates=tuple(rdates),
        exdates=tuple(value for value, _ in zones.list_values(component, "EXDATE")),
        recurrence_id=recurrence_id)


def _is_after(end: WallTime, start: WallTime) -> bool:
    if end.is_date and start.is_date:
        return end.wall > start.wall
    return end.instant() > start.instant()


def _rule_text(prop: Any, start: WallTime, uid: str, strict: bool) -> str | None:
    """The RRULE with UNTIL as naive wall-clock time in the zone of DTSTART, or None
    when the rule has no instance at all.

    dateutil refuses a UTC UNTIL with a naive DTSTART; expansion is on naive wall-clock
    times, so UNTIL is moved there. A DATE UNTIL on a DATE-TIME series keeps its whole
    day. Read once here, so that a rule dateutil cannot read is refused at parse time.
    A rule that matches no date (``BYMONTH=2;BYMONTHDAY=30``) makes dateutil walk every
    period up to the year 9999 (it checks UNTIL only against an instance it found):
    seconds of work. ``core/rule_bounds.ever_recurs`` finds out within a bounded walk, and a rule
    without instance is refused (``strict``) or dropped (the series is its DTSTART
    alone). Only then is the first instance looked for from DTSTART, which a rule with
    instances reaches within one calendar cycle.
    """
    if not isinstance(prop, vRecur):
        raise AvailabilityError("RFC 5545 §3.3.10: RRULE of AVAILABLE %r cannot be read" % uid)
    parts = {str(key).upper(): value for key, value in prop.items()}
    untils = as_list(parts.get("UNTIL"))
    if untils:
        until = untils[0]
        if isinstance(until, datetime):
            wall = (until.astimezone(start.zone).replace(tzinfo=None)
                    if until.tzinfo is not None else until)
        elif isinstance(until, date):
            wall = datetime.combine(until, time() if start.is_date else time.max)
        else:
            raise AvailabilityError("RFC 5545 §3.3.10: UNTIL of AVAILABLE %r cannot be read"
                                    % uid)
        parts["UNTIL"] = [wall.replace(microsecond=0)]
    try:
        recur: Any = vRecur(parts)  # icalendar leaves to_ical untyped
        text: str = recur.to_ical().decode("ascii")
        rule: Any = rrulestr(text, dtstart=start.wall)
    except _PARSE_ERRORS as error:
        raise AvailabilityError("RFC 5545 §3.3.10: RRULE of AVAILABLE %r cannot be read: %s"
                                % (uid, error)) from error
    if strict:
        _check_settable(text, uid)
    if ever_recurs(text, start.wall) and next(iter(rule), None) is not None:
        return text
    if strict:
        raise AvailabilityError(
            "RFC 5545 §3.3.10: the RRULE of AVAILABLE %r (%s) has no instance: no date "
            "matches it (or none before its UNTIL)" % (uid, text))
    return None


def _check_settable(text: str, uid: str) -> None:
    """Refuse what availability does not need and would make every search expensive."""
    parts = rule_parts(text)
    freq = (parts.get("FREQ") or [""])[0]
    if freq not in SETTABLE_FREQUENCIES:
        raise AvailabilityError(
            "RFC 7953 §3.1: the RRULE of AVAILABLE %r recurs %s (FREQ=%s); availability "
            "repeats by the day at the finest (FREQ=%s)" % (
                uid, freq.lower(), freq, "|".join(SETTABLE_FREQUENCIES)))
    starts = prod(max(len(parts.get(name, [])), 1)
                  for name in ("BYHOUR", "BYMINUTE", "BYSECOND"))
    if starts > MAX_STARTS_A_DAY:
        raise AvailabilityError(
            "RFC 7953 §3.1: the RRULE of AVAILABLE %r starts %d times a day (BYHOUR × "
            "BYMINUTE × BYSECOND); at most %d" % (uid, starts, MAX_STARTS_A_DAY))


# --- time arithmetic ---------------------------------------------------------------------


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a wall-clock time in ``zone`` (RFC 5545 §3.3.5).

    A time the zone repeats is its first occurrence; a time it skips is read with the
    offset before the gap. Checked by converting back rather than trusting ``fold``,
    because zoneinfo and dateutil's VTIMEZONE zones treat gaps differently.
    """
    if zone is UTC:
        return wall.replace(tzinfo=UTC)
    found: list[datetime] = []
    offsets: list[timedelta] = []
    for fold in (0, 1):
        offset = wall.replace(tzinfo=zone, fold=fold).utcoffset() or timedelta(0)
        offsets.append(offset)
        candidate = (wall - offset).replace(tzinfo=UTC)
        if candidate.astimezone(zone).replace(tzinfo=None, fold=0) == wall:
            found.append(candidate)
    if found:
        return min(found)
    return (wall - min(offsets)).replace(tzinfo=UTC)


def _after(wall: datetime, zone: tzinfo, duration: timedelta) -> datetime:
    """The instant ``duration`` after a wall-clock time: days nominal, the rest exact
    (RFC 5545 §3.3.6). A ``PT24H`` reads as one day: the parsed value cannot tell."""
    days = timedelta(days=duration.days)
    return _instant(wall + days, zone) + (duration - days)


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _union(spans: Sequence[Span]) -> list[Span]:
    """Sorted, overlapping and adjacent spans merged, empty ones dropped."""
    result: list[Span] = []
    for begin, finish in sorted(span for span in spans if span[0] < span[1]):
        if result and begin <= result[-1][1]:
            if finish > result[-1][1]:
                result[-1] = (result[-1][0], finish)
        else:
            result.append((begin, finish))
    return result


def _subtract(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """``spans`` without ``holes``; both merged (see :func:`_union`)."""
    result: list[Span] = []
    for begin, finish in spans:
        for hole_begin, hole_end in holes:
            if hole_end <= begin or hole_begin >= finish:
                continue
            if hole_begin > begin:
                result.append((begin, hole_begin))
            begin = max(begin, hole_end)
            if begin >= finish:
                break
        if begin < finish:
            result.append((begin, finish))
    return result


# --- expansion ---------------------------------------------------------------------------


def unavailable_periods(availability: Availability, start: datetime, end: datetime, *,
                        max_instances: int = 2000, max_iterations: int = MAX_ITERATIONS
                        ) -> list[Period]:
    """The busy time ``availability`` gives within [``start``, ``end``) (RFC 7953 §4).

    Sorted by start, then busy type; merged per busy type; clipped to the window; aware
    UTC (naive bounds are taken as UTC). Time no VAVAILABILITY covers is not returned.
    Equal-priority VAVAILABILITYs that overlap can each report their own busy type for
    the same stretch, as overlapping FREEBUSY values of different types may
    (RFC 5545 §3.8.2.6). Raises :class:`AvailabilityError` when an AVAILABLE has more
    than ``max_instances`` instances in the window, or its expansion would walk more than
    ``max_iterations`` rule periods or instances.
    """
    return _evaluate(availability, start, end, max_instances, max_iterations)[0]


def available_periods(availability: Availability, start: datetime, end: datetime, *,
                      max_instances: int = 2000, max_iterations: int = MAX_ITERATIONS
                      ) -> list[Span]:
    """The free time ``availability`` states within [``start``, ``end``): the AVAILABLE
    instances that decide their stretch, merged, sorted, clipped, aware UTC.

    Time no VAVAILABILITY covers is neither here nor in :func:`unavailable_periods`:
    it is free by default, not by statement.
    """
    return _evaluate(availability, start, end, max_instances, max_iterations)[1]


def _rank(priority: int) -> int:
    """Sort key: 1 first, 9 last but one, 0 (undefined) after 9 (RFC 7953 §4)."""
    return priority if 1 <= priority <= 9 else 10


def _evaluate(availability: Availability, start: datetime, end: datetime,
              max_instances: int, max_iterations: int) -> tuple[list[Period], list[Span]]:
    """Busy and free spans: each priority level decides the time no higher level covers.

    Within a level, time is free when any of its VAVAILABILITYs has an AVAILABLE
    instance there, busy (with each covering component's type) elsewhere in its ranges.
    """
    low, high = utc(start), utc(end)
    if low >= high:
        return [], []
    levels: dict[int, list[tuple[Span, list[Span], str]]] = {}
    for block in availability.blocks:
        begin = low if block.start is None else max(low, block.start)
        finish = high if block.end is None else min(high, block.end)
        if begin >= finish:
            continue
        free = _union([(max(a, begin), min(b, finish))
                       for a, b in _free_time(block, begin, finish, max_instances,
                                              max_iterations)])
        levels.setdefault(_rank(block.priority), []).append(
            ((begin, finish), free, block.busy_type))
    decided: list[Span] = []
    busy: dict[str, list[Span]] = {}
    free_time: list[Span] = []
    for rank in sorted(levels):
        entries = levels[rank]
        free = _union([span for _, spans, _ in entries for span in spans])
        for covered, _, kind in entries:
            busy.setdefault(kind, []).extend(_subtract(_subtract([covered], free), decided))
        free_time.extend(_subtract(free, decided))
        decided = _union(decided + [covered for covered, _, _ in entries])
    periods = [(a, b, kind) for kind, spans in busy.items() for a, b in _union(spans)]
    periods.sort(key=lambda period: (period[0], period[2], period[1]))
    return periods, _union(free_time)


def _free_time(block: AvailabilityBlock, low: datetime, high: datetime,
               max_instances: int, max_iterations: int) -> list[Span]:
    """Every AVAILABLE instance of ``block`` that reaches into the window, as UTC spans.

    An AVAILABLE with RECURRENCE-ID replaces that instance of the AVAILABLE of the same
    UID and counts as its own stretch; one without such a series stands alone.
    """
    overrides: dict[str, list[AvailableTime]] = {}
    for available in block.available:
        if available.recurrence_id is not None:
            overrides.setdefault(available.uid, []).append(available)
    spans: list[Span] = []
    for available in block.available:
        if available.recurrence_id is None:
            spans.extend(_instances(available, overrides.get(available.uid, []),
                                    low, high, max_instances, max_iterations))
    for replacements in overrides.values():
        for override in replacements:
            begin = override.start.instant()
            finish = _end(override, override.start.wall, begin, None)
            if begin < high and finish > low:
                spans.append((begin, finish))
    return spans


def _instances(available: AvailableTime, overrides: Sequence[AvailableTime],
               low: datetime, high: datetime, max_instances: int, max_iterations: int
               ) -> list[Span]:
    """The instances of one AVAILABLE series (RFC 5545 §3.8.5) overlapping [low, high)."""
    zone = available.start.zone
    excluded = list(available.exdates)
    excluded += [o.recurrence_id for o in overrides if o.recurrence_id is not None]
    gone_instants = {value.instant() for value in excluded if not value.is_date}
    gone_dates = {value.wall.date() for value in excluded if value.is_date}
    stop = high + _SLACK
    seen: set[datetime] = set()
    result: list[Span] = []
    met = 0
    for wall, own_end in _candidates(available, low, high, max_iterations):
        met += 1
        if met > max_iterations:
            raise AvailabilityError(
                "%s: AVAILABLE %r has more than %d instances to walk through up to the "
                "window's end" % (_RFC_FREEBUSY, available.uid, max_iterations))
        if wall in seen:
            continue
        seen.add(wall)
        begin = _instant(wall, zone)
        if begin >= stop:
            continue
        if begin in gone_instants or wall.date() in gone_dates:
            continue
        finish = _end(available, wall, begin, own_end)
        if begin >= high or finish <= low or finish <= begin:
            continue
        result.append((begin, finish))
        if len(result) > max_instances:
            raise AvailabilityError("%s: AVAILABLE %r has more than %d instances in the "
                                    "window" % (_RFC_FREEBUSY, available.uid, max_instances))
    return result


def _candidates(available: AvailableTime, low: datetime, high: datetime,
                max_iterations: int
                ) -> Iterator[tuple[datetime, WallTime | timedelta | None]]:
    """Instance starts (wall-clock) with an RDATE period's own end: DTSTART (always the
    first instance, RFC 5545 §3.8.5.3), the RDATEs, then each RRULE until past ``high``.

    Every source ends soon after the window (RDATEs are filtered, rules end there: an
    UNTIL no later than it); starts of different sources come in no particular order.
    A rule with more than ``max_iterations`` periods to walk is refused before dateutil
    walks any.
    """
    zone = available.start.zone
    yield available.start.wall, None
    for begin, own_end in available.rdates:
        if begin.instant() < high + _SLACK:
            yield _wall(begin.instant(), zone) if begin.zone is not zone else begin.wall, own_end
    reach = _reach(available)
    for text in available.rrules:
        dtstart = _moved_start(text, available.start.wall, _wall(low, zone) - reach)
        stop = _wall(high, zone) + _SLACK
        periods = walked_periods(text, dtstart, stop)
        if periods > max_iterations:
            raise AvailabilityError(
                "%s: the RRULE of AVAILABLE %r (%s) would walk %d periods to the window's "
                "end; at most %d" % (_RFC_FREEBUSY, available.uid, text, periods,
                                     max_iterations))
        rule: Any = rrulestr(text, dtstart=dtstart)
        for value in rule:
            if not isinstance(value, datetime) or value >= stop:
                break
            yield value, None


def _reach(available: AvailableTime) -> timedelta:
    """How long before the window an instance may start and still reach into it."""
    length = timedelta(0)
    if available.end is not None:
        length = available.end.instant() - available.start.instant()
    elif available.duration is not None:
        length = available.duration
    elif available.start.is_date:
        length = timedelta(days=1)
    return max(length, timedelta(0)) + _SLACK


def _moved_start(text: str, dtstart: datetime, target: datetime) -> datetime:
    """DTSTART moved forward by whole periods to just before ``target`` when that leaves
    the instances from there on unchanged: a fixed wall-clock period (FREQ up to WEEKLY,
    times INTERVAL) and no COUNT, which would count the skipped instances."""
    parts = dict(part.split("=", 1) for part in text.upper().split(";") if "=" in part)
    period = FIXED_PERIODS.get(parts.get("FREQ", ""))
    if period is None or "COUNT" in parts or target <= dtstart:
        return dtstart
    try:
        period *= max(int(parts.get("INTERVAL", "1")), 1)
    except ValueError:
        return dtstart
    return dtstart + period * ((target - dtstart) // period)


def _end(available: AvailableTime, wall: datetime, begin: datetime,
         own_end: WallTime | timedelta | None) -> datetime:
    """Where the instance starting at ``wall`` (the instant ``begin``) ends (RFC 5545
    §3.8.5.3: DTEND gives the exact duration, DURATION a nominal one)."""
    zone = available.start.zone
    if isinstance(own_end, WallTime):
        return own_end.instant()
    if isinstance(own_end, timedelta):
        return _after(wall, zone, own_end)
    if available.end is not None:
        if available.start.is_date and available.end.is_date:
            return _instant(wall + (available.end.wall - available.start.wall), zone)
        return begin + (available.end.instant() - available.start.instant())
    if available.duration is not None:
        return _after(wall, zone, available.duration)
    if available.start.is_date:
        return _instant(wall + timedelta(days=1), zone)
    return begin
