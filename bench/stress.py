"""Hostile input, races and crashes (issue 17), replayed against real servers.

Each case starts its own server in a subprocess on 127.0.0.1 with a fresh temporary
config and data folder — ``radicale-tracks serve`` ("tracks"; SQLite, or a fresh
PostgreSQL database per server with ``--database-url``) and, where the input is plain
CalDAV, vanilla ``radicale`` ("vanilla") on the same input in the same run. Every step
runs under a hard time cap (``--cap``, default 60 s) and a memory cap (``--max-rss-mib``):
past either the server (or the ``deliver`` process) is killed with SIGKILL and the row
says so. While a step runs, carol GETs her own small event in a loop: the last
columns say how long another user waited meanwhile.

1. PUT of an event whose VTIMEZONE's STANDARD rule is ``FREQ=SECONDLY`` from 1601;
2. the same zone in an iMIP REQUEST to bob through ``radicale-tracks deliver``;
3. PUT of alice's event with N attendees elsewhere (``--attendees``); after a size is
   killed, the larger ones are skipped for that server;
4. ``deliver`` of a ~10.4 MB mail: one big calendar part, then a big attachment;
5. an endless ``FREQ=SECONDLY`` event in bob's calendar, then a slot search, an outbox
   free-busy POST and a free-busy-query REPORT that include bob;
6. PROPPATCH of ``calendar-availability`` with ``FREQ=SECONDLY`` AVAILABLE rules, and
   with a rule that never matches (30 February); each followed by a slot search and an
   outbox free-busy POST that include its owner;
7. three threads PUT versions of one event (bob in / bob out / bob back as optional;
   carol in all) for ``--rounds`` rounds, counting rounds where an attendee's copy is out
   of step with the organizer's final version; then the same three PUTs one after
   another;
8. kill -9 while alice PUTs invitations (bob here, dana by mail to an aiosmtpd sink):
   acknowledged writes lost, half-applied writes, ``verify``, and how long the queued
   mail waits after the restart (``--kills`` rounds, delays drawn with ``--seed``).

    make stress                                    # every case, 60 s cap
    make stress STRESS_ARGS="--cap 10 --cases 1 3 7"
    make stress STRESS_ARGS="--database-url postgresql+psycopg://postgres@127.0.0.1/postgres"

Not run by ``make test``: it measures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import email.policy
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import escape

import requests
from aiosmtpd.controller import Controller

from common import outbox_request, peak_kib, rss_kib, stamp  # puts tests/ on the path

# isort: split
from calendars import this_monday  # noqa: E402
from conftest import fresh_database  # noqa: E402
from helpers import PLUGIN, USERS, VANILLA, RadicaleServer, free_busy_query, put  # noqa: E402
from mailserver import MailSink, _Handler  # noqa: E402
from test_slots_api import proppatch_body  # noqa: E402

DOMAIN = "example.org"
ELSEWHERE = "example.net"
SMALL = "/carol/calendar/small.ics"   # what the other user GETs while a step runs
MAIL_TARGET = 10_400_000              # bytes: under inbound_max_message_bytes (10 MiB)


@dataclass
class Limits:
    cap: float = 60.0           # seconds per step
    max_rss_mib: int = 2048     # per process
    get_interval: float = 0.05  # pause between the other user's GETs


LIMITS = Limits()


@dataclass
class Row:
    case: str
    server: str
    outcome: str = ""
    seconds: float = 0.0
    killed: str = ""                     # "", "time" or "memory"
    server_peak_kib: int = 0
    deliver_peak_kib: int | None = None
    get_count: int = 0
    get_errors: int = 0
    get_max_ms: float | None = None
    get_p50_ms: float | None = None


# -- servers -----------------------------------------------------------------------------

@dataclass
class Served:
    kind: str                 # "tracks" or "vanilla"
    server: RadicaleServer
    database_url: str = ""
    killed: bool = False

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def root(self) -> Path:
        assert self.server.folder is not None
        return self.server.folder / "collection-root"

    def session(self, user: str) -> requests.Session:
        return self.server.session(user)

    def kill(self) -> None:
        process = self.server.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(30)
        self.killed = True


@contextlib.contextmanager
def serve(workdir: Path, kind: str, database_admin_url: str = "",
          **options: str) -> Iterator[Served]:
    """A fresh server of ``kind`` with alice, bob and carol logged in and a calendar each;
    killed (never left running) on the way out, its PostgreSQL database dropped."""
    workdir.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if kind == "tracks":
            if database_admin_url:
                os.environ["TRACKS_TEST_DATABASE_URL"] = database_admin_url
            url = stack.enter_context(fresh_database(
                "postgresql" if database_admin_url else "sqlite", workdir))
            server = RadicaleServer(workdir, storage_type=PLUGIN,
                                    rights_type="radicale_tracks.rights",
                                    storage_options={"database_url": url, "domain": DOMAIN,
                                                     **options})
        else:
            url = ""
            server = RadicaleServer(workdir, storage_type=VANILLA)
        served = Served(kind, server, url)
        stack.callback(lambda: served.kill() if served.killed else server.stop())
        server.start()
        for user in USERS:
            session = served.session(user)
            session.request("PROPFIND", "%s/%s/" % (served.url, user), headers={"Depth": "1"})
            made = session.request("MKCALENDAR", "%s/%s/calendar/" % (served.url, user))
            assert made.status_code == 201, made.text
        answer = put(served.session("carol"), served.url + SMALL,
                     vcalendar(*vevent("carol-small", "Dentist")))
        assert answer.status_code == 201, answer.text
        yield served


# -- capped steps ------------------------------------------------------------------------

class Watch:
    """The processes a step may have to kill: its server and any ``deliver`` it started."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.children: list[subprocess.Popen[bytes]] = []
        self.deliver_peak_kib: int | None = None
        self.lock = threading.Lock()

    def pids(self) -> list[int]:
        process = self.served.server.process
        with self.lock:
            pids = [child.pid for child in self.children if child.returncode is None]
        return pids + ([process.pid] if process is not None else [])

    def kill(self) -> None:
        """A ``deliver`` over the cap is killed (the server, only blocked, stays up);
        otherwise the server itself."""
        with self.lock:
            running = [child for child in self.children if child.returncode is None]
            for child in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
        if not running:
            self.served.kill()


