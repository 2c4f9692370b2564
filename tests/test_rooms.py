"""End to end: rooms answer invitations by their booking policy, by CalDAV and by mail.

A real Radicale with the plugins (served by a thread of the test process) with one room
from the config file and three added with ``radicale-tracks rooms add``; alice and bob
invite them from the ``caldav`` library; an organizer elsewhere invites one by mail
(``radicale-tracks deliver``) and gets the room's REPLY through a real SMTP server.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from icalendar import Calendar

from caldav_clients import find, inbox_items, method_of, partstat, uid_for
from databases import BACKENDS
from helpers import USERS, RadicaleServer, put, stored_texts
from inbound_mta import AUTHSERV, collection_objects, stamp
from inprocess import ThreadedServer
from mailserver import MailSink
from worlds import mail_world, server_options

UTC = datetime.UTC
DOMAIN = "example.org"
# meetings start ten days from now at 10:00 UTC: inside every booking window below
DAY = (datetime.datetime.now(UTC) + datetime.timedelta(days=10)).replace(
    hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """Rooms from the config (atlas) and from the CLI (orion, lyra, vega), mail to the
    sink, inbound mail from example.org and gmail.test."""

    def make(workdir: Path, url: str, sink: MailSink) -> RadicaleServer:
        options = server_options(
            sink.port, url, inbound_allowed_senders="example.org, gmail.test",
            inbound_trusted_authserv_ids=AUTHSERV,
            user_types="\n    projector: RESOURCE",
            rooms="\n    atlas@example.org: name=Atlas; capacity=8; "
                  "pools=3rd-floor; policy=if-free; priority=1")
        del options["join_url_template"]
        server = ThreadedServer(workdir, storage_options=options,
                                rights_type="radicale_tracks.rights",
                                web_type="radicale_tracks.web")
        for arguments in (
                ("orion@example.org", "--name", "Orion", "--policy", "always",
                 "--pool", "3rd-floor", "--capacity", "4"),
                ("lyra@example.org", "--name", "Lyra", "--policy", "manual",
                 "--delegate", "carol"),
                ("vega@example.org", "--name", "Vega", "--max-conflicts", "1",
                 "--max-duration", "120", "--window-days", "60")):
            added = server.cli("rooms", "add", *arguments)
            assert added.returncode == 0, added.stderr
        return server.start()

    with mail_world(tmp_path_factory.mktemp("rooms"), request.param, make) as world:
        yield world


def meeting(uid: str, start: datetime.datetime, rooms: list[str], *, organizer: str = "alice",
            hours: int = 1, rrule: str = "", summary: str = "Planning") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20260101T000000Z",
             "DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ"),
             "DTEND:" + (start + datetime.timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ"),
             "SUMMARY:" + summary, "SEQUENCE:0",
             "ORGANIZER:mailto:%s@example.org" % organizer]
    if rrule:
        lines.append("RRULE:" + rrule)
    lines += ["ATTENDEE;CUTYPE=ROOM;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:%s@example.org"
              % room for room in rooms]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def book(server: RadicaleServer, user: str, uid: str, text: str) -> None:
    answer = put(server.session(user), "%s/%s/work/%s.ics" % (server.url, user, uid), text)
    assert answer.status_code in (201, 204), answer.text


def room_copies(server: RadicaleServer, room: str, uid: str) -> list[Calendar]:
    """The room's objects with ``uid``, read by its delegate carol or through the index."""
    found = []
    for calendar in collection_objects(server, "carol", "/%s/calendar/" % room) \
            if room == "lyra" else _as_admin(server, room):
        if any(str(e["UID"]) == uid for e in calendar.walk("VEVENT")):
            found.append(calendar)
    return found


def _as_admin(server: RadicaleServer, room: str) -> list[Calendar]:
    """Rooms have no password: read their calendar files as an admin would."""
    return [Calendar.from_ical(text) for text in stored_texts(server, "%s/calendar" % room)]


