"""An organizer's PUT costs work linear in its attendees, and too many are refused first.

Each invitation lists every attendee, and the broker, the mail rendering and the stored
object all read them: worked out per recipient that made a PUT for N attendees cost N²
address readings, N parses of the message and N diffs (1 000 attendees: 90 s under the
write lock). The work is counted here, not timed: the PUT of 4N attendees must read
addresses about four times as often as the PUT of N, and parse, serialise and query the
database no more often per attendee. Counted with ``cProfile`` (the calls made, nothing
replaced) and SQLAlchemy's statement events, through a real Radicale called over WSGI.

Beyond ``max_attendees_per_instance`` a PUT is refused before it is read or locked: 403
with RFC 4791's ``max-attendees-per-instance`` precondition, which calendars advertise.
Beyond ``scheduling_max_attendees`` (the soft limit) attendees get SCHEDULE-STATUS 5.3
and no mail. Timings: ``bench/attendees.py``.
"""

from __future__ import annotations

import cProfile
import pstats
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from icalendar import Calendar
from radicale import config as radicale_config
from sqlalchemy import event

from inprocess import InProcessServer

CALENDAR = "/alice/work/"
CALDAV = "urn:ietf:params:xml:ns:caldav"


class Server(InProcessServer):
    """The application in process, with alice's calendar made."""

    def __init__(self, tmp_path: Path, database_url: str, **options: str) -> None:
        super().__init__(tmp_path, database_url, **options)
        status, _, text = self("MKCALENDAR", CALENDAR, "alice")
        assert status == 201, text


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    yield Server(tmp_path, database_url)


def meeting(uid: str, guests: int, *, override_guests: int = 0) -> str:
    """alice's meeting with ``guests`` attendees elsewhere (every one of them mailed);
    with ``override_guests``, an override of one occurrence that has that many."""
    def component(extra: list[str], count: int, offset: int) -> list[str]:
        return ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z", *extra,
                "SUMMARY:All hands", "ORGANIZER;CN=Alice:mailto:alice@example.org",
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
                *["ATTENDEE;CN=Guest %d;RSVP=TRUE:mailto:guest%d@elsewhere.test" % (n, n)
                  for n in range(offset, offset + count)], "END:VEVENT"]

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN"]
    if override_guests:
        lines += component(["DTSTART:20270301T100000Z", "DTEND:20270301T110000Z",
                            "RRULE:FREQ=WEEKLY;COUNT=4"], guests, 0)
        lines += component(["RECURRENCE-ID:20270308T100000Z", "DTSTART:20270308T120000Z",
                            "DTEND:20270308T130000Z"], override_guests, 0)
    else:
        lines += component(["DTSTART:20270301T100000Z", "DTEND:20270301T110000Z"], guests, 0)
    return "\r\n".join(lines + ["END:VCALENDAR", ""])


class Work:
    """What one request made the server do: calls of the costly steps, SQL statements."""

    #: (module path suffix, function name) of the steps that grow with the attendees
    STEPS = {"read_address": ("radicale_tracks/core/addresses.py", "read_address"),
             "parse": ("icalendar/cal/component.py", "from_ical"),
             "serialise": ("icalendar/cal/component.py", "to_ical")}

    def __init__(self, server: Server) -> None:
        self.server = server
        self.calls: dict[str, int] = {}
        self.statements = 0

    def put(self, path: str, body: str) -> int:
        engine = self.server.storage.engine

        def count(*_args: object) -> None:
            self.statements += 1

        event.listen(engine, "before_cursor_execute", count)
        profile = cProfile.Profile()
        try:
            profile.enable()
            status = self.server("PUT", path, "alice", body)[0]
            profile.disable()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        for step, (suffix, name) in self.STEPS.items():
            self.calls[step] = sum(
                counts[1] for (file, _, function), counts in stats.items()
                if function == name and file.replace("\\", "/").endswith(suffix))
        return status