class OtherUser:
    """Carol GETs her own small event in a loop while a step runs (bounded by the cap)."""

    def __init__(self, served: Served) -> None:
        self.url = served.url + SMALL
        self.latencies: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        session.auth = ("carol", USERS["carol"])
        limit = time.monotonic() + 3 * LIMITS.cap + 120
        while not self.stop.is_set() and time.monotonic() < limit:
            begin = time.monotonic()
            try:
                ok = session.get(self.url, timeout=3 * LIMITS.cap + 60).status_code == 200
            except requests.RequestException:
                ok = False
            self.latencies.append(time.monotonic() - begin)
            self.errors += not ok
            self.stop.wait(LIMITS.get_interval)

    def __enter__(self) -> OtherUser:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(3 * LIMITS.cap + 90)


def measure(served: Served, case: str, action: Callable[[Watch], str],
            cap: float | None = None) -> Row:
    """Run ``action`` against ``served`` under the caps, with the other user's GETs."""
    cap = cap or LIMITS.cap
    row = Row(case, served.kind)
    if served.killed:   # by an earlier step: the same data, a new process
        served.server.start()
        served.killed = False
    watch = Watch(served)
    result: dict[str, str] = {}

    def body() -> None:
        try:
            result["outcome"] = action(watch)
        except Exception as error:   # a refused connection after a kill, mostly
            result["outcome"] = "error: %s" % (str(error).splitlines() or [repr(error)])[0][:80]

    worker = threading.Thread(target=body, daemon=True)
    with OtherUser(served) as other:
        started = time.monotonic()
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            if not worker.is_alive():
                break
            if time.monotonic() - started >= cap:
                row.killed = "time"
            elif max((rss_kib(pid) for pid in watch.pids()), default=0) > \
                    LIMITS.max_rss_mib * 1024:
                row.killed = "memory"
            if row.killed:
                break
        row.seconds = time.monotonic() - started
        process = served.server.process
        row.server_peak_kib = peak_kib(process.pid) if process is not None else 0
        if row.killed:
            other.stop.set()
            watch.kill()
            worker.join(60)
    row.outcome = result.get("outcome", "")
    if row.killed and row.outcome.startswith("error:"):   # the kill cut the connection
        row.outcome = "no answer"
    row.deliver_peak_kib = watch.deliver_peak_kib
    row.get_count, row.get_errors = len(other.latencies), other.errors
    if other.latencies:
        row.get_max_ms = max(other.latencies) * 1000
        row.get_p50_ms = statistics.median(other.latencies) * 1000
    print(line(row), flush=True)
    return row


