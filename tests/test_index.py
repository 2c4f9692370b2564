"""The index stays right: drift behind Radicale's back, concurrent writers, caps, CLI."""

from __future__ import annotations

import datetime
import os
import threading
import time
from pathlib import Path

import pytest

from calendars import generate, this_monday
from conftest import ServerFactory
from helpers import (
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

pytestmark = pytest.mark.files_only   # the files item store itself

ANCHOR = this_monday()


def stamp(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def event_text(uid: str, start: datetime.datetime, minutes: int = 60, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n%s"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (
                uid, stamp(start), stamp(start + datetime.timedelta(minutes=minutes)),
                extra, uid))


def week_query() -> str:
    return calendar_query(stamp(ANCHOR), stamp(ANCHOR + datetime.timedelta(days=7)))


def uids_in_week(server: RadicaleServer) -> set[str]:
    answer = report(server.session(), server.url + "/alice/calendar/", week_query())
    assert answer.status_code == 207, answer.text
    return {href.rsplit("/", 1)[-1] for href in response_hrefs(answer.text)}


def folder_of(server: RadicaleServer) -> Path:
    assert server.folder is not None
    return server.folder / "collection-root" / "alice" / "calendar"


def test_files_changed_behind_radicales_back_are_reindexed_on_access(
        plugin_server: RadicaleServer) -> None:
    server = plugin_server
    session = server.session()
    mkcalendar(session, server.url + "/alice/calendar/")
    monday = ANCHOR + datetime.timedelta(hours=9)
    for name in ("keep", "edit", "gone"):
        assert put(session, server.url + "/alice/calendar/%s.ics" % name,
                   event_text(name, monday)).status_code == 201
    assert uids_in_week(server) == {"keep.ics", "edit.ics", "gone.ics"}

    folder = folder_of(server)
    (folder / "new.ics").write_text(event_text("new", monday + datetime.timedelta(days=1)))
    (folder / "edit.ics").write_text(event_text("edit", monday - datetime.timedelta(days=30),
                                                minutes=90))
    (folder / "gone.ics").unlink()
    assert uids_in_week(server) == {"keep.ics", "new.ics"}
    assert server.cli("verify").returncode == 0

    free_busy = report(session, server.url + "/alice/calendar/", free_busy_query(
        stamp(ANCHOR), stamp(ANCHOR + datetime.timedelta(days=7))))
    assert free_busy.text.count("FREEBUSY;") == 2

    # a UID added behind our back still clashes on PUT (folder mtime check)
    (folder / "sneaky.ics").write_text(event_text("sneaky", monday))
    clash = put(session, server.url + "/alice/calendar/other.ics", event_text("sneaky", monday))
    assert clash.status_code == 409


@pytest.mark.parametrize("interval", ["0", "1"])
def test_in_place_edit_into_the_window_is_seen_within_the_rescan_interval(
        make_server: ServerFactory, database_url: str, interval: str) -> None:
    """A file rewritten in place (folder mtime unchanged) that was not a candidate."""
    server = make_server("plugin", database_url=database_url, index_rescan_interval=interval)
    session = server.session()
    mkcalendar(session, server.url + "/alice/calendar/")
    monday = ANCHOR + datetime.timedelta(hours=9)
    put(session, server.url + "/alice/calendar/in.ics", event_text("in", monday))
    put(session, server.url + "/alice/calendar/later.ics",
        event_text("later", monday + datetime.timedelta(days=60)))
    assert uids_in_week(server) == {"in.ics"}
    folder = folder_of(server)
    mtime = os.stat(folder).st_mtime_ns
    with open(folder / "later.ics", "r+") as f:  # in place: same inode, same folder mtime
        text = event_text("later", monday + datetime.timedelta(days=1))
        f.seek(0)
        f.write(text)
        f.truncate()
    assert os.stat(folder).st_mtime_ns == mtime
    if interval != "0":
        time.sleep(float(interval) + 0.2)
    assert uids_in_week(server) == {"in.ics", "later.ics"}
    free_busy = report(session, server.url + "/alice/calendar/", free_busy_query(
        stamp(ANCHOR), stamp(ANCHOR + datetime.timedelta(days=7))))
    assert free_busy.text.count("FREEBUSY;") == 2


def test_verify_reports_drift_and_reindex_repairs_it(plugin_server: RadicaleServer) -> None:
    server = plugin_server
    session = server.session()
    mkcalendar(session, server.url + "/alice/calendar/")
    monday = ANCHOR + datetime.timedelta(hours=9)
    for number in range(5):
        put(session, server.url + "/alice/calendar/e%d.ics" % number,
            event_text("e%d" % number, monday + datetime.timedelta(hours=number)))
    assert server.cli("verify").returncode == 0
    folder = folder_of(server)
    (folder / "e1.ics").write_text(event_text("e1", monday, minutes=15))
    (folder / "e2.ics").unlink()
    (folder / "x.ics").write_text(event_text("x", monday))

    verify = server.cli("verify")
    assert verify.returncode == 1
    assert "e1.ics: etag" in verify.stdout
    assert "e2.ics: indexed but the file is gone" in verify.stdout
    assert "x.ics: file not indexed" in verify.stdout

    reindex = server.cli("reindex", "--jobs", "2")   # parsed in two processes
    assert reindex.returncode == 0, reindex.stderr
    assert "1 collections, 5 items" in reindex.stdout
    assert "100%" in reindex.stderr  # the progress bar, as printed off a terminal
    assert server.cli("verify").returncode == 0
    (folder / "e3.ics").write_text(event_text("e3", monday, minutes=45))
    reindex = server.cli("reindex", "--jobs", "1", "--quiet")   # parsed here
    assert reindex.returncode == 0, reindex.stderr
    assert server.cli("verify").returncode == 0
    free_busy = report(session, server.url + "/alice/calendar/", free_busy_query(
        stamp(ANCHOR), stamp(ANCHOR + datetime.timedelta(days=1))))
    assert "FREEBUSY" in free_busy.text
    assert "T120000Z" not in free_busy.text   # e3 moved from 12:00 to 09:00

    refused = server.cli("reindex", "--jobs", "0")
    assert refused.returncode == 2 and "--jobs takes a number from 1 to 64" in refused.stderr


def test_concurrent_writers_and_readers_leave_a_consistent_index(
        plugin_server: RadicaleServer) -> None:
    server = plugin_server
    mkcalendar(server.session(), server.url + "/alice/calendar/")
    errors: list[str] = []
    writers, per_writer = 4, 15

    def write(number: int) -> None:
        session = server.session()
        for index in range(per_writer):
            uid = "w%d-%d" % (number, index)
            start = ANCHOR + datetime.timedelta(hours=8 + index % 10, days=number)
            response = put(session, server.url + "/alice/calendar/%s.ics" % uid,
                           event_text(uid, start))
            if response.status_code != 201:
                errors.append("%s: %s" % (uid, response.status_code))

    def read() -> None:
        session = server.session()
        for _ in range(10):
            response = report(session, server.url + "/alice/calendar/", week_query())
            if response.status_code != 207:
                errors.append("report: %s" % response.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(uids_in_week(server)) == writers * per_writer
    assert server.cli("verify").returncode == 0


def test_capped_expansion_still_answers_like_vanilla(make_server: ServerFactory,
                                                     database_url: str) -> None:
    """Series longer than the cap or the horizon fall back to reading the object."""
    vanilla = make_server("vanilla", storage_type=VANILLA)
    plugin = make_server("plugin", database_url=database_url, index_max_occurrences="20",
                         index_horizon_days="30", index_past_days="10")
    start = ANCHOR - datetime.timedelta(days=100) + datetime.timedelta(hours=9)
    objects = {
        "daily.ics": event_text("daily", start, extra="RRULE:FREQ=DAILY\r\n"),
        "hourly.ics": event_text("hourly", start, 30, extra="RRULE:FREQ=HOURLY;COUNT=5000\r\n"),
        "weekly.ics": event_text("weekly", start, extra="RRULE:FREQ=WEEKLY\r\n"),
    }
    for server in (vanilla, plugin):
        session = server.session()
        mkcalendar(session, server.url + "/alice/calendar/")
        for href, text in objects.items():
            assert put(session, server.url + "/alice/calendar/" + href, text).status_code == 201
    for offset in (-150, -95, -20, 0, 25, 200, 400):
        window_start = ANCHOR + datetime.timedelta(days=offset)
        window = (stamp(window_start), stamp(window_start + datetime.timedelta(days=3)))
        answers = [report(s.session(), s.url + "/alice/calendar/", calendar_query(*window))
                   for s in (vanilla, plugin)]
        assert normalize_multistatus(answers[0].text) == normalize_multistatus(answers[1].text)
        free = [report(s.session(), s.url + "/alice/calendar/", free_busy_query(*window))
                for s in (vanilla, plugin)]
        assert normalize_ical(free[0].text) == normalize_ical(free[1].text)
    later = ANCHOR + datetime.timedelta(days=200)
    answer = report(plugin.session(), plugin.url + "/alice/calendar/", calendar_query(
        stamp(later), stamp(later + datetime.timedelta(days=3))))
    # far beyond the 30-day horizon and the 20-occurrence cap: found by the fallback
    assert "daily.ics" in {h.rsplit("/", 1)[-1] for h in response_hrefs(answer.text)}


def test_existing_radicale_data_is_indexed_on_first_access(make_server: ServerFactory,
                                                           database_url: str) -> None:
    """Switching an existing Radicale storage to the plugin keeps every answer."""
    vanilla = make_server("vanilla", storage_type=VANILLA)
    session = vanilla.session()
    mkcalendar(session, vanilla.url + "/alice/calendar/")
    objects = generate(60, seed=3, anchor=ANCHOR)
    for obj in objects:
        put(session, vanilla.url + "/alice/calendar/" + obj.href, obj.text)
    query = calendar_query(stamp(ANCHOR - datetime.timedelta(days=30)),
                           stamp(ANCHOR + datetime.timedelta(days=30)))
    before = report(session, vanilla.url + "/alice/calendar/", query).text
    vanilla.stop()
    plugin = make_server("plugin", folder=vanilla.folder, database_url=database_url)
    after = report(plugin.session(), plugin.url + "/alice/calendar/", query).text
    assert normalize_multistatus(before) == normalize_multistatus(after)
    assert plugin.cli("verify").returncode == 0


def test_a_broken_database_degrades_to_vanilla_and_heals(plugin_server: RadicaleServer,
                                                         database_url: str) -> None:
    """The index accelerates; it never costs a write or a wrong answer."""
    from sqlalchemy import create_engine, text

    server = plugin_server
    session = server.session()
    mkcalendar(session, server.url + "/alice/calendar/")
    monday = ANCHOR + datetime.timedelta(hours=9)
    assert put(session, server.url + "/alice/calendar/a.ics", event_text("a", monday)
               ).status_code == 201
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE tracks_item RENAME TO tracks_item_away"))
    try:
        assert put(session, server.url + "/alice/calendar/b.ics",
                   event_text("b", monday + datetime.timedelta(hours=2))).status_code == 201
        assert put(session, server.url + "/alice/calendar/c.ics", event_text("b", monday)
                   ).status_code == 409  # UID clash found by Radicale's own scan
        assert uids_in_week(server) == {"a.ics", "b.ics"}
        free_busy = report(session, server.url + "/alice/calendar/", free_busy_query(
            stamp(ANCHOR), stamp(ANCHOR + datetime.timedelta(days=7))))
        assert free_busy.status_code == 200 and free_busy.text.count("FREEBUSY;") == 2
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE tracks_item_away RENAME TO tracks_item"))
        engine.dispose()
    assert uids_in_week(server) == {"a.ics", "b.ics"}
    assert server.cli("verify").returncode == 0


def test_index_survives_a_restart(plugin_server: RadicaleServer) -> None:
    server = plugin_server
    session = server.session()
    mkcalendar(session, server.url + "/alice/calendar/")
    put(session, server.url + "/alice/calendar/a.ics", event_text("a", ANCHOR))
    server.stop()
    server.start()
    assert uids_in_week(server) == {"a.ics"}
    clash = put(server.session(), server.url + "/alice/calendar/b.ics", event_text("a", ANCHOR))
    assert clash.status_code == 409
    assert os.path.exists(str(server.folder))