def test_an_organizers_put_costs_work_linear_in_its_attendees(server: Server) -> None:
    n = 20
    small, large = Work(server), Work(server)
    assert small.put(CALENDAR + "small.ics", meeting("scale-small", n)) == 201
    assert large.put(CALENDAR + "large.ics", meeting("scale-large", 4 * n)) == 201
    assert server.mails() == n + 4 * n  # everyone was invited (under the soft limit)

    # address readings grow with the attendees (quadratic: 16 times as many)
    assert large.calls["read_address"] <= 4.5 * small.calls["read_address"], (
        small.calls, large.calls)
    # parses and serialisations of the object do not grow at all: one message text for
    # everyone, the mails' facts worked out once
    assert large.calls["parse"] <= small.calls["parse"] + 2, (small.calls, large.calls)
    assert large.calls["serialise"] <= small.calls["serialise"] + 2, (
        small.calls, large.calls)
    # one outbox row per mail, and otherwise as many statements for 80 as for 20
    assert large.statements - 4 * n <= small.statements - n + 2, (
        small.statements, large.statements)


def test_attendees_beyond_the_soft_limit_get_5_3_and_cost_no_mail(tmp_path: Path,
                                                                  database_url: str) -> None:
    server = Server(tmp_path, database_url, scheduling_max_attendees="10")
    small, large = Work(server), Work(server)
    assert small.put(CALENDAR + "small.ics", meeting("soft-small", 40)) == 201
    assert large.put(CALENDAR + "large.ics", meeting("soft-large", 160)) == 201
    assert server.mails() == 20  # ten each

    status, _, text = server("GET", CALENDAR + "large.ics", "alice")
    assert status == 200
    statuses = [str(a.params.get("SCHEDULE-STATUS")) for a in
                Calendar.from_ical(text).walk("VEVENT")[0].get("ATTENDEE")
                if "guest" in str(a)]
    assert statuses.count("1.1") == 10 and statuses.count("5.3") == 150, statuses
    # those beyond the limit cost no parse, no serialisation, no statement per head
    assert large.calls["parse"] <= small.calls["parse"] + 2, (small.calls, large.calls)
    assert large.calls["serialise"] <= small.calls["serialise"] + 2
    assert large.statements <= small.statements + 2, (small.statements, large.statements)
    assert large.calls["read_address"] <= 4.5 * small.calls["read_address"]


def _refusal(text: str) -> tuple[str | None, str]:
    root = ET.fromstring(text)
    assert root.tag == "{DAV:}error", text
    found = root.find("{%s}max-attendees-per-instance" % CALDAV)
    description = root.findtext("{DAV:}responsedescription") or ""
    return (found.tag if found is not None else None), description


def test_too_many_attendees_in_an_instance_are_refused_with_the_precondition(
        tmp_path: Path, database_url: str) -> None:
    server = Server(tmp_path, database_url, max_attendees_per_instance="30")

    # the limit is the calendar's RFC 4791 §5.2.9 property
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s"><D:prop>'
            "<C:max-attendees-per-instance/></D:prop></D:propfind>" % CALDAV)
    status, _, text = server("PROPFIND", CALENDAR, "alice", body, Depth="0")
    assert status == 207, text
    assert ET.fromstring(text).findtext(".//{%s}max-attendees-per-instance" % CALDAV) == "30"

    # 30 guests and alice: 31 in one instance
    status, _, text = server("PUT", CALENDAR + "big.ics", "alice", meeting("big", 30))
    assert status == 403, text
    tag, description = _refusal(text)
    assert tag is not None
    assert "31 attendees" in description and "at most 30" in description
    # nothing stored, nothing sent
    assert server("GET", CALENDAR + "big.ics", "alice")[0] == 404
    assert server.mails() == 0

    # an override counts as an instance of its own
    status, _, text = server("PUT", CALENDAR + "series.ics", "alice",
                             meeting("series", 5, override_guests=40))
    assert status == 403 and _refusal(text)[0] is not None, text

    # at the limit it is stored and everyone invited
    status, _, text = server("PUT", CALENDAR + "fits.ics", "alice", meeting("fits", 29))
    assert status == 201, text
    assert server.mails() == 29


