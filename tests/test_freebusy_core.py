"""Busy time requests and replies (RFC 6638 §5, RFC 5546 §3.3.2/§3.3.3).

Requests in tests/vectors/scheduling/freebusy-*.ics are shaped like real clients':
``caldav`` (the python caldav library: floating DTSTAMP/DTSTART/DTEND, bare mailto:),
``apple`` (CN on every address, the organizer among the attendees, a room,
X-CALENDARSERVER-MASK-UID), ``thunderbird`` (PARTSTAT/ROLE/CUTYPE on ATTENDEE, one
attendee twice in different spellings) and ``dates`` (a DATE start, a TZID end).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from radicale_tracks.core.freebusy import (
    FreeBusyError,
    FreeBusyRequest,
    Period,
    busy_periods,
    freebusy_reply,
    parse_freebusy_request,
)
from radicale_tracks.core.itip import ItipError, Method, parse_calendar
from radicale_tracks.core.validation import validate

VECTORS = Path(__file__).resolve().parent / "vectors" / "scheduling"
UTC = UTC
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
PRODID = "-//radicale-tracks//freebusy//EN"


def text(name: str) -> str:
    return (VECTORS / name).read_text()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=UTC)


def parse(data: str | bytes, *, max_attendees: int = 3,
          max_range: timedelta = timedelta(days=7)) -> FreeBusyRequest:
    return parse_freebusy_request(data, max_attendees=max_attendees, max_range=max_range)


# --- requests --------------------------------------------------------------------------


def test_caldav_library_request() -> None:
    assert parse(text("freebusy-caldav.ics")) == FreeBusyRequest(
        uid="7f3c2a10-aa11-11f0-9c2e-0242ac120002",
        organizer="alice@example.org",
        attendees=("bob@example.org", "carol@example.org"),
        attendee_uris=("mailto:bob@example.org", "mailto:carol@example.org"),
        start=at(4, 0), end=at(6, 0))  # floating times taken as UTC


def test_apple_request() -> None:
    assert parse(text("freebusy-apple.ics").encode()) == FreeBusyRequest(
        uid="4C1B9E2A-7D35-4F0B-9A61-2E8D3C5B7F90",
        organizer="alice@example.org",
        attendees=("alice@example.org", "bob@example.org", "room-4@example.org"),
        attendee_uris=("mailto:alice@example.org", "mailto:bob@example.org",
                       "mailto:room-4@example.org"),
        start=datetime(2027, 1, 3, 23, tzinfo=UTC), end=at(4, 23))


def test_thunderbird_request_deduplicates_attendees() -> None:
    request = parse(text("freebusy-thunderbird.ics"))
    assert request.attendees == ("bob@example.org", "dave@example.org")
    assert request.attendee_uris == ("MAILTO:Bob@Example.org", "mailto:dave@example.org")
    assert (request.uid, request.organizer) == ("3d1e0f52-4c8b-4e7f-8a3a-5b6c7d8e9f01",
                                                "alice@example.org")
    assert (request.start, request.end) == (at(4, 0), at(11, 0))
    assert request.start.tzinfo is UTC


def test_date_and_tzid_bounds_become_utc() -> None:
    request = parse(text("freebusy-dates.ics"))
    assert (request.start, request.end) == (at(4, 0), at(5, 0))  # 01:00 Berlin = 00:00Z


def test_a_request_without_uid_is_read() -> None:
    request = parse(text("freebusy-caldav.ics").replace(
        "UID:7f3c2a10-aa11-11f0-9c2e-0242ac120002\n", ""))
    assert request.uid is None


THUNDERBIRD = text("freebusy-thunderbird.ics")
TWO_ATTENDEES = "ATTENDEE:mailto:carol@example.org\nATTENDEE:mailto:erin@example.org\n"


@pytest.mark.parametrize("data, rule", [
    ("this is not iCalendar", "RFC 5545: not a valid iCalendar object"),
    (THUNDERBIRD.replace("METHOD:REQUEST", "METHOD:PUBLISH"),
     "RFC 6638 §5: a busy time request must have METHOD:REQUEST, found PUBLISH"),
    (THUNDERBIRD.replace("METHOD:REQUEST\n", ""),
     "RFC 6638 §5: a busy time request must have METHOD:REQUEST, found none"),
    (THUNDERBIRD.replace("END:VCALENDAR", "BEGIN:VFREEBUSY\nUID:x\nEND:VFREEBUSY\n"
                                          "END:VCALENDAR"),
     "RFC 6638 §5: a busy time request must contain exactly one VFREEBUSY, found 2"),
    (THUNDERBIRD.replace("END:VCALENDAR", "BEGIN:VEVENT\nUID:x\nEND:VEVENT\n"
                                          "END:VCALENDAR"),
     "RFC 6638 §5: a busy time request carries a VFREEBUSY and nothing but VTIMEZONEs, "
     "found VEVENT"),
    (THUNDERBIRD.replace("ORGANIZER:mailto:alice@example.org\n", ""),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have an ORGANIZER"),
    (THUNDERBIRD.replace("ORGANIZER:mailto:alice@example.org\n",
                         "ORGANIZER:mailto:alice@example.org\n"
                         "ORGANIZER:mailto:erin@example.org\n"),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have exactly one ORGANIZER, found 2"),
    ("".join(line + "\n" for line in THUNDERBIRD.splitlines()
             if not line.startswith("ATTENDEE")),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have at least one ATTENDEE"),
    (THUNDERBIRD.replace("END:VFREEBUSY", TWO_ATTENDEES + "END:VFREEBUSY"),
     "RFC 6638 §5: 4 attendees exceed this server's limit of 3 per busy time request"),
    (THUNDERBIRD.replace("DTSTART:20270104T000000Z\n", ""),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have a DTSTART"),
    (THUNDERBIRD.replace("DTEND:20270111T000000Z\n", ""),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have a DTEND"),
    (THUNDERBIRD.replace("DTEND:20270111T000000Z", "DURATION:P7D"),
     "RFC 5546 §3.3.2: a REQUEST VFREEBUSY must have a DTEND (DURATION is not allowed in "
     "a VFREEBUSY request)"),
    (THUNDERBIRD.replace("DTEND:20270111T000000Z", "DTEND:20270104T000000Z"),
     "RFC 5545 §3.8.2.2: DTEND 20270104T000000Z must be later than DTSTART "
     "20270104T000000Z"),
    (THUNDERBIRD.replace("DTEND:20270111T000000Z", "DTEND:20270103T000000Z"),
     "RFC 5545 §3.8.2.2: DTEND 20270103T000000Z must be later than DTSTART "
     "20270104T000000Z"),
    (THUNDERBIRD.replace("DTEND:20270111T000000Z", "DTEND:20270111T000001Z"),
     "RFC 6638 §5: a busy time request of 7 days, 0:00:01 exceeds this server's limit of "
     "7 days, 0:00:00"),
], ids=["unparsable", "publish", "no-method", "two-vfreebusy", "vevent", "no-organizer",
        "two-organizers", "no-attendee", "too-many-attendees", "no-dtstart", "no-dtend",
        "duration", "empty-range", "reversed-range", "range-too-long"])
def test_refusals_name_their_rule(data: str, rule: str) -> None:
    with pytest.raises(FreeBusyError) as caught:
        parse(data)
    if rule.startswith("RFC 5545: not a valid"):  # icalendar's own words follow
        assert caught.value.rule.startswith(rule + ": ")
    else:
        assert caught.value.rule == rule
    assert isinstance(caught.value, ItipError)


def test_limits_are_inclusive() -> None:
    exactly = THUNDERBIRD.replace("END:VFREEBUSY",
                                  "ATTENDEE:mailto:carol@example.org\nEND:VFREEBUSY")
    assert len(parse(exactly).attendees) == 3
    assert parse(THUNDERBIRD, max_range=timedelta(days=7)).end == at(11, 0)


# --- periods ---------------------------------------------------------------------------


def test_busy_periods_merge_clip_and_drop_free() -> None:
    periods: list[Period] = [
        (at(4, 10), at(4, 11), "BUSY"),
        (at(4, 9), at(4, 10), "BUSY"),              # adjacent: merged
        (at(4, 10, 30), at(4, 12), "busy"),         # overlapping, lower-case
        (at(4, 11), at(4, 13), "BUSY-TENTATIVE"),   # overlaps BUSY: kept as given
        (at(4, 14), at(4, 15), "FREE"),             # cancelled: dropped
        (at(3, 22), at(4, 1), "BUSY-UNAVAILABLE"),  # clipped at the start
        (at(5, 23), at(6, 2), ""),                  # no FBTYPE: BUSY, clipped at the end
        (at(6, 0), at(6, 1), "BUSY"),               # after the range: dropped
        (at(4, 16), at(4, 16), "BUSY"),             # empty: dropped
        (datetime(2027, 1, 4, 17), datetime(2027, 1, 4, 18), "BUSY"),  # naive: UTC
    ]
    assert busy_periods(periods, at(4, 0), at(6, 0)) == [
        (at(4, 0), at(4, 1), "BUSY-UNAVAILABLE"),
        (at(4, 9), at(4, 12), "BUSY"),
        (at(4, 11), at(4, 13), "BUSY-TENTATIVE"),
        (at(4, 17), at(4, 18), "BUSY"),
        (at(5, 23), at(6, 0), "BUSY"),
    ]


def test_busy_periods_convert_zones() -> None:
    berlin = timezone(timedelta(hours=1))
    periods: list[Period] = [(datetime(2027, 1, 4, 10, tzinfo=berlin),
                              datetime(2027, 1, 4, 11, tzinfo=berlin), "BUSY")]
    result = busy_periods(periods, at(4, 0), at(5, 0))
    assert result == [(at(4, 9), at(4, 10), "BUSY")]
    assert result[0][0].tzinfo is UTC


def test_busy_periods_of_nothing() -> None:
    assert busy_periods([], at(4, 0), at(5, 0)) == []
    assert busy_periods([(at(4, 1), at(4, 2), "FREE")], at(4, 0), at(5, 0)) == []


# --- replies ---------------------------------------------------------------------------


def unfolded(ics: str) -> list[str]:
    return ics.replace("\r\n ", "").split("\r\n")


def test_reply_text() -> None:
    request = parse(THUNDERBIRD)
    periods: list[Period] = [
        (at(4, 9), at(4, 10), "BUSY"),
        (at(4, 10), at(4, 11), "BUSY"),
        (at(5, 13), at(5, 14), "BUSY"),
        (at(5, 13), at(5, 14), "BUSY-TENTATIVE"),
        (at(6, 8), at(6, 9), "FREE"),
        (at(10, 23), at(11, 1), "BUSY-UNAVAILABLE"),
    ]
    ics = freebusy_reply(request, request.attendee_uris[0], periods,
                         datetime(2027, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))), PRODID)
    assert "\r\n" in ics and "\n" not in ics.replace("\r\n", "")
    assert unfolded(ics) == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//radicale-tracks//freebusy//EN",
        "METHOD:REPLY",
        "BEGIN:VFREEBUSY",
        "ATTENDEE:MAILTO:Bob@Example.org",
        "DTEND:20270111T000000Z",
        "DTSTAMP:20270101T120000Z",
        "DTSTART:20270104T000000Z",
        "FREEBUSY;FBTYPE=BUSY:20270104T090000Z/20270104T110000Z,"
        "20270105T130000Z/20270105T140000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20270105T130000Z/20270105T140000Z",
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20270110T230000Z/20270111T000000Z",
        "ORGANIZER:mailto:alice@example.org",
        "UID:3d1e0f52-4c8b-4e7f-8a3a-5b6c7d8e9f01",
        "END:VFREEBUSY",
        "END:VCALENDAR",
        "",
    ]
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
    assert validate(parse_calendar(ics)) is Method.REPLY


def test_reply_without_busy_time_or_uid() -> None:
    request = parse(text("freebusy-caldav.ics").replace(
        "UID:7f3c2a10-aa11-11f0-9c2e-0242ac120002\n", ""))
    lines = unfolded(freebusy_reply(request, "mailto:carol@example.org",
                                    [(at(4, 9), at(4, 10), "FREE")], NOW, PRODID))
    assert [line for line in lines if line.startswith(("UID", "FREEBUSY"))] == []
    assert "ATTENDEE:mailto:carol@example.org" in lines
    # RFC 5546 §3.3.3 requires a UID in a REPLY; without one to echo, validate refuses.
    with pytest.raises(ItipError, match="must have a UID"):
        validate(parse_calendar("\r\n".join(lines)))
