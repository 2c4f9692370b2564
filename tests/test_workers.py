"""Senders on several machines sharing one database, with real parts: ``radicale-tracks
worker`` processes and an in-process server against one PostgreSQL (SQLite where the
point holds there too), aiosmtpd as the mail peer.

What is proven structurally, never by timing: rows being claimed by one sender are
skipped by another (it does not wait on their lock); a worker whose poll interval is an
hour still sends mail committed after it started (only ``NOTIFY`` can have woken it);
a worker killed mid-send leaves its row to the next worker on this machine at once, and
the mail arrives once, byte for byte what the killed worker was sending.
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text

from databases import fresh_database
from helpers import PLUGIN, free_port, mkcalendar, put, write_config
from inprocess import ThreadedServer
from mailserver import MailSink, Received
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.sender import Sender, SendReport
from radicale_tracks.outbox.store import OutboxStore, enqueue
from radicale_tracks.outbox.transports import MaildirTransport
from radicale_tracks.outbox.wakeups import OutboxListener

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database (skipped without ``TRACKS_TEST_DATABASE_URL``)."""
    with fresh_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def engine_of() -> Iterator[Any]:
    """Engines on a URL with the schema made; disposed after the test."""
    made: list[Engine] = []

    def make(url: str) -> Engine:
        engine = create_database_engine(url)
        ensure_schema(engine)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


def outgoing(n: int, recipient: str = "dana@example.net") -> OutgoingMail:
    message_id = "w%d.%d@tracks.example.org" % (n, os.getpid())
    lines = ["From: Assistant <assistant@example.org>", "To: %s" % recipient,
             "Subject: Mail %d" % n, "Message-ID: <%s>" % message_id, "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=us-ascii", "X-Tracks-Kind: test", "",
             "Mail number %d." % n, ""]
    return OutgoingMail(envelope_from="assistant@example.org", recipient=recipient,
                        kind="test", subject="Mail %d" % n, message="\r\n".join(lines),
                        message_id=message_id)


def queue(engine: Engine, numbers: range, now: int | None = None) -> list[int]:
    with engine.begin() as connection:
        return enqueue(connection, [outgoing(n) for n in numbers],
                       int(time.time()) if now is None else now)


# -- mail peer that can hold a mail mid-send ------------------------------------

class HoldingHandler:
    """aiosmtpd handler: keeps what it accepts in ``sink``; the first DATA is held
    (its bytes kept in :attr:`held`) until :attr:`release` is set, then answered
    ``answer`` — and kept only when that is a 250."""

    def __init__(self, sink: MailSink, answer: str) -> None:
        self.sink = sink
        self.answer = answer
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held: bytes | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.content)
        if self.held is None:
            self.held = content
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)
            if not self.answer.startswith("250"):
                return self.answer
        with self.sink.arrived:
            self.sink.received.append(Received(
                envelope.mail_from, tuple(envelope.rcpt_tos), content))
            self.sink.arrived.notify_all()
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    mails = MailSink().start()
    yield mails
    mails.stop()


@pytest.fixture
def holding_sink() -> Iterator[tuple[MailSink, HoldingHandler]]:
    """A sink whose first mail is held mid-DATA (answered 451 unless the test says)."""
    mails = MailSink()
    handler = HoldingHandler(mails, "451 4.3.0 try again later")
    mails.controller = Controller(handler, hostname="127.0.0.1", port=mails.port)
    mails.start()
    yield mails, handler
    handler.release.set()
    mails.stop()


# -- worker processes -------------------------------------------------------------