def deliver(watch: Watch, raw: bytes, sender: str, recipient: str) -> str:
    """``radicale-tracks deliver`` as an MTA's pipe runs it; its own peak memory from
    ``wait4`` (the process is reaped here, so /proc no longer has it)."""
    server = watch.served.server
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale_tracks.cli", "--config", str(server.config),
             "deliver", "--sender", sender, "--recipient", recipient],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        with watch.lock:
            watch.children.append(process)

        def feed() -> None:
            assert process.stdin is not None
            with contextlib.suppress(OSError):
                process.stdin.write(raw)
                process.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        limit = time.monotonic() + 3 * LIMITS.cap + 60   # the watch kills it before
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > limit:
                os.kill(process.pid, signal.SIGKILL)
            time.sleep(0.05)
        with watch.lock:
            process.returncode = os.waitstatus_to_exitcode(status)
        watch.deliver_peak_kib = usage.ru_maxrss   # KiB on Linux
        feeder.join(10)
        out.seek(0)
        said = [text for text in out.read().decode("utf-8", "replace").splitlines()
                if text.strip()]
    return "exit %d%s" % (process.returncode, (": " + said[-1][:140]) if said else "")


# -- calendar text -----------------------------------------------------------------------

def vcalendar(*lines: str, method: str = "") -> str:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//stress//EN"]
    return "\r\n".join(head + (["METHOD:" + method] if method else []) + list(lines)
                       + ["END:VCALENDAR"]) + "\r\n"


def vevent(uid: str, summary: str, *extra: str, start: str = ":20270301T100000Z",
           end: str = ":20270301T110000Z") -> list[str]:
    return ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART" + start,
            "DTEND" + end, "SUMMARY:" + summary, *extra, "END:VEVENT"]


def attendees(*addresses: str) -> list[str]:
    return ["ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" + a for a in addresses]


HOSTILE_ZONE = [
    "BEGIN:VTIMEZONE", "TZID:Custom/Seconds", "X-LIC-LOCATION:Custom/Seconds",
    "BEGIN:STANDARD", "DTSTART:16010101T000000", "RRULE:FREQ=SECONDLY",
    "TZOFFSETFROM:+0100", "TZOFFSETTO:+0100", "TZNAME:CST", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010325T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CDT", "END:DAYLIGHT",
    "END:VTIMEZONE"]
ZONED = (";TZID=Custom/Seconds:20270301T100000", ";TZID=Custom/Seconds:20270301T110000")


def zone_bytes() -> int:
    return len("\r\n".join(HOSTILE_ZONE).encode()) + 2


def mail(calendar: str, to: str, attachment: bytes = b"") -> bytes:
    """An iMIP REQUEST from dana elsewhere, the calendar part as plain text lines."""
    message = EmailMessage()
    message["From"] = "dana@" + ELSEWHERE
    message["To"] = to
    message["Subject"] = "Invitation"
    message["Message-ID"] = "<%s@%s>" % (uuid.uuid4().hex, ELSEWHERE)
    message.set_content("You are invited.")
    message.add_attachment(calendar, subtype="calendar", params={"method": "REQUEST"},
                           disposition="inline", cte="7bit")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream",
                               filename="minutes.bin")
    return message.as_bytes(policy=email.policy.SMTP)


def invitation_from_elsewhere(uid: str, *extra: str, zone: bool = False) -> str:
    start, end = ZONED if zone else (":20270301T100000Z", ":20270301T110000Z")
    return vcalendar(*(HOSTILE_ZONE if zone else []), *vevent(
        uid, "Planning", "ORGANIZER:mailto:dana@" + ELSEWHERE,
        *attendees("dana@" + ELSEWHERE, "bob@" + DOMAIN), *extra, start=start, end=end),
        method="REQUEST")


def sized(build: Callable[[int], bytes], target: int) -> bytes:
    """``build(n)`` with n chosen so that the result is about ``target`` bytes."""
    n = target
    for _ in range(4):
        raw = build(n)
        n = max(1, int(n * target / len(raw)))
    return build(n)


def folded(name: str, length: int) -> list[str]:
    value = name + ":" + "x" * length
    return [value[:75]] + [" " + value[i:i + 74] for i in range(75, len(value), 74)]


# -- what is stored ----------------------------------------------------------------------

