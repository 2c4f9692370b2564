"""Busy time of many calendars at once (``Storage.calendars_busy``).

The outbox and the slot finder read everyone's calendars in one pass and keep recent
answers per calendar fingerprint. Both must give what the per-calendar path gives —
which ``test_equivalence.py`` holds equal to vanilla Radicale — and a write, through the
server or behind its back, must never leave a stale answer.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from calendars import CalendarObject, _event, _wrap, generate, this_monday
from databases import BACKENDS, fresh_database
from helpers import PLUGIN, RadicaleServer, mkcalendar, put
from inprocess import ThreadedServer
from radicale_tracks.core.freebusy import Estimate, merge_busy
from radicale_tracks.plugin.backends import open_storage
from radicale_tracks.plugin.storage import Collection, Storage

ANCHOR = this_monday()
CALENDARS = {"/alice/calendar/": 1, "/alice/other/": 2, "/bob/calendar/": 3}
WINDOWS = {   # days from this Monday, length in days
    "two-weeks-ahead": (7, 14),
    "this-week": (0, 7),
    "past-month": (-40, 30),
    "beyond-future-horizon": (1200, 30),
    "whole-span": (-200, 400),
}


def seconds(days: int) -> int:
    return int((ANCHOR + datetime.timedelta(days=days)).timestamp())


class Team:
    def __init__(self, server: RadicaleServer, storage: Storage) -> None:
        self.server = server
        self.session = server.session()
        self.storage = storage

    def calendars(self) -> list[Collection]:
        found = [next(iter(self.storage.discover(path))) for path in CALENDARS]
        assert all(isinstance(c, Collection) for c in found)
        return found   # type: ignore[return-value]

    def one_by_one(self, start: int, end: int, max_occurrence: int = 0
                   ) -> dict[str, list[tuple[int, int, str]]]:
        window = [datetime.datetime.fromtimestamp(t, datetime.UTC)
                  for t in (start, end)]
        return {c.path: merge_busy((int(s.timestamp()), int(e.timestamp()), kind)
                                   for s, e, kind in c.free_busy(*window, max_occurrence))
                for c in self.calendars()}

    def at_once(self, start: int, end: int, max_occurrence: int = 0
                ) -> dict[str, list[tuple[int, int, str]]]:
        with self.storage.acquire_lock("r", "alice"):
            return self.storage.calendars_busy(self.calendars(), start, end, max_occurrence)


@pytest.fixture(scope="module", params=BACKENDS)
def team(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("team-%s" % request.param)
    with fresh_database(request.param, root) as url:
        server = ThreadedServer(root / "server", storage_type=PLUGIN, storage_options={
            "database_url": url, "index_rescan_interval": "3600"}).start()
        try:
            for user in ("alice", "bob"):
                session = server.session(user)
                for path, seed in CALENDARS.items():
                    if not path.startswith("/%s/" % user):
                        continue
                    mkcalendar(session, server.url + path)
                    for obj in generate(150, seed=seed, anchor=ANCHOR, prefix="s%d" % seed):
                        response = put(session, server.url + path + obj.href, obj.text)
                        assert response.status_code == 201, response.text
            storage, _ = open_storage(str(server.config))
            yield Team(server, storage)
        finally:
            server.stop()


@pytest.mark.parametrize("name", WINDOWS)
def test_all_calendars_at_once_equal_one_by_one(team: Team, name: str) -> None:
    offset, days = WINDOWS[name]
    start, end = seconds(offset), seconds(offset + days)
    expected = team.one_by_one(start, end)
    assert any(expected.values()), "the window should hold busy time"
    assert team.at_once(start, end) == expected
    assert team.at_once(start, end) == expected   # from the cache, the same


def test_occurrence_limit_is_radicales_for_one_calendar_and_an_estimate_for_people(
        team: Team) -> None:
    """One calendar's REPORT refuses as Radicale does; people's busy time (the outbox,
    the slot finder) counts such an object as busy from its first occurrence in the
    window to its last, and says so: one object must not fail everyone's answer."""
    start, end = seconds(-200), seconds(200)
    with pytest.raises(ValueError):
        team.one_by_one(start, end, max_occurrence=3)
    estimates: dict[str, list[Estimate]] = {}
    with team.storage.acquire_lock("r", "alice"):
        busy = team.storage.calendars_busy(team.calendars(), start, end, 3, estimates)
    assert estimates and all("max_freebusy_occurrence" in e.reason
                             for found in estimates.values() for e in found)
    for path, periods in team.one_by_one(start, end).items():
        # an estimate only widens busy time: every exact busy instant is still busy
        counted = merge_busy((s, e, "X") for s, e, kind in busy[path] if kind != "FREE")
        for s, e, kind in periods:
            if kind != "FREE":
                assert any(cs <= s and e <= ce for cs, ce, _ in counted), (path, s, e)


def event(uid: str, day: int, hour: int, extra: tuple[str, ...] = ()) -> CalendarObject:
    begin = ANCHOR + datetime.timedelta(days=day, hours=hour)
    stamp = "%Y%m%dT%H%M%SZ"
    lines = ["DTSTART:" + begin.strftime(stamp),
             "DTEND:" + (begin + datetime.timedelta(minutes=50)).strftime(stamp), *extra]
    return CalendarObject(uid + ".ics", uid + "@tracks.test", _wrap(_event(
        uid + "@tracks.test", lines, "Probe")))


def busy_at(team: Team, path: str, obj_day: int, hour: int) -> bool:
    start, end = seconds(10), seconds(12)
    probe = seconds(obj_day) + hour * 3600 + 60
    return any(s <= probe < e and kind != "FREE"
               for s, e, kind in team.at_once(start, end)[path.strip("/")])


def test_a_write_through_the_server_is_seen_at_once(team: Team) -> None:
    path = "/alice/calendar/"
    probe = event("cache-probe", 11, 3)   # 03:00 UTC: the generator never goes there
    assert not busy_at(team, path, 11, 3)
    response = put(team.session, team.server.url + path + probe.href, probe.text)
    assert response.status_code == 201
    assert busy_at(team, path, 11, 3)
    cancelled = event("cache-probe", 11, 3, ("STATUS:CANCELLED",))
    response = put(team.session, team.server.url + path + probe.href, cancelled.text)
    assert response.status_code == 204
    assert not busy_at(team, path, 11, 3)
    response = put(team.session, team.server.url + path + probe.href, probe.text)
    assert busy_at(team, path, 11, 3)
    team.session.delete(team.server.url + path + probe.href)
    assert not busy_at(team, path, 11, 3)


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_a_file_added_or_removed_behind_the_servers_back_is_seen(team: Team) -> None:
    path = "/bob/calendar/"
    assert not busy_at(team, path, 10, 4)
    folder = Path(team.server.folder or "") / "collection-root" / "bob" / "calendar"
    probe = event("behind-back", 10, 4)
    (folder / probe.href).write_text(probe.text, newline="")
    assert busy_at(team, path, 10, 4)
    os.remove(folder / probe.href)
    assert not busy_at(team, path, 10, 4)