def worker_config(folder: Path, database_url: str, smtp_port: int, **options: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(folder / "radicale.conf", folder / "collections", PLUGIN,
                        free_port(), {"database_url": database_url, "domain": "example.org",
                                      "mail_transport": "smtp", "smtp_server": "127.0.0.1",
                                      "smtp_port": str(smtp_port), "outbox_retry_base": "1",
                                      "outbox_poll_interval": "3600", **options})


class Worker:
    """``radicale-tracks --verbose worker`` in a process of its own, logging to a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        self.log = open(log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config),
             "--verbose", "worker"], stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        # its signal handlers are in place from here on
        self.wait_for_line("outbox worker: sending")

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, line: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.output():
            assert self.process.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, "%r not logged:\n%s" % (
                line, self.output()[-3000:])
            time.sleep(0.05)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(120)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.log.close()


@pytest.fixture
def workers() -> Iterator[Any]:
    started: list[Worker] = []

    def start(config: Path, log: Path) -> Worker:
        worker = Worker(config, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


def wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def message_ids(mails: list[Received]) -> list[str]:
    return [str(email.message_from_bytes(m.data)["Message-ID"]).strip("<>") for m in mails]


# -- claims --------------------------------------------------------------------

def test_postgresql_claims_skip_rows_another_sender_is_claiming(
        pg_url: str, engine_of: Any) -> None:
    """A row locked by another sender's claim is skipped, not waited for: the claim
    returns the other rows while that transaction is still open."""
    engine = engine_of(pg_url)
    ids = queue(engine, range(5))
    store = OutboxStore(engine_of(pg_url))
    now = int(time.time())
    with engine.connect() as other:
        with other.begin():
            other.execute(text("SELECT id FROM tracks_outbox WHERE id = :id FOR UPDATE"),
                          {"id": ids[0]})
            found: list[list[int]] = []
            claim = threading.Thread(target=lambda: found.append(
                [row.id for row in store.claim_due(now, 300, 10, "a")]))
            claim.start()
            claim.join(60)
            assert not claim.is_alive(), "the claim waited for the other sender's lock"
            assert found == [ids[1:]]
    assert [row.id for row in store.claim_due(now, 300, 10, "b")] == [ids[0]]
    assert store.claim_due(now, 300, 10, "c") == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.postgresql)])
def test_a_stopping_sender_gives_back_the_rows_it_did_not_try(
        backend: str, tmp_path: Path, engine_of: Any) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = engine_of(url)
        ids = queue(engine, range(3))
        store = OutboxStore(engine)
        maildir = tmp_path / "maildir"
        sender = Sender(store, MaildirTransport(str(maildir)), 60, 86400)

        def stopping() -> bool:  # stopped once the first mail is out
            return (maildir / "new").is_dir() and bool(os.listdir(maildir / "new"))

        assert sender.run_once(100, stopping) == SendReport(sent=1)
        rows = [store.get(row_id) for row_id in ids]
        assert [row.status for row in rows if row] == ["sent", "pending", "pending"]
        assert [(row.lease_holder, row.lease_until) for row in rows[1:] if row] == [
            (None, None)] * 2
        # another sender takes them at once, without waiting for a lease
        assert sorted(row.id for row in store.claim_due(int(time.time()), 300, 10,
                                                        "other")) == ids[1:]


# -- LISTEN/NOTIFY ---------------------------------------------------------------

def test_listener_wakes_at_commit_reconnects_and_stops(pg_url: str, engine_of: Any) -> None:
    engine = engine_of(pg_url)
    woken = threading.Semaphore(0)
    listener = OutboxListener(engine.url, woken.release, reconnect_delay=0.1)
    listener.start()
    try:
        assert listener.listening.wait(60)
        queue(engine, range(1))
        assert woken.acquire(timeout=60), "no notification after the commit"

        with engine.begin() as connection:  # the listener's connection is lost
            killed = connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND query = 'LISTEN tracks_outbox'")).scalars().all()
        assert killed == [True]
        wait_until(lambda: listener.connections == 2, "the listener did not reconnect")
        assert woken.acquire(timeout=60), "no wake-up after reconnecting"
        queue(engine, range(1, 2))
        assert woken.acquire(timeout=60), "no notification after the reconnection"
    finally:
        listener.stop(30)
    assert not listener.is_alive()


def test_a_worker_polling_hourly_sends_mail_committed_after_it_started(
        pg_url: str, engine_of: Any, sink: MailSink, workers: Any, tmp_path: Path) -> None:
    """The worker's first run sends the first mail; then it waits an hour unless woken.
    The second mail, committed after the first arrived, can only have been sent on the
    notification of its commit."""
    engine = engine_of(pg_url)
    queue(engine, range(1))
    worker = workers(worker_config(tmp_path / "w", pg_url, sink.port), tmp_path / "w.log")
    sink.wait_for(1, timeout=60)
    queue(engine, range(1, 2))
    assert message_ids(sink.wait_for(2, timeout=60)) == [
        outgoing(0).message_id, outgoing(1).message_id]
    assert worker.terminate() == 0, worker.output()[-3000:]


def test_two_workers_and_a_server_send_each_mail_exactly_once(
        pg_url: str, engine_of: Any, sink: MailSink, workers: Any, tmp_path: Path) -> None:
    """Two workers and the server's own sender, one PostgreSQL, every sender polling
    hourly: mail queued directly and by the server's scheduling reaches the sink once."""
    engine = engine_of(pg_url)
    queue(engine, range(0, 20))
    server = ThreadedServer(tmp_path / "node", storage_type=PLUGIN, storage_options={
        "database_url": pg_url, "domain": "example.org", "mail_transport": "smtp",
        "smtp_server": "127.0.0.1", "smtp_port": str(sink.port),
        "outbox_poll_interval": "3600"}, rights_type="radicale_tracks.rights").start()
    started = [workers(worker_config(tmp_path / name, pg_url, sink.port),
                       tmp_path / ("%s.log" % name)) for name in ("w1", "w2")]
    try:
        for batch in range(20, 60, 5):
            queue(engine, range(batch, batch + 5))
        session = server.session("alice")
        mkcalendar(session, server.url + "/alice/work/")
        response = put(session, server.url + "/alice/work/kickoff.ics", "\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
            "UID:kickoff-workers@example.org", "DTSTAMP:20260101T000000Z",
            "DTSTART:20270111T100000Z", "DTEND:20270111T110000Z", "SUMMARY:Kickoff",
            "ORGANIZER:mailto:alice@example.org",
            "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dana@example.net",
            "END:VEVENT", "END:VCALENDAR", ""]))
        assert response.status_code in (201, 204), response.text
        sink.watch(pg_url).settle(timeout=120)
        for worker in started:
            assert worker.terminate() == 0, worker.output()[-3000:]
    finally:
        server.stop()
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT message_id, status FROM tracks_outbox")).all()
    received = message_ids(sink.received)
    assert len(rows) == 61 and {status for _id, status in rows} == {"sent"}
    assert sorted(received) == sorted(message_id for message_id, _status in rows)