def test_the_storage_refuses_too_many_attendees_before_scheduling_them(
        tmp_path: Path, database_url: str) -> None:
    """Plain ``radicale`` with the storage plugin (no application subclass): the
    storage refuses the scheduling object before it schedules anything (Radicale: 400)."""
    from radicale.app import Application as RadicaleApplication

    server = Server(tmp_path, database_url, max_attendees_per_instance="30")
    server.app = RadicaleApplication(radicale_config.load([(str(server.config), False)]))
    status, _, text = server("PUT", CALENDAR + "big.ics", "alice", meeting("big", 30))
    assert status == 400, text
    assert server("GET", CALENDAR + "big.ics", "alice")[0] == 404
    assert server.mails() == 0


def test_mail_with_too_many_attendees_is_refused_before_it_is_parsed(
        tmp_path: Path, database_url: str) -> None:
    """Inbound mail never stores what a PUT may not (the smaller of
    ``inbound_max_attendees`` and ``max_attendees_per_instance``), and counts them on
    the calendar text before anything parses or repairs it per attendee."""
    from inbound_mta import invitation
    from radicale_tracks.plugin.inbound_delivery import open_processor

    server = Server(tmp_path, database_url, max_attendees_per_instance="30",
                    inbound_trust_unauthenticated_senders="True",
                    inbound_allowed_senders="*")
    assert server("MKCALENDAR", "/bob/calendar/", "bob")[0] == 201
    storage, processor = open_processor(str(server.config))
    guests = ["p%d@external.test" % n for n in range(30)]
    raw = invitation("mailed-many", "olivia@gmail.test", "olivia@gmail.test",
                     ["bob@example.org", *guests])
    profile = cProfile.Profile()
    profile.enable()
    (answer,) = processor.process(raw, "olivia@gmail.test", ["bob@example.org"])
    profile.disable()
    assert answer.status is not None and answer.status.value == "quarantined", answer
    assert "31 attendees" in answer.reason and "limit is 30" in answer.reason, answer
    parses = sum(counts[1] for (file, _, name), counts in
                 pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
                 if name == "from_ical" and file.endswith("icalendar/cal/component.py"))
    assert parses == 0
    assert server("GET", "/bob/calendar/mailed-many.ics", "bob")[0] == 404

    # at the limit it is delivered
    raw = invitation("mailed-fits", "olivia@gmail.test", "olivia@gmail.test",
                     ["bob@example.org", *guests[:29]])
    (answer,) = processor.process(raw, "olivia@gmail.test", ["bob@example.org"])
    assert answer.status is not None and answer.status.value == "processed", answer


def test_a_writer_without_access_gets_radicales_403_before_the_attendee_limit(
        tmp_path: Path, database_url: str) -> None:
    """bob may not write alice's calendar: Radicale's plain 403, decided before his body
    is read or its attendees counted (the body here fails the test if anything reads
    it) — the CalDAV precondition is for writers allowed there."""
    server = Server(tmp_path, database_url, max_attendees_per_instance="3")
    status, _, text = server("PUT", CALENDAR + "bobs.ics", "bob", length=2000)
    assert status == 403, text
    assert "max-attendees-per-instance" not in text, text
    status, _, text = server("PUT", CALENDAR + "alices.ics", "alice", meeting("limit", 5))
    assert status == 403 and "max-attendees-per-instance" in text, text


def test_an_update_of_a_scheduling_object_parses_each_version_once(server: Server) -> None:
    """Under the write lock the stored and the written version are parsed once each,
    for the attendee-change check and the scheduling alike (counted with cProfile:
    the calls of ``Calendar.from_ical`` made by the storage's scheduling write)."""
    assert server("PUT", CALENDAR + "once.ics", "alice", meeting("once", 2))[0] == 201
    profile = cProfile.Profile()
    profile.enable()
    status = server("PUT", CALENDAR + "once.ics", "alice",
                    meeting("once", 2).replace("All hands", "All hands, moved"))[0]
    profile.disable()
    assert status == 204
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    parses = sum(
        counts[1] for (file, _, name), (*_, callers) in stats.items()
        if name == "from_ical" and _is(file, "icalendar/cal/calendar.py")
        for (caller, _, _), counts in callers.items()
        if _is(caller, "radicale_tracks/plugin/scheduling_writes.py"))
    assert parses == 2, parses   # the stored version and the written one


def _is(file: str, suffix: str) -> bool:
    return file.replace("\\", "/").endswith(suffix)
