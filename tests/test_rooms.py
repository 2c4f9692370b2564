"""End to end: rooms answer invitations by their booking policy, by CalDAV and by mail.

A real ``radicale-tracks serve`` with one room from the config file and three added
with ``radicale-tracks rooms add``; alice and bob invite them from the ``caldav``
library; an organizer elsewhere invites one by mail (``radicale-tracks deliver``) and
gets the room's REPLY through a real SMTP server.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any, Iterator

import pytest
from icalendar import Calendar

from conftest import fresh_database
from helpers import USERS, RadicaleServer, put
from mailserver import MailSink
from test_inbound import AUTHSERV, collection_objects, stamp
from test_scheduling import calendars, find, inbox_items, method_of, partstat, uid_for

UTC = datetime.timezone.utc
DOMAIN = "example.org"
# meetings start ten days from now at 10:00 UTC: inside every booking window below
DAY = (datetime.datetime.now(UTC) + datetime.timedelta(days=10)).replace(
    hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    tmp_path = tmp_path_factory.mktemp("rooms")
    sink = MailSink().start()
    with fresh_database(request.param, tmp_path) as url:
        options = {"database_url": url, "domain": DOMAIN, "mail_transport": "smtp",
                   "smtp_server": "127.0.0.1", "smtp_port": str(sink.port),
                   "outbox_poll_interval": "1", "outbox_retry_base": "1",
                   "inbound_allowed_senders": "example.org, gmail.test",
                   "inbound_trusted_authserv_ids": AUTHSERV,
                   "rooms": "\n    atlas@example.org: name=Atlas; capacity=8; "
                            "pools=3rd-floor; policy=if-free; priority=1"}
        server = RadicaleServer(tmp_path / "server", storage_options=options,
                                rights_type="radicale_tracks.rights")
        for arguments in (
                ("orion@example.org", "--name", "Orion", "--policy", "always",
                 "--pool", "3rd-floor", "--capacity", "4"),
                ("lyra@example.org", "--name", "Lyra", "--policy", "manual",
                 "--delegate", "carol"),
                ("vega@example.org", "--name", "Vega", "--max-conflicts", "1",
                 "--max-duration", "120", "--window-days", "60")):
            added = server.cli("rooms", "add", *arguments)
            assert added.returncode == 0, added.stderr
        server.start()
        try:
            for user in USERS:
                calendars(server, user)
            yield server, sink
        finally:
            server.stop()
            sink.stop()


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
    assert server.folder is not None
    folder = server.folder / "collection-root" / room / "calendar"
    if not folder.is_dir():
        return []
    return [Calendar.from_ical(path.read_text()) for path in sorted(folder.glob("*.ics"))]


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
    import re

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
