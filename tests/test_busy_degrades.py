"""One endless ``FREQ=SECONDLY`` event makes its owner busy, not everyone's search fail.

Such an event is accepted (by PUT, as Radicale accepts it). The index expands it only up
to ``index_max_occurrences``; beyond, busy time used to come from Radicale's own
expansion, which walks every second from DTSTART and raises "FREEBUSY occurrences limit
… hit" — and every slot search, web booking and free-busy request that included its
owner answered 500. Now the event counts as busy over the part of the window it spans,
the answer says so, and everyone else's busy time is exact. A real Radicale is called in
process over WSGI; limits are lowered so that the test stays small
(``freebusy_max_expansion``, ``index_max_occurrences``), and nothing is timed.
"""

from __future__ import annotations

import cProfile
import datetime
import pstats
from collections.abc import Iterator
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from inprocess import InProcessServer
from radicale_tracks.index.schema import items, occurrences

UTC = datetime.UTC
TODAY = datetime.datetime.now(UTC).date()
MONDAY = TODAY + datetime.timedelta(days=7 - TODAY.weekday())   # next week, in UTC
#: bob's endless event starts on Wednesday 12:00 UTC of next week
SECONDLY_START = datetime.datetime(MONDAY.year, MONDAY.month, MONDAY.day, 12,
                                   tzinfo=UTC) + datetime.timedelta(days=2)
INDEX_LIMIT = 50


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def event(uid: str, start: datetime.datetime, end: datetime.datetime, rule: str = "",
          organizer: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART:" + stamp(start),
             "DTEND:" + stamp(end), "SUMMARY:Secret " + uid]
    if rule:
        lines.append("RRULE:" + rule)
    if organizer:
        lines += ["ORGANIZER:mailto:%s@example.org" % organizer,
                  "ATTENDEE:mailto:%s@example.org" % organizer]
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    """bob holds the endless event; carol has one meeting on Tuesday 10:00-11:00."""
    found = InProcessServer(tmp_path, database_url, web=True,
                            index_max_occurrences=str(INDEX_LIMIT),
                            freebusy_max_expansion="2000", web_booking_agents="alice",
                            default_working_hours="Mon-Sun 06:00-20:00")
    for user in ("alice", "bob", "carol"):
        status, _, text = found("MKCALENDAR", "/%s/calendar/" % user, user)
        assert status == 201, text
    status, _, text = found("PUT", "/bob/calendar/ticker.ics", "bob", event(
        "ticker", SECONDLY_START, SECONDLY_START + datetime.timedelta(seconds=1),
        "FREQ=SECONDLY"))
    assert status == 201, text        # accepted, as by vanilla Radicale
    tuesday = SECONDLY_START - datetime.timedelta(days=1, hours=2)
    status, _, text = found("PUT", "/carol/calendar/review.ics", "carol", event(
        "review", tuesday, tuesday + datetime.timedelta(hours=1)))
    assert status == 201, text
    yield found


def test_the_index_expands_an_endless_secondly_event_only_up_to_its_limit(
        server: InProcessServer) -> None:
    with server.storage.database.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(occurrences.join(
                items, occurrences.c.item_id == items.c.id)).where(
                items.c.uid == "ticker")).scalar()
    assert count is not None and 0 < count <= INDEX_LIMIT


def _slot(answer: dict, start: datetime.datetime) -> dict:
    wanted = stamp(start).replace("T", "")  # compare as digits only
    return next(s for s in answer["slots"]
                if s["start_utc"].replace("-", "").replace(":", "").replace("T", "")
                == wanted)


def _status(slot: dict, address: str) -> str:
    return next(a["status"] for a in slot["attendees"] if a["address"] == address)


def test_a_slot_search_with_the_owner_answers_with_the_owner_busy_and_says_why(
        server: InProcessServer) -> None:
    status, answer = server.post_json("/.web/api/slots", "alice", {
        "attendees": ["bob@example.org", "carol@example.org"], "duration": 60,
        "start": MONDAY.isoformat(), "end": (MONDAY + datetime.timedelta(days=7)).isoformat(),
        "zone": "UTC", "working_hours": False, "show_conflicts": True, "max_results": 200})
    assert status == 200, answer
    # before the endless event: bob is free, carol's own meeting is exact
    tuesday_ten = SECONDLY_START - datetime.timedelta(days=1, hours=2)
    assert _status(_slot(answer, tuesday_ten), "bob@example.org") == "free"
    assert _status(_slot(answer, tuesday_ten), "carol@example.org") == "busy"
    assert _slot(answer, tuesday_ten + datetime.timedelta(hours=2))["fit"]
    # from its start on, bob is busy as far as we can tell; carol is free
    later = SECONDLY_START + datetime.timedelta(days=1)
    assert _status(_slot(answer, later), "bob@example.org") == "busy"
    assert _status(_slot(answer, later), "carol@example.org") == "free"
    (note,) = answer["estimated"]
    assert note["address"] == "bob@example.org"
    assert note["start"].startswith(SECONDLY_START.date().isoformat())
    assert "cannot be expanded" in note["reason"]
    assert "Secret" not in str(answer) and "ticker" not in str(answer)   # never the event


