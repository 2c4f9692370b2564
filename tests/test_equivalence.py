"""The plugin answers exactly as vanilla Radicale does on the same data.

Two real servers — ``multifilesystem`` and ``radicale_tracks.storage`` — receive the same
requests over HTTP; every answer is compared after removing what legitimately differs
(DTSTAMP of a free-busy answer, sync tokens, response order). Windows are chosen to hit
each index path: exact occurrences, series beyond the expansion horizon, open ranges.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest
import requests

from calendars import generate, this_monday, todo
from databases import BACKENDS, fresh_database
from helpers import (
    PLUGIN,
    USERS,
    VANILLA,
    RadicaleServer,
    calendar_query,
    free_busy_query,
    mkcalendar,
    normalize_ical,
    normalize_multistatus,
    put,
    report,
    response_hrefs,
)
from inprocess import ThreadedServer

ANCHOR = this_monday()
OBJECTS = generate(240, seed=7, anchor=ANCHOR) + [
    todo("todo-1@tracks.test", ANCHOR + datetime.timedelta(days=2)),
    todo("todo-2@tracks.test", ANCHOR - datetime.timedelta(days=40)),
]


def stamp(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def window(days_from_anchor: int, days: int) -> tuple[str, str]:
    start = ANCHOR + datetime.timedelta(days=days_from_anchor)
    return stamp(start), stamp(start + datetime.timedelta(days=days))


WINDOWS = {
    "this-week": window(0, 7),
    "two-weeks": window(-3, 14),
    "one-day": window(2, 1),
    "past-quarter": window(-120, 90),
    "beyond-past-horizon": window(-800, 60),
    "beyond-future-horizon": window(1200, 30),
    "whole-span": window(-200, 400),
}


class Pair:
    """The same requests to vanilla Radicale and to the plugin servers.

    ``servers[0]`` is vanilla; then ``radicale-tracks serve`` (the product: free-busy from
    the index) and plain ``radicale`` with only the storage plugin (prefiltering only).
    """

    def __init__(self, *servers: RadicaleServer) -> None:
        self.servers = servers
        self.sessions = tuple(server.session() for server in servers)

    def both(self, method: str, path: str, body: str | None = None,
             **headers: str) -> list[requests.Response]:
        return [session.request(method, server.url + path,
                                data=body.encode() if body else None, headers=headers)
                for server, session in zip(self.servers, self.sessions, strict=True)]

    def assert_same_report(self, path: str, body: str, depth: str = "1"
                           ) -> requests.Response:
        vanilla, *others = (report(s, server.url + path, body, depth)
                            for server, s in zip(self.servers, self.sessions, strict=True))
        for other in others:
            assert vanilla.status_code == other.status_code, (vanilla.text, other.text)
            if vanilla.headers.get("Content-Type", "").startswith("text/calendar"):
                assert normalize_ical(vanilla.text) == normalize_ical(other.text)
            elif vanilla.status_code == 207:
                assert normalize_multistatus(vanilla.text) == normalize_multistatus(
                    other.text)
        return others[0]


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("pair-%s" % request.param)
    with fresh_database(request.param, root) as url:
        vanilla = ThreadedServer(root / "vanilla", storage_type=VANILLA).start()
        plugin = ThreadedServer(root / "plugin", storage_type=PLUGIN,
                                storage_options={"database_url": url}).start()
        storage_only = ThreadedServer(root / "storage-only", storage_type=PLUGIN,
                                      launcher="radicale").start()
        try:
            pair = Pair(vanilla, plugin, storage_only)
            for server, session in zip(pair.servers, pair.sessions, strict=True):
                mkcalendar(session, server.url + "/alice/calendar/")
                mkcalendar(session, server.url + "/alice/other/")
                for obj in OBJECTS:
                    response = put(session, server.url + "/alice/calendar/" + obj.href,
                                   obj.text)
                    assert response.status_code == 201, response.text
            yield pair
        finally:
            for server in (vanilla, plugin, storage_only):
                server.stop()


def test_get_returns_same_objects_and_etags(pair: Pair) -> None:
    for obj in OBJECTS[:40]:
        vanilla, *others = pair.both("GET", "/alice/calendar/" + obj.href)
        for other in others:
            assert (vanilla.status_code, vanilla.text, vanilla.headers["ETag"]) == (
                other.status_code, other.text, other.headers["ETag"])


def test_propfind_lists_the_same_members(pair: Pair) -> None:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '<D:resourcetype/><D:getcontenttype/></D:prop></D:propfind>')
    vanilla, *others = pair.both("PROPFIND", "/alice/calendar/", body, Depth="1")
    for other in others:
        assert vanilla.status_code == other.status_code == 207
        assert normalize_multistatus(vanilla.text) == normalize_multistatus(other.text)


@pytest.mark.parametrize("name", WINDOWS)
def test_calendar_query_matches(pair: Pair, name: str) -> None:
    start, end = WINDOWS[name]
    answer = pair.assert_same_report("/alice/calendar/", calendar_query(start, end))
    if name in ("this-week", "two-weeks", "whole-span"):
        assert len(response_hrefs(answer.text)) > 3


@pytest.mark.parametrize("name", ["two-weeks", "beyond-future-horizon"])
def test_calendar_query_with_expand_matches(pair: Pair, name: str) -> None:
    start, end = WINDOWS[name]
    pair.assert_same_report("/alice/calendar/", calendar_query(start, end, expand=True))


def test_calendar_query_with_property_filter_matches(pair: Pair) -> None:
    start, end = WINDOWS["past-quarter"]
    text_filter = ('<C:prop-filter name="SUMMARY"><C:text-match collation="i;ascii-casemap">'
                   'series</C:text-match></C:prop-filter>')
    pair.assert_same_report("/alice/calendar/",
                            calendar_query(start, end, extra_filter=text_filter))


def test_todo_query_matches(pair: Pair) -> None:
    start, end = WINDOWS["this-week"]
    answer = pair.assert_same_report("/alice/calendar/",
                                     calendar_query(start, end, component="VTODO"))
    assert "todo-1" in answer.text


def test_open_ended_and_untimed_queries_match(pair: Pair) -> None:
    start, _end = WINDOWS["this-week"]
    open_ended = calendar_query(start, "").replace(' end=""', "")
    pair.assert_same_report("/alice/calendar/", open_ended)
    no_time = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
               'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
               '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/>'
               '</C:comp-filter></C:filter></C:calendar-query>')
    pair.assert_same_report("/alice/calendar/", no_time)


@pytest.mark.parametrize("name", WINDOWS)
def test_free_busy_query_matches(pair: Pair, name: str) -> None:
    start, end = WINDOWS[name]
    pair.assert_same_report("/alice/calendar/", free_busy_query(start, end))


def test_multiget_and_sync_collection_match(pair: Pair) -> None:
    hrefs = "".join("<D:href>/alice/calendar/%s</D:href>" % o.href for o in OBJECTS[:10])
    multiget = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                '<C:calendar-data/></D:prop>%s<D:href>/alice/calendar/missing.ics</D:href>'
                '</C:calendar-multiget>' % hrefs)
    pair.assert_same_report("/alice/calendar/", multiget)
    sync = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
            '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
            '</D:sync-collection>')
    pair.assert_same_report("/alice/calendar/", sync)


def test_caldav_client_date_search_finds_the_same_events(pair: Pair) -> None:
    found = []
    for server in pair.servers:
        client = caldav.DAVClient(url=server.url + "/alice/", username="alice",
                                  password=USERS["alice"])
        calendar = client.calendar(url=server.url + "/alice/calendar/")
        events = calendar.search(start=ANCHOR, end=ANCHOR + datetime.timedelta(days=14),
                                 event=True, expand=False)
        found.append(sorted(str(e.icalendar_component["UID"]) for e in events))
    assert all(uids == found[0] for uids in found)
    assert found[0], "the two weeks from the anchor hold generated events"


def test_writes_keep_answers_identical(pair: Pair) -> None:
    """Update, conflict, delete and move, then query again."""
    moved, deleted, updated = OBJECTS[0], OBJECTS[1], OBJECTS[2]
    start, end = WINDOWS["two-weeks"]
    new_text = updated.text.replace(
        "SUMMARY:", "SUMMARY:changed ", 1)
    shifted = _shift_into_window(new_text)
    for response in pair.both("PUT", "/alice/calendar/" + updated.href, shifted,
                              **{"Content-Type": "text/calendar"}):
        assert response.status_code == 204, response.text
    conflict = pair.both("PUT", "/alice/calendar/clash.ics", updated.text,
                         **{"Content-Type": "text/calendar"})
    assert [r.status_code for r in conflict] == [409] * 3
    assert all("no-uid-conflict" in r.text for r in conflict)
    for response in pair.both("DELETE", "/alice/calendar/" + deleted.href):
        assert response.status_code == 200
    for server, session in zip(pair.servers, pair.sessions, strict=True):
        response = session.request(
            "MOVE", server.url + "/alice/calendar/" + moved.href,
            headers={"Destination": server.url + "/alice/other/" + moved.href})
        assert response.status_code in (201, 204), response.text
    for path in ("/alice/calendar/", "/alice/other/"):
        pair.assert_same_report(path, calendar_query(start, end))
        pair.assert_same_report(path, free_busy_query(start, end))
        pair.assert_same_report(path, calendar_query(*WINDOWS["whole-span"]))
    # the moved UID is free again in the source calendar, taken in the target one
    again = pair.both("PUT", "/alice/calendar/again.ics", moved.text,
                      **{"Content-Type": "text/calendar"})
    assert [r.status_code for r in again] == [201] * 3
    clash = pair.both("PUT", "/alice/other/clash.ics", moved.text,
                      **{"Content-Type": "text/calendar"})
    assert [r.status_code for r in clash] == [409] * 3


def _shift_into_window(text: str) -> str:
    """Move an event's DTSTART/DTEND to the anchor's Tuesday, keeping the rest."""
    day = (ANCHOR + datetime.timedelta(days=1)).strftime("%Y%m%d")
    lines = []
    for line in text.split("\r\n"):
        if line.startswith(("DTSTART", "DTEND")) and ":" in line:
            name, value = line.split(":", 1)
            line = "%s:%s%s" % (name, day, value[8:])
        lines.append(line)
    return "\r\n".join(lines)


def test_collection_delete_forgets_everything(pair: Pair, tmp_path: Path) -> None:
    for server, session in zip(pair.servers, pair.sessions, strict=True):
        mkcalendar(session, server.url + "/alice/scratch/")
        assert put(session, server.url + "/alice/scratch/a.ics", OBJECTS[5].text
                   ).status_code == 201
        assert session.delete(server.url + "/alice/scratch/").status_code == 200
        mkcalendar(session, server.url + "/alice/scratch/")
        assert put(session, server.url + "/alice/scratch/b.ics", OBJECTS[5].text
                   ).status_code == 201
    pair.assert_same_report("/alice/scratch/", calendar_query(*WINDOWS["whole-span"]))
    for server in pair.servers[1:]:
        assert server.cli("verify").returncode == 0
