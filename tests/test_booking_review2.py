"""A second review of booked meetings: a series whose one occurrence was moved, the
reminders' periodic pass against a concurrent write of the meeting, an occurrence the
holder cancelled in their calendar program.

The series' checks run on the web's own code with the index's expansion (no server);
the pass's lock runs on a real Radicale in the database item store on PostgreSQL.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from icalendar import Calendar
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from caldav_clients import stored_event
from helpers import USERS, RadicaleServer, put
from inprocess import ThreadedServer
from mailserver import MailSink
from radicale_tracks.bookings.store import BookingRow
from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars
from radicale_tracks.web.booking_changes import BookingChanges
from test_booking_changes import book
from web_booking import slot
from worlds import mail_world, web_options

DAY = 86400
#: Monday 5 January 2026, 10:00 UTC: the series' first occurrence
FIRST = int(datetime.datetime(2026, 1, 5, 10, tzinfo=datetime.UTC).timestamp())


def _utc(moment: int) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _series(*overrides: tuple[int, int, str]) -> Calendar:
    """A weekly series of 52 from :data:`FIRST`; each override (occurrence, its new
    start, its STATUS) as a calendar program writes one."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//review//EN",
             "BEGIN:VEVENT", "UID:series@example.org", "DTSTAMP:20260101T000000Z",
             "DTSTART:%s" % _utc(FIRST), "DTEND:%s" % _utc(FIRST + 3600),
             "RRULE:FREQ=WEEKLY;COUNT=52", "SUMMARY:Weekly", "END:VEVENT"]
    for occurrence, start, status in overrides:
        lines += ["BEGIN:VEVENT", "UID:series@example.org", "DTSTAMP:20260101T000000Z",
                  "RECURRENCE-ID:%s" % _utc(occurrence), "DTSTART:%s" % _utc(start),
                  "DTEND:%s" % _utc(start + 3600), "STATUS:%s" % status, "SUMMARY:Weekly",
                  "END:VEVENT"]
    return Calendar.from_ical("\r\n".join(lines + ["END:VCALENDAR", ""]))


def _row(**values: Any) -> BookingRow:
    fields: dict[str, Any] = dict(
        id=1, uid="series@example.org", agent="alice", holder="alice",
        calendar_path="alice/work", href="series.ics", customer_name="Olivia",
        customer_address="olivia@customer.test", customer_zone="UTC", agent_zone="UTC",
        subject="Weekly", details={}, start=FIRST, end=FIRST + 3600, state="confirmed",
        changed_by=None, customer_on_event=True, customer_mailed=True,
        customer_sees_attendees=True, link_version=1, pending_actor=None,
        pending_note=None, reminders_until=0, created_at=FIRST, updated_at=FIRST)
    fields.update(values)
    return BookingRow(**fields)


def _changes() -> BookingChanges:
    calendars = StorageSchedulingCalendars(SimpleNamespace())  # type: ignore[arg-type]
    services = SimpleNamespace(storage=SimpleNamespace(scheduling_calendars=calendars))
    return BookingChanges(services)  # type: ignore[arg-type]


def test_a_series_with_a_moved_past_occurrence_is_not_over_while_it_goes_on() -> None:
    """The holder moved the second occurrence by a day; months later the series still
    goes on, so its page may not say it is over (nor its link expire)."""
    second = FIRST + 7 * DAY
    calendar = _series((second, second + DAY, "CONFIRMED"))
    now = FIRST + 20 * 7 * DAY + DAY            # after the 21st of 52 occurrences
    end = _changes()._last_end(_row(), calendar, now)
    assert end > now
    assert (end - 3600 - FIRST) % (7 * DAY) == 0   # an occurrence of the series itself


