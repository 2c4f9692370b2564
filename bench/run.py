"""Vanilla Radicale and Radicale with radicale-tracks, side by side on the same data.

For each calendar size (default 0, 2 000 and 10 000 events, 10 % recurring) the same
generated files are laid out for two servers on loopback, both warmed, then measured in
alternation so that machine noise hits both alike:

- PUT latency of new events (each a new UID: Radicale's UID-clash check runs);
- calendar-query and free-busy-query REPORT latency over two weeks;
- scheduling: a PUT inviting two users of the server and one address elsewhere (vanilla
  only stores it; the plugin also delivers to inboxes and calendars and queues the mail),
  and another user's busy time: a free-busy POST to bob's outbox (RFC 6638) against the
  nearest vanilla equivalent, a free-busy-query REPORT on alice's calendar (same periods);
- each server's peak resident memory (VmHWM).

Medians and ratios are printed as a Markdown table; ``--write-doc`` puts it into
docs/performance.md between the result markers. Every answer pair is also compared, so a
fast wrong answer cannot pass unnoticed.

    make bench                      # all sizes
    make bench BENCH_ARGS="--sizes 0 2000 --reps 5"
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (  # puts tests/ on the path
    ROOT,
    environment,
    outbox_request,
    peak_kib,
    replace_between,
    stamp,
)

# isort: split
from calendars import generate, this_monday, write_collection  # noqa: E402
from helpers import (  # noqa: E402
    PLUGIN,
    VANILLA,
    RadicaleServer,
    calendar_query,
    free_busy_query,
    normalize_ical,
    normalize_multistatus,
    put,
    report,
)

DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
CALENDAR = "/alice/calendar/"


@dataclass
class Measure:
    put: list[float] = field(default_factory=list)
    calendar_query: list[float] = field(default_factory=list)
    free_busy: list[float] = field(default_factory=list)
    invite: list[float] = field(default_factory=list)
    outbox: list[float] = field(default_factory=list)
    peak_kib: int = 0
    matches: int = 0


def timed(function, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def new_event(number: int, anchor: datetime.datetime) -> tuple[str, str]:
    start = anchor + datetime.timedelta(days=number % 5, hours=8 + number % 9)
    uid = "bench-put-%04d@tracks.test" % number
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:bench put %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (
                uid, stamp(start), stamp(start + datetime.timedelta(minutes=30)), number))
    return "bench-put-%04d.ics" % number, text


def invitation(number: int, anchor: datetime.datetime) -> tuple[str, str]:
    # outside the measured window: the stored invitation carries SCHEDULE-STATUS with the
    # plugin, so it would make the compared query answers differ
    href, text = new_event(10000 + number, anchor - datetime.timedelta(days=60))
    people = ("ORGANIZER:mailto:alice@example.org\r\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org\r\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@example.org\r\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dana@example.net\r\n")
    return href, text.replace("END:VEVENT", people + "END:VEVENT")


def busy_lines(text: str) -> list[str]:
    """Busy time of an answer (a VFREEBUSY or a schedule-response), merged per FBTYPE.

    FREE is dropped, and so is BUSY-UNAVAILABLE: the outbox adds time outside working
    hours, which a REPORT on a calendar knows nothing of. Merging makes the two forms
    comparable: the outbox joins overlapping periods, Radicale lists one per event.
    """
    import xml.etree.ElementTree as ET

    from icalendar.prop import vDuration

    from radicale_tracks.core.freebusy import merge_busy

    if text.lstrip().startswith("<"):
        data = ET.fromstring(text).find(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
        text = data.text or "" if data is not None else ""
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    periods: list[tuple[int, int, str]] = []
    for line in unfolded.splitlines():
        if not line.startswith("FREEBUSY"):
            continue
        kind = (line.split("FBTYPE=")[1].split(":")[0].split(";")[0]
                if "FBTYPE=" in line else "BUSY")
        if kind in ("FREE", "BUSY-UNAVAILABLE"):
            continue
        for value in line.split(":", 1)[1].split(","):
            first, second = value.split("/")
            start = datetime.datetime.strptime(first, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC)
            end = (start + vDuration.from_ical(second) if second.startswith(("P", "+P"))
                   else datetime.datetime.strptime(second, "%Y%m%dT%H%M%SZ").replace(
                       tzinfo=datetime.UTC))
            periods.append((int(start.timestamp()), int(end.timestamp()), kind))
    return ["%s %d/%d" % (kind, start, end) for start, end, kind in merge_busy(periods)]


def run_size(size: int, reps: int, puts: int, workdir: Path, anchor: datetime.datetime,
             launcher: str = "tracks") -> dict[str, Measure]:
    objects = generate(size, seed=42, anchor=anchor)
    servers: dict[str, RadicaleServer] = {}
    for name, storage_type in (("vanilla", VANILLA), ("tracks", PLUGIN)):
        folder = workdir / ("%s-%d" % (name, size))
        write_collection(folder / "collection-root" / "alice" / "calendar", objects)
        servers[name] = RadicaleServer(workdir / ("srv-%s-%d" % (name, size)),
                                       storage_type=storage_type, folder=folder,
                                       launcher="" if name == "vanilla" else launcher,
                                       storage_options={} if name == "vanilla" else {
                                           "domain": "example.org"})
    tracks = servers["tracks"]
    started = time.perf_counter()
    reindex = tracks.cli("reindex", "--quiet")
    if reindex.returncode != 0:
        raise SystemExit("reindex failed: %s" % reindex.stderr)
    print("  size %d: reindex %.1fs" % (size, time.perf_counter() - started), flush=True)
    measures = {name: Measure() for name in servers}
    window = (stamp(anchor), stamp(anchor + datetime.timedelta(days=14)))
    queries = {"calendar_query": calendar_query(*window),
               "free_busy": free_busy_query(*window)}
    try:
        for server in servers.values():
            server.start()
        sessions = {name: server.session() for name, server in servers.items()}
        bob = {name: server.session("bob") for name, server in servers.items()}
        for server in servers.values():  # bob and carol have logged in once
            for user in ("bob", "carol"):
                server.session(user).request("PROPFIND", "%s/%s/" % (server.url, user))
        for name, server in servers.items():  # warm caches (Radicale builds its own)
            report(sessions[name], server.url + CALENDAR, calendar_query(
                stamp(anchor - datetime.timedelta(days=400)),
                stamp(anchor + datetime.timedelta(days=400))))
        os.sync()  # flush the warm-up's cache files: no server's fsync should pay for them
        for number in range(puts):
            href, text = new_event(number, anchor)
            for name, server in servers.items():
                elapsed, response = timed(put, sessions[name], server.url + CALENDAR + href,
                                          text)
                assert response.status_code == 201, response.text
                measures[name].put.append(elapsed)
            href, text = invitation(number, anchor)
            for name, server in servers.items():
                elapsed, response = timed(put, sessions[name], server.url + CALENDAR + href,
                                          text)
                assert response.status_code == 201, response.text
                measures[name].invite.append(elapsed)
        for _ in range(reps):
            for kind, body in queries.items():
                answers = {}
                for name, server in servers.items():
                    elapsed, response = timed(report, sessions[name], server.url + CALENDAR,
                                              body)
                    assert response.status_code in (200, 207), response.text
                    getattr(measures[name], kind).append(elapsed)
                    answers[name] = response.text
                if kind == "free_busy":
                    same = normalize_ical(answers["vanilla"]) == normalize_ical(answers["tracks"])
                else:
                    same = (normalize_multistatus(answers["vanilla"])
                            == normalize_multistatus(answers["tracks"]))
                if not same:
                    raise SystemExit("answers differ for %s at size %d" % (kind, size))
                measures["tracks"].matches += 1
            answers = {}
            elapsed, response = timed(report, sessions["vanilla"],
                                      servers["vanilla"].url + CALENDAR,
                                      free_busy_query(*window))
            measures["vanilla"].outbox.append(elapsed)
            answers["vanilla"] = response.text
            elapsed, response = timed(lambda: bob["tracks"].post(
                servers["tracks"].url + "/bob/schedule-outbox/",
                data=outbox_request(*window, "bob@example.org", ["alice@example.org"]),
                headers={"Content-Type": "text/calendar"}))
            assert response.status_code == 200, response.text
            measures["tracks"].outbox.append(elapsed)
            if busy_lines(answers["vanilla"]) != busy_lines(response.text):
                raise SystemExit("busy time differs between outbox POST and REPORT at "
                                 "size %d" % size)
            measures["tracks"].matches += 1
        for name, server in servers.items():
            assert server.process is not None
            measures[name].peak_kib = peak_kib(server.process.pid)
    finally:
        for server in servers.values():
            server.stop()
    return measures


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def table(results: dict[int, dict[str, Measure]]) -> str:
    baseline_put = ms(results[min(results)]["tracks"].put)
    lines = [
        "| events | metric | vanilla (ms) | tracks (ms) | vanilla / tracks |",
        "| ---: | --- | ---: | ---: | ---: |"]
    for size, measures in sorted(results.items()):
        vanilla, tracks = measures["vanilla"], measures["tracks"]
        for label, attr in (("PUT", "put"), ("calendar-query 2 weeks", "calendar_query"),
                            ("free-busy-query 2 weeks", "free_busy"),
                            ("PUT invitation (2 users here, 1 by mail)", "invite"),
                            ("another user's busy time, 2 weeks (vanilla: REPORT; "
                             "tracks: outbox POST)", "outbox")):
            v, t = ms(getattr(vanilla, attr)), ms(getattr(tracks, attr))
            lines.append("| %d | %s | %.1f | %.1f | %.1f× |" % (size, label, v, t, v / t))
        lines.append("| %d | peak memory (MiB) | %.1f | %.1f | tracks = %.2f× vanilla |" % (
            size, vanilla.peak_kib / 1024, tracks.peak_kib / 1024,
            tracks.peak_kib / max(vanilla.peak_kib, 1)))
    lines.append("")
    lines.append("PUT median with the plugin, relative to an empty calendar: " + ", ".join(
        "%d events %.2f×" % (size, ms(m["tracks"].put) / baseline_put)
        for size, m in sorted(results.items())) + ".")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 2000, 10000])
    parser.add_argument("--reps", type=int, default=9, help="REPORTs per query and server")
    parser.add_argument("--puts", type=int, default=25, help="PUTs per server and size")
    parser.add_argument("--write-doc", action="store_true",
                        help="replace the results in docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write raw timings here")
    parser.add_argument("--storage-only", action="store_true",
                        help="run the plugin under plain 'radicale' (storage plugin only) "
                        "instead of 'radicale-tracks serve'")
    args = parser.parse_args()
    anchor = this_monday()
    workdir = Path(tempfile.mkdtemp(prefix="tracks-bench-"))
    results: dict[int, dict[str, Measure]] = {}
    try:
        for size in args.sizes:
            print("size %d ..." % size, flush=True)
            results[size] = run_size(size, args.reps, args.puts, workdir, anchor,
                                     "radicale" if args.storage_only else "tracks")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = "%s\n\nMeasured on: %s; plugin run by %s; %d PUTs and %d REPORTs of each kind " \
           "per server and size; all answers compared equal.\n" % (
               table(results), environment(),
               "`radicale`" if args.storage_only else "`radicale-tracks serve`",
               args.puts, args.reps)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({size: {name: m.__dict__ for name, m in ms_.items()}
                                         for size, ms_ in results.items()}, indent=1))
    if args.write_doc:
        replace_between(DOC, BEGIN, END, text)


if __name__ == "__main__":
    main()
