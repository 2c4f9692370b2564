"""End to end: working hours, transparent calendars, free-busy and the slot finder.

A real ``radicale-tracks serve``: carol sets her working hours over CalDAV (the inbox's
``calendar-availability``, as Apple Calendar does), alice marks a calendar transparent,
bob is busy, a room of the pool is booked; then alice asks — over the JSON API and with
``radicale-tracks slots`` — for "30 minutes next week with bob, carol and any room of
pool 3rd-floor, in Europe/Berlin, show conflicts".
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import requests

from caldav_clients import calendars
from databases import fresh_database
from helpers import USERS, RadicaleServer, mkcalendar, put
from inprocess import ThreadedServer

BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
TODAY = datetime.datetime.now(BERLIN).date()
MONDAY = TODAY + datetime.timedelta(days=7 - TODAY.weekday())   # next week's Monday


def berlin(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    date = MONDAY + datetime.timedelta(days=day)
    return datetime.datetime(date.year, date.month, date.day, hour, minute, tzinfo=BERLIN)


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


CAROL_HOURS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Apple Inc.//macOS 15//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VAVAILABILITY\r
UID:carol-hours@example.org\r
DTSTAMP:20260101T000000Z\r
BEGIN:AVAILABLE\r
UID:carol-afternoons@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260105T130000\r
DTEND;TZID=Europe/Berlin:20260105T170000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r
SUMMARY:Afternoons\r
END:AVAILABLE\r
END:VAVAILABILITY\r
END:VCALENDAR\r
"""


def proppatch_body(prop: str, value: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:set><D:prop><%s>%s</%s></D:prop></D:set></D:propertyupdate>'
            % (prop, value, prop))


def event(uid: str, start: datetime.datetime, end: datetime.datetime, extra: str = ""
          ) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART:" + stamp(start),
             "DTEND:" + stamp(end), "SUMMARY:Private business"]
    lines += [line for line in extra.splitlines() if line]
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR"]) + "\r\n"


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RadicaleServer]:
    tmp_path = tmp_path_factory.mktemp("slots")
    with fresh_database(request.param, tmp_path) as url:
        options = {"database_url": url, "domain": "example.org", "outbox_sender": "False",
                   "default_time_zone": "Europe/Berlin",
                   "rooms": "\n    atlas@example.org: name=Atlas; pools=3rd-floor; "
                            "priority=0; capacity=6\n"
                            "    orion@example.org: name=Orion; pools=3rd-floor; "
                            "priority=1; capacity=10"}
        running = ThreadedServer(tmp_path / "server", storage_options=options,
                                 rights_type="radicale_tracks.rights").start()
        try:
            for user in USERS:
                calendars(running, user)
            arrange(running)
            yield running
        finally:
            running.stop()


def arrange(server: RadicaleServer) -> None:
    alice, bob, carol = (server.session(u) for u in ("alice", "bob", "carol"))
    # carol works afternoons: her client sets calendar-availability on her inbox
    answer = carol.request("PROPPATCH", server.url + "/carol/schedule-inbox/",
                           data=proppatch_body("C:calendar-availability",
                                               CAROL_HOURS.replace("&", "&amp;")))
    assert answer.status_code == 207, answer.text
    # bob is busy Monday morning until noon
    assert put(bob, server.url + "/bob/work/busy.ics", event(
        "bob-busy", berlin(0, 9), berlin(0, 12))).status_code == 201
    # alice's "for others" calendar does not make her busy (RFC 6638 §9.1)
    mkcalendar(alice, server.url + "/alice/others/")
    answer = alice.request("PROPPATCH", server.url + "/alice/others/", data=proppatch_body(
        "C:schedule-calendar-transp", "<C:transparent/>"))
    assert answer.status_code == 207, answer.text
    assert put(alice, server.url + "/alice/others/monday.ics", event(
        "alice-note", berlin(0, 0), berlin(5, 0))).status_code == 201
    # there she books atlas for a team she is not part of, Monday 13:00-14:00; it accepts
    booking = event("atlas-booked", berlin(0, 13), berlin(0, 14), extra=(
        "ORGANIZER:mailto:alice@example.org\n"
        "ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:atlas@example.org"))
    assert put(alice, server.url + "/alice/others/atlas.ics", booking).status_code == 201


