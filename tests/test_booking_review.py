"""A booked meeting against what a hostile or careless writer, or a failing write, does:
another user's event with the booking's UID, a move that keeps the time, a write that
was not scheduled, a pool's other room at the meeting's very time.

End to end on a real Radicale with the plugins, as ``test_booking_changes.py``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from caldav_clients import calendars, find, stored_event, uid_for
from databases import BACKENDS
from helpers import RadicaleServer
from mailserver import MailSink
from radicale_tracks.bookings.schema import bookings
from test_booking_changes import _reminders, api, book, to_customer
from web_booking import CUSTOMER, booking, slot
from worlds import mail_world, web_server


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink, str]]:
    folder = tmp_path_factory.mktemp("review")
    urls: list[str] = []

    def make(workdir: Any, url: str, sink: MailSink) -> RadicaleServer:
        urls.append(url)
        return web_server(workdir, url, sink.port)

    with mail_world(folder, request.param, make) as (server, sink):
        yield server, sink, urls[0]


@pytest.fixture
def server(world: tuple[RadicaleServer, MailSink, str]) -> RadicaleServer:
    return world[0]


@pytest.fixture
def sink(world: tuple[RadicaleServer, MailSink, str]) -> Iterator[MailSink]:
    world[1].settle()
    world[1].take()
    yield world[1]


def _row(url: str, booking_id: int) -> Any:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(select(bookings).where(
                bookings.c.id == booking_id)).one()
    finally:
        engine.dispose()


def _utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event(uid: str, organizer: str, start: datetime.datetime, attendees: list[str],
           extra: tuple[str, ...] = ()) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z", "DTSTART:" + start.strftime(stamp),
             "DTEND:" + (start + datetime.timedelta(minutes=30)).strftime(stamp),
             "SUMMARY:Something else", "SEQUENCE:5",
             "ORGANIZER;CN=%s:mailto:%s@example.org" % (organizer, organizer)]
    lines += ["ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:%s" % a for a in attendees]
    lines += [*extra, "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


# -- another organizer's event with the booking's UID ---------------------------------------

def test_another_users_event_with_the_bookings_uid_does_not_change_the_booking(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    booked = book(server, slot(3, 0, 10))
    sink.settle()
    sink.take()
    before = _row(world[2], booked["id"])
    reminders = [r for r in _reminders(world[2], booked["uid"]) if r.status == "pending"]
    assert reminders
    # carol is not on the booking; she learnt its UID (an .ics forwarded to her) and
    # writes her own meeting with it, the customer invited and then cancelled
    carol = calendars(server, "carol")
    carol.save_event(_event(booked["uid"], "carol", _utc(slot(3, 4, 16)),
                            [CUSTOMER["email"]]))
    carol.save_event(_event(booked["uid"], "carol", _utc(slot(3, 4, 16)),
                            [CUSTOMER["email"]], ("STATUS:CANCELLED",)))
    mails = to_customer(sink.settle())
    assert not [m for m in mails if m.kind.startswith("booking_")], [
        m.kind for m in mails]
    after = _row(world[2], booked["id"])
    assert (after.state, after.start, after.end, after.subject, after.changed_by) == (
        before.state, before.start, before.end, before.subject, before.changed_by)
    assert [r for r in _reminders(world[2], booked["uid"])
            if r.status == "pending"] == reminders
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert str(holder.get("STATUS", "CONFIRMED")) != "CANCELLED"


# -- a change whose scheduling failed --------------------------------------------------------

def test_a_move_whose_scheduling_failed_leaves_no_who_and_why_for_the_next_write(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    booked = book(server, slot(3, 1, 10))
    sink.settle()
    sink.take()
    scheduler = server.storage.scheduling.scheduler

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("scheduling is down")

    monkeypatch.setattr(scheduler, "handle_write", broken)
    new_start = slot(3, 1, 14)
    moved = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": new_start, "note": "Moved for the customer's sake"})
    monkeypatch.undo()
    assert moved.status_code == 200, moved.text
    # the event was stored as sent: the booking says where it is, and nobody's
    # message waits on the row for whatever writes the event next
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert holder["DTSTART"].dt == _utc(new_start)
    row = _row(world[2], booked["id"])
    assert (row.pending_actor, row.pending_note) == (None, None)
    # moved by the agent; its room was never asked again (nothing was scheduled)
    assert (row.start, row.state, row.changed_by) == (
        int(_utc(new_start).timestamp()), "awaiting-room", "agent")
    pending = [r for r in _reminders(world[2], booked["uid"]) if r.status == "pending"]
    assert {int(_utc(new_start).timestamp()) - r.next_attempt_at for r in pending} == {
        3600, 86400}


def test_a_change_that_was_not_scheduled_says_so_to_whoever_made_it(
        server: RadicaleServer, sink: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scheduling fails: the booking, the move and the cancellation are stored, and the
    agent reads that nobody was told — never "Everyone invited gets the new time"."""
    import re

    import requests

    from helpers import USERS

    scheduler = server.storage.scheduling.scheduler

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("scheduling is down")

    monkeypatch.setattr(scheduler, "handle_write", broken)
    answer = api(server, "POST", "bookings", json=booking(slot(4, 2, 10)))
    assert answer.status_code == 201 and answer.json()["scheduling_failed"] is True
    booked = answer.json()
    moved = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": slot(4, 2, 14)})
    assert moved.status_code == 200 and moved.json()["scheduling_failed"] is True
    auth = ("alice", USERS["alice"])
    page = requests.get(server.url + "/.web/bookings/%d" % booked["id"], auth=auth,
                        timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    cancelled = requests.post(server.url + "/.web/bookings/%d/cancel" % booked["id"],
                              auth=auth, timeout=30, data={"csrf": token.group(1)})
    monkeypatch.undo()
    assert cancelled.status_code == 200, cancelled.text
    assert "nobody on it was told: scheduling failed" in cancelled.text
    assert "Everyone invited is told" not in cancelled.text
    # scheduling works again: the next change is sent and says so
    again = api(server, "POST", "bookings", json=booking(slot(4, 3, 10)))
    assert again.status_code == 201 and again.json()["scheduling_failed"] is False
    done = api(server, "POST", "bookings/%d/cancel" % again.json()["id"], json={})
    assert done.json()["scheduling_failed"] is False


# -- a move that keeps the time ----------------------------------------------------------------

def test_a_move_to_the_meetings_own_time_changes_nothing(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    booked = book(server, slot(3, 2, 10))
    sink.settle()
    sink.take()
    sequence = int(stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0].get(
        "SEQUENCE", 0))
    same = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
               json={"start": booked["start"]})
    assert same.status_code == 400 and same.json()["field"] == "start", same.text
    assert api(server, "GET", "bookings/%d" % booked["id"]).json()["state"] == "confirmed"
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert int(holder.get("SEQUENCE", 0)) == sequence
    # nobody is asked again or told of a change that is none
    assert sink.settle() == []


