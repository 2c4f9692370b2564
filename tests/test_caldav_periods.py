"""End to end: a CalDAV client saves an event with ``RDATE;VALUE=PERIOD``.

Vanilla Radicale answers 400 (vobject cannot write a PERIOD back); the plugin stores the
same instances as RDATE date-times plus an override for a period of its own length, and
the free-busy report shows them at their own times.
"""

from __future__ import annotations

from pathlib import Path

from icalendar import Calendar

from helpers import free_busy_query, mkcalendar, put, report
from worlds import server_options, start_server

EVENT = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Lotus Development Corporation//NONSGML "
    "Notes 9.0.1//EN", "BEGIN:VEVENT", "UID:notes-periods@example.org",
    "DTSTAMP:20270104T080000Z", "SUMMARY:Steering group",
    "DTSTART:20270111T090000Z", "DTEND:20270111T100000Z",
    "RDATE;VALUE=PERIOD:20270111T090000Z/20270111T100000Z,20270118T090000Z/PT30M",
    "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20270125T150000/20270125T170000",
    "END:VEVENT", "END:VCALENDAR", ""])


def test_a_put_with_rdate_periods_is_stored_with_its_instances(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", server_options(
        1, "sqlite:///%s" % (tmp_path / "db.sqlite3")))
    try:
        alice = server.session("alice")
        url = server.url + "/alice/work/"
        mkcalendar(alice, url)
        answer = put(alice, url + "steering.ics", EVENT)
        assert answer.status_code == 201, answer.text
        assert "ETag" not in answer.headers  # what is stored differs from what was sent
        stored = Calendar.from_ical(alice.get(url + "steering.ics").text)
        overrides = [c for c in stored.walk("VEVENT") if c.get("RECURRENCE-ID")]
        assert len(overrides) == 2  # the 30-minute and the two-hour instance
        busy = report(alice, url, free_busy_query("20270110T000000Z", "20270201T000000Z"))
        for period in ("20270111T090000Z/20270111T100000Z",
                       "20270118T090000Z/20270118T093000Z",
                       "20270125T140000Z/20270125T160000Z"):
            assert period in busy.text, busy.text
    finally:
        server.stop()