def ask(server: RadicaleServer, body: object, user: str = "alice") -> requests.Response:
    return requests.post(server.url + "/.web/api/slots", json=body,
                         auth=(user, USERS[user]), timeout=30)


def test_the_agents_question_gets_a_ranked_explained_answer(server: RadicaleServer) -> None:
    answer = ask(server, {"attendees": ["bob@example.org", "carol@example.org"],
                          "pools": ["3rd-floor"], "duration": 30, "week": "next",
                          "zone": "Europe/Berlin", "show_conflicts": True,
                          "max_results": 50})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["zone"] == "Europe/Berlin" and found["reason"] is None
    first = found["slots"][0]
    # carol starts at 13:00, bob is free by then; atlas (preferred) is booked, so orion
    assert first["start"] == berlin(0, 13).isoformat() and first["fit"] is True
    assert first["confidence"] == 100
    assert [r["address"] for r in first["rooms"]] == ["orion@example.org"]
    assert {a["address"]: a["status"] for a in first["attendees"]} == {
        "alice@example.org": "free", "bob@example.org": "free",
        "carol@example.org": "free"}
    at_two = next(s for s in found["slots"] if s["start"] == berlin(0, 14).isoformat())
    assert [r["address"] for r in at_two["rooms"]] == ["atlas@example.org"]
    # every fit slot lies in carol's afternoon; conflicts follow the fit ones
    fits = [s for s in found["slots"] if s["fit"]]
    assert all(datetime.datetime.fromisoformat(s["start"]).hour >= 13 for s in fits)
    conflicted = [s for s in found["slots"] if not s["fit"]]
    assert found["slots"].index(conflicted[0]) == len(fits) if conflicted else True
    morning = ask(server, {"attendees": ["bob@example.org"], "duration": 30,
                           "start": berlin(0, 9).isoformat(), "end": berlin(0, 12).isoformat(),
                           "show_conflicts": True}).json()
    assert morning["reason"] == "attendees-unavailable"
    (conflict,) = morning["slots"][0]["attendees"][1]["conflicts"]
    assert conflict == {"start": berlin(0, 9).isoformat(), "end": berlin(0, 12).isoformat(),
                        "type": "BUSY"}
    # an address elsewhere is unknown: 49 of 100 for that attendee
    external = ask(server, {"attendees": ["dana@example.net"], "duration": 30,
                            "week": "next"}).json()
    assert external["slots"][0]["confidence"] == round((100 + 49) / 2, 2)


def test_bad_requests_say_what_is_wrong(server: RadicaleServer) -> None:
    assert requests.post(server.url + "/.web/api/slots", json={}, timeout=10
                         ).status_code == 401
    for body, words in (({"duration": 30, "pools": ["nowhere"]}, "no pool nowhere"),
                        ({"attendees": ["bob@example.org"]}, "duration is required"),
                        ({"duration": 30, "grid": 90}, "grid must be"),
                        ({"duration": 30, "zone": "Mars/Olympus"}, "no known time zone"),
                        ({"duration": 30, "colour": "red"}, "unknown field"),
                        ({"duration": 30, "rooms": ["bob@example.org"]}, "no room")):
        answer = ask(server, body)
        assert answer.status_code == 400 and words in answer.json()["error"], answer.text
    assert requests.post(server.url + "/.web/api/slots", data=b"{not json",
                         headers={"Content-Type": "application/json"},
                         auth=("alice", USERS["alice"]), timeout=10).status_code == 400
    # the wizard's form takes its own fields only, never the agent's beside them
    answer = ask(server, {"details": {"subject": "x", "members": ["alice"]}, "grid": 15})
    assert answer.status_code == 400 and answer.json()["field"] == "grid", answer.text


def test_the_old_slot_path_redirects_with_the_post_kept(server: RadicaleServer) -> None:
    """``/.tracks/api/slots`` answers 308 to ``/.web/api/slots`` for one release; a client
    that follows it gets the same answer, method and body kept. (This server has no
    ``[web] type``: the slot API answers without the pages.)"""
    question = {"attendees": ["bob@example.org"], "duration": 30, "week": "next",
                "zone": "Europe/Berlin"}
    moved = requests.post(server.url + "/.tracks/api/slots", json=question,
                          auth=("alice", USERS["alice"]), allow_redirects=False, timeout=10)
    assert moved.status_code == 308, moved.text
    assert moved.headers["Location"] == "/.web/api/slots"
    followed = requests.post(server.url + "/.tracks/api/slots", json=question,
                             auth=("alice", USERS["alice"]), timeout=30)
    assert followed.status_code == 200 and followed.history[0].status_code == 308
    assert followed.json()["slots"] == ask(server, question).json()["slots"]
    other = requests.post(server.url + "/.tracks/api/other", json={},
                          auth=("alice", USERS["alice"]), timeout=10)
    assert other.status_code == 404 and "no such API" in other.json()["error"]


