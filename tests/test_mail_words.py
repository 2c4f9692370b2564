"""End to end: what people read in the assistant's mails is written in words.

A real server, the caldav client as alice's calendar, the SMTP sink: a cancelled
occurrence is named by its own date in the reader's zone, a move is told in words (no
property names, no iCalendar dates), the organizer is not told about her own change, the
"Track created" mail names the first occurrence that takes place, and a user of this
server gets the CalDAV URL of the track where a guest gets the feed.
"""

from __future__ import annotations

import datetime
import email.policy
import re
import uuid
import zoneinfo
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import caldav
import pytest
from icalendar import Calendar, Event, Timezone, vCalAddress

from caldav_clients import client
from databases import fresh_database
from helpers import RadicaleServer
from inbound_mta import Inbound
from mailserver import MailSink, Received, by_kind
from worlds import server_options, start_server

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
#: Monday 4 January 2027, 10:00 in Berlin
MONDAY = datetime.datetime(2027, 1, 4, 10, tzinfo=BERLIN)
#: raw iCalendar in a text: a property name or a basic-format date
RAW = re.compile(r"\b(DTSTART|DTEND|ATTENDEE|SUMMARY|RRULE|EXDATE|dtstart|dtend|attendee"
                 r"|rrule|exdate)\b|\b\d{8}(T\d{6}Z?)?\b")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def setup(request: pytest.FixtureRequest, tmp_path: Path
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    sink = MailSink().start()
    with fresh_database(request.param, tmp_path) as url:
        # carol is listed here but never logged in: still a user of this server
        server = start_server(tmp_path / "server", server_options(
            sink.port, url, addresses="carol: carol.c@example.org"))
        try:
            yield server, sink
        finally:
            server.stop()
            sink.stop()


def berlin_event(uid: str, summary: str, start: datetime.datetime, attendees: list[str],
                 **properties: object) -> str:
    """An event in Europe/Berlin with its VTIMEZONE, as Thunderbird or Apple write it."""
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//tests//EN")
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    event.add("DTSTART", start)
    event.add("DTEND", start + datetime.timedelta(hours=1))
    event.add("SUMMARY", summary)
    organizer = vCalAddress("mailto:alice@example.org")
    organizer.params["CN"] = "Alice"
    event.add("ORGANIZER", organizer)
    for address in attendees:
        event.add("ATTENDEE", "mailto:" + address,
                  parameters={"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    for name, value in properties.items():
        event.add(name.replace("_", "-"), value)
    calendar.add_component(event)
    calendar.add_component(Timezone.from_tzinfo(BERLIN, "Europe/Berlin"))
    return calendar.to_ical().decode("utf-8")


def work_calendar(server: RadicaleServer) -> caldav.Calendar:
    return client(server, "alice").principal().make_calendar(name="Work", cal_id="work")


def edit(calendar: caldav.Calendar, uid: str, change: object) -> None:
    """Fetch the stored event, change its master, save it with the next SEQUENCE (what
    Thunderbird and Apple do for a change attendees must hear about)."""
    fetched = Calendar.from_ical(calendar.event_by_uid(uid).data)
    master = next(c for c in fetched.walk("VEVENT") if "RECURRENCE-ID" not in c)
    change(master)  # type: ignore[operator]
    master["SEQUENCE"] = int(master.get("SEQUENCE", 0)) + 1
    calendar.save_event(fetched.to_ical().decode("utf-8"))


def words_only(mail: Received) -> str:
    text = mail.text()
    for part in (mail.message["Subject"], text):
        assert not RAW.search(str(part)), part
    return text


def test_a_cancelled_occurrence_is_named_by_its_date_in_words(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    alice = work_calendar(server)
    # bob lives in New York: his calendar says so (calendar-timezone, RFC 4791 §5.2.2)
    bob = client(server, "bob").principal().make_calendar(name="Home", cal_id="home")
    zone = Calendar()
    zone.add_component(Timezone.from_tzinfo(zoneinfo.ZoneInfo("America/New_York"),
                                            "America/New_York"))
    answer = server.session("bob").request(
        "PROPPATCH", str(bob.url), headers={"Content-Type": "application/xml"},
        data=('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:calendar-timezone>'
              '%s</C:calendar-timezone></D:prop></D:set></D:propertyupdate>'
              % zone.to_ical().decode("utf-8").replace("&", "&amp;").replace("<", "&lt;")))
    assert answer.status_code == 207, answer.text
    uid = "weekly-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(berlin_event(uid, "Weekly", MONDAY, [
        "assistant@example.org", "dana@external.test", "bob@example.org"],
                                  RRULE={"FREQ": "WEEKLY", "COUNT": 10}))
    sink.wait_for(3)
    sink.take()

    cancelled = MONDAY + datetime.timedelta(days=14)  # Monday 18 January 2027
    edit(alice, uid, lambda master: master.add("EXDATE", cancelled))
    mails = by_kind(sink.wait_for(3))
    assert "Monday 18 January 2027, 04:00–05:00 (America/New_York)" in words_only(
        mails["meeting_cancelled", "bob@example.org"])
    when = "Monday 18 January 2027, 10:00–11:00 (Europe/Berlin)"
    for recipient in ("dana@external.test", "alice@example.org"):
        mail = mails["meeting_cancelled", recipient]
        text = words_only(mail)
        assert when in text and when in mail.message["Subject"]
        assert "4 January" not in text.split("When:")[0]  # not the series' start
    assert "You cancelled" in mails["meeting_cancelled", "alice@example.org"].text()
    cancel = mails["meeting_cancelled", "dana@external.test"].calendar()
    assert cancel is not None and cancel.walk("VEVENT")[0]["RECURRENCE-ID"].dt == cancelled


def test_a_move_is_told_in_words_and_not_to_the_organizer_who_made_it(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    alice = work_calendar(server)
    uid = "review-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(berlin_event(uid, "Review", MONDAY,
                                  ["assistant@example.org", "dana@external.test"]))
    sink.wait_for(2)
    sink.take()

    later = MONDAY + datetime.timedelta(days=1, hours=4)  # Tuesday 5 January, 14:00

    def move(master: Event) -> None:
        master["DTSTART"].dt = later
        master["DTEND"].dt = later + datetime.timedelta(hours=1)
        master["SUMMARY"] = "Design review"
        master.add("ATTENDEE", "mailto:erin@external.test", parameters={"CN": "Erin"})

    edit(alice, uid, move)
    mails = by_kind(sink.settle(quiet=2.5))
    assert set(mails) == {("meeting_changed", "dana@external.test"),
                          ("member_added", "erin@external.test")}  # nothing for alice
    text = words_only(mails["meeting_changed", "dana@external.test"])
    assert "Moved from Monday 4 January 10:00 to Tuesday 5 January 14:00." in text
    assert "New title: Design review (was: Review)." in text
    assert "Erin was added." in text
    assert "Tuesday 5 January 2027, 14:00–15:00 (Europe/Berlin)" in text
    shown = server.cli("tracks", "show", uid).stdout
    assert "Moved from Monday 4 January 10:00 to Tuesday 5 January 14:00." in shown
    assert "dtstart" not in shown.lower()