_UID = re.compile(r"^UID:(.*?)\r?$", re.M)


def objects(folder: Path) -> dict[str, str]:
    """UID → unfolded text of every object file in a collection folder."""
    found: dict[str, str] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and not path.name.startswith("."):
                text = path.read_text(errors="replace").replace("\r\n ", "").replace("\n ", "")
                uid = _UID.search(text)
                if uid:
                    found[uid.group(1)] = text
    return found


def active(text: str | None) -> bool:
    return text is not None and "STATUS:CANCELLED" not in text


def invited(text: str | None) -> dict[str, str]:
    """address → ROLE of an object's attendees."""
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.startswith("ATTENDEE"):
            params, _, address = line.partition(":mailto:")
            role = re.search(r";ROLE=([^;:]+)", params)
            found[address.strip().lower()] = role.group(1) if role else "REQ-PARTICIPANT"
    return found


def invites(text: str | None, user: str) -> bool:
    return "%s@%s" % (user, DOMAIN) in invited(text)


def status_of(answer: requests.Response) -> str:
    """The status, with what the body says in a few words: the statuses inside a
    multistatus, the precondition of a DAV:error, or the JSON API's reason or error."""
    said = ""
    if answer.headers.get("Content-Type", "").startswith("application/json"):
        with contextlib.suppress(ValueError, AttributeError):
            found = answer.json()
            said = str(found.get("error") or "reason %s, %d slots" % (
                found.get("reason"), len(found.get("slots", []))))[:80]
    elif "<" in answer.text[:200]:
        inner = sorted(set(re.findall(r"HTTP/1\.[01] (\d{3})", answer.text)))
        precondition = re.search(r"<(?:\w+:)?error[^>]*>\s*<(?:\w+:)?([\w-]+)", answer.text)
        scheduled = sorted(set(re.findall(r"request-status>\s*([\d.]+)", answer.text)))
        said = ", ".join(inner + scheduled) or (precondition.group(1) if precondition else "")
    elif answer.status_code >= 400:
        said = answer.text.strip().splitlines()[0][:80] if answer.text.strip() else ""
    return "HTTP %d%s" % (answer.status_code, " (%s)" % said if said else "")


# -- cases -------------------------------------------------------------------------------

