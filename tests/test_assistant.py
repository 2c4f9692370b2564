"""End to end: invite the assistant from a CalDAV client, get a track, mails, changes.

A real ``radicale-tracks serve`` on 127.0.0.1 with the storage and rights plugins, the
python ``caldav`` library as the organizer's client, and a real SMTP server (aiosmtpd)
receiving the mail the outbox sends.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import caldav
import pytest
import requests
from icalendar import Calendar

from caldav_clients import client
from databases import fresh_database
from helpers import USERS, RadicaleServer, free_port
from mailserver import MailSink, by_kind
from worlds import server_options, start_server

UTC = datetime.UTC
DOMAIN = "example.org"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def setup(request: pytest.FixtureRequest, tmp_path: Path
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    sink = MailSink().start()
    with fresh_database(request.param, tmp_path) as url:
        sink.watch(url)
        server = start_server(tmp_path / "server", server_options(sink.port, url))
        try:
            yield server, sink
        finally:
            server.stop()
            sink.stop()


def meeting(uid: str, summary: str, start: datetime.datetime, attendees: list[str], *,
            sequence: int = 0, extra: str = "", hours: int = 1) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ"),
             "DTEND:" + (start + datetime.timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ"),
             "SUMMARY:" + summary, "SEQUENCE:%d" % sequence,
             "ORGANIZER;CN=Alice:mailto:alice@example.org"]
    lines += ["ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:" + a for a in attendees]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def stored(calendar: caldav.Calendar, uid: str) -> Any:
    return Calendar.from_ical(calendar.event_by_uid(uid).data).walk("VEVENT")[0]


def attendee(component: Any, address: str) -> Any:
    found_all = component.get("ATTENDEE")
    for found in found_all if isinstance(found_all, list) else [found_all]:
        if str(found).lower() == "mailto:" + address:
            return found
    raise AssertionError("%s not an attendee" % address)


def track_slug(component: Any) -> str:
    return str(component["X-TRACKS-TRACK"])


MONDAY = datetime.datetime(2027, 1, 4, 10, tzinfo=UTC)


def test_invite_opens_a_track_for_members_only(setup: tuple[RadicaleServer, MailSink]
                                               ) -> None:
    server, sink = setup
    alice = client(server, "alice").principal().make_calendar(name="Work", cal_id="work")
    client(server, "bob").principal()  # bob has logged in once: a local user
    uid = "kickoff-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(uid, "Project kickoff", MONDAY,
                             ["assistant@example.org", "bob@example.org", "dana@external.test"]))

    mails = by_kind(sink.wait_for(3))
    assert set(mails) == {("track_created", "alice@example.org"),
                          ("member_added", "bob@example.org"),
                          ("member_added", "dana@external.test")}

    # the organizer's stored event: the assistant accepted, details written once
    event = stored(alice, uid)
    assistant = attendee(event, "assistant@example.org")
    assert assistant.params["PARTSTAT"] == "ACCEPTED"
    assert assistant.params["SCHEDULE-STATUS"] == "1.2"
    slug = track_slug(event)
    description = str(event["DESCRIPTION"])
    track_address = re.search(r"assistant\+[0-9a-f]+@example\.org", description).group(0)
    assert description.count("-- Track --") == 1
    assert str(event["URL"]) == "%s/assistant/%s/" % (server.url, slug)
    assert "https://meet.example.org/%s" % slug in str(event["CONFERENCE"])

    # iMIP: the organizer gets the assistant's REPLY, participants the REQUEST
    reply = mails["track_created", "alice@example.org"]
    assert track_address in reply.text() and str(event["URL"]) in reply.text()
    assert reply.message["From"].addresses[0].addr_spec == track_address
    calendar = reply.calendar()
    assert calendar is not None and str(calendar["METHOD"]) == "REPLY"
    component = calendar.walk("VEVENT")[0]
    # (the caldav library bumps SEQUENCE on every save)
    assert str(component["UID"]) == uid
    assert int(component["SEQUENCE"]) == int(event["SEQUENCE"])
    assert str(component["ATTENDEE"]).lower() == "mailto:assistant@example.org"
    assert component["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert str(component["ORGANIZER"]).lower() == "mailto:alice@example.org"
    # dana (outside the server) gets the one invitation inside the assistant's mail...
    request = mails["member_added", "dana@external.test"].calendar()
    assert request is not None and str(request["METHOD"]) == "REQUEST"
    component = request.walk("VEVENT")[0]
    assert str(component["UID"]) == uid
    assert component["ORGANIZER"].params["SENT-BY"].lower() == "mailto:" + track_address
    assert "mailto:dana@external.test" in [str(a).lower() for a in component["ATTENDEE"]]
    # ...bob (a user here) gets it in his calendar and inbox: his mail carries none
    assert mails["member_added", "bob@example.org"].calendar() is None
    bob_copy = client(server, "bob").principal().calendars()[0].event_by_uid(uid)
    bob_event = Calendar.from_ical(bob_copy.data).walk("VEVENT")[0]
    assert attendee(bob_event, "bob@example.org").params["PARTSTAT"] == "NEEDS-ACTION"
    inbox = client(server, "bob").principal().schedule_inbox().get_items()
    assert [item.id for item in inbox] == [uid]
    bob_text = mails["member_added", "bob@example.org"].text()
    dana_text = mails["member_added", "dana@external.test"].text()
    assert "%s/assistant/%s/" % (server.url, slug) in bob_text
    feed_url = re.search(r"http://\S+/\.tracks/feed/\S+\.ics", dana_text).group(0)

    # the track: readable by members (bob), invisible to others (carol)
    track_url = "%s/assistant/%s/" % (server.url, slug)
    copy = client(server, "bob").calendar(url=track_url).event_by_uid(uid)
    copy_event = Calendar.from_ical(copy.data).walk("VEVENT")[0]
    assert str(copy_event["SUMMARY"]) == "Project kickoff"
    assert attendee(copy_event, "assistant@example.org").params["PARTSTAT"] == "ACCEPTED"
    for user in ("carol",):
        answer = requests.request("PROPFIND", track_url, auth=(user, USERS[user]),
                                  headers={"Depth": "1"}, timeout=10)
        assert answer.status_code in (403, 404), answer.status_code
    anonymous = requests.get(track_url, timeout=10)
    assert anonymous.status_code == 401
    assert requests.request("PUT", track_url + "x.ics", auth=("bob", USERS["bob"]),
                            data=meeting("x", "x", MONDAY, []), timeout=10
                            ).status_code == 403

    # the read-only feed for members without an account
    feed = requests.get(feed_url, timeout=10)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    assert uid in feed.text
    assert requests.get(feed_url.replace(".ics", "0.ics"), timeout=10).status_code == 404
    assert requests.put(feed_url, data="x", timeout=10).status_code == 405

    listing = server.cli("tracks", "list")
    assert listing.returncode == 0 and "Project kickoff" in listing.stdout
    shown = server.cli("tracks", "show", slug)
    assert shown.returncode == 0, shown.stderr
    for address in ("alice@example.org", "bob@example.org", "dana@external.test"):
        assert address in shown.stdout
    assert server.cli("tracks", "show", track_address).stdout == shown.stdout


def test_changes_and_cancellations_are_followed(setup: tuple[RadicaleServer, MailSink]
                                               ) -> None:
    server, sink = setup
    alice = client(server, "alice").principal().make_calendar(name="Work", cal_id="work")
    uid = "weekly-%s@example.org" % uuid.uuid4().hex[:8]
    attendees = ["assistant@example.org", "dana@external.test"]
    alice.save_event(meeting(uid, "Weekly", MONDAY, attendees, extra="RRULE:FREQ=WEEKLY;COUNT=10"))
    sink.wait_for(2)
    sink.take()
    event = stored(alice, uid)
    slug = track_slug(event)
    track = client(server, "alice")  # alice is a member (the organizer)
    track_calendar = track.calendar(url="%s/assistant/%s/" % (server.url, slug))

    # re-saving what the server returned (bookkeeping only) sends nothing, adds nothing
    saved = alice.event_by_uid(uid)
    saved.save()
    assert sink.settle(quiet=2.5) == []
    assert str(stored(alice, uid)["DESCRIPTION"]).count("-- Track --") == 1

    # move the meeting: the track copy follows and everyone hears what changed
    moved = Calendar.from_ical(alice.event_by_uid(uid).data)
    component = moved.walk("VEVENT")[0]
    component["DTSTART"].dt = MONDAY + datetime.timedelta(hours=4)
    component["DTEND"].dt = MONDAY + datetime.timedelta(hours=5)
    alice.save_event(moved.to_ical().decode())
    # alice made the change herself: she is not told about it
    mails = by_kind(sink.wait_for(1))
    assert set(mails) == {("meeting_changed", "dana@external.test")}
    assert "Moved from Monday 4 January 10:00 to Monday 4 January 14:00." in mails[
        "meeting_changed", "dana@external.test"].text()
    request = mails["meeting_changed", "dana@external.test"].calendar()
    assert str(request["METHOD"]) == "REQUEST"
    assert int(request.walk("VEVENT")[0]["SEQUENCE"]) == int(stored(alice, uid)["SEQUENCE"])
    copy = Calendar.from_ical(track_calendar.event_by_uid(uid).data).walk("VEVENT")[0]
    assert copy["DTSTART"].dt == MONDAY + datetime.timedelta(hours=4)
    sink.take()

    # cancel one instance (EXDATE): a CANCEL for that instance, the copy marks it
    instance = MONDAY + datetime.timedelta(days=7, hours=4)
    cancelled = Calendar.from_ical(alice.event_by_uid(uid).data)
    cancelled.walk("VEVENT")[0].add("EXDATE", instance)
    alice.save_event(cancelled.to_ical().decode())
    mails = by_kind(sink.wait_for(2))
    cancel = mails["meeting_cancelled", "dana@external.test"].calendar()
    assert str(cancel["METHOD"]) == "CANCEL"
    assert cancel.walk("VEVENT")[0]["RECURRENCE-ID"].dt == instance
    copy_calendar = Calendar.from_ical(track_calendar.event_by_uid(uid).data)
    marked = [c for c in copy_calendar.walk("VEVENT")
              if "RECURRENCE-ID" in c and c["RECURRENCE-ID"].dt == instance]
    excluded = [c for c in copy_calendar.walk("VEVENT") if "EXDATE" in c]
    assert marked and str(marked[0]["STATUS"]) == "CANCELLED" or excluded
    sink.take()

    # delete the series: cancelled in the track, everyone told
    alice.event_by_uid(uid).delete()
    mails = by_kind(sink.wait_for(2))
    assert set(mails) == {("meeting_cancelled", "alice@example.org"),
                          ("meeting_cancelled", "dana@external.test")}
    assert str(mails["meeting_cancelled", "dana@external.test"].calendar()["METHOD"]) == "CANCEL"
    copy = Calendar.from_ical(track_calendar.event_by_uid(uid).data).walk("VEVENT")[0]
    assert str(copy["STATUS"]) == "CANCELLED"


def test_track_address_adds_meetings_and_unknown_ones_are_refused(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    alice = client(server, "alice").principal().make_calendar(name="Work", cal_id="work")
    first = "first-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(first, "Board", MONDAY,
                             ["assistant@example.org", "dana@external.test"]))
    sink.wait_for(2)
    sink.take()
    slug = track_slug(stored(alice, first))
    address = re.search(r"assistant\+[0-9a-f]+@example\.org",
                        str(stored(alice, first)["DESCRIPTION"])).group(0)

    second = "second-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(second, "Board (March)", MONDAY + datetime.timedelta(days=60),
                             [address.upper().replace("+", "%2B"), "dana@external.test",
                              "erin@external.test"]))
    mails = by_kind(sink.wait_for(3))
    assert set(mails) == {("meeting_ready", "alice@example.org"),
                          ("meeting_added", "dana@external.test"),
                          ("member_added", "erin@external.test")}
    event = stored(alice, second)
    assert track_slug(event) == slug
    track_calendar = client(server, "alice").calendar(url="%s/assistant/%s/" % (server.url, slug))
    assert {str(Calendar.from_ical(e.data).walk("VEVENT")[0]["UID"])
            for e in track_calendar.events()} == {first, second}
    sink.take()

    unknown = "assistant+0123456789abcdef0123@example.org"
    third = "third-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(third, "Lunch", MONDAY, [unknown, "dana@external.test"]))
    mails = by_kind(sink.wait_for(2))
    # the refused track does not stop dana's own invitation (server-side scheduling)
    assert set(mails) == {("track_refused", "alice@example.org"),
                          ("invitation", "dana@external.test")}
    assert unknown in mails["track_refused", "alice@example.org"].text()
    assert attendee(stored(alice, third), unknown).params["SCHEDULE-STATUS"] == "3.7"
    assert "X-TRACKS-TRACK" not in stored(alice, third)
    sink.take()

    # a closed track refuses new meetings (and says so); reopened, it takes them again
    assert server.cli("tracks", "close", address).returncode == 0
    fourth = "fourth-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(fourth, "Board (May)", MONDAY, [address]))
    mails = by_kind(sink.wait_for(1))
    assert "closed" in mails["track_refused", "alice@example.org"].text()
    assert attendee(stored(alice, fourth), address).params["SCHEDULE-STATUS"] == "3.7"
    sink.take()
    assert server.cli("tracks", "reopen", slug).returncode == 0
    fifth = "fifth-%s@example.org" % uuid.uuid4().hex[:8]
    alice.save_event(meeting(fifth, "Board (June)", MONDAY, [address]))
    assert set(by_kind(sink.wait_for(1))) == {("meeting_ready", "alice@example.org")}
    assert track_slug(stored(alice, fifth)) == slug


def test_stale_versions_are_ignored_and_rewritten_puts_carry_no_etag(
        setup: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = setup
    session = server.session("alice")
    assert session.request("MKCALENDAR", server.url + "/alice/work/").status_code == 201
    url = server.url + "/alice/work/review.ics"
    headers = {"Content-Type": "text/calendar"}
    attendees = ["assistant@example.org", "dana@external.test"]
    answer = session.put(url, data=meeting("review@example.org", "Review", MONDAY,
                                           attendees, sequence=3), headers=headers)
    assert answer.status_code == 201
    assert "ETag" not in answer.headers  # stored content differs: RFC 4791 §5.3.4
    sink.wait_for(2)
    sink.take()
    slug = track_slug(Calendar.from_ical(session.get(url).text).walk("VEVENT")[0])
    copy_url = "%s/assistant/%s/" % (server.url, slug)
    before = client(server, "alice").calendar(url=copy_url).event_by_uid(
        "review@example.org").data

    # an offline client overwrites with an older version (lower SEQUENCE): the organizer's
    # file takes it (a PUT is a PUT), the track keeps the newer meeting
    answer = session.put(url, data=meeting("review@example.org", "Review (old)",
                                           MONDAY - datetime.timedelta(days=1), attendees,
                                           sequence=1), headers=headers)
    assert answer.status_code == 204
    assert sink.settle(quiet=2.5) == []
    after = client(server, "alice").calendar(url=copy_url).event_by_uid(
        "review@example.org").data
    assert after == before
    assert "stale" in server.cli("tracks", "show", slug).stdout

    # writes that do not involve the assistant keep Radicale's ETag
    plain = session.put(server.url + "/alice/work/plain.ics",
                        data=meeting("plain@example.org", "Plain", MONDAY, []),
                        headers=headers)
    assert plain.status_code == 201 and plain.headers.get("ETag")


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_a_failing_assistant_keeps_the_organizer_write(tmp_path: Path) -> None:
    sink = MailSink().start()
    folder = tmp_path / "server" / "collections"
    folder.mkdir(parents=True)
    (folder / "collection-root").mkdir()
    # a file where the assistant's principal folder should be: creating a track fails
    (folder / "collection-root" / "assistant").write_text("in the way")
    url = "sqlite:///%s" % (tmp_path / "db.sqlite3")
    server = start_server(tmp_path / "server", server_options(sink.port, url))
    sink.watch(url)
    try:
        alice = client(server, "alice").principal().make_calendar(name="Work", cal_id="work")
        uid = "fails@example.org"
        alice.save_event(meeting(uid, "Kept anyway", MONDAY, ["assistant@example.org"]))
        event = stored(alice, uid)
        assert str(event["SUMMARY"]) == "Kept anyway"
        assert "X-TRACKS-TRACK" not in event
        listing = server.cli("tracks", "list")
        assert "assistant failures" in listing.stdout and uid in listing.stdout
        shown = server.cli("tracks", "show", uid)
        assert shown.returncode == 0 and "failed" in shown.stdout
        assert sink.settle(quiet=1.5) == []
    finally:
        server.stop()
        sink.stop()


def test_mail_waits_for_smtp_and_survives_restarts(tmp_path: Path) -> None:
    port = free_port()
    url = "sqlite:///%s" % (tmp_path / "db.sqlite3")
    options = server_options(port, url)
    server = start_server(tmp_path / "server", options)
    sink: MailSink | None = None
    try:
        # SMTP down: the mails wait as rows, then go out once it is back
        alice = client(server, "alice").principal().make_calendar(name="Work", cal_id="work")
        uid = "offline@example.org"
        alice.save_event(meeting(uid, "While SMTP is down", MONDAY,
                                 ["assistant@example.org", "dana@external.test"]))
        listing = server.cli("outbox", "list", "--status", "pending")
        assert listing.stdout.count("pending") == 2, listing.stdout
        sink = MailSink(port).start()
        assert sorted(m.kind for m in sink.wait_for(2)) == ["member_added", "track_created"]
        sink.stop()
        sink = None

        # down again, and the server restarts in the middle: nothing lost
        moved = Calendar.from_ical(alice.event_by_uid(uid).data)
        moved.walk("VEVENT")[0]["DTSTART"].dt = MONDAY + datetime.timedelta(hours=2)
        moved.walk("VEVENT")[0]["DTEND"].dt = MONDAY + datetime.timedelta(hours=3)
        alice.save_event(moved.to_ical().decode())
        assert server.cli("outbox", "list", "--status", "pending").stdout.count("pending") == 1
        server.stop()
        sink = MailSink(port).start()
        server = start_server(tmp_path / "server", options)
        assert [(m.kind, m.recipient) for m in sink.wait_for(1)] == [
            ("meeting_changed", "dana@external.test")]  # not alice: her own change

        # and nothing is sent twice, across another restart
        server.stop()
        server = start_server(tmp_path / "server", options)
        assert len(sink.watch(url).settle(quiet=3)) == 1
        assert server.cli("outbox", "list", "--status", "sent").stdout.count("sent") == 3
    finally:
        server.stop()
        if sink is not None:
            sink.stop()