def test_availability_and_transparency_over_caldav(server: RadicaleServer) -> None:
    carol, alice = server.session("carol"), server.session("alice")
    found = carol.request("PROPFIND", server.url + "/carol/schedule-inbox/", headers={
        "Depth": "0"}, data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-availability/>'
        '</D:prop></D:propfind>')
    assert found.status_code == 207 and "carol-afternoons" in found.text
    broken = carol.request("PROPPATCH", server.url + "/carol/schedule-inbox/",
                           data=proppatch_body("C:calendar-availability",
                                               "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"))
    assert broken.status_code == 403 and "valid-calendar-data" in broken.text
    other = alice.request("PROPPATCH", server.url + "/carol/schedule-inbox/",
                          data=proppatch_body("C:calendar-availability", CAROL_HOURS))
    assert other.status_code in (403, 405)
    transp = alice.request("PROPFIND", server.url + "/alice/", headers={"Depth": "1"},
                           data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
                           'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
                           '<C:schedule-calendar-transp/></D:prop></D:propfind>')
    others = transp.text.split("/alice/others/")[1].split("response>")[0]
    assert "transparent" in others
    work = transp.text.split("/alice/work/")[1].split("response>")[0]
    assert "opaque" in work


def test_outbox_free_busy_marks_time_outside_working_hours(server: RadicaleServer) -> None:
    request = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", "UID:fb-1", "DTSTAMP:20260101T000000Z",
        "DTSTART:" + stamp(berlin(0, 0)), "DTEND:" + stamp(berlin(1, 0)),
        "ORGANIZER:mailto:alice@example.org", "ATTENDEE:mailto:carol@example.org",
        "ATTENDEE:mailto:alice@example.org", "END:VFREEBUSY", "END:VCALENDAR", ""])
    answer = server.session("alice").post(
        server.url + "/alice/schedule-outbox/", data=request,
        headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 200, answer.text
    text = answer.text.replace("\r\n ", "").replace("\n ", "")
    carol_part, alice_part = text.split("mailto:alice@example.org</")[0], text.split(
        "mailto:alice@example.org</")[-1]
    assert "FBTYPE=BUSY-UNAVAILABLE:%s/%s" % (stamp(berlin(0, 0)), stamp(berlin(0, 13))) \
        in carol_part
    # alice's "others" calendar is transparent: no BUSY at all, only her working hours
    assert "FBTYPE=BUSY:" not in alice_part and "BUSY-UNAVAILABLE" in alice_part


def test_slots_command_prints_a_table(server: RadicaleServer) -> None:
    shown = server.cli("slots", "--as", "alice", "--attendee", "bob@example.org",
                       "--attendee", "carol@example.org", "--pool", "3rd-floor",
                       "--duration", "30", "--week", "next", "--zone", "Europe/Berlin",
                       "--show-conflicts", "--max", "3")
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[2]
    assert re.search(r"^1 +\w{3} %s 13:00-13:30 +ok +100 +Orion" % MONDAY.isoformat(), first), \
        shown.stdout
    as_json = server.cli("slots", "--as", "alice", "--attendee", "bob@example.org",
                         "--duration", "30", "--week", "next", "--json")
    assert json.loads(as_json.stdout)["slots"]
    refused = server.cli("slots", "--as", "alice", "--duration", "30", "--grid", "3")
    assert refused.returncode == 1 and "grid must be" in refused.stderr
    hours = server.cli("availability", "show", "bob")
    assert hours.returncode == 0 and "default working hours" in hours.stdout
    assert server.cli("availability", "set", "bob", "--hours", "Mon-Thu 08:00-12:00"
                      ).returncode == 0
    assert "set by the user" in server.cli("availability", "show", "bob").stdout
    assert server.cli("availability", "set", "bob", "--hours", "Funday 08:00-12:00"
                      ).returncode == 1
    assert server.cli("availability", "clear", "bob").returncode == 0