class Cases:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir = workdir
        self.args = args
        self.rows: list[Row] = []
        self.anchor = this_monday()

    def serve(self, name: str, kind: str, **options: str
              ) -> contextlib.AbstractContextManager[Served]:
        return serve(self.workdir / ("%s-%s-%s" % (name, kind, uuid.uuid4().hex[:6])), kind,
                     self.args.database_url if kind == "tracks" else "", **options)

    def kinds(self) -> tuple[str, ...]:
        return ("tracks",) if self.args.no_vanilla else ("tracks", "vanilla")

    def record(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def put_step(self, served: Served, case: str, user: str, path: str, text: str) -> Row:
        def action(_: Watch) -> str:
            answer = put(served.session(user), served.url + path, text)
            return status_of(answer)
        return self.record(measure(served, case, action))

    # 1
    def timezone_put(self) -> None:
        text = vcalendar(*HOSTILE_ZONE, *vevent("stress-zone", "Zoned", start=ZONED[0],
                                                end=ZONED[1]))
        for kind in self.kinds():
            with self.serve("zone", kind) as served:
                self.put_step(served, "1 PUT, %d-byte VTIMEZONE FREQ=SECONDLY" % zone_bytes(),
                              "alice", "/alice/calendar/zone.ics", text)

    # 2
    def timezone_mail(self) -> None:
        raw = mail(invitation_from_elsewhere("stress-zone-mail", zone=True), "bob@" + DOMAIN)
        with self.serve("zone-mail", "tracks", **INBOUND) as served:
            self.record(measure(served, "2 deliver, same VTIMEZONE in iMIP to bob",
                                lambda watch: deliver(watch, raw, "dana@" + ELSEWHERE,
                                                      "bob@" + DOMAIN)))

    # 3
    def many_attendees(self) -> None:
        for kind in self.kinds():
            killed_at = 0
            for n in self.args.attendees:
                case = "3 PUT, %d attendees elsewhere" % n
                if killed_at:
                    self.record(Row(case, kind, "skipped: %d attendees were killed" % killed_at))
                    print(line(self.rows[-1]), flush=True)
                    continue
                text = vcalendar(*vevent(
                    "stress-many-%d" % n, "All hands", "ORGANIZER:mailto:alice@" + DOMAIN,
                    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@" + DOMAIN,
                    *attendees(*("p%06d@%s" % (i, ELSEWHERE) for i in range(n)))))
                with self.serve("many-%d" % n, kind) as served:
                    row = self.put_step(served, case, "alice", "/alice/calendar/many.ics", text)
                killed_at = n if row.killed else 0

    # 4
    def big_mail(self) -> None:
        rng = random.Random(self.args.seed)
        variants = {
            "big calendar part": lambda n: mail(invitation_from_elsewhere(
                "stress-big-part", *folded("DESCRIPTION", n)), "bob@" + DOMAIN),
            "big attachment": lambda n: mail(invitation_from_elsewhere("stress-big-attach"),
                                             "bob@" + DOMAIN, rng.randbytes(n)),
        }
        for variant, build in variants.items():
            raw = sized(build, MAIL_TARGET)
            with self.serve("big-mail", "tracks", **INBOUND) as served:
                self.record(measure(
                    served, "4 deliver, %.1f MB mail, %s" % (len(raw) / 1e6, variant),
                    lambda watch, raw=raw: deliver(watch, raw, "dana@" + ELSEWHERE,
                                                   "bob@" + DOMAIN)))

    # 5
    def endless_event(self) -> None:
        start = self.anchor + datetime.timedelta(hours=8)
        text = vcalendar(*vevent("stress-endless", "Every second", "RRULE:FREQ=SECONDLY",
                                 start=":" + stamp(start),
                                 end=":" + stamp(start + datetime.timedelta(seconds=1))))
        week = self.anchor + datetime.timedelta(days=7)
        window = (stamp(week), stamp(week + datetime.timedelta(days=7)))
        for kind in self.kinds():
            with self.serve("endless", kind) as served:
                self.put_step(served, "5 PUT, endless FREQ=SECONDLY event (bob)", "bob",
                              "/bob/calendar/endless.ics", text)
                if kind == "tracks":
                    self.busy_steps(served, "5", "alice", "bob")
                self.record(measure(served, "5 free-busy-query REPORT, bob's calendar, 1 week",
                                    lambda _: status_of(served.session("bob").request(
                                        "REPORT", served.url + "/bob/calendar/",
                                        data=free_busy_query(*window).encode(),
                                        headers={"Depth": "1", "Content-Type":
                                                 "application/xml; charset=utf-8"}))))

    def busy_steps(self, served: Served, case: str, asking: str, asked: str) -> None:
        """A slot search and an outbox free-busy POST by ``asking`` that include ``asked``,
        next week."""
        week = self.anchor + datetime.timedelta(days=7)
        window = (stamp(week), stamp(week + datetime.timedelta(days=7)))
        self.record(measure(served, "%s slot search with %s, next week" % (case, asked),
                            lambda _: status_of(served.session(asking).post(
                                served.url + "/.web/api/slots",
                                json={"attendees": [asked + "@" + DOMAIN], "duration": 30,
                                      "week": "next"}))))
        self.record(measure(served, "%s outbox free-busy POST for %s, 1 week" % (case, asked),
                            lambda _: status_of(served.session(asking).post(
                                "%s/%s/schedule-outbox/" % (served.url, asking),
                                data=outbox_request(*window, asking + "@" + DOMAIN,
                                                    [asked + "@" + DOMAIN]),
                                headers={"Content-Type": "text/calendar"}))))

    # 6
    def availability(self) -> None:
        def available(number: int, rule: str) -> list[str]:
            return ["BEGIN:AVAILABLE", "UID:stress-available-%d" % number,
                    "DTSTAMP:20260101T000000Z", "DTSTART:20260105T090000Z",
                    "DTEND:20260105T090001Z", "RRULE:" + rule, "END:AVAILABLE"]

        variants = {
            "3 AVAILABLE FREQ=SECONDLY": [line for n in range(3)
                                          for line in available(n, "FREQ=SECONDLY")],
            "AVAILABLE on 30 February": available(0, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
        }
        for variant, components in variants.items():
            text = vcalendar("BEGIN:VAVAILABILITY", "UID:stress-availability",
                             "DTSTAMP:20260101T000000Z", *components, "END:VAVAILABILITY")
            with self.serve("availability", "tracks") as served:
                body = proppatch_body("C:calendar-availability", escape(text))
                self.record(measure(
                    served, "6 PROPPATCH calendar-availability, %s" % variant,
                    lambda _, served=served, body=body: status_of(served.session("alice").request(
                        "PROPPATCH", served.url + "/alice/schedule-inbox/", data=body.encode(),
                        headers={"Content-Type": "application/xml; charset=utf-8"}))))
                self.busy_steps(served, "6", "bob", "alice")

    # 7
    def same_event(self) -> None:
        # bob in, out, in again as an optional participant; carol in every version (the
        # versions of tests/test_concurrent_writers.py: nothing a clock could order)
        versions = [["bob", "carol"], ["carol"], ["carol", "OPT-PARTICIPANT:bob"]]

        def text(uid: str, people: list[str]) -> str:
            return vcalendar(*vevent(uid, "Review", "SEQUENCE:0",
                                     "ORGANIZER:mailto:alice@" + DOMAIN,
                                     "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@" + DOMAIN, *[
                                         "ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=%s:mailto:%s@%s"
                                         % ((person.rpartition(":")[0] or "REQ-PARTICIPANT",
                                             person.rpartition(":")[2], DOMAIN))
                                         for person in people]))

        def rounds(served: Served, concurrent: bool) -> str:
            sessions = [served.session("alice") for _ in versions]
            failed = out_of_step = presence = attendees_differ = 0
            for _ in range(self.args.rounds):
                uid = "stress-race-%s" % uuid.uuid4().hex
                url = "%s/alice/calendar/%s.ics" % (served.url, uid)
                statuses: list[int] = []
                if concurrent:   # everyone has a copy, then three edits race
                    statuses.append(put(sessions[0], url, text(uid, versions[0])).status_code)
                    barrier = threading.Barrier(len(versions))

                    def write(index: int, url: str, uid: str, barrier: threading.Barrier,
                              statuses: list[int]) -> None:
                        barrier.wait(30)
                        statuses.append(put(sessions[index], url,
                                            text(uid, versions[index])).status_code)

                    threads = [threading.Thread(target=write,
                                                args=(i, url, uid, barrier, statuses),
                                                daemon=True)
                               for i in range(len(versions))]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join(LIMITS.cap)
                else:            # the three one after another, as fast as they are answered
                    for people in versions:
                        statuses.append(put(sessions[0], url, text(uid, people)).status_code)
                failed += sum(status >= 300 for status in statuses)
                final = objects(served.root / "alice" / "calendar").get(uid)
                copies = [objects(served.root / user / "calendar").get(uid)
                          for user in ("bob", "carol")]
                wrong = [invites(final, user) != active(copy)
                         for user, copy in zip(("bob", "carol"), copies, strict=True)]
                differ = [invites(final, user) and active(copy) and invited(copy) != invited(final)
                          for user, copy in zip(("bob", "carol"), copies, strict=True)]
                presence += any(wrong)
                attendees_differ += any(differ)
                out_of_step += any(wrong) or any(differ)
            return ("out of step in %d of %d rounds (copy present or cancelled wrongly: %d; an "
                    "active copy with other attendees: %d); %d PUTs failed" % (
                        out_of_step, self.args.rounds, presence, attendees_differ, failed))

        with self.serve("race", "tracks") as served:
            self.record(measure(served, "7 same event, 3 concurrent PUTs x %d"
                                % self.args.rounds, lambda _: rounds(served, True),
                                cap=LIMITS.cap * 4))
            self.record(measure(served, "7 same event, 3 PUTs in a row x %d"
                                % self.args.rounds, lambda _: rounds(served, False),
                                cap=LIMITS.cap * 4))

    # 8
    def kill_mid_stream(self) -> None:
        rng = random.Random(self.args.seed)
        sink = slow_sink(self.args.smtp_delay).start()
        try:
            with self.serve("crash", "tracks", mail_transport="smtp", smtp_server="127.0.0.1",
                            smtp_port=str(sink.port), outbox_poll_interval="1",
                            outbox_retry_base="1", inbox_max_items="100000") as served:
                from sqlalchemy import create_engine, text

                engine = create_engine(served.database_url)
                try:
                    for number in range(1, self.args.kills + 1):
                        delay = rng.uniform(*self.args.kill_after)
                        self.record(measure(
                            served, "8 kill -9 #%d after %.2f s of invitations" % (
                                number, delay),
                            lambda _, delay=delay: self.crash_round(served, engine, text,
                                                                    delay),
                            cap=2 * LIMITS.cap + delay + 60))
                finally:
                    engine.dispose()
        finally:
            sink.stop()

    def crash_round(self, served: Served, engine: object, text: Callable[[str], object],
                    delay: float) -> str:
        process = served.server.process
        assert process is not None
        session = served.session("alice")
        attempted: list[str] = []
        acked: set[str] = set()
        stop = threading.Event()

        def stream() -> None:
            while not stop.is_set() and len(attempted) < 100_000:
                uid = "stress-crash-%s" % uuid.uuid4().hex
                attempted.append(uid)
                try:
                    answer = put(session, "%s/alice/calendar/%s.ics" % (served.url, uid),
                                 vcalendar(*vevent(uid, "Crash test",
                                                   "ORGANIZER:mailto:alice@" + DOMAIN,
                                                   *attendees("bob@" + DOMAIN,
                                                              "dana@" + ELSEWHERE))))
                except requests.RequestException:
                    return
                if answer.status_code in (200, 201, 204):
                    acked.add(uid)

        writer = threading.Thread(target=stream, daemon=True)
        writer.start()
        time.sleep(delay)   # the random moment of the crash is the point, not a sync
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        stop.set()
        writer.join(LIMITS.cap)
        queued = outbox_pending(engine, text)   # as the killed process left it
        leased = {row_id for row_id, lease in queued.items() if lease and lease > time.time()}
        served.server.start()
        restarted = time.monotonic()
        served.session("alice").request("PROPFIND", served.url + "/alice/",
                                        headers={"Depth": "0"})
        waited: dict[str, float] = {}
        while time.monotonic() - restarted < LIMITS.cap and len(waited) < 2:
            still = outbox_pending(engine, text)
            for name, rows in (("leased", leased), ("queued", set(queued))):
                if name not in waited and not rows & set(still):
                    waited[name] = time.monotonic() - restarted
            time.sleep(0.1)
        with engine.connect() as connection:  # type: ignore[attr-defined]
            mailed = {row[0] for row in connection.execute(text(
                "SELECT uid FROM tracks_outbox WHERE recipient LIKE '%%dana@%s%%'"
                % ELSEWHERE))}
        organizer = objects(served.root / "alice" / "calendar")
        copies = objects(served.root / "bob" / "calendar")
        inbox = objects(served.root / "bob" / "schedule-inbox")
        lost = sum(uid not in organizer for uid in acked)
        half: dict[str, int] = {}   # what is missing → how many writes
        halves = 0
        for uid in attempted:
            parts = {"bob's copy": uid in copies, "bob's inbox": uid in inbox,
                     "outbox row": uid in mailed, "organizer object": uid in organizer}
            if len(set(parts.values())) > 1:
                halves += 1
                for part, present in parts.items():
                    if not present:
                        half["no " + part] = half.get("no " + part, 0) + 1
        verify = served.server.cli("verify")
        def after(name: str) -> str:
            return ("%.1f s" % waited[name] if name in waited
                    else "> %.0f s (still pending)" % LIMITS.cap)

        return ("acked %d of %d, lost %d, half-applied %d%s; verify exit %d; mail at restart: "
                "%d queued, sent after %s, of them %d leased by the dead process, sent after "
                "%s" % (len(acked), len(attempted), lost, halves,
                        " (%s)" % ", ".join("%s %d" % kv for kv in sorted(half.items()))
                        if half else "", verify.returncode, len(queued), after("queued"),
                        len(leased), after("leased")))


def outbox_pending(engine: object, text: Callable[[str], object]) -> dict[int, int | None]:
    """Pending outbox rows: id → lease_until (when the schema still has that column)."""
    with engine.connect() as connection:  # type: ignore[attr-defined]
        try:
            rows = connection.execute(text(
                "SELECT id, lease_until FROM tracks_outbox WHERE status = 'pending'")).all()
        except Exception:   # a schema that took leases elsewhere: no lease known
            connection.rollback()
            rows = [(row[0], None) for row in connection.execute(text(
                "SELECT id FROM tracks_outbox WHERE status = 'pending'"))]
    return {int(row_id): lease for row_id, lease in rows}


def slow_sink(delay: float) -> MailSink:
    """The tests' aiosmtpd sink, answering each mail after ``delay`` seconds like a remote
    server would: a crash then finds mail queued and leased, as in production."""
    sink = MailSink()

    class Slow(_Handler):
        async def handle_DATA(self, server: object, session: object, envelope: object
                              ) -> str:
            await asyncio.sleep(delay)
            return await super().handle_DATA(server, session, envelope)

    sink.controller = Controller(Slow(sink), hostname="127.0.0.1", port=sink.port)
    return sink


INBOUND = {"inbound_allowed_senders": "*", "inbound_trust_unauthenticated_senders": "True"}

CASES: dict[str, Callable[[Cases], None]] = {
    "1": Cases.timezone_put, "2": Cases.timezone_mail, "3": Cases.many_attendees,
    "4": Cases.big_mail, "5": Cases.endless_event, "6": Cases.availability,
    "7": Cases.same_event, "8": Cases.kill_mid_stream}


# -- output ------------------------------------------------------------------------------

HEADER = ("| case | server | outcome | time | server peak MiB | deliver peak MiB | "
          "other user's GET: max / p50 ms (n) |")


def line(row: Row) -> str:
    if row.killed == "time":
        took = "> %.0f s (killed)" % row.seconds
    elif row.killed == "memory":
        took = "%.1f s (killed: > %d MiB)" % (row.seconds, LIMITS.max_rss_mib)
    else:
        took = "%.2f s" % row.seconds if row.seconds else ""
    gets = ("%.0f / %.0f (%d%s)" % (row.get_max_ms, row.get_p50_ms or 0, row.get_count,
                                    ", %d failed" % row.get_errors if row.get_errors else "")
            if row.get_max_ms is not None else "")
    return "| %s | %s | %s | %s | %s | %s | %s |" % (
        row.case, row.server, row.outcome.replace("|", "/"), took,
        "%.0f" % (row.server_peak_kib / 1024) if row.server_peak_kib else "",
        "%.0f" % (row.deliver_peak_kib / 1024) if row.deliver_peak_kib else "", gets)


def environment(args: argparse.Namespace) -> str:
    import radicale

    return ("Python %s, Radicale %s, %s, %d CPUs, %s; %s; cap %.0f s and %d MiB per step"
            % (platform.python_version(), radicale.VERSION, platform.machine(),
               os.cpu_count() or 0, datetime.date.today().isoformat(),
               "PostgreSQL" if args.database_url else "SQLite", LIMITS.cap,
               LIMITS.max_rss_mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    parser.add_argument("--cap", type=float, default=60.0,
                        help="seconds a step may take before its process is killed")
    parser.add_argument("--max-rss-mib", type=int, default=2048,
                        help="memory a server or deliver may use before it is killed")
    parser.add_argument("--get-interval", type=float, default=0.05,
                        help="seconds between the other user's GETs")
    parser.add_argument("--attendees", type=int, nargs="+",
                        default=[50, 200, 1000, 10000, 100000])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the race (case 7)")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 rounds (case 8)")
    parser.add_argument("--kill-after", type=float, nargs=2, default=[0.5, 3.0],
                        metavar=("MIN", "MAX"), help="seconds of writes before a kill")
    parser.add_argument("--smtp-delay", type=float, default=0.1,
                        help="seconds the mail sink takes per mail (case 8)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--database-url",
                        help="PostgreSQL admin URL: each tracks server gets a new database")
    parser.add_argument("--no-vanilla", action="store_true",
                        help="skip vanilla Radicale's rows")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    LIMITS.cap, LIMITS.max_rss_mib = args.cap, args.max_rss_mib
    LIMITS.get_interval = args.get_interval
    json_path = args.json.resolve() if args.json else None
    workdir = Path(tempfile.mkdtemp(prefix="tracks-stress-"))
    cases = Cases(workdir, args)
    print(HEADER + "\n" + "| --- " * 7 + "|", flush=True)
    started_in = os.getcwd()
    # ``python -m radicale_tracks.cli`` (deliver, verify) puts its working directory first
    # on sys.path: from a checkout it would run that checkout's code, not the importable one
    os.chdir(workdir)
    try:
        for name in args.cases:
            CASES[name](cases)
    finally:
        os.chdir(started_in)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nMeasured on: %s.\n" % environment(args))
    print(HEADER)
    print("| --- " * 7 + "|")
    for row in cases.rows:
        print(line(row))
    if json_path:
        json_path.write_text(json.dumps({"environment": environment(args),
                                         "rows": [asdict(row) for row in cases.rows]},
                                        indent=1))


if __name__ == "__main__":
    main()
