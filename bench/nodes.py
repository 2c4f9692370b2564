"""Several nodes on one PostgreSQL (issue 19): writes, calendar locks and REPORTs, side by
side in one run.

Three parts, each on the same generated data for every server it compares (all on
127.0.0.1, every server started here and stopped at the end, every PostgreSQL database
made here dropped at the end, also on Ctrl-C or a failure):

1. **Writes/s with concurrent clients.** ``--clients`` users (``user0`` …), each PUTting
   ``--writes`` new events into a calendar of its own, all at once, against (a) vanilla
   Radicale (``multifilesystem``), (b) one ``radicale-tracks serve`` node with
   ``item_store = files``, (c) one node with ``item_store = database`` on a new
   PostgreSQL database and (d) two such nodes on one new PostgreSQL database, each with
   its own empty ``filesystem_folder``, the clients split between them. After a warm-up
   (``--warmup`` writes per client), ``--rounds`` bursts per setup, the setups taking
   turns so that machine noise hits them alike. Reported: writes/s (median over rounds:
   all writes of a burst over its wall time), p50/p95 latency of every measured PUT, and
   every answer other than 201.
2. **A write held on calendar A does not delay calendar B.** While the lock of calendar A
   is held for ``--hold`` seconds from outside — in database mode the PostgreSQL advisory
   lock of A's unit (``calendar_locks.lock_key``), in files mode Radicale's storage lock
   (``flock`` on ``.Radicale.lock``) — a PUT to A and a PUT to B are timed; beside them
   a PUT to B with nothing held.
3. **REPORT latency, database mode against files mode.** For each of ``--sizes`` the
   generated calendar (``tests/calendars.py``, seed 42) is laid out as files and indexed
   (``reindex``) for the files-mode node and moved by ``radicale-tracks migrate --to
   database`` into a new PostgreSQL database for the database-mode node; calendar-query
   and free-busy-query over two weeks, in alternation, every answer pair compared (a fast
   wrong answer stops the run).

Nothing is asserted about time: the figures are printed as Markdown tables with ratios;
``--write-doc`` puts them into docs/performance.md between the ``nodes`` markers.

    make bench-nodes
    make bench-nodes BENCH_ARGS="--sizes 200 --writes 10 --reps 3 --rounds 1"
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import fcntl
import http.client
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from common import (  # puts tests/ on the path
    ROOT,
    cpu_seconds,
    environment,
    postgres_cpu_seconds,
    replace_between,
    stamp,
)

# isort: split
from calendars import generate, this_monday, write_collection  # noqa: E402
from helpers import (  # noqa: E402
    PLUGIN,
    USERS,
    VANILLA,
    RadicaleServer,
    calendar_query,
    free_busy_query,
    free_port,
    normalize_ical,
    normalize_multistatus,
    report,
    write_config,
)

DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- nodes:begin -->", "<!-- nodes:end -->"
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BASE_URL = "http://127.0.0.1"
DOMAIN = "example.org"
#: a bound on every HTTP request: a hung server fails the run, never hangs it
REQUEST_TIMEOUT = 120.0
#: a bound on a command (``reindex``, ``migrate``) of the largest calendar
COMMAND_TIMEOUT = 1800.0


# -- PostgreSQL databases and servers, all undone at the end ---------------------------


class Databases:
    """New PostgreSQL databases on the admin URL's server, each dropped at :meth:`close`
    (its sessions ended first: a server that did not stop cleanly cannot keep it)."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT",
                                   connect_args={"connect_timeout": 10})
        self.names: list[str] = []

    def create(self) -> str:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = "tracks_bench_%s" % uuid.uuid4().hex[:12]
        with self.admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "%s"' % name))
        self.names.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(
            hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        if name not in self.names:
            return
        with self.admin.connect() as connection:
            connection.execute(text("SET statement_timeout = '30s'"))
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            connection.execute(text('DROP DATABASE IF EXISTS "%s"' % name))
        self.names.remove(name)

    def close(self) -> None:
        for name in list(self.names):
            try:
                self.drop("postgresql://x/%s" % name)
            except Exception as e:  # noqa: BLE001  # keep dropping the others
                print("could not drop database %s: %s" % (name, e), file=sys.stderr)
        self.admin.dispose()


@dataclass
class Lab:
    """Where this run keeps its servers: a work folder, the users, the databases, and
    everything to undo (servers stopped before their databases are dropped)."""

    workdir: Path
    users: dict[str, str]
    databases: Databases
    stack: contextlib.ExitStack
    servers: list[RadicaleServer] = field(default_factory=list)

    def server(self, name: str, kind: str, database_url: str = "",
               folder: Path | None = None) -> RadicaleServer:
        """A server of ``kind`` (vanilla, files, database), not started yet; stopped
        when the lab closes."""
        if kind == "vanilla":
            server = RadicaleServer(self.workdir / name, storage_type=VANILLA, folder=folder,
                                    launcher="radicale", users=self.users)
        else:
            # a database node on PostgreSQL must be told its public address
            options = {"domain": DOMAIN, "item_store": kind, "base_url": BASE_URL}
            if database_url:
                options["database_url"] = database_url
            server = RadicaleServer(self.workdir / name, storage_type=PLUGIN, folder=folder,
                                    launcher="tracks", storage_options=options,
                                    users=self.users)
        self.servers.append(server)
        self.stack.callback(server.stop)
        return server

    def database(self) -> str:
        """A new PostgreSQL database with the current schema (made by ``db upgrade`` up
        front, so that two nodes starting on it do not both create it)."""
        url = self.databases.create()
        config = self.config("upgrade-%s" % uuid.uuid4().hex[:8], self.workdir / "unused",
                             {"database_url": url})
        command(config, "db", "upgrade")
        return url

    def config(self, name: str, folder: Path, options: dict[str, str]) -> Path:
        """A plugin config of no server (for a command) in a folder of its own."""
        (self.workdir / name).mkdir(parents=True)
        path: Path = write_config(self.workdir / name / "radicale.conf", folder, PLUGIN,
                                  free_port(), options, users=self.users)
        return path

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.auth = (user, self.users[user])
        return session


def command(config: Path, *args: str) -> str:
    """``radicale-tracks`` with this config; its output, or the run stops with its
    error."""
    result = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise SystemExit("radicale-tracks %s failed (exit %d):\n%s" % (
            " ".join(args), result.returncode, result.stderr[-3000:]))
    return result.stdout


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile in ms (NaN for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def event(uid: str, start: datetime.datetime, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (
                uid, stamp(start), stamp(start + datetime.timedelta(minutes=30)), summary))


def timed_put(session: requests.Session, url: str, text: str) -> tuple[float, int, str]:
    """One PUT: seconds, status (0: no answer) and, when it is not 201, what came back."""
    started = time.perf_counter()
    try:
        response = session.put(url, data=text.encode(), timeout=REQUEST_TIMEOUT, headers={
            "Content-Type": "text/calendar; charset=utf-8"})
    except requests.RequestException as e:
        return time.perf_counter() - started, 0, "%s: %s" % (type(e).__name__, e)
    elapsed = time.perf_counter() - started
    detail = "" if response.status_code == 201 else response.text[:200]
    return elapsed, response.status_code, detail


class PlainClient:
    """One writer's HTTP client for part 1: ``http.client`` with the request built by
    hand. ``requests`` spent about 2.7 ms of CPU per PUT in this process, a sixth of a
    write's CPU, on cores the servers share: what the bench costs is not what is measured.
    A new connection per request, as with ``requests`` (Radicale's server answers
    HTTP/1.0 and closes)."""

    def __init__(self, user: str, password: str) -> None:
        self.authorization = "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()

    def put(self, url: str, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                                timeout=REQUEST_TIMEOUT)
        try:
            connection.request("PUT", parts.path, body, {
                "Authorization": self.authorization,
                "Content-Type": "text/calendar; charset=utf-8"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def timed_plain_put(client: PlainClient, url: str, text: str) -> tuple[float, int, str]:
    """:func:`timed_put` through a :class:`PlainClient`."""
    started = time.perf_counter()
    try:
        status, body = client.put(url, text.encode())
    except (OSError, http.client.HTTPException) as e:
        return time.perf_counter() - started, 0, "%s: %s" % (type(e).__name__, e)
    elapsed = time.perf_counter() - started
    return elapsed, status, "" if status == 201 else body[:200].decode(errors="replace")


# -- part 1: writes per second ----------------------------------------------------------


@dataclass
class WriteSetup:
    name: str
    label: str
    nodes: list[RadicaleServer]
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    #: CPU seconds over the measured bursts: the nodes, PostgreSQL, this process's clients
    cpu: Counter[str] = field(default_factory=Counter)
    #: writes per measured burst (beside ``rates``)
    burst_writes: list[int] = field(default_factory=list)

    def node_of(self, client: int) -> RadicaleServer:
        return self.nodes[client % len(self.nodes)]

    def cpu_now(self) -> Counter[str]:
        """CPU seconds used so far by where a write's work is done. The clients are this
        process's threads; between bursts it only waits, so its time is theirs."""
        own = os.times()
        return Counter({
            "nodes": sum(cpu_seconds(node.process.pid) for node in self.nodes
                         if node.process),
            "postgres": postgres_cpu_seconds(),
            "clients": own.user + own.system})


class Writers:
    """The clients of part 1: one user and calendar each, writing at once."""

    def __init__(self, lab: Lab, clients: list[str], anchor: datetime.datetime) -> None:
        self.lab = lab
        self.clients = clients
        self.anchor = anchor
        self.sessions = {user: lab.session(user) for user in clients}
        self.plain = {user: PlainClient(user, lab.users[user]) for user in clients}

    def calendar(self, setup: WriteSetup, client: int) -> str:
        return "%s/%s/calendar/" % (setup.node_of(client).url, self.clients[client])

    def prepare(self, setup: WriteSetup) -> None:
        """Each client logs in (its principal is made) and makes its calendar."""
        for number, user in enumerate(self.clients):
            node = setup.node_of(number)
            session = self.sessions[user]
            session.request("PROPFIND", "%s/%s/" % (node.url, user),
                            headers={"Depth": "1"}, timeout=REQUEST_TIMEOUT)
            made = session.request("MKCALENDAR", self.calendar(setup, number),
                                   timeout=REQUEST_TIMEOUT)
            if made.status_code != 201:
                raise SystemExit("%s: MKCALENDAR for %s answered %d: %s" % (
                    setup.name, user, made.status_code, made.text[:300]))

    def burst(self, setup: WriteSetup, label: str, writes: int, measured: bool) -> None:
        """Every client PUTs ``writes`` new events into its calendar, all at once."""
        barrier = threading.Barrier(len(self.clients) + 1)
        results: list[list[tuple[float, int, str]]] = [[] for _ in self.clients]
        finished = [0.0] * len(self.clients)

        def client(number: int) -> None:
            user = self.clients[number]
            plain = self.plain[user]
            base = self.calendar(setup, number)
            try:
                barrier.wait(REQUEST_TIMEOUT)
            except threading.BrokenBarrierError:
                return
            for sequence in range(writes):
                uid = "%s-%s-%04d" % (label, user, sequence)
                start = self.anchor + datetime.timedelta(
                    days=sequence % 5, hours=8 + (number + sequence) % 9)
                results[number].append(timed_plain_put(
                    plain, base + uid + ".ics",
                    event(uid + "@tracks.test", start, "%s %d" % (label, sequence))))
            finished[number] = time.perf_counter()

        threads = [threading.Thread(target=client, args=(n,), daemon=True,
                                    name="client-%d" % n) for n in range(len(self.clients))]
        for thread in threads:
            thread.start()
        cpu_before = setup.cpu_now()
        barrier.wait(REQUEST_TIMEOUT)
        started = time.perf_counter()
        deadline = time.monotonic() + REQUEST_TIMEOUT * (writes + 1)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            raise SystemExit("%s: clients still writing after %.0f s" % (
                setup.name, REQUEST_TIMEOUT * (writes + 1)))
        if not measured:
            for answers in results:
                for _elapsed, status, detail in answers:
                    if status != 201:
                        setup.failures.append("warm-up %d %s" % (status, detail))
            return
        cpu_after = setup.cpu_now()
        cpu_after.subtract(cpu_before)
        setup.cpu.update(cpu_after)
        done = sum(len(answers) for answers in results)
        setup.rates.append(done / (max(finished) - started))
        setup.burst_writes.append(done)
        for answers in results:
            for elapsed, status, detail in answers:
                setup.latencies.append(elapsed)
                setup.statuses[status] += 1
                if status != 201:
                    setup.failures.append("%d %s" % (status, detail))


def part_writes(lab: Lab, args: argparse.Namespace, anchor: datetime.datetime
                ) -> tuple[list[WriteSetup], dict[str, RadicaleServer]]:
    """Part 1; also hands back the one-node servers (files, database) for part 2."""
    database_one = lab.database()
    database_two = lab.database()
    setups = [
        WriteSetup("vanilla", "vanilla Radicale (multifilesystem)",
                   [lab.server("w-vanilla", "vanilla")]),
        WriteSetup("files", "1 node, item_store = files",
                   [lab.server("w-files", "files", args.files_index_url)]),
        WriteSetup("database", "1 node, item_store = database (PostgreSQL)",
                   [lab.server("w-database", "database", database_one)]),
        WriteSetup("two-nodes", "2 nodes, item_store = database, one PostgreSQL database",
                   [lab.server("w-node1", "database", database_two),
                    lab.server("w-node2", "database", database_two)]),
    ]
    for setup in setups:
        for node in setup.nodes:
            node.start()
    writers = Writers(lab, ["user%d" % n for n in range(args.clients)], anchor)
    for setup in setups:
        writers.prepare(setup)
        if args.warmup:
            writers.burst(setup, "warm", args.warmup, measured=False)
    os.sync()   # the warm-up's writes flushed: no burst's fsync pays for another's
    for round_ in range(args.rounds):
        # the setups take turns, each round starting with the next one
        order = setups[round_ % len(setups):] + setups[:round_ % len(setups)]
        for setup in order:
            print("  writes: round %d, %s" % (round_ + 1, setup.name), flush=True)
            writers.burst(setup, "r%d" % round_, args.writes, measured=True)
    return setups, {"files": setups[1].nodes[0], "database": setups[2].nodes[0]}


def writes_table(setups: list[WriteSetup], args: argparse.Namespace) -> str:
    by_name = {setup.name: setup for setup in setups}
    files_rate = statistics.median(by_name["files"].rates)
    lines = ["| setup | writes/s | p50 (ms) | p95 (ms) | answers | writes/s ÷ 1 node files |",
             "| --- | ---: | ---: | ---: | --- | ---: |"]
    for setup in setups:
        rate = statistics.median(setup.rates)
        answers = ", ".join("%d× %s" % (count, status or "no answer")
                            for status, count in sorted(setup.statuses.items()))
        lines.append("| %s | %.1f | %.1f | %.1f | %s | %.2f× |" % (
            setup.label, rate, percentile(setup.latencies, 0.50),
            percentile(setup.latencies, 0.95), answers, rate / files_rate))
    one = statistics.median(by_name["database"].rates)
    two = statistics.median(by_name["two-nodes"].rates)
    lines += ["", "2 nodes ÷ 1 node (database): %.2f× writes/s (goal ≥ 1.5×), %.2f× round "
              "by round; 1 node database ÷ files: %.2f× (goal ≥ 1×), %.2f× round by round. "
              "%d clients × %d PUTs per round; rounds: %d; warm-up PUTs per client: %d; "
              "writes/s is the median over rounds; *round by round*: the median of each "
              "round's ratio — the setups of one round ran within seconds of each other, so the "
              "machine's drift between rounds cancels." % (
                  two / one, paired_ratio(by_name["two-nodes"], by_name["database"]),
                  one / files_rate, paired_ratio(by_name["database"], by_name["files"]),
                  args.clients, args.writes, args.rounds, args.warmup),
              "", cpu_table(setups)]
    return "\n".join(lines)


def paired_ratio(setup: WriteSetup, against: WriteSetup) -> float:
    """The median over rounds of ``setup``'s writes/s over ``against``'s in that round."""
    return statistics.median(a / b for a, b in zip(setup.rates, against.rates, strict=True))


def cpu_table(setups: list[WriteSetup]) -> str:
    """Where a write's CPU time goes. On a machine whose cores the nodes share with
    PostgreSQL and the clients, a second node can only add what the others leave."""
    lines = ["| setup | CPU per write: nodes (ms) | PostgreSQL (ms) | clients (ms) | "
             "all (ms) | cores busy |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for setup in setups:
        writes = sum(setup.statuses.values()) or 1
        wall = sum(writes_in / rate for writes_in, rate in zip(
            setup.burst_writes, setup.rates, strict=True)) or 1.0
        per_write = {part: setup.cpu[part] * 1000 / writes
                     for part in ("nodes", "postgres", "clients")}
        lines.append("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
            setup.label, per_write["nodes"], per_write["postgres"], per_write["clients"],
            sum(per_write.values()), sum(setup.cpu.values()) / wall))
    lines += ["", "CPU time of the measured bursts from `/proc` (the nodes' processes, every "
              "PostgreSQL process, this bench's client threads) over the writes; cores busy: "
              "that CPU time over the bursts' wall time, of %d cores." % (os.cpu_count() or 0)]
    return "\n".join(lines)


# -- part 2: a held calendar lock ---------------------------------------------------------


@dataclass
class HoldResult:
    mode: str
    lock: str
    free_b: list[float] = field(default_factory=list)
    held_b: list[float] = field(default_factory=list)
    held_a: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@contextlib.contextmanager
def advisory_lock(database_url: str, unit: str) -> Iterator[None]:
    """The calendar lock of ``unit`` taken as a node would: a session advisory lock on a
    connection of its own (released, and the connection closed, on the way out)."""
    from sqlalchemy import create_engine, text

    from radicale_tracks.plugin.calendar_locks import lock_key

    engine = create_engine(database_url, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as connection:
            connection.execute(text("SET lock_timeout = '60s'"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(unit)})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock_all()"))
                connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def storage_lock(folder: Path) -> Iterator[None]:
    """Radicale's storage lock (``.Radicale.lock``) taken exclusively, as a writer would;
    tried for at most a minute (a server holding it only finishes its request)."""
    with open(folder / ".Radicale.lock", "a+") as handle:
        deadline = time.monotonic() + 60
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit("Radicale's storage lock stayed taken for 60 s"
                                     ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def part_locks(lab: Lab, servers: dict[str, RadicaleServer], database_url: str,
               args: argparse.Namespace, anchor: datetime.datetime) -> list[HoldResult]:
    """Part 2 on part 1's one-node servers: user0's calendar is A, user1's is B."""
    from radicale_tracks.plugin.calendar_locks import lock_unit

    a_user, b_user = "user0", "user1"
    sessions = {user: lab.session(user) for user in (a_user, b_user)}
    results = []
    for mode, lock_name in (("database", "PostgreSQL advisory lock of A's unit"),
                            ("files", "flock on .Radicale.lock")):
        server = servers[mode]
        result = HoldResult(mode, lock_name)
        calendar_a = "%s/%s/calendar/" % (server.url, a_user)
        calendar_b = "%s/%s/calendar/" % (server.url, b_user)

        def hold(mode: str = mode, server: RadicaleServer = server
                 ) -> contextlib.AbstractContextManager[None]:
            if mode == "database":
                return advisory_lock(database_url, lock_unit("/%s/calendar/" % a_user))
            assert server.folder is not None
            return storage_lock(Path(server.folder))

        def write(session: requests.Session, calendar: str, label: str,
                  into: list[float], result: HoldResult = result) -> None:
            uid = "%s-%s" % (label, uuid.uuid4().hex[:8])
            elapsed, status, detail = timed_put(session, calendar + uid + ".ics", event(
                uid + "@tracks.test", anchor + datetime.timedelta(hours=9), label))
            into.append(elapsed)
            if status != 201:
                result.failures.append("%s: %d %s" % (label, status, detail))

        for rep in range(args.reps):
            print("  locks: %s, rep %d" % (mode, rep + 1), flush=True)
            write(sessions[b_user], calendar_b, "free-b", result.free_b)
            # both PUTs from threads: in files mode B's waits for the lock this thread
            # holds, so this thread must be free to let it go
            writers = [threading.Thread(target=write, daemon=True, args=(
                sessions[user], calendar, label, into)) for user, calendar, label, into in (
                    (a_user, calendar_a, "held-a", result.held_a),
                    (b_user, calendar_b, "held-b", result.held_b))]
            with hold():
                held_at = time.monotonic()
                writers[0].start()
                time.sleep(0.05)   # A's PUT is in and waiting before B's starts
                writers[1].start()
                time.sleep(max(0.0, args.hold - (time.monotonic() - held_at)))
            for writer in writers:
                writer.join(REQUEST_TIMEOUT)
                if writer.is_alive():
                    raise SystemExit("%s: a PUT did not end %.0f s after the lock was "
                                     "let go" % (mode, REQUEST_TIMEOUT))
        results.append(result)
    return results


def locks_table(results: list[HoldResult], hold: float) -> str:
    lines = ["| mode | lock held on A | PUT to B, nothing held (ms) | PUT to B while A is "
             "held (ms) | PUT to A while A is held (ms) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for result in results:
        lines.append("| %s | %s | %.1f | %.1f | %.1f |" % (
            result.mode, result.lock, median_ms(result.free_b), median_ms(result.held_b),
            median_ms(result.held_a)))
    lines += ["", "A is held for %.1f s from outside the server; medians of %d tries. "
              "In database mode B should stay near \"nothing held\" and A near %.0f ms; "
              "in files mode both wait." % (hold, len(results[0].free_b) if results else 0,
                                             hold * 1000)]
    return "\n".join(lines)


# -- part 3: REPORTs, database against files ------------------------------------------------


@dataclass
class ReportResult:
    size: int
    migrate_s: float = 0.0
    reindex_s: float = 0.0
    timings: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    matches: int = 0


def part_reports(lab: Lab, size: int, args: argparse.Namespace,
                 anchor: datetime.datetime) -> ReportResult:
    """Part 3 for one size: the same files indexed for files mode and migrated into a new
    PostgreSQL database for database mode; both servers stopped and the database dropped
    before the next size."""
    result = ReportResult(size)
    base = lab.workdir / ("reports-%d" % size)
    folder = base / "files-folder"
    write_collection(folder / "collection-root" / "alice" / "calendar",
                     generate(size, seed=42, anchor=anchor))
    database_url = lab.database()
    made = [database_url]
    try:
        migrate_config = lab.config("migrate-%d" % size, folder, {
            "database_url": database_url, "item_store": "files", "domain": DOMAIN,
            "base_url": BASE_URL})
        started = time.perf_counter()
        print("  %d events: %s" % (size, command(
            migrate_config, "migrate", "--to", "database", "--quiet").strip()), flush=True)
        result.migrate_s = time.perf_counter() - started
        if args.files_index == "postgresql":
            made.append(lab.database())
        servers = {"files": lab.server("r-files-%d" % size, "files",
                                       made[1] if len(made) > 1 else "", folder),
                   "database": lab.server("r-database-%d" % size, "database",
                                          database_url)}
        started = time.perf_counter()
        command(servers["files"].config, "reindex", "--quiet")
        result.reindex_s = time.perf_counter() - started
        try:
            for server in servers.values():
                server.start()
            measure_reports(lab, servers, result, args.reps, anchor)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        for url in made:
            lab.databases.drop(url)
    return result


def measure_reports(lab: Lab, servers: dict[str, RadicaleServer], result: ReportResult,
                    reps: int, anchor: datetime.datetime) -> None:
    session = lab.session("alice")
    calendar = "/alice/calendar/"
    for server in servers.values():   # warm caches (files mode: Radicale's own)
        report(session, server.url + calendar, calendar_query(
            stamp(anchor - datetime.timedelta(days=400)),
            stamp(anchor + datetime.timedelta(days=400))))
    window = (stamp(anchor), stamp(anchor + datetime.timedelta(days=14)))
    queries = {"calendar-query": calendar_query(*window),
               "free-busy-query": free_busy_query(*window)}
    result.timings = {kind: {name: [] for name in servers} for kind in queries}
    for rep in range(reps):
        names = list(servers) if rep % 2 == 0 else list(reversed(servers))
        for kind, body in queries.items():
            answers = {}
            for name in names:
                started = time.perf_counter()
                response = report(session, servers[name].url + calendar, body)
                result.timings[kind][name].append(time.perf_counter() - started)
                if response.status_code not in (200, 207):
                    raise SystemExit("%s %s at %d events answered %d: %s" % (
                        name, kind, result.size, response.status_code,
                        response.text[:300]))
                answers[name] = response.text
            if kind == "free-busy-query":
                same = normalize_ical(answers["files"]) == normalize_ical(answers["database"])
            else:
                same = (normalize_multistatus(answers["files"])
                        == normalize_multistatus(answers["database"]))
            if not same:
                for name, text in answers.items():
                    (lab.workdir / ("answer-%s-%s-%d.xml" % (kind, name, result.size))
                     ).write_text(text)
                raise SystemExit("%s answers differ between files and database mode at %d "
                                 "events (both kept in %s)" % (kind, result.size, lab.workdir))
            result.matches += 1


def reports_table(results: list[ReportResult]) -> str:
    lines = ["| events | query, 2 weeks | files mode (ms) | database mode (ms) | "
             "database ÷ files |", "| ---: | --- | ---: | ---: | ---: |"]
    for result in results:
        for kind, timings in result.timings.items():
            files, database = median_ms(timings["files"]), median_ms(timings["database"])
            lines.append("| %d | %s | %.1f | %.1f | %.2f× |" % (
                result.size, kind, files, database, database / files))
    lines += ["", "Goal: database ÷ files ≤ 1.2×. Medians of %s REPORTs of each kind per "
              "server; every answer pair compared equal (%d pairs). Preparation: %s." % (
                  "/".join(str(len(next(iter(r.timings.values()))["files"]))
                           for r in results) or "0",
                  sum(r.matches for r in results),
                  "; ".join("%d events migrated in %.1f s, reindexed in %.1f s" % (
                      r.size, r.migrate_s, r.reindex_s) for r in results))]
    return "\n".join(lines)


# -- the run --------------------------------------------------------------------------------


def log_findings(servers: list[RadicaleServer]) -> list[str]:
    """Warnings, errors and tracebacks the servers logged (logging level ``warning``)."""
    found = []
    for server in servers:
        if not server.log.exists():
            continue
        lines = [line for line in server.log.read_text(errors="replace").splitlines()
                 if any(word in line for word in ("WARNING", "ERROR", "CRITICAL",
                                                  "Traceback"))
                 and not any(start_up in line for start_up in (
                     "Logging level set to", "Storage location"))]
        if lines:
            found.append("%s (%s): %d lines, first: %s" % (
                server.workdir.name, server.log, len(lines), lines[0][:300]))
    return found


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: through every ``finally``."""
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # also when started in the background, where the shell has Ctrl-C ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=ADMIN_URL,
                        help="PostgreSQL admin URL: the run makes its databases there and "
                        "drops them (default %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent writers")
    parser.add_argument("--writes", type=int, default=40,
                        help="PUTs per client and round")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per write setup")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured PUTs per client")
    parser.add_argument("--hold", type=float, default=1.0,
                        help="seconds calendar A's lock is held in part 2")
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 10000],
                        help="calendar sizes of part 3")
    parser.add_argument("--reps", type=int, default=15,
                        help="REPORTs per kind, server and size; tries in part 2")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3],
                        choices=[1, 2, 3], help="which parts to run (2 needs 1)")
    parser.add_argument("--files-index", choices=["sqlite", "postgresql"], default="sqlite",
                        help="where files mode keeps its index: the default SQLite file "
                        "in filesystem_folder, or a new PostgreSQL database")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep the servers' folders and logs (path printed)")
    parser.add_argument("--write-doc", action="store_true",
                        help="replace the results in docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write raw timings here")
    args = parser.parse_args()
    if 2 in args.parts and 1 not in args.parts:
        parser.error("part 2 uses part 1's servers: --parts 1 2")
    if args.clients < 2:
        parser.error("--clients: at least 2 (part 2 writes to two calendars)")
    interrupt_on_sigterm()
    anchor = this_monday()
    workdir = Path(tempfile.mkdtemp(prefix="tracks-bench-nodes-"))
    users = {**USERS, **{"user%d" % n: "user%d-secret" % n for n in range(args.clients)}}
    sections: list[str] = []
    raw: dict[str, Any] = {}
    findings: list[str] = []
    with contextlib.ExitStack() as stack:
        databases = Databases(args.database_url)
        stack.callback(databases.close)
        if not args.keep_workdir:
            stack.callback(shutil.rmtree, workdir, True)
        lab = Lab(workdir, users, databases, stack)
        args.files_index_url = lab.database() if args.files_index == "postgresql" else ""
        try:
            if 1 in args.parts:
                print("part 1: writes with %d clients ..." % args.clients, flush=True)
                setups, one_node = part_writes(lab, args, anchor)
                sections.append("### Writes, %d clients at once\n\n%s" % (
                    args.clients, writes_table(setups, args)))
                raw["writes"] = [{"name": s.name, "rates": s.rates, "latencies": s.latencies,
                                  "statuses": dict(s.statuses), "failures": s.failures}
                                 for s in setups]
                findings += ["%s: %d answers other than 201; first: %s" % (
                    s.name, len(s.failures), s.failures[0]) for s in setups if s.failures]
                if 2 in args.parts:
                    print("part 2: a held calendar lock ...", flush=True)
                    database_url = one_node["database"].storage_options["database_url"]
                    holds = part_locks(lab, one_node, database_url, args, anchor)
                    sections.append("### A write held on calendar A, a PUT to B\n\n%s" % (
                        locks_table(holds, args.hold)))
                    raw["locks"] = [asdict(h) for h in holds]
                    findings += ["locks, %s: %s" % (h.mode, f) for h in holds
                                 for f in h.failures]
                for server in list(lab.servers):
                    server.stop()
            if 3 in args.parts and args.sizes:
                reports = []
                for size in args.sizes:
                    print("part 3: REPORTs at %d events ..." % size, flush=True)
                    reports.append(part_reports(lab, size, args, anchor))
                sections.append("### REPORTs, database mode against files mode\n\n%s" % (
                    reports_table(reports)))
                raw["reports"] = [asdict(r) for r in reports]
        finally:
            for server in lab.servers:
                server.stop()
            findings += log_findings(lab.servers)
            if args.keep_workdir:
                print("servers' folders and logs kept in %s" % workdir)
    text = "%s\n\nCommand: `%s`. Measured on: %s; files mode's index in %s.\n" % (
        "\n\n".join(sections),
        " ".join(["bench/nodes.py", *map(shlex.quote, sys.argv[1:])]), environment(),
        "a PostgreSQL database" if args.files_index == "postgresql" else "SQLite")
    print()
    print(text)
    if findings:
        print("Noticed while measuring:")
        for finding in findings:
            print("- " + finding)
    if args.json:
        raw["findings"] = findings
        args.json.write_text(json.dumps(raw, indent=1))
    if args.write_doc:
        replace_between(DOC, BEGIN, END, text)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: every server stopped, every database made here dropped",
              file=sys.stderr)
        sys.exit(130)