def test_a_long_series_whose_walk_stops_at_its_cap_is_not_over() -> None:
    """An hourly series begun long ago: the bounded walk ends before today, which says
    nothing about the series being over — so it is not."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//review//EN", "BEGIN:VEVENT",
             "UID:series@example.org", "DTSTAMP:20260101T000000Z",
             "DTSTART:%s" % _utc(FIRST), "DTEND:%s" % _utc(FIRST + 1800),
             "RRULE:FREQ=HOURLY", "SUMMARY:Hourly", "END:VEVENT", "END:VCALENDAR", ""]
    calendar = Calendar.from_ical("\r\n".join(lines))
    now = FIRST + 400 * DAY                     # ~9 600 occurrences later
    assert _changes()._last_end(_row(), calendar, now) > now


# -- the periodic pass and a write of the meeting on PostgreSQL -----------------------------

@pytest.fixture(scope="module")
def database_world(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[RadicaleServer, MailSink, str]]:
    """A database node on PostgreSQL: its writes lock per calendar."""
    folder = tmp_path_factory.mktemp("review2")
    urls: list[str] = []

    def make(workdir: Any, url: str, sink: MailSink) -> RadicaleServer:
        urls.append(url)
        options = dict(web_options(url, sink.port), item_store="database",
                       base_url="https://calendar.example.org")
        return ThreadedServer(workdir, storage_options=options,
                              rights_type="radicale_tracks.rights",
                              web_type="radicale_tracks.web").start()

    with mail_world(folder, "postgresql", make) as (server, sink):
        yield server, sink, urls[0]


@pytest.mark.postgresql
def test_the_periodic_pass_waits_for_a_write_of_the_holders_calendar(
        database_world: tuple[RadicaleServer, MailSink, str]) -> None:
    """Another node writing the holder's calendar holds its lock: the pass plans that
    series' reminders only after it (or both would plan them, twice)."""
    from radicale_tracks.plugin.booking_reminders import top_up_reminders
    from radicale_tracks.plugin.calendar_locks import lock_key, lock_unit

    server, _sink, url = database_world
    assert server.storage.per_calendar_locks
    booked = book(server, slot(1, 2, 9))
    calendar = stored_event(server, "alice", booked["uid"])
    event = calendar.walk("VEVENT")[0]
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 20})
    event["SEQUENCE"] = 1
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert put(session, "%s%s%s" % (server.url, booked["calendar"], booked["href"]),
               calendar.to_ical().decode()).status_code in (201, 204)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=28)
    engine = create_engine(url, poolclass=NullPool)
    done: list[int] = []
    try:
        with engine.connect() as writer:
            key = lock_key(lock_unit(booked["calendar"]))
            writer.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            writer.commit()
            passing = threading.Thread(
                target=lambda: done.append(top_up_reminders(server.storage, later)))
            passing.start()
            passing.join(2)
            waited = passing.is_alive()
            writer.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            writer.commit()
            passing.join(30)
    finally:
        engine.dispose()
    assert waited, "the pass planned while another writer held the calendar"
    assert done == [1]


@pytest.mark.postgresql
def test_an_occurrence_the_holder_cancelled_gets_no_reminders(
        database_world: tuple[RadicaleServer, MailSink, str]) -> None:
    """A calendar program cancels one occurrence with an override marked CANCELLED
    (not an EXDATE): nobody is reminded of it, the other occurrences keep theirs."""
    from test_booking_changes import _instant, _reminders

    server, _sink, url = database_world
    booked = book(server, slot(2, 1, 9))
    start = _instant(booked["start"])
    calendar = stored_event(server, "alice", booked["uid"])
    event = calendar.walk("VEVENT")[0]
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 4})
    event["SEQUENCE"] = 1
    cancelled = Calendar.from_ical(event.to_ical())
    second = datetime.datetime.fromtimestamp(start + 7 * DAY, datetime.UTC).astimezone(
        event["DTSTART"].dt.tzinfo)
    for name in ("RRULE", "DTSTART", "DTEND", "STATUS", "RECURRENCE-ID"):
        cancelled.pop(name, None)
    cancelled.add("RECURRENCE-ID", second)
    cancelled.add("DTSTART", second)
    cancelled.add("DTEND", second + datetime.timedelta(hours=1))
    cancelled.add("STATUS", "CANCELLED")
    calendar.add_component(cancelled)
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert put(session, "%s%s%s" % (server.url, booked["calendar"], booked["href"]),
               calendar.to_ical().decode()).status_code in (201, 204)
    reminded = {r.next_attempt_at + 3600 for r in _reminders(url, booked["uid"])
                if r.status == "pending" and r.recipient == "olivia@customer.test"}
    assert start in reminded
    assert start + 7 * DAY not in reminded
