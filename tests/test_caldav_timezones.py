"""Time zones without a VTIMEZONE, written over CalDAV (docs/interop.md, "Time zones").

Outlook and Exchange based clients PUT ``DTSTART;TZID=W. Europe Standard Time:…`` (or
the display form ``"(UTC+01:00) Amsterdam, Berlin, …"``) and sometimes no VTIMEZONE.
Vanilla Radicale stores that and reads the time as UTC: two hours off in a Berlin July.
Here the zone is resolved when the object is stored — the stored object names the IANA
zone and carries its VTIMEZONE, so reports, the index, scheduling and clients agree —
and a zone nobody can resolve is refused with CALDAV:valid-calendar-data.

Real servers over HTTP: ``radicale-tracks serve`` (the product), plain ``radicale`` with
only the storage plugin, and vanilla Radicale for what must stay byte-for-byte the same.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest
from icalendar import Calendar

from calendars import OUTLOOK_BERLIN
from conftest import ServerFactory
from databases import fresh_database
from helpers import (
    PLUGIN,
    USERS,
    VANILLA,
    RadicaleServer,
    calendar_query,
    free_busy_query,
    mkcalendar,
    put,
    report,
    response_hrefs,
)
from inprocess import ThreadedServer

UTC = datetime.UTC
DOMAIN = "example.org"
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"


def outlook_event(uid: str, tzid_param: str, *, timezones: str = "", day: str = "20270712",
                  extra: str = "") -> str:
    """An event as Outlook writes it: Windows zone name, 10:00–11:00 local time."""
    text = ("BEGIN:VCALENDAR\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\n"
            "VERSION:2.0\n" + timezones +
            "BEGIN:VEVENT\nCLASS:PUBLIC\nCREATED:20270701T120000Z\n"
            "DTSTART;TZID=%(tz)s:%(day)sT100000\nDTEND;TZID=%(tz)s:%(day)sT110000\n"
            "DTSTAMP:20270701T120000Z\nLAST-MODIFIED:20270701T120000Z\nPRIORITY:5\n"
            "SEQUENCE:0\nSUMMARY;LANGUAGE=de-de:Planung\nTRANSP:OPAQUE\nUID:%(uid)s\n"
            "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\n%(extra)sEND:VEVENT\nEND:VCALENDAR\n") % {
                "tz": tzid_param, "day": day, "uid": uid, "extra": extra}
    return text.replace("\n", "\r\n")


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RadicaleServer]:
    tmp_path = tmp_path_factory.mktemp("caldav-timezones")
    with fresh_database(request.param, tmp_path) as url:
        running = ThreadedServer(tmp_path / "server", storage_type=PLUGIN,
                                 storage_options={"database_url": url, "domain": DOMAIN},
                                 rights_type="radicale_tracks.rights").start()
        try:
            for user in ("alice", "bob"):
                mkcalendar(running.session(user), "%s/%s/work/" % (running.url, user))
            yield running
        finally:
            running.stop()


def work(server: RadicaleServer, user: str = "alice") -> str:
    return "%s/%s/work/" % (server.url, user)


def hrefs_between(server: RadicaleServer, start: str, end: str, user: str = "alice"
                  ) -> list[str]:
    answer = report(server.session(user), work(server, user), calendar_query(start, end))
    assert answer.status_code == 207, answer.text
    return [href.rsplit("/", 1)[-1] for href in response_hrefs(answer.text)
            if href.endswith(".ics")]


def free_busy(server: RadicaleServer, start: str, end: str, user: str = "alice") -> str:
    answer = report(server.session(user), work(server, user), free_busy_query(start, end))
    assert answer.status_code == 200, answer.text
    return "\n".join(line for line in answer.text.splitlines() if line.startswith("FREEBUSY"))


def event_of(text: str) -> object:
    return Calendar.from_ical(text).walk("VEVENT")[0]


# -- resolved when stored ---------------------------------------------------------------


def test_outlook_zone_without_vtimezone_is_found_at_its_utc_instant(
        server: RadicaleServer) -> None:
    session = server.session("alice")
    text = outlook_event("outlook-berlin@example.org", "W. Europe Standard Time")
    answer = put(session, work(server) + "outlook-berlin.ics", text)
    assert answer.status_code == 201, answer.text
    # the stored object is not the one sent: no ETag (RFC 4791 §5.3.4)
    assert "ETag" not in answer.headers

    assert hrefs_between(server, "20270712T080000Z", "20270712T083000Z") == [
        "outlook-berlin.ics"]
    assert hrefs_between(server, "20270712T100000Z", "20270712T110000Z") == []
    assert free_busy(server, "20270712T000000Z", "20270713T000000Z") == (
        "FREEBUSY;FBTYPE=BUSY:20270712T080000Z/20270712T090000Z")

    stored = session.get(work(server) + "outlook-berlin.ics")
    assert stored.status_code == 200
    assert "DTSTART;TZID=Europe/Berlin:20270712T100000" in stored.text
    calendar = Calendar.from_ical(stored.text)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert calendar.walk("VEVENT")[0].decoded("DTSTART") == datetime.datetime(
        2027, 7, 12, 8, tzinfo=UTC)


@pytest.mark.parametrize(("name", "tzid_param", "utc_start"), [
    ("exchange", '"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"',
     "20270712T080000Z"),
    ("quoted", '"Pacific Standard Time"', "20270712T170000Z"),
    ("iana", "Asia/Kolkata", "20270712T043000Z"),
])
def test_zone_names_are_resolved_for_the_caldav_client(
        server: RadicaleServer, name: str, tzid_param: str, utc_start: str) -> None:
    """The server's calendar-query and the python caldav client's date search find each
    event at its UTC instant (the client may filter on its own: both are asked)."""
    uid = "zone-%s@example.org" % name
    answer = put(server.session("alice"), work(server) + name + ".ics",
                 outlook_event(uid, tzid_param, day="20270712"))
    assert answer.status_code == 201, answer.text
    start = datetime.datetime.strptime(utc_start, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    end = (start + datetime.timedelta(minutes=30)).strftime("%Y%m%dT%H%M%SZ")
    assert name + ".ics" in hrefs_between(server, utc_start, end)
    calendar = caldav.DAVClient(work(server), username="alice",
                                password=USERS["alice"]).calendar(url=work(server))
    found = calendar.search(start=start, end=start + datetime.timedelta(minutes=30),
                            event=True)
    assert uid in [str(event_of(event.data)["UID"]) for event in found]
    earlier = calendar.search(start=start - datetime.timedelta(hours=3),
                              end=start - datetime.timedelta(hours=1, minutes=1), event=True)
    assert uid not in [str(event_of(event.data)["UID"]) for event in earlier]


def test_scheduling_delivers_the_resolved_time(server: RadicaleServer) -> None:
    """Bob's copy, made by implicit scheduling from alice's write, has the right time:
    the zone was resolved before scheduling read the object."""
    text = outlook_event("outlook-meeting@example.org", "W. Europe Standard Time", extra=(
        "ORGANIZER;CN=Alice:mailto:alice@example.org\n"
        "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.org\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org\n"),
        day="20270714")
    answer = put(server.session("alice"), work(server) + "outlook-meeting.ics", text)
    assert answer.status_code == 201, answer.text
    assert free_busy(server, "20270714T000000Z", "20270715T000000Z", user="bob") == (
        "FREEBUSY;FBTYPE=BUSY:20270714T080000Z/20270714T090000Z")


def test_whole_calendar_put_resolves_every_object(server: RadicaleServer) -> None:
    """A calendar imported in one PUT (Radicale stores each UID as an object)."""
    session = server.session("alice")
    first = outlook_event("import-1@example.org", "W. Europe Standard Time")
    second = outlook_event("import-2@example.org", '"(UTC-05:00) Eastern Time (US & Canada)"',
                           day="20270713")
    body = first.replace("END:VCALENDAR\r\n", "") + second[second.index("BEGIN:VEVENT"):]
    answer = put(session, server.url + "/alice/imported/", body)
    assert answer.status_code == 201, answer.text
    imported = server.url + "/alice/imported/"
    found = report(session, imported, calendar_query("20270712T080000Z", "20270712T083000Z"))
    assert "import-1" in found.text and "import-2" not in found.text
    found = report(session, imported, calendar_query("20270713T140000Z", "20270713T143000Z"))
    assert "import-2" in found.text and "import-1" not in found.text


# -- refused when it cannot be resolved ----------------------------------------------------


def test_unknown_zone_without_vtimezone_is_refused_and_not_stored(
        server: RadicaleServer) -> None:
    session = server.session("alice")
    url = work(server) + "customized.ics"
    answer = put(session, url, outlook_event("customized@example.org",
                                             "Customized Time Zone 1"))
    assert answer.status_code == 403, answer.text
    error = ET.fromstring(answer.content)
    assert error.tag == "{DAV:}error"
    assert error.find("{%s}valid-calendar-data" % CALDAV_NS) is not None
    assert '"Customized Time Zone 1"' in answer.text
    assert session.get(url).status_code == 404
    assert "customized" not in " ".join(
        hrefs_between(server, "20270712T000000Z", "20270713T000000Z"))


def test_an_unknown_zone_with_its_vtimezone_is_stored_as_sent(
        server: RadicaleServer) -> None:
    """Defined zones are the sender's business: Outlook's own VTIMEZONE is kept, ETag
    and all."""
    session = server.session("alice")
    text = outlook_event("defined@example.org", "W. Europe Standard Time",
                         timezones=OUTLOOK_BERLIN, day="20270715")
    answer = put(session, work(server) + "defined.ics", text)
    assert answer.status_code == 201, answer.text
    assert answer.headers.get("ETag")
    stored = session.get(work(server) + "defined.ics").text
    assert "TZID:W. Europe Standard Time" in stored and "Europe/Berlin" not in stored
    assert hrefs_between(server, "20270715T080000Z", "20270715T083000Z") == ["defined.ics"]


# -- plain radicale with only the storage plugin, and vanilla Radicale ----------------------


@pytest.fixture
def plain(make_server: ServerFactory, tmp_path: Path) -> RadicaleServer:
    running = make_server("plain", start=False, process=True, domain=DOMAIN,
                          database_url="sqlite:///%s" % (tmp_path / "plain.sqlite3"))
    running.launcher = "radicale"
    running.start()
    mkcalendar(running.session("alice"), work(running))
    return running


def test_storage_plugin_alone_resolves_and_refuses(plain: RadicaleServer) -> None:
    session = plain.session("alice")
    answer = put(session, work(plain) + "outlook.ics",
                 outlook_event("plain-outlook@example.org", "W. Europe Standard Time"))
    assert answer.status_code == 201, answer.text
    assert hrefs_between(plain, "20270712T080000Z", "20270712T083000Z") == ["outlook.ics"]
    assert "TZID=Europe/Berlin" in session.get(work(plain) + "outlook.ics").text

    refused = put(session, work(plain) + "unknown.ics",
                  outlook_event("plain-unknown@example.org", "Customized Time Zone 2"))
    assert refused.status_code == 400  # Radicale's own answer to a refused upload
    assert session.get(work(plain) + "unknown.ics").status_code == 404


def test_objects_with_their_vtimezones_are_stored_as_vanilla_radicale_stores_them(
        server: RadicaleServer, make_server: ServerFactory) -> None:
    vanilla = make_server("vanilla", storage_type=VANILLA)
    mkcalendar(vanilla.session("alice"), work(vanilla))
    text = outlook_event("same@example.org", "W. Europe Standard Time",
                         timezones=OUTLOOK_BERLIN, day="20270716")
    answers = [put(s.session("alice"), work(s) + "same.ics", text) for s in (vanilla, server)]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].headers["ETag"] == answers[1].headers["ETag"]
    stored = [s.session("alice").get(work(s) + "same.ics") for s in (vanilla, server)]
    assert stored[0].content == stored[1].content