def test_the_web_finds_slots_and_books_with_the_owner(server: InProcessServer) -> None:
    details = {"subject": "Onboarding call", "duration": 30, "members": ["alice", "bob"],
               "meeting_type": "video"}
    later = SECONDLY_START + datetime.timedelta(days=1)
    status, answer = server.post_json("/.web/api/slots", "alice", {
        "details": details, "zone": "UTC", "show_conflicts": True,
        "day": later.date().isoformat()})
    assert status == 200, answer
    assert [n["address"] for n in answer["estimated"]] == ["bob@example.org"]
    slot = _slot(answer, later)
    assert _status(slot, "bob@example.org") == "busy" and not slot["fit"]

    booking = {"customer": {"name": "Olivia Customer", "email": "olivia@customer.test"},
               "start": later.strftime("%Y-%m-%dT%H:%M:%SZ"), "zone": "UTC",
               "details": details}
    status, refused = server.post_json("/.web/api/bookings", "alice", booking)
    assert status == 409, refused        # bob is busy: the agent has to accept that
    status, booked = server.post_json("/.web/api/bookings", "alice", dict(
        booking, accepted_conflicts=["bob@example.org"]))
    assert status == 201, booked
    assert booked["answers"]["bob@example.org"] == "NEEDS-ACTION"


def test_free_busy_through_the_outbox_answers_for_everyone(server: InProcessServer) -> None:
    start, end = MONDAY, MONDAY + datetime.timedelta(days=7)
    body = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", "UID:fb-1", "DTSTAMP:20260101T000000Z",
        "DTSTART:%sT000000Z" % start.strftime("%Y%m%d"),
        "DTEND:%sT000000Z" % end.strftime("%Y%m%d"), "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE:mailto:bob@example.org", "ATTENDEE:mailto:carol@example.org",
        "END:VFREEBUSY", "END:VCALENDAR", ""])
    status, _, text = server("POST", "/alice/schedule-outbox/", "alice", body)
    assert status == 200, text
    assert text.count("2.0;Success") == 2, text
    replies = [Calendar.from_ical(part.split("</C:calendar-data>")[0].replace("&#13;", ""))
               for part in text.split("<C:calendar-data>")[1:]]
    bob, carol = replies
    found = bob.walk("VFREEBUSY")[0].get("FREEBUSY")
    bob_busy = " ".join(p.to_ical().decode() for p in (
        found if isinstance(found, list) else [found]))
    assert stamp(SECONDLY_START) in bob_busy
    assert "cannot be expanded" in str(bob.walk("VFREEBUSY")[0].get("COMMENT"))
    assert carol.walk("VFREEBUSY")[0].get("COMMENT") is None


def test_the_free_busy_report_on_that_calendar_refuses_as_radicale_does(
        server: InProcessServer) -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (
                stamp(SECONDLY_START - datetime.timedelta(days=1)),
                stamp(SECONDLY_START + datetime.timedelta(days=1))))
    status, _, text = server("REPORT", "/bob/calendar/", "bob", body,
                             content_type="application/xml; charset=utf-8", Depth="1")
    assert status == 400, text     # the client asked about this calendar alone: not a 5xx
    status, _, text = server("REPORT", "/carol/calendar/", "carol", body,
                             content_type="application/xml; charset=utf-8", Depth="1")
    assert status == 200 and "FREEBUSY" in text, text


def test_a_room_holding_such_an_event_declines_after_a_bounded_walk(
        tmp_path: Path, database_url: str) -> None:
    """A room's answer asks for its busy time without an occurrence limit: the walk
    through an endless event still stops at ``freebusy_max_expansion``, the room
    counts as busy and declines; the organizer's PUT is stored."""
    server = InProcessServer(tmp_path, database_url, index_max_occurrences=str(INDEX_LIMIT),
                             freebusy_max_expansion="2000",
                             rooms="atlas@example.org: name=Atlas; policy=if-free")
    status, _, text = server("MKCALENDAR", "/alice/calendar/", "alice")
    assert status == 201, text
    storage = server.storage
    with storage.acquire_lock("w", "alice"):   # what the room's delegate would have stored
        path = storage.scheduling_calendars.default_calendar("atlas")
        storage.scheduling_calendars.write_object(path, "ticker.ics", event(
            "ticker", SECONDLY_START, SECONDLY_START + datetime.timedelta(seconds=1),
            "FREQ=SECONDLY"))
    month_later = SECONDLY_START + datetime.timedelta(days=30)
    meeting = event("room-meeting", month_later, month_later + datetime.timedelta(hours=1),
                    organizer="alice").replace(
        "END:VEVENT", "ATTENDEE;CUTYPE=ROOM:mailto:atlas@example.org\r\nEND:VEVENT")
    profile = cProfile.Profile()
    profile.enable()
    status, _, text = server("PUT", "/alice/calendar/m.ics", "alice", meeting)
    profile.disable()
    assert status == 201, text
    visits = sum(counts[1] for (file, _, name), counts in
                 pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
                 if name == "range_fn" and file.endswith("busy_expansion.py"))
    assert 0 < visits <= 2001, visits       # a month of seconds would be 2.6 million
    status, _, text = server("GET", "/alice/calendar/m.ics", "alice")
    room = [a for a in Calendar.from_ical(text).walk("VEVENT")[0].get("ATTENDEE")
            if "atlas" in str(a)]
    assert room[0].params.get("PARTSTAT") == "DECLINED", text
