"""Availability at team scale: vanilla Radicale and radicale-tracks on the same data.

Ten people (u01…u10) and a pool of twenty rooms (room01…room20), each principal with
the same kind of generated calendar (``--events`` each, default 5 000, seeds differ),
laid out for both servers. Measured in alternation, medians of ``--reps``:

- busy time of 20 attendees over 2 weeks: one outbox POST (RFC 6638) with the plugin;
  vanilla Radicale has no scheduling, so its nearest equivalent is what a client must do
  there — one free-busy-query REPORT per attendee calendar (20 requests);
- a slot search: 30 minutes with the ten people and any room of the pool, over 2 weeks on
  a 30-minute grid (``POST /.web/api/slots``), against the 30 REPORTs a client would
  need on vanilla Radicale before it could start looking. Measured twice: "cold", right
  after every one of the 30 calendars got a new event (outside the window, so answers
  stay comparable), which empties the plugin's per-calendar busy-time cache; and "warm",
  the same search again with nothing changed — an agent paging through slots.

The outbox POST is always measured cold. ``--json FILE`` keeps the raw timings.

    make bench-availability                       # 5 000 events per principal
    make bench-availability BENCH_ARGS="--events 1000 --reps 5"
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests

from common import outbox_request, stamp  # puts tests/ on the path

# isort: split
from calendars import generate, this_monday, write_collection  # noqa: E402
from helpers import PLUGIN, VANILLA, RadicaleServer, free_busy_query, put, report  # noqa: E402

PEOPLE = ["u%02d" % n for n in range(1, 11)]
ROOMS = ["room%02d" % n for n in range(1, 21)]


def far_event(number: int, anchor: datetime.datetime) -> str:
    start = anchor + datetime.timedelta(days=500, hours=number % 24)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            "UID:bench-change-%d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\n"
            "DTEND:%s\r\nSUMMARY:change\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (
                number, stamp(start), stamp(start + datetime.timedelta(minutes=30))))


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per principal")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write raw timings here")
    args = parser.parse_args()
    anchor = this_monday()
    week = anchor + datetime.timedelta(days=7)   # next week: all of it lies ahead
    window = (stamp(week), stamp(week + datetime.timedelta(days=14)))
    rooms = "\n".join("    %s@example.org: name=Room %s; pools=bench-pool; priority=%d"
                      % (room, room[-2:], number) for number, room in enumerate(ROOMS))
    with tempfile.TemporaryDirectory(prefix="tracks-bench-availability-") as temp:
        workdir = Path(temp)
        started = time.perf_counter()
        servers = {}
        for name, storage_type in (("vanilla", VANILLA), ("tracks", PLUGIN)):
            folder = workdir / name
            for seed, principal in enumerate(PEOPLE + ROOMS, 1):
                write_collection(folder / "collection-root" / principal / "calendar",
                                 generate(args.events, seed=seed, anchor=anchor))
            servers[name] = RadicaleServer(
                workdir / ("srv-" + name), storage_type=storage_type, folder=folder,
                rights_type="authenticated" if name == "vanilla" else "radicale_tracks.rights",
                storage_options={} if name == "vanilla" else {
                    "domain": "example.org", "rooms": "\n" + rooms,
                    "outbox_sender": "False", "index_rescan_interval": "3600"})
        print("laid out %d principals x %d events in %.1fs" % (
            len(PEOPLE + ROOMS), args.events, time.perf_counter() - started), flush=True)
        started = time.perf_counter()
        reindex = servers["tracks"].cli("reindex", "--quiet")
        if reindex.returncode != 0:
            raise SystemExit(reindex.stderr)
        print("reindex %.1fs" % (time.perf_counter() - started), flush=True)
        timings: dict[str, list[float]] = {key: [] for key in (
            "vanilla_fb20", "tracks_fb20", "vanilla_reports30", "tracks_slots_cold",
            "tracks_slots_warm")}
        users = servers["tracks"].workdir / "users"
        users.write_text(users.read_text() + "".join(
            "%s:%s-secret\n" % (p, p) for p in PEOPLE + ROOMS))
        try:
            for server in servers.values():
                server.start()
            sessions = {name: server.session() for name, server in servers.items()}
            owners = {p: requests.Session() for p in PEOPLE + ROOMS}
            for principal, session in owners.items():
                session.auth = (principal, principal + "-secret")
            changes = iter(range(10 ** 6))

            def change_every_calendar() -> None:
                """One new event per calendar, far outside the window."""
                number = next(changes)
                for principal, session in owners.items():
                    answer = put(session, "%s/%s/calendar/bench-change-%d.ics" % (
                        servers["tracks"].url, principal, number), far_event(number, anchor))
                    assert answer.status_code == 201, answer.text

            def search() -> tuple[float, requests.Response]:
                begin = time.perf_counter()
                answer = sessions["tracks"].post(servers["tracks"].url + "/.web/api/slots",
                                                 json=slot_question)
                assert answer.status_code == 200, answer.text
                return time.perf_counter() - begin, answer

            body = free_busy_query(*window)
            attendees20 = PEOPLE + ROOMS[:10]
            slot_question = {"attendees": ["%s@example.org" % p for p in PEOPLE],
                             "pools": ["bench-pool"], "duration": 30, "grid": 30,
                             "start": week.isoformat(),
                             "end": (week + datetime.timedelta(days=14)).isoformat(),
                             "zone": "UTC", "include_organizer": False,
                             "max_results": 20}
            for rep in range(args.reps + 1):   # the first round warms both servers
                vanilla, tracks = servers["vanilla"], servers["tracks"]
                begin = time.perf_counter()
                for principal in attendees20:
                    answer = report(sessions["vanilla"], "%s/%s/calendar/" % (
                        vanilla.url, principal), body)
                    assert answer.status_code == 200, answer.text
                fb20_vanilla = time.perf_counter() - begin
                change_every_calendar()
                begin = time.perf_counter()
                answer = sessions["tracks"].post(
                    tracks.url + "/alice/schedule-outbox/",
                    data=outbox_request(*window, "alice@example.org", [
                        "%s@example.org" % a for a in attendees20], uid="bench-fb-20"),
                    headers={"Content-Type": "text/calendar"})
                fb20_tracks = time.perf_counter() - begin
                assert answer.status_code == 200 and answer.text.count(
                    "2.0;Success") == 20, answer.text[:500]
                begin = time.perf_counter()
                for principal in PEOPLE + ROOMS:
                    report(sessions["vanilla"], "%s/%s/calendar/" % (vanilla.url, principal),
                           body)
                reports30 = time.perf_counter() - begin
                change_every_calendar()
                slots_cold, answer = search()
                slots_warm, again = search()
                assert again.json() == answer.json()
                if rep == 0:
                    found = answer.json()
                    print("slot search: %d candidates, %d slots, first %s" % (
                        found["candidates"], len(found["slots"]),
                        found["slots"][0]["start"] if found["slots"] else found["reason"]))
                    continue
                timings["vanilla_fb20"].append(fb20_vanilla)
                timings["tracks_fb20"].append(fb20_tracks)
                timings["vanilla_reports30"].append(reports30)
                timings["tracks_slots_cold"].append(slots_cold)
                timings["tracks_slots_warm"].append(slots_warm)
        finally:
            for server in servers.values():
                server.stop()
    v20, t20 = median_ms(timings["vanilla_fb20"]), median_ms(timings["tracks_fb20"])
    v30 = median_ms(timings["vanilla_reports30"])
    cold, warm = median_ms(timings["tracks_slots_cold"]), median_ms(timings["tracks_slots_warm"])
    print("| events per principal | metric | vanilla (ms) | tracks (ms) | vanilla / tracks |")
    print("| ---: | --- | ---: | ---: | ---: |")
    print("| %d | busy time of 20 attendees, 2 weeks (vanilla: 20 REPORTs; tracks: one "
          "outbox POST, every calendar just changed) | %.1f | %.1f | %.1f× |" % (
              args.events, v20, t20, v20 / t20))
    print("| %d | slot search, 10 people + pool of 20 rooms, 2 weeks, 30-min grid, every "
          "calendar just changed (vanilla: the 30 REPORTs alone) | %.1f | %.1f | %.1f× |" % (
              args.events, v30, cold, v30 / cold))
    print("| %d | the same slot search again, nothing changed | %.1f | %.1f | %.1f× |" % (
        args.events, v30, warm, v30 / warm))
    if args.json:
        args.json.write_text(json.dumps({"events": args.events, **timings}, indent=1))

if __name__ == "__main__":
    main()
