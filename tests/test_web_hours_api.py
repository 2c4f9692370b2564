"""End to end: working hours over the JSON API (``/.web/api/working-hours``), against
SQLite and PostgreSQL, on a real server with the pages.

What the API sets is what the command line and CalDAV see — the inbox's
``calendar-availability`` read with a PROPFIND, ``radicale-tracks availability show``
run as a process — and what the slot finder honours; what the command or a calendar
app sets, the API shows. Bad input is refused with the field at fault, and nothing is
stored.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from databases import BACKENDS
from helpers import USERS, RadicaleServer
from mailserver import MailSink
from web_booking import BERLIN, MONDAY, UTC
from worlds import mail_world, web_server

PROPFIND_AVAILABILITY = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-availability/>'
    '</D:prop></D:propfind>')
SPLIT_WEEK = {
    "zone": "Europe/Berlin",
    "days": {"mon": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}],
             "tue": [{"start": "09:00", "end": "17:00"}],
             "wed": [{"start": "09:00", "end": "17:00"}],
             "thu": [{"start": "09:00", "end": "17:00"}],
             "fri": [{"start": "09:00", "end": "13:00"}]}}
NO_DAYS: dict[str, list[dict[str, str]]] = {
    key: [] for key in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
#: a calendar app's week: afternoons, but with one Monday off (an EXDATE)
WITH_EXCEPTION = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//app//EN\r
BEGIN:VAVAILABILITY\r
UID:carol-app@example.org\r
DTSTAMP:20260101T000000Z\r
BEGIN:AVAILABLE\r
UID:carol-app-afternoons@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260105T130000\r
DTEND;TZID=Europe/Berlin:20260105T170000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR\r
%s\r
END:AVAILABLE\r
END:VAVAILABILITY\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    with mail_world(tmp_path_factory.mktemp("hours"), request.param,
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)) as world:
        yield world


@pytest.fixture
def server(world: tuple[RadicaleServer, MailSink]) -> RadicaleServer:
    return world[0]


def hours(server: RadicaleServer, user: str, body: Any = None, **headers: str
          ) -> requests.Response:
    if body is None:
        return requests.get(server.url + "/.web/api/working-hours", auth=(user, USERS[user]),
                            timeout=30)
    return requests.put(server.url + "/.web/api/working-hours", json=body,
                        auth=(user, USERS[user]), headers=headers, timeout=30)


def stored(server: RadicaleServer, user: str) -> str:
    """The ``calendar-availability`` of the user's inbox, as a CalDAV client reads it."""
    found = requests.request("PROPFIND", server.url + "/%s/schedule-inbox/" % user,
                             auth=(user, USERS[user]), headers={"Depth": "0"},
                             data=PROPFIND_AVAILABILITY, timeout=30)
    assert found.status_code == 207, found.text
    return found.text