def room_partstats(calendar: Calendar, address: str) -> dict[str, str]:
    """RECURRENCE-ID (or 'master') → the room's PARTSTAT in ``calendar``."""
    found = {}
    for event in calendar.walk("VEVENT"):
        key = event.get("RECURRENCE-ID")
        for prop in _list(event.get("ATTENDEE")):
            if str(prop).lower() == "mailto:" + address:
                found[key.to_ical().decode() if key else "master"] = str(
                    prop.params.get("PARTSTAT"))
    return found


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "").replace("\n ", "")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


# -- if-free -----------------------------------------------------------------------------

def test_a_free_room_accepts_and_a_busy_one_declines(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    first, second = uid_for("atlas-1"), uid_for("atlas-2")
    book(server, "alice", first, meeting(first, DAY, ["atlas"]))
    # the organizer's object carries the room's answer already (one version to fetch)
    assert partstat(find(server, "alice", first), "atlas@example.org") == "ACCEPTED"
    (copy,) = room_copies(server, "atlas", first)
    assert room_partstats(copy, "atlas@example.org") == {"master": "ACCEPTED"}
    replies = [i for i in inbox_items(server, "alice", first) if method_of(i) == "REPLY"]
    assert len(replies) == 1 and "COMMENT:the room is free" in unfolded(replies[0].data)

    # bob wants atlas half an hour later: it is busy, it declines, it keeps no copy
    book(server, "bob", second, meeting(second, DAY + datetime.timedelta(minutes=30),
                                        ["atlas"], organizer="bob"))
    assert partstat(find(server, "bob", second), "atlas@example.org") == "DECLINED"
    assert room_copies(server, "atlas", second) == []
    (reply,) = [i for i in inbox_items(server, "bob", second) if method_of(i) == "REPLY"]
    assert "the room is busy at" in unfolded(reply.data)

    # alice moves her meeting away: bob's time would now be free, but a room answers
    # what it is asked — alice's update is accepted again, nothing else changes
    moved = meeting(first, DAY + datetime.timedelta(hours=3), ["atlas"]).replace(
        "SEQUENCE:0", "SEQUENCE:1")
    book(server, "alice", first, moved)
    assert partstat(find(server, "alice", first), "atlas@example.org") == "ACCEPTED"


def test_a_series_with_few_conflicts_is_accepted_except_those(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    blocker, series = uid_for("vega-block"), uid_for("vega-series")
    second_week = DAY + datetime.timedelta(days=7)
    book(server, "bob", blocker, meeting(blocker, second_week, ["vega"], organizer="bob"))
    assert partstat(find(server, "bob", blocker), "vega@example.org") == "ACCEPTED"

    book(server, "alice", series, meeting(series, DAY, ["vega"], rrule="FREQ=WEEKLY;COUNT=4"))
    mine = Calendar.from_ical(find(server, "alice", series).data)
    conflict = second_week.strftime("%Y%m%dT%H%M%SZ")
    assert room_partstats(mine, "vega@example.org") == {"master": "ACCEPTED",
                                                        conflict: "DECLINED"}
    (copy,) = room_copies(server, "vega", series)
    assert room_partstats(copy, "vega@example.org") == {"master": "ACCEPTED",
                                                        conflict: "DECLINED"}
    declined = [e for e in copy.walk("VEVENT") if e.get("RECURRENCE-ID")]
    assert str(declined[0]["TRANSP"]) == "TRANSPARENT"   # the room is not double-booked

    # two conflicts exceed vega's allowance of one: the whole series is declined
    other = uid_for("vega-other")
    book(server, "carol", other, meeting(other, DAY, ["vega"], organizer="carol",
                                         rrule="FREQ=WEEKLY;COUNT=3"))
    assert partstat(find(server, "carol", other), "vega@example.org") == "DECLINED"


def test_duration_and_booking_window_limits(world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    long_uid, far_uid, endless = uid_for("vega-long"), uid_for("vega-far"), uid_for("vega-e")
    book(server, "alice", long_uid, meeting(long_uid, DAY + datetime.timedelta(days=1),
                                            ["vega"], hours=3))
    mine = find(server, "alice", long_uid)
    assert partstat(mine, "vega@example.org") == "DECLINED"
    (reply,) = [i for i in inbox_items(server, "alice", long_uid) if method_of(i) == "REPLY"]
    assert "at most 120 minutes" in unfolded(reply.data)

    book(server, "alice", far_uid, meeting(far_uid, DAY + datetime.timedelta(days=90),
                                           ["vega"]))
    assert partstat(find(server, "alice", far_uid), "vega@example.org") == "DECLINED"
    book(server, "alice", endless, meeting(endless, DAY + datetime.timedelta(days=2),
                                           ["vega"], rrule="FREQ=WEEKLY"))
    assert partstat(find(server, "alice", endless), "vega@example.org") == "DECLINED"


# -- always, manual ----------------------------------------------------------------------

def test_always_accepts_and_manual_waits_for_its_delegate(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    one, two, pending = uid_for("orion-1"), uid_for("orion-2"), uid_for("lyra")
    start = DAY + datetime.timedelta(days=3)
    book(server, "alice", one, meeting(one, start, ["orion"]))
    book(server, "bob", two, meeting(two, start, ["orion"], organizer="bob"))
    assert partstat(find(server, "bob", two), "orion@example.org") == "ACCEPTED"

    book(server, "alice", pending, meeting(pending, start, ["lyra"]))
    assert partstat(find(server, "alice", pending), "lyra@example.org") == "NEEDS-ACTION"
    (copy,) = room_copies(server, "lyra", pending)
    assert room_partstats(copy, "lyra@example.org") == {"master": "NEEDS-ACTION"}

    # carol manages lyra: she accepts on the room's copy, alice's meeting shows it
    session = server.session("carol")
    listing = session.request("PROPFIND", "%s/lyra/calendar/" % server.url,
                              headers={"Depth": "1"})
    assert listing.status_code == 207
    href = next(h for h in _hrefs(listing.text) if h.endswith(".ics"))
    text = session.get(server.url + href).text
    answer = put(session, server.url + href, text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"))
    assert answer.status_code in (201, 204), answer.text
    assert partstat(find(server, "alice", pending), "lyra@example.org") == "ACCEPTED"
    # nobody else may look into a room
    assert server.session("bob").request("PROPFIND", "%s/lyra/calendar/" % server.url,
                                         headers={"Depth": "1"}).status_code == 403


def _hrefs(text: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", text)


# -- by mail -----------------------------------------------------------------------------

def test_an_organizer_elsewhere_gets_the_rooms_reply_by_mail(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = world
    sink.settle(quiet=0.5)
    sink.take()
    uid = uid_for("mailed")
    start = DAY + datetime.timedelta(days=5)
    ics = meeting(uid, start, ["atlas"]).replace(
        "ORGANIZER:mailto:alice@example.org", "ORGANIZER:mailto:olivia@gmail.test").replace(
        "VERSION:2.0\r\n", "VERSION:2.0\r\nMETHOD:REQUEST\r\n")
    raw = ("From: Olivia <olivia@gmail.test>\r\nTo: atlas@example.org\r\n"
           "Subject: Invitation: Planning\r\nMessage-ID: <%s@gmail.test>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST; "
           "charset=UTF-8\r\n\r\n%s" % (uid, ics)).encode()
    done = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(server.config),
         "deliver", "--sender", "olivia@gmail.test", "--recipient", "atlas@example.org"],
        input=stamp(raw, "pass"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"accepted by policy" in done.stdout + done.stderr
    (reply,) = sink.wait_for(1)
    assert reply.recipient == "olivia@gmail.test"
    calendar = reply.calendar()
    assert calendar is not None and str(calendar["METHOD"]) == "REPLY"
    assert room_partstats(calendar, "atlas@example.org") == {"master": "ACCEPTED"}
    assert room_copies(server, "atlas", uid)


# -- rooms on a track ------------------------------------------------------------------
# A room answers, it does not follow: the track shows its answer as the organizer's
# copy does, and it is no member (no mail, no row, no feed).

def track_world(server: RadicaleServer, uid: str) -> tuple[str, Calendar]:
    """The track of alice's meeting ``uid`` and its copy, read over CalDAV by alice (a
    member, as its organizer)."""
    slug = str(Calendar.from_ical(find(server, "alice", uid).data).walk("VEVENT")[0][
        "X-TRACKS-TRACK"])
    (copy,) = [c for c in collection_objects(server, "alice", "/assistant/%s/" % slug)
               if any(str(e["UID"]) == uid for e in c.walk("VEVENT"))]
    return slug, copy


def web_track(server: RadicaleServer, slug: str, user: str = "alice") -> dict[str, Any]:
    answer = requests.get("%s/.web/api/tracks/%s" % (server.url, slug),
                          auth=(user, USERS[user]), timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def member_lines(server: RadicaleServer, slug: str) -> list[str]:
    """The members section of ``tracks show``."""
    shown = server.cli("tracks", "show", slug)
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("\nmembers:\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


def rooms_of_meeting(track: dict[str, Any], uid: str) -> dict[str, str]:
    meeting = next(m for m in track["upcoming"] + track["past"] if m["uid"] == uid)
    return {r["address"]: r["answer"] for r in meeting["rooms"]}


def test_a_room_answering_in_the_same_write_shows_on_the_track_and_is_no_member(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = world
    sink.settle(quiet=0.5)
    sink.take()
    uid = uid_for("track-atlas")
    # atlas without CUTYPE (the room directory says it is a room), a beamer elsewhere
    # that says it is a resource, a projector here that user_types calls one, and bob
    text = meeting(uid, DAY + datetime.timedelta(days=20), []).replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\n"
        "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:atlas@example.org\r\n"
        "ATTENDEE;CUTYPE=RESOURCE;RSVP=TRUE:mailto:beamer@gmail.test\r\n"
        "ATTENDEE;RSVP=TRUE:mailto:projector@example.org\r\n"
        "ATTENDEE;CN=Bob;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org\r\n"
        "END:VEVENT")
    book(server, "alice", uid, text)
    assert partstat(find(server, "alice", uid), "atlas@example.org") == "ACCEPTED"

    # the track's copy, as members read it, shows what the organizer's copy shows
    slug, copy = track_world(server, uid)
    assert room_partstats(copy, "atlas@example.org") == {"master": "ACCEPTED"}
    track = web_track(server, slug)
    assert rooms_of_meeting(track, uid) == {"atlas@example.org": "ACCEPTED",
                                            "beamer@gmail.test": "NEEDS-ACTION",
                                            "projector@example.org": "NEEDS-ACTION"}
    page = server.session("alice").get("%s/.web/tracks/%s" % (server.url, slug), timeout=30)
    assert page.status_code == 200
    rooms_line = re.search(r'<span class="rooms">(.*?)</span></li>', page.text, re.S)
    assert rooms_line is not None and re.search(r"Atlas <span[^>]*>accepted</span>",
                                                rooms_line.group(1))
    feed = requests.get(track["feed_url"], timeout=30)
    assert feed.status_code == 200
    assert room_partstats(Calendar.from_ical(feed.text), "atlas@example.org") == {
        "master": "ACCEPTED"}

    # rooms and resources are not members: no row, no "You have been added"
    people = {m["address"] for m in track["members"]}
    assert people == {"alice@example.org", "bob@example.org"}
    lines = member_lines(server, slug)
    assert len(lines) == 2, lines
    mails = sink.settle(quiet=2)
    # resources without a calendar here get the plain invitation scheduling sends
    assert {(m.kind, m.recipient) for m in mails} == {
        ("track_created", "alice@example.org"), ("member_added", "bob@example.org"),
        ("invitation", "beamer@gmail.test"), ("invitation", "projector@example.org")}


def test_a_room_an_older_version_made_a_member_is_forgotten_at_the_next_change(
        world: tuple[RadicaleServer, MailSink]) -> None:
    from radicale_tracks.db.engine import create_database_engine
    from radicale_tracks.settings import load_settings
    from radicale_tracks.tracks import store

    server, _sink = world
    uid = uid_for("track-orion")
    start = DAY + datetime.timedelta(days=23)
    text = meeting(uid, start, ["orion"]).replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\nEND:VEVENT")
    book(server, "alice", uid, text)
    slug, _copy = track_world(server, uid)
    # the row an older version wrote for the room
    engine = create_database_engine(load_settings(str(server.config))[1].database_url)
    with engine.begin() as connection:
        track = store.track_by_slug(connection, slug)
        assert track is not None
        store.upsert_member(connection, track.id, "orion@example.org", user="orion",
                            name="Orion", role="attendee", partstat="ACCEPTED", now=0)
    engine.dispose()
    assert any("orion" in line for line in member_lines(server, slug))

    book(server, "alice", uid, meeting(uid, start + datetime.timedelta(hours=2), ["orion"],
                                       summary="Planning (moved)").replace(
        "SEQUENCE:0", "SEQUENCE:1").replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\nEND:VEVENT"))
    assert not any("orion" in line for line in member_lines(server, slug))
    _slug, copy = track_world(server, uid)
    assert room_partstats(copy, "orion@example.org") == {"master": "ACCEPTED"}


def test_a_room_declining_one_occurrence_shows_it_on_the_track(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    blocker, series = uid_for("track-vega-block"), uid_for("track-vega")
    start = DAY + datetime.timedelta(days=30)
    book(server, "bob", blocker, meeting(blocker, start + datetime.timedelta(days=7),
                                         ["vega"], organizer="bob"))
    text = meeting(series, start, ["vega"], rrule="FREQ=WEEKLY;COUNT=3").replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\nEND:VEVENT")
    book(server, "alice", series, text)
    conflict = (start + datetime.timedelta(days=7)).strftime("%Y%m%dT%H%M%SZ")
    expected = {"master": "ACCEPTED", conflict: "DECLINED"}
    assert room_partstats(Calendar.from_ical(find(server, "alice", series).data),
                          "vega@example.org") == expected
    slug, copy = track_world(server, series)
    assert room_partstats(copy, "vega@example.org") == expected
    assert rooms_of_meeting(web_track(server, slug), series) == {
        "vega@example.org": "ACCEPTED"}


def test_a_manual_room_answered_later_by_its_delegate_reaches_the_track(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = world
    sink.settle(quiet=0.5)
    sink.take()
    uid = uid_for("track-lyra")
    text = meeting(uid, DAY + datetime.timedelta(days=21), ["lyra"]).replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\nEND:VEVENT")
    book(server, "alice", uid, text)
    slug, copy = track_world(server, uid)
    assert room_partstats(copy, "lyra@example.org") == {"master": "NEEDS-ACTION"}
    assert rooms_of_meeting(web_track(server, slug), uid) == {
        "lyra@example.org": "NEEDS-ACTION"}

    # carol manages lyra and accepts on the room's copy
    session = server.session("carol")
    (href,) = [h for h in _hrefs(session.request(
        "PROPFIND", "%s/lyra/calendar/" % server.url, headers={"Depth": "1"}).text)
        if h.endswith(".ics") and uid in session.get(server.url + h).text]
    answer = put(session, server.url + href, session.get(server.url + href).text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"))
    assert answer.status_code in (201, 204), answer.text
    assert partstat(find(server, "alice", uid), "lyra@example.org") == "ACCEPTED"
    _slug, copy = track_world(server, uid)
    assert room_partstats(copy, "lyra@example.org") == {"master": "ACCEPTED"}
    track = web_track(server, slug)
    assert rooms_of_meeting(track, uid) == {"lyra@example.org": "ACCEPTED"}
    assert {m["address"] for m in track["members"]} == {"alice@example.org"}
    assert not any("lyra" in line for line in member_lines(server, slug))
    # the room's delegate is not made a member by answering for the room
    assert requests.request("PROPFIND", "%s/assistant/%s/" % (server.url, slug),
                            auth=("carol", USERS["carol"]), headers={"Depth": "1"},
                            timeout=30).status_code in (403, 404)
    assert not [m for m in sink.settle(quiet=2) if "lyra" in m.recipient]


def test_a_room_elsewhere_answering_by_mail_reaches_the_track(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = world
    sink.settle(quiet=0.5)
    sink.take()
    uid = uid_for("track-hall")
    start = DAY + datetime.timedelta(days=22)
    text = meeting(uid, start, []).replace(
        "END:VEVENT", "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\n"
        "ATTENDEE;CUTYPE=ROOM;CN=Great Hall;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:"
        "mailto:hall@gmail.test\r\nEND:VEVENT")
    book(server, "alice", uid, text)
    slug, _copy = track_world(server, uid)
    invitations = [m for m in sink.settle(quiet=2) if m.recipient == "hall@gmail.test"]
    assert [m.kind for m in invitations] == ["invitation"]
    sequence = int(invitations[0].calendar().walk("VEVENT")[0]["SEQUENCE"])

    reply = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Rooms elsewhere//EN", "METHOD:REPLY",
        "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260102T000000Z",
        "DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ"),
        "DTEND:" + (start + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"),
        "SEQUENCE:%d" % sequence, "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:hall@gmail.test",
        "END:VEVENT", "END:VCALENDAR", ""])
    raw = ("From: Great Hall <hall@gmail.test>\r\nTo: alice@example.org\r\n"
           "Subject: Accepted: Planning\r\nMessage-ID: <r-%s@gmail.test>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; "
           "charset=UTF-8\r\n\r\n%s" % (uid, reply)).encode()
    done = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(server.config),
         "deliver", "--sender", "hall@gmail.test", "--recipient", "alice@example.org"],
        input=stamp(raw, "pass"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert partstat(find(server, "alice", uid), "hall@gmail.test") == "ACCEPTED"
    _slug, copy = track_world(server, uid)
    assert room_partstats(copy, "hall@gmail.test") == {"master": "ACCEPTED"}
    track = web_track(server, slug)
    assert rooms_of_meeting(track, uid) == {"hall@gmail.test": "ACCEPTED"}
    assert {m["address"] for m in track["members"]} == {"alice@example.org"}
    assert not any("hall" in line for line in member_lines(server, slug))


# -- the commands ------------------------------------------------------------------------

def test_rooms_commands(world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    listing = server.cli("rooms", "list")
    assert listing.returncode == 0, listing.stderr
    assert "atlas@example.org" in listing.stdout and "[config]" in listing.stdout
    assert "pool 3rd-floor: orion, atlas"  # by priority in listing.stdout
    refused = server.cli("rooms", "remove", "atlas@example.org")
    assert refused.returncode == 1 and "config file" in refused.stderr
    wrong = server.cli("rooms", "add", "room@elsewhere.test")
    assert wrong.returncode == 1 and "domain example.org" in wrong.stderr
    person = server.cli("rooms", "add", "alice@example.org")
    assert person.returncode == 1 and "calendars of a user" in person.stderr
    bad = server.cli("rooms", "add", "x@example.org", "--max-conflict-percent", "120")
    assert bad.returncode == 1 and "at most 100" in bad.stderr
    added = server.cli("rooms", "add", "deneb@example.org", "--kind", "RESOURCE")
    assert added.returncode == 0, added.stderr
    assert server.cli("rooms", "remove", "deneb@example.org").returncode == 0
    assert server.cli("rooms", "remove", "deneb@example.org").returncode == 1