def test_track_created_names_the_first_occurrence_that_takes_place(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    alice = work_calendar(server)
    uid = "standup-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(berlin_event(uid, "Standup", MONDAY, ["assistant@example.org"],
                                  RRULE={"FREQ": "WEEKLY", "COUNT": 5}, EXDATE=MONDAY))
    mail = by_kind(sink.wait_for(1))["track_created", "alice@example.org"]
    text = words_only(mail)
    assert ("When:  Monday 11 January 2027, 10:00–11:00 (Europe/Berlin), repeats every "
            "week, 5 times") in text
    assert "4 January" not in text


def test_users_here_get_the_caldav_url_and_guests_the_feed(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    alice = work_calendar(server)
    uid = "kickoff-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(berlin_event(uid, "Kickoff", MONDAY, [
        "assistant@example.org", "carol.c@example.org", "dana@external.test"]))
    mails = by_kind(sink.wait_for(3))
    slug = re.search(r"/assistant/([^/\s]+)/", mails[
        "track_created", "alice@example.org"].text()).group(1)
    caldav_url = "%s/assistant/%s/" % (server.url, slug)
    carol = mails["member_added", "carol.c@example.org"].text()
    dana = mails["member_added", "dana@external.test"].text()
    assert caldav_url in carol and "/.tracks/feed/" not in carol
    assert "/.tracks/feed/" in dana and caldav_url not in dana


# -- an organizer elsewhere (iMIP through radicale-tracks deliver) -------------------------

def google_request(uid: str, sequence: int, start: str, summary: str) -> bytes:
    """A REQUEST as Google Calendar mails it (UTC times, the assistant and dana invited)."""
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "METHOD:REQUEST", "BEGIN:VEVENT", "UID:" + uid,
        "DTSTAMP:2027010%dT080000Z" % (sequence + 1), "DTSTART:%s" % start,
        "DTEND:%s" % start.replace("T10", "T11").replace("T14", "T15"),
        "SEQUENCE:%d" % sequence, "SUMMARY:" + summary,
        "ORGANIZER;CN=Olivia:mailto:olivia@gmail.test",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Olivia:mailto:olivia@gmail.test",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:assistant@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Dana:mailto:dana@external.test",
        "END:VEVENT", "END:VCALENDAR", ""])
    message = EmailMessage()
    message["From"] = "Olivia <olivia@gmail.test>"
    message["To"] = "assistant@example.org"
    message["Subject"] = "Invitation: " + summary
    message["Message-ID"] = "<%s@google.test>" % uuid.uuid4().hex
    message.set_content("Olivia has invited you.")
    message.add_attachment(ics.encode("utf-8"), maintype="text", subtype="calendar",
                           params={"method": "REQUEST"}, disposition="inline")
    return message.as_bytes(policy=email.policy.SMTP)


def test_an_organizer_elsewhere_gets_a_confirmation_not_meeting_changed(
        inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.settle()
    inbound.sink.take()
    uid = "google-%s@google.test" % uuid.uuid4().hex[:8]

    def deliver(raw: bytes) -> None:
        done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
        assert done.returncode == 0, done.stderr

    deliver(google_request(uid, 0, "20270104T100000Z", "Planning"))
    assert ("track_created", "olivia@gmail.test") in by_kind(inbound.sink.settle())
    inbound.sink.take()

    # a new title only: her calendar told dana itself, the assistant has nothing to say
    deliver(google_request(uid, 1, "20270104T100000Z", "Planning (v2)"))
    assert inbound.sink.settle(quiet=2.0) == []

    # moved: she gets the assistant's renewed acceptance, in words, not "Meeting changed"
    deliver(google_request(uid, 2, "20270105T140000Z", "Planning (v2)"))
    mails = by_kind(inbound.sink.settle(quiet=2.0))
    assert set(mails) == {("change_followed", "olivia@gmail.test")}
    mail = mails["change_followed", "olivia@gmail.test"]
    text = words_only(mail)
    assert "Meeting changed" not in mail.message["Subject"]
    assert "Moved from Monday 4 January 10:00 to Tuesday 5 January 14:00." in text
    reply = mail.calendar()
    assert reply is not None and str(reply["METHOD"]) == "REPLY"
    assert reply.walk("VEVENT")[0]["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