def proppatch(server: RadicaleServer, user: str, text: str) -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<C:calendar-availability>%s</C:calendar-availability></D:prop></D:set>'
            '</D:propertyupdate>' % text.replace("&", "&amp;").replace("<", "&lt;"))
    answer = requests.request("PROPPATCH", server.url + "/%s/schedule-inbox/" % user,
                              auth=(user, USERS[user]), data=body, timeout=30,
                              headers={"Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text


def berlin_utc(day: datetime.date, hour: int, minute: int = 0) -> str:
    local = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_hours_of_their_own_a_user_sees_the_default(server: RadicaleServer) -> None:
    answer = hours(server, "alice")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["source"] == "default" and found["weekly"] is True
    assert found["availability"] is None
    assert found["zone"] == "Europe/Berlin"
    assert found["days"]["mon"] == [{"start": "09:00", "end": "17:00"}]
    assert found["days"]["sat"] == [] and found["days"]["sun"] == []
    assert found["summary"] == "Mon-Fri 09:00-17:00"
    assert found["default"] == {"zone": "Europe/Berlin", "summary": "Mon-Fri 09:00-17:00"}


def test_hours_set_here_are_what_caldav_the_command_and_the_slot_finder_see(
        server: RadicaleServer) -> None:
    answer = hours(server, "bob", SPLIT_WEEK)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["source"] == "own" and found["weekly"] is True
    assert found["days"]["mon"] == [{"start": "09:00", "end": "12:00"},
                                    {"start": "13:00", "end": "17:00"}]
    assert found["days"]["fri"] == [{"start": "09:00", "end": "13:00"}]
    assert found["days"]["sat"] == []
    assert found["summary"] == ("Mon 09:00-12:00, 13:00-17:00; Tue-Thu 09:00-17:00; "
                                "Fri 09:00-13:00")
    assert hours(server, "bob").json() == found

    # CalDAV: the inbox's calendar-availability, as a calendar app reads it
    text = stored(server, "bob")
    assert "working-hours-bob" in text and "RRULE:FREQ=WEEKLY;BYDAY=MO" in text
    assert "TZID=Europe/Berlin" in text and found["availability"].split("\r\n")[0] in text

    # the command line: what it shows is what the page stored
    shown = server.cli("availability", "show", "bob")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# set by the user")
    assert shown.stdout.replace("\n", "\r\n").endswith(found["availability"])

    # the slot finder: Monday's lunch and Friday afternoon are outside bob's hours
    question = {"attendees": ["bob@example.org"], "duration": 30, "zone": "Europe/Berlin",
                "start": MONDAY.isoformat(),
                "end": (MONDAY + datetime.timedelta(days=5)).isoformat(),
                "include_organizer": False, "max_results": 200}
    slots = requests.post(server.url + "/.web/api/slots", json=question,
                          auth=("alice", USERS["alice"]), timeout=30)
    assert slots.status_code == 200, slots.text
    starts = {s["start_utc"] for s in slots.json()["slots"]}
    friday = MONDAY + datetime.timedelta(days=4)
    assert berlin_utc(MONDAY, 9) in starts and berlin_utc(MONDAY, 13) in starts
    assert berlin_utc(MONDAY, 11, 30) in starts
    assert berlin_utc(MONDAY, 12) not in starts and berlin_utc(MONDAY, 12, 30) not in starts
    assert berlin_utc(friday, 12, 30) in starts and berlin_utc(friday, 13) not in starts
    explained = requests.post(server.url + "/.web/api/slots", auth=("alice", USERS["alice"]),
                              json=dict(question, show_conflicts=True), timeout=30).json()
    lunch = next(s for s in explained["slots"] if s["start_utc"] == berlin_utc(MONDAY, 12))
    assert lunch["fit"] is False
    assert [a["status"] for a in lunch["attendees"]] == ["unavailable"]


def test_hours_set_by_the_command_show_in_the_api(server: RadicaleServer) -> None:
    done = server.cli("availability", "set", "carol", "--hours", "Mon-Thu 08:00-12:00",
                      "--hours", "Mon-Thu 12:30-16:00", "--zone", "America/New_York")
    assert done.returncode == 0, done.stderr
    found = hours(server, "carol").json()
    assert found["source"] == "own" and found["weekly"] is True
    assert found["zone"] == "America/New_York"
    for day in ("mon", "tue", "wed", "thu"):
        assert found["days"][day] == [{"start": "08:00", "end": "12:00"},
                                      {"start": "12:30", "end": "16:00"}]
    assert found["days"]["fri"] == []
    assert found["summary"] == "Mon-Thu 08:00-12:00, 12:30-16:00"
    # one range, as the command always wrote it: the same shape the page writes
    done = server.cli("availability", "set", "carol", "--hours", "Sun-Thu 07:00-15:00",
                      "--zone", "Asia/Jerusalem")
    assert done.returncode == 0, done.stderr
    found = hours(server, "carol").json()
    assert found["zone"] == "Asia/Jerusalem" and found["summary"] == "Sun-Thu 07:00-15:00"
    overlapping = server.cli("availability", "set", "carol", "--hours", "Mon 08:00-12:00",
                             "--hours", "Mon 11:00-13:00")
    assert overlapping.returncode == 1 and "overlaps" in overlapping.stderr
    assert hours(server, "carol").json()["summary"] == "Sun-Thu 07:00-15:00"
    assert server.cli("availability", "clear", "carol").returncode == 0
    assert hours(server, "carol").json()["source"] == "default"


def test_hours_set_by_a_calendar_app_show_in_the_api(server: RadicaleServer) -> None:
    weekly = WITH_EXCEPTION.replace("%s\r\n", "")
    proppatch(server, "carol", weekly)
    found = hours(server, "carol").json()
    assert found["source"] == "own" and found["weekly"] is True
    assert found["days"]["wed"] == [{"start": "13:00", "end": "17:00"}]
    assert found["availability"].replace("\r\n", "\n") == weekly.replace("\r\n", "\n")
    # an exception is more than a week can say: the text, and no days
    special = WITH_EXCEPTION % "EXDATE;TZID=Europe/Berlin:20260112T130000"
    proppatch(server, "carol", special)
    found = hours(server, "carol").json()
    assert found["source"] == "own" and found["weekly"] is False
    assert found["days"] is None and found["zone"] is None
    assert "EXDATE" in found["availability"]
    assert found["default"]["summary"] == "Mon-Fri 09:00-17:00"
    # the page's week replaces it
    assert hours(server, "carol", SPLIT_WEEK).json()["weekly"] is True
    assert "EXDATE" not in stored(server, "carol")


@pytest.mark.parametrize("body, field, words", [
    ({"zone": "Europe/Berlin", "days": {"mon": [{"start": "17:00", "end": "09:00"}]}},
     "days.mon.0.end", "not after the start"),
    ({"zone": "Europe/Berlin", "days": {"tue": [{"start": "09:00", "end": "12:00"},
                                                {"start": "11:30", "end": "13:00"}]}},
     "days.tue.1", "11:30-13:00 overlaps 09:00-12:00"),
    ({"zone": "Europe/Berlin", "days": {"wed": [{"start": "25:00", "end": "26:00"}]}},
     "days.wed.0.start", "not a time of day"),
    ({"zone": "Europe/Berlin", "days": {"wed": [{"start": "9am", "end": "17:00"}]}},
     "days.wed.0.start", "not a time of day"),
    ({"zone": "Europe/Berlin", "days": {"thu": [
        {"start": "%02d:00" % hour, "end": "%02d:30" % hour} for hour in range(8, 15)]}},
     "days.thu", "at most 6"),
    ({"zone": "Mars/Olympus_Mons", "days": {"mon": [{"start": "09:00", "end": "17:00"}]}},
     "zone", "not a time zone"),
    ({"days": {"mon": [{"start": "09:00", "end": "17:00"}]}}, "zone", "Choose a time zone"),
    ({"zone": "Europe/Berlin", "days": {"funday": [{"start": "09:00", "end": "17:00"}]}},
     "days.funday", "Unknown day"),
    ({"zone": "Europe/Berlin", "days": NO_DAYS}, "days", "No working time"),
    ({"zone": "Europe/Berlin", "days": {"mon": "09:00-17:00"}}, "days.mon", "list of ranges"),
    ({"zone": "Europe/Berlin", "days": {"mon": [{"start": "09:00"}]}}, "days.mon.0",
     '"start": "09:00", "end": "17:00"'),
    ({"zone": "Europe/Berlin", "days": [], "extra": 1}, "extra", "unknown field"),
    ({"default": True, "zone": "UTC"}, "zone", "nothing goes with default"),
])
def test_bad_hours_are_refused_with_the_field_and_nothing_is_stored(
        server: RadicaleServer, body: dict[str, Any], field: str, words: str) -> None:
    before = hours(server, "bob").json()
    answer = hours(server, "bob", body)
    assert answer.status_code == 400, answer.text
    refused = answer.json()
    assert refused["field"] == field and words in refused["error"], refused
    assert hours(server, "bob").json() == before


def test_back_to_the_default(server: RadicaleServer) -> None:
    assert hours(server, "bob", SPLIT_WEEK).status_code == 200
    answer = hours(server, "bob", {"default": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "default" and answer.json()["availability"] is None
    assert "calendar-availability" in stored(server, "bob")   # the property, now empty
    assert "working-hours-bob" not in stored(server, "bob")
    assert "the server's default" in server.cli("availability", "show", "bob").stdout


def test_the_api_takes_json_from_this_site_and_a_login(server: RadicaleServer) -> None:
    url = server.url + "/.web/api/working-hours"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.put(url, json=SPLIT_WEEK, timeout=10).status_code == 401
    form = requests.put(url, data={"zone": "UTC"}, auth=("bob", USERS["bob"]), timeout=10)
    assert form.status_code == 415
    foreign = hours(server, "bob", SPLIT_WEEK, Origin="https://evil.example")
    assert foreign.status_code == 403
    other = requests.post(url, json=SPLIT_WEEK, auth=("bob", USERS["bob"]), timeout=10)
    assert other.status_code == 405 and "error" in other.json()


def test_the_page_form_needs_its_token(server: RadicaleServer) -> None:
    """A form sent without the page's token (another site's) stores nothing."""
    before = hours(server, "bob").json()
    answer = requests.post(server.url + "/.web/hours", auth=("bob", USERS["bob"]),
                           data={"zone": "UTC", "mon-0-start": "10:00", "mon-0-end": "11:00"},
                           timeout=10)
    assert answer.status_code == 403
    assert hours(server, "bob").json() == before


def test_the_answer_and_the_examples_are_the_documented_ones(server: RadicaleServer) -> None:
    """docs/web-api.yaml: the answer has the documented fields, and each documented
    request example is taken as it is."""
    import yaml

    with (Path(__file__).resolve().parent.parent / "docs" / "web-api.yaml").open(
            encoding="utf-8") as f:
        document = yaml.safe_load(f)
    schema = document["components"]["schemas"]["WorkingHours"]
    operation = document["paths"]["/.web/api/working-hours"]["put"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    for name in ("split", "default"):
        answer = hours(server, "bob", examples[name]["value"])
        assert answer.status_code == 200, (name, answer.text)
        assert set(answer.json()) == set(schema["properties"]) == set(schema["required"])
    assert set(document["components"]["schemas"]["WeekDays"]["properties"]) == set(NO_DAYS)