# -- a worker that dies -------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.postgresql)])
def test_a_worker_killed_mid_send_leaves_its_row_to_the_next_one_same_message(
        backend: str, tmp_path: Path, engine_of: Any,
        holding_sink: tuple[MailSink, HoldingHandler], workers: Any) -> None:
    sink, handler = holding_sink
    with fresh_database(backend, tmp_path) as url:
        engine = engine_of(url)
        [row_id] = queue(engine, range(1))
        first = workers(worker_config(tmp_path / "a", url, sink.port), tmp_path / "a.log")
        assert handler.holding.wait(60), first.output()[-3000:]
        store = OutboxStore(engine)
        row = store.get(row_id)
        assert row is not None and row.lease_holder is not None
        assert row.lease_holder.split(" ")[1] == str(first.pid)
        first.process.kill()              # kill -9 while the mail is in DATA
        first.process.wait(30)
        handler.release.set()
        # lease of 300 s still running: only seeing its holder gone lets this one send
        second = workers(worker_config(tmp_path / "b", url, sink.port),
                         tmp_path / "b.log")
        [delivered] = sink.wait_for(1, timeout=60)
        assert delivered.data == handler.held       # the same bytes, once more
        sink.watch(url).settle(timeout=60)          # marked sent after the SMTP answer
        sent = store.get(row_id)
        assert sent is not None and sent.status == "sent"
        assert message_ids([delivered]) == [sent.message_id]
        assert email.message_from_bytes(delivered.data)["Message-ID"] == (
            "<%s>" % outgoing(0).message_id)
        assert "taken over" in second.output()
        assert second.terminate() == 0
        assert len(sink.received) == 1


@pytest.mark.parametrize("backend", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.postgresql)])
def test_sigterm_mid_send_finishes_that_mail_and_gives_back_the_rest(
        backend: str, tmp_path: Path, engine_of: Any,
        holding_sink: tuple[MailSink, HoldingHandler], workers: Any) -> None:
    sink, handler = holding_sink
    handler.answer = "250 OK"
    with fresh_database(backend, tmp_path) as url:
        engine = engine_of(url)
        ids = queue(engine, range(3))
        worker = workers(worker_config(tmp_path / "a", url, sink.port), tmp_path / "a.log")
        assert handler.holding.wait(60), worker.output()[-3000:]
        worker.process.send_signal(signal.SIGTERM)
        worker.wait_for_line("outbox worker: stopping")
        handler.release.set()
        assert worker.process.wait(120) == 0, worker.output()[-3000:]
        store = OutboxStore(engine)
        rows = [store.get(row_id) for row_id in ids]
        assert [(r.status, r.lease_holder) for r in rows if r] == [
            ("sent", None), ("pending", None), ("pending", None)]
        assert len(sink.received) == 1