# -- the meeting's own time, and only its own ---------------------------------------------------

def test_a_meeting_moves_by_half_an_hour(server: RadicaleServer, sink: MailSink) -> None:
    """The new time overlaps the old one: the meeting is never in its own way (the
    exact check searches only the new hour, which cuts the old one short)."""
    booked = book(server, slot(3, 4, 10), details={"duration": 60})
    sink.settle()
    later = _utc(slot(3, 4, 10, 30))
    offered = api(server, "GET", "bookings/%d/slots" % booked["id"],
                  params={"day": slot(3, 4, 10)[:10]}).json()["slots"]
    assert later in {datetime.datetime.fromisoformat(s["start"]) for s in offered}
    moved = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": slot(3, 4, 10, 30)})
    assert moved.status_code == 200, moved.text
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert holder["DTSTART"].dt == later


def test_a_move_does_not_take_a_pool_room_booked_at_the_meetings_very_time(
        server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(3, 3, 10))     # the pool gives Atlas
    sink.settle()
    room = "ATTENDEE;CUTYPE=ROOM;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:%s@example.org"
    carol = calendars(server, "carol")
    # carol's meetings: Borealis at the booking's very time, Atlas right after it
    carol.save_event(_event(uid_for("borealis"), "carol", _utc(slot(3, 3, 10)), [],
                            (room % "borealis",)))
    carol.save_event(_event(uid_for("atlas"), "carol", _utc(slot(3, 3, 10, 30)), [],
                            (room % "atlas",)))
    sink.settle()
    # at 10:15 Atlas is taken from 10:30 and Borealis all along: no room of the pool
    moved = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": slot(3, 3, 10, 15)})
    assert moved.status_code == 409, moved.text
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert holder["DTSTART"].dt == _utc(slot(3, 3, 10))


# -- the holder changes the meeting in a calendar program ------------------------------------

def _customer_reminders(url: str, uid: str) -> list[Any]:
    return [r for r in _reminders(url, uid) if r.status == "pending"
            and r.recipient == CUSTOMER["email"]]


def test_the_holder_takes_the_customer_off_the_meeting(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    booked = book(server, slot(4, 0, 10))
    sink.settle()
    sink.take()
    assert _customer_reminders(world[2], booked["uid"])
    event = find(server, "alice", booked["uid"])
    calendar = Calendar.from_ical(event.data)
    master = calendar.walk("VEVENT")[0]
    kept = [a for a in master.get("ATTENDEE")
            if str(a).lower() != "mailto:" + CUSTOMER["email"]]
    del master["ATTENDEE"]
    for attendee in kept:
        master.add("ATTENDEE", attendee)
    event.data = calendar.to_ical().decode()
    event.save()
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_cancelled"]
    # told it is cancelled, they hear nothing more of it, and Meetings says so
    assert _customer_reminders(world[2], booked["uid"]) == []
    assert _row(world[2], booked["id"]).state == "cancelled"


def test_the_holder_deletes_a_meeting_whose_customer_got_a_confirmation(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    booked = book(server, slot(4, 1, 10), notifications={"add_to_event": False})
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_confirmation"]
    sink.take()
    find(server, "alice", booked["uid"]).delete()
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_cancelled"], [m.kind for m in mails]
    sent = mails[0].calendar()
    assert sent is not None
    assert str(sent.walk("VEVENT")[0].get("STATUS", "")) == "CANCELLED"
    assert _row(world[2], booked["id"]).state == "cancelled"
    assert _customer_reminders(world[2], booked["uid"]) == []
