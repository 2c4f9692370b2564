"""Busy time requests and their answers (RFC 6638 §5, RFC 5546 §3.3.2/§3.3.3).

A client asks for busy time by POSTing a VFREEBUSY REQUEST to its outbox; the server
answers with one VFREEBUSY REPLY per attendee. This module reads the request strictly
where an answer would otherwise be wrong or unbounded (method, one VFREEBUSY, ORGANIZER,
ATTENDEEs, DTSTART/DTEND, the server's limits) and leniently elsewhere: clients add
their own properties (Apple X-CALENDARSERVER-MASK-UID, Thunderbird's CUTYPE/ROLE on
ATTENDEE, the python caldav library's floating DTSTAMP), which are ignored. Whether the
ORGANIZER is the outbox owner's (RFC 6638 §5) is the caller's check: it knows the owner.

Pure: no I/O, no clock (callers pass ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias, TypeVar

from icalendar import Calendar, Component, FreeBusy, vCalAddress
from icalendar.prop import vInline

from radicale_tracks.core.addresses import as_uri, normalize_address
from radicale_tracks.core.busy import FbType
from radicale_tracks.core.itip import (
    ItipError,
    as_list,
    date_value,
    first,
    parse_calendar,
    serialize,
    uid_of,
    utc,
)
from radicale_tracks.core.zone_limits import UnboundedTimezones, ZoneLimits, bounded_zones_in_text

Period: TypeAlias = tuple[datetime, datetime, str]
"""A busy period: start, end (aware, UTC) and its RFC 5545 §3.2.9 FBTYPE."""

BusyPeriod: TypeAlias = tuple[int, int, str]
"""A busy period in POSIX seconds: start, end, FBTYPE (the index's unit)."""

_REQUEST = "RFC 5546 §3.3.2"
_UTC_FORMAT = "%Y%m%dT%H%M%SZ"


class FreeBusyError(ItipError):
    """A busy time request the server refuses; ``rule`` names the section broken.

    An :class:`ItipError` so callers that already answer iTIP errors answer these too.
    """


@dataclass(frozen=True)
class Estimate:
    """Busy time that could not be worked out exactly: one object of a calendar whose
    occurrences are too many (or unreadable) to expand, counted as ``fbtype`` over
    [start, end) — the part of the window it spans. ``reason`` says why, without saying
    what the event is (busy time is all another person's calendar shares)."""

    calendar: str
    href: str
    uid: str
    start: int
    end: int
    fbtype: str
    reason: str

    @property
    def period(self) -> BusyPeriod:
        return self.start, self.end, self.fbtype

    def describe(self) -> str:
        """Why this busy time is counted without being worked out, for people."""
        return ("One event of this calendar cannot be expanded: %s. It counts as busy "
                "wherever it could take place in the window." % self.reason)


@dataclass(frozen=True)
class FreeBusyRequest:
    """What a VFREEBUSY REQUEST asks: whose busy time, between when (UTC)."""

    uid: str | None
    organizer: str                  # normalised address
    attendees: tuple[str, ...]      # normalised, in request order, deduplicated
    attendee_uris: tuple[str, ...]  # as written (the response's recipient), same order
    start: datetime                 # aware, UTC
    end: datetime                   # aware, UTC


def parse_freebusy_request(data: str | bytes, *, max_attendees: int,
                           max_range: timedelta,
                           zone_limits: ZoneLimits = ZoneLimits()) -> FreeBusyRequest:
    """Read a busy time request; raise :class:`FreeBusyError` naming the rule it breaks.

    DATE values are taken as UTC midnight, floating times (and times in a TZID the
    request does not define) as UTC. ``max_attendees`` and ``max_range`` bound the work
    one request may cause; ``zone_limits`` its VTIMEZONEs, checked on the text because
    icalendar expands a zone's rules when it reads a TZID (``core/zone_limits``).
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        text = bounded_zones_in_text(text, zone_limits) or text
    except UnboundedTimezones as error:
        raise FreeBusyError("RFC 5545 §3.6.5: %s" % error) from error
    try:
        calendar = parse_calendar(text)
    except ItipError as error:
        raise FreeBusyError(error.rule) from error
    raw_method = calendar.get("METHOD")
    method = str(first(raw_method)).strip().upper() if raw_method is not None else ""
    if method != "REQUEST":
        raise FreeBusyError("RFC 6638 §5: a busy time request must have METHOD:REQUEST, "
                            "found %s" % (method or "none"), method=method or None)
    others = sorted({str(c.name).upper() for c in calendar.subcomponents}
                    - {"VFREEBUSY", "VTIMEZONE"})
    if others:
        raise FreeBusyError("RFC 6638 §5: a busy time request carries a VFREEBUSY and "
                            "nothing but VTIMEZONEs, found %s" % ", ".join(others),
                            method=method)
    found = [c for c in calendar.subcomponents if str(c.name).upper() == "VFREEBUSY"]
    if len(found) != 1:
        raise FreeBusyError("RFC 6638 §5: a busy time request must contain exactly one "
                            "VFREEBUSY, found %d" % len(found), method=method)
    component = found[0]
    uid = uid_of(component) or None

    organizers = [normalize_address(str(prop)) for prop in as_list(component.get("ORGANIZER"))]
    if not any(organizers):
        raise FreeBusyError("%s: a REQUEST VFREEBUSY must have an ORGANIZER" % _REQUEST,
                            method=method, uid=uid)
    if len(organizers) > 1:
        raise FreeBusyError("%s: a REQUEST VFREEBUSY must have exactly one ORGANIZER, "
                            "found %d" % (_REQUEST, len(organizers)), method=method, uid=uid)

    written: dict[str, str] = {}
    for prop in as_list(component.get("ATTENDEE")):
        address = normalize_address(str(prop))
        if address:
            written.setdefault(address, str(prop).strip())
    if not written:
        raise FreeBusyError("%s: a REQUEST VFREEBUSY must have at least one ATTENDEE"
                            % _REQUEST, method=method, uid=uid)
    if len(written) > max_attendees:
        raise FreeBusyError("RFC 6638 §5: %d attendees exceed this server's limit of %d per "
                            "busy time request" % (len(written), max_attendees),
                            method=method, uid=uid)

    start = _instant(component, "DTSTART", method, uid)
    end = _instant(component, "DTEND", method, uid)
    if start >= end:
        raise FreeBusyError("RFC 5545 §3.8.2.2: DTEND %s must be later than DTSTART %s" % (
            end.strftime(_UTC_FORMAT), start.strftime(_UTC_FORMAT)), method=method, uid=uid)
    if end - start > max_range:
        raise FreeBusyError("RFC 6638 §5: a busy time request of %s exceeds this server's "
                            "limit of %s" % (end - start, max_range), method=method, uid=uid)
    return FreeBusyRequest(uid=uid, organizer=organizers[0], attendees=tuple(written),
                           attendee_uris=tuple(written.values()), start=start, end=end)


def _instant(component: Component, name: str, method: str, uid: str | None) -> datetime:
    """DTSTART/DTEND as an aware UTC datetime."""
    prop = first(component.get(name))
    if prop is None:
        because = (" (DURATION is not allowed in a VFREEBUSY request)"
                   if name == "DTEND" and component.get("DURATION") is not None else "")
        raise FreeBusyError("%s: a REQUEST VFREEBUSY must have a %s%s" % (
            _REQUEST, name, because), method=method, uid=uid)
    value = date_value(prop)
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise FreeBusyError("RFC 5545 §3.3.5: %s must be a DATE-TIME value" % name,
                        method=method, uid=uid)


def busy_periods(periods: Iterable[Period], start: datetime, end: datetime) -> list[Period]:
    """The busy time an answer reports within [``start``, ``end``).

    FREE periods go (cancelled events block nothing, RFC 6638 §5 answers busy time);
    the rest are clipped, and overlapping or adjacent periods of one FBTYPE merged, so
    the answer has one value per stretch of busy time. Periods of different FBTYPEs are
    kept as they are even where they overlap: RFC 5545 §3.8.2.6 lets FREEBUSY values of
    different types overlap, and the reader decides which weighs more. An empty FBTYPE
    is BUSY (RFC 5545 §3.2.9 default). Sorted by start, then FBTYPE.
    """
    low, high = utc(start), utc(end)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for begin, finish, fbtype in periods:
        kind = fbtype.strip().upper() or FbType.BUSY.value
        if kind == FbType.FREE.value:
            continue
        begin, finish = max(utc(begin), low), min(utc(finish), high)
        if begin < finish:
            spans.setdefault(kind, []).append((begin, finish))
    return sorted(_merged(spans), key=lambda period: (period[0], period[2], period[1]))


def merge_busy(periods: Iterable[BusyPeriod]) -> list[BusyPeriod]:
    """Overlapping or touching periods of one FBTYPE as one; empty ones dropped; sorted
    by start. Whose time it is stays known to the caller; which event made it does not
    matter to a busy-time answer (RFC 6638 §5, RFC 5545 §3.8.2.6)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for begin, finish, fbtype in periods:
        if finish > begin:
            spans.setdefault(fbtype, []).append((begin, finish))
    return sorted(_merged(spans))


_Instant = TypeVar("_Instant", int, datetime)


def _merged(spans: dict[str, list[tuple[_Instant, _Instant]]]
            ) -> list[tuple[_Instant, _Instant, str]]:
    """Per FBTYPE, its spans with overlapping or touching ones joined."""
    result: list[tuple[_Instant, _Instant, str]] = []
    for kind, found in spans.items():
        found.sort()
        current_start, current_end = found[0]
        for begin, finish in found[1:]:
            if begin <= current_end:
                current_end = max(current_end, finish)
            else:
                result.append((current_start, current_end, kind))
                current_start, current_end = begin, finish
        result.append((current_start, current_end, kind))
    return result


def freebusy_reply(request: FreeBusyRequest, attendee_uri: str, periods: Sequence[Period],
                   now: datetime, prodid: str, comments: Sequence[str] = ()) -> str:
    """The VFREEBUSY REPLY (RFC 5546 §3.3.3) of one attendee to ``request``.

    ``periods`` go through :func:`busy_periods` first, so the reply holds one FREEBUSY
    per FBTYPE, values in UTC start/end form, within the requested range. Without a
    request UID the reply has none (RFC 5546 §3.3.3 wants one; there is none to echo).
    ``comments`` become COMMENT properties (what of the answer is an estimate, and why).
    """
    calendar = Calendar()
    calendar.add("PRODID", prodid)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    component = FreeBusy()
    if request.uid is not None:
        component.add("UID", request.uid)
    component.add("DTSTAMP", utc(now))
    component.add("DTSTART", request.start)
    component.add("DTEND", request.end)
    component.add("ORGANIZER", vCalAddress(as_uri(request.organizer)))
    component.add("ATTENDEE", vCalAddress(attendee_uri))
    groups: dict[str, list[str]] = {}
    for begin, finish, kind in busy_periods(periods, request.start, request.end):
        groups.setdefault(kind, []).append("%s/%s" % (begin.strftime(_UTC_FORMAT),
                                                      finish.strftime(_UTC_FORMAT)))
    for kind in sorted(groups):
        # One property with a comma list (RFC 5545 §3.8.2.6), not icalendar's one
        # property per vPeriod with a redundant VALUE=PERIOD.
        component.add("FREEBUSY", vInline(",".join(groups[kind]), params={"FBTYPE": kind}))
    for comment in comments:
        component.add("COMMENT", comment)
    calendar.add_component(component)
    return serialize(calendar)
