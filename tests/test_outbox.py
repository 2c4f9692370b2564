"""The durable outbox with real parts: aiosmtpd as the mail peer, SQLite and PostgreSQL.

Time is a controllable clock passed to the sender; nothing here waits for time to pass.
Where a thread or a process has to get somewhere, the test waits on an event, bounded.
"""

from __future__ import annotations

import argparse
import email
import mailbox
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine

from helpers import PLUGIN, free_port, write_config
from radicale_tracks.commands.outbox import add_commands
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.sender import Sender, SenderThread, SendReport
from radicale_tracks.outbox.store import OutboxRow, OutboxStore, enqueue
from radicale_tracks.outbox.transports import (
    MaildirTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    transport_from_settings,
)
from radicale_tracks.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000
BASE = 60
DAY = 86400


# -- parts ---------------------------------------------------------------------

class Clock:
    """POSIX seconds that only move when the test says so."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepted and answers as told."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_answers: dict[str, str] = {}  # recipient -> reply instead of 250
        self.mail_answer = ""
        self.data_answer = ""

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.mail_answer:
            return self.mail_answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.rcpt_answers:
            return self.rcpt_answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answer:
            return self.data_answer
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    controller: Controller
    handler: RecordingHandler
    port: int


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def start_smtp() -> Iterator[StartSmtp]:
    """Start aiosmtpd servers on 127.0.0.1 (a free port unless given); stopped after."""
    started: list[Controller] = []

    def start(port: int | None = None, **kwargs: Any) -> SmtpServer:
        handler = RecordingHandler()
        port = port or free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return SmtpServer(controller, handler, port)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def smtp(start_smtp: StartSmtp) -> SmtpServer:
    return start_smtp()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> OutboxStore:
    return OutboxStore(engine)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate and key for 127.0.0.1."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def mail(n: int = 1, recipient: str = "bob@example.org", kind: str = "invitation",
         line_end: str = "\r\n", uid: str | None = "event-1") -> OutgoingMail:
    message_id = "m%d.%s@tracks.example.org" % (n, kind)
    subject = "Invitation %d: Planning" % n
    lines = ["From: Assistant <assistant@example.org>", "To: %s" % recipient,
             "Subject: %s" % subject, "Message-ID: <%s>" % message_id,
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii", "",
             "Hello,", ".a line that starts with a dot", "bye", ""]
    return OutgoingMail(envelope_from="assistant@example.org", recipient=recipient,
                        kind=kind, subject=subject, message=line_end.join(lines),
                        message_id=message_id, track_id=None, uid=uid)


def queue_mails(engine: Engine, *mails: OutgoingMail, now: int = T0) -> list[int]:
    with engine.begin() as connection:
        return enqueue(connection, mails, now)


def row_of(store: OutboxStore, row_id: int) -> OutboxRow:
    row = store.get(row_id)
    assert row is not None
    return row


def smtp_sender(store: OutboxStore, port: int, clock: Clock, **kwargs: Any) -> Sender:
    return Sender(store, SmtpTransport("127.0.0.1", port, timeout=10), retry_base=BASE,
                  give_up_after=kwargs.pop("give_up_after", 3 * DAY), clock=clock, **kwargs)


# -- queueing ------------------------------------------------------------------

def test_enqueue_commits_and_rolls_back_with_the_callers_transaction(
        engine: Engine, store: OutboxStore) -> None:
    [kept] = queue_mails(engine, mail(1))
    with pytest.raises(RuntimeError):
        with engine.begin() as connection:
            enqueue(connection, [mail(2)], T0)
            raise RuntimeError("the change that caused the mail failed")

    assert [row.id for row in store.rows()] == [kept]
    row = row_of(store, kept)
    assert (row.status, row.attempts, row.next_attempt_at, row.created_at) == (
        "pending", 0, T0, T0)
    assert (row.recipient, row.kind, row.uid, row.lease_until) == (
        "bob@example.org", "invitation", "event-1", None)
    assert store.counts() == {"pending": 1, "sent": 0, "failed": 0}


@pytest.mark.parametrize("change", [
    {"message": mail().message.replace("Hello", "Grüezi")},
    {"message_id": "<m1.invitation@tracks.example.org>"},
    {"message_id": "another@tracks.example.org"},
    {"recipient": "mailto:bob@example.org"},
], ids=["non-ascii", "angle-brackets", "header-mismatch", "mailto"])
def test_outgoing_mail_refuses_what_the_outbox_could_not_send_faithfully(
        change: dict[str, str]) -> None:
    fields = {**mail().__dict__, **change}
    with pytest.raises(ValueError):
        OutgoingMail(**fields)


# -- SMTP ----------------------------------------------------------------------

def test_smtp_receives_the_exact_bytes_and_message_id(
        engine: Engine, store: OutboxStore, smtp: SmtpServer) -> None:
    crlf, lf = mail(1, "bob@example.org"), mail(2, "carol@example.org", line_end="\n")
    ids = queue_mails(engine, crlf, lf)
    clock = Clock(T0 + 5)

    assert smtp_sender(store, smtp.port, clock).run_once() == SendReport(sent=2)

    by_recipient = {r.rcpt_tos[0]: r for r in smtp.handler.received}
    assert len(smtp.handler.received) == 2
    assert by_recipient["bob@example.org"].content == crlf.message.encode("ascii")
    assert by_recipient["carol@example.org"].content == lf.message.replace(
        "\n", "\r\n").encode("ascii")
    for sent in (crlf, lf):
        received = by_recipient[sent.recipient]
        assert received.mail_from == "assistant@example.org"
        assert received.rcpt_tos == [sent.recipient]
        parsed = email.message_from_bytes(received.content)
        assert parsed["Message-ID"] == "<%s>" % sent.message_id
    for row_id in ids:
        row = row_of(store, row_id)
        assert (row.status, row.attempts, row.sent_at, row.lease_until) == (
            "sent", 1, T0 + 5, None)


def test_server_down_stays_pending_then_delivers_exactly_once(
        engine: Engine, store: OutboxStore, start_smtp: StartSmtp) -> None:
    [row_id] = queue_mails(engine, mail())
    port = free_port()  # nothing listens there yet
    clock = Clock()
    sender = smtp_sender(store, port, clock)

    assert sender.run_once() == SendReport(retried=1)
    row = row_of(store, row_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, T0 + BASE)
    assert row.last_error and "connection failed" in row.last_error

    clock.now = T0 + BASE - 1
    assert sender.run_once() == SendReport()  # not due yet

    server = start_smtp(port=port)
    clock.now = T0 + BASE
    assert sender.run_once() == SendReport(sent=1)
    clock.now += DAY
    assert sender.run_once() == SendReport()
    assert len(server.handler.received) == 1
    row = row_of(store, row_id)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, T0 + BASE)


def test_451_is_retried_with_doubling_backoff(
        engine: Engine, store: OutboxStore, smtp: SmtpServer) -> None:
    [row_id] = queue_mails(engine, mail())
    smtp.handler.rcpt_answers["bob@example.org"] = "451 4.3.0 mailbox busy"
    clock = Clock()
    sender = smtp_sender(store, smtp.port, clock)

    assert sender.run_once() == SendReport(retried=1)
    first = row_of(store, row_id)
    assert first.next_attempt_at == T0 + BASE
    assert first.last_error and "451 4.3.0 mailbox busy" in first.last_error

    clock.now = first.next_attempt_at
    assert sender.run_once() == SendReport(retried=1)
    second = row_of(store, row_id)
    assert (second.attempts, second.next_attempt_at) == (2, clock.now + 2 * BASE)

    del smtp.handler.rcpt_answers["bob@example.org"]
    clock.now = second.next_attempt_at
    assert sender.run_once() == SendReport(sent=1)
    assert len(smtp.handler.received) == 1
    assert row_of(store, row_id).status == "sent"


@pytest.mark.parametrize(("where", "answer", "outcome"), [
    ("rcpt", "550 5.1.1 no such user", SendReport(failed=1)),
    ("mail", "553 5.7.1 sender not allowed", SendReport(failed=1)),
    ("data", "554 5.6.0 message refused", SendReport(failed=1)),
    ("mail", "421 4.3.2 shutting down", SendReport(retried=1)),
    ("data", "452 4.3.1 out of storage", SendReport(retried=1)),
], ids=["rcpt-550", "mail-553", "data-554", "mail-421", "data-452"])
def test_smtp_replies_are_classified_by_their_code(
        engine: Engine, store: OutboxStore, smtp: SmtpServer, where: str, answer: str,
        outcome: SendReport) -> None:
    [row_id] = queue_mails(engine, mail())
    if where == "rcpt":
        smtp.handler.rcpt_answers["bob@example.org"] = answer
    elif where == "mail":
        smtp.handler.mail_answer = answer
    else:
        smtp.handler.data_answer = answer
    clock = Clock()
    sender = smtp_sender(store, smtp.port, clock)

    assert sender.run_once() == outcome
    row = row_of(store, row_id)
    code, text = answer.split(" ", 1)
    assert row.last_error and code in row.last_error and text in row.last_error
    assert row.attempts == 1
    if outcome.failed:
        assert row.status == "failed"
        clock.now += DAY
        assert sender.run_once() == SendReport()  # never retried on its own
        assert row_of(store, row_id).attempts == 1
    else:
        assert (row.status, row.next_attempt_at) == ("pending", T0 + BASE)
    assert smtp.handler.received == []


def test_temporary_failures_give_up_after_give_up_after(
        engine: Engine, store: OutboxStore) -> None:
    [row_id] = queue_mails(engine, mail())
    clock = Clock()
    sender = smtp_sender(store, free_port(), clock, give_up_after=1000)
    tried_at = []
    for _ in range(30):
        tried_at.append(clock.now - T0)
        sender.run_once()
        row = row_of(store, row_id)
        if row.status != "pending":
            break
        clock.now = row.next_attempt_at

    assert tried_at == [0, 60, 180, 420, 900, 1860]
    assert row.status == "failed"
    assert row.attempts == 6
    assert row.last_error and row.last_error.startswith("gave up after 6 attempts: SMTP")


def test_auth_failure_is_permanent_and_good_credentials_deliver(
        engine: Engine, store: OutboxStore, start_smtp: StartSmtp) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"assistant", b"s3cret")
        return AuthResult(success=good, handled=False)  # aiosmtpd answers 535

    server = start_smtp(authenticator=authenticator, auth_require_tls=False)
    [row_id] = queue_mails(engine, mail())
    row = row_of(store, row_id)

    with pytest.raises(PermanentFailure) as refused:
        SmtpTransport("127.0.0.1", server.port, username="assistant",
                      password="wrong", timeout=10).deliver(row)
    assert refused.value.code == 535 and "535" in str(refused.value)
    assert "wrong" not in str(refused.value)

    SmtpTransport("127.0.0.1", server.port, username="assistant", password="s3cret",
                  timeout=10).deliver(row)
    assert len(server.handler.received) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_verification_off_delivers_and_required_refuses_self_signed(
        engine: Engine, store: OutboxStore, start_smtp: StartSmtp,
        certificate: tuple[str, str], security: str) -> None:
    context = server_context(certificate)
    kwargs: dict[str, Any] = ({"tls_context": context, "require_starttls": True}
                              if security == "starttls" else {"ssl_context": context})
    server = start_smtp(**kwargs)
    [row_id] = queue_mails(engine, mail())
    row = row_of(store, row_id)

    with pytest.raises(TemporaryFailure):
        SmtpTransport("127.0.0.1", server.port, security, "REQUIRED",
                      timeout=10).deliver(row)
    assert server.handler.received == []
    SmtpTransport("127.0.0.1", server.port, security, "NONE", timeout=10).deliver(row)
    assert [r.content for r in server.handler.received] == [row.message.encode()]


def test_starttls_not_offered_sends_nothing(
        engine: Engine, store: OutboxStore, smtp: SmtpServer) -> None:
    [row_id] = queue_mails(engine, mail())
    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        SmtpTransport("127.0.0.1", smtp.port, "starttls", "NONE",
                      timeout=10).deliver(row_of(store, row_id))
    assert smtp.handler.received == []


def test_unexpected_transport_error_counts_as_temporary(
        engine: Engine, store: OutboxStore) -> None:
    class BrokenTransport:
        def deliver(self, row: OutboxRow) -> None:
            raise KeyError("a bug")

    [row_id] = queue_mails(engine, mail())
    sender = Sender(store, BrokenTransport(), BASE, DAY, clock=Clock())
    assert sender.run_once() == SendReport(retried=1)
    row = row_of(store, row_id)
    assert (row.status, row.next_attempt_at) == ("pending", T0 + BASE)
    assert row.last_error and row.last_error.startswith("KeyError")


# -- leases --------------------------------------------------------------------

def test_a_live_lease_is_respected_and_an_expired_one_taken_over(
        engine: Engine, store: OutboxStore, database_url: str, smtp: SmtpServer) -> None:
    [row_id] = queue_mails(engine, mail())
    [claimed] = store.claim_due(T0, 300, 10)  # a sender that then crashes
    assert (claimed.id, claimed.lease_until) == (row_id, T0 + 300)

    other_engine = create_database_engine(database_url)
    try:
        other = OutboxStore(other_engine)
        assert other.claim_due(T0 + 10, 300, 10) == []
        clock = Clock(T0 + 299)
        sender = smtp_sender(other, smtp.port, clock)
        assert sender.run_once() == SendReport()
        clock.now = T0 + 301
        assert sender.run_once() == SendReport(sent=1)
    finally:
        other_engine.dispose()
    assert len(smtp.handler.received) == 1
    assert store.mark_sent(row_id, T0 + 400) is False  # the first sender's late word
    assert row_of(store, row_id).sent_at == T0 + 301


def test_a_lease_of_a_process_gone_from_this_machine_is_taken_over_at_once(
        engine: Engine, store: OutboxStore) -> None:
    """The lease names its holder: on this machine a holder whose pid is gone, or whose
    pid now belongs to a process started later (reused), no longer holds it; a holder
    still running, or on another machine (its processes cannot be seen), does."""
    from radicale_tracks.outbox import holders

    me = holders.current()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        started = holders.process_start(alive.pid)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait(30)
        cases = {
            "gone": (holders.LeaseHolder(me.machine, dead.pid, "x"), True),
            "pid reused": (holders.LeaseHolder(me.machine, alive.pid, "other:1"),
                           started is not None),
            "running": (holders.LeaseHolder(me.machine, alive.pid, started or "r1"), False),
            "elsewhere": (holders.LeaseHolder("other-host/1", dead.pid, "x"), False),
            "older version": (None, False),
        }
        ids = queue_mails(engine, *(mail(n) for n in range(1, len(cases) + 1)))
        for row_id, (holder, _taken) in zip(ids, cases.values(), strict=True):
            [claimed] = store.claim_due(T0, 300, 1, str(holder) if holder else None)
            assert claimed.id == row_id
        taken = {row.id for row in store.claim_due(T0 + 1, 300, 10, str(me),
                                                   holders.is_gone)}
        assert {name for (name, (_h, expected)), row_id in zip(cases.items(), ids, strict=True)
                if row_id in taken} == {name for name, (_h, expected) in cases.items()
                                        if expected}
        assert all(store.get(row_id).lease_holder == str(me) for row_id in taken)
        # the rest waits for its lease to expire, then anyone takes it
        assert len(store.claim_due(T0 + 301, 300, 10, str(me), holders.is_gone)) == (
            len(cases) - len(taken))
    finally:
        alive.kill()
        alive.wait(30)


def test_a_holder_killed_but_not_reaped_is_gone(engine: Engine, store: OutboxStore) -> None:
    """A sender killed while its parent has not waited for it yet is a zombie: its pid
    answers, but it sends nothing any more. Its leases are taken over at once."""
    from radicale_tracks.outbox import holders

    me = holders.current()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        holder = holders.LeaseHolder(me.machine, child.pid,
                                     holders.process_start(child.pid) or "r1")
        [row_id] = queue_mails(engine, mail())
        [claimed] = store.claim_due(T0, 300, 1, str(holder))
        assert claimed.id == row_id
        assert not holders.is_gone(str(holder))
        assert store.claim_due(T0 + 1, 300, 10, str(me), holders.is_gone) == []
        os.kill(child.pid, signal.SIGKILL)
        # wait for it to end, leaving it unreaped (WNOWAIT): a zombie
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        with open("/proc/%d/stat" % child.pid) as f:
            assert f.read().rpartition(")")[2].split()[0] == "Z"
        assert holders.is_gone(str(holder))
        assert [row.id for row in store.claim_due(T0 + 2, 300, 10, str(me),
                                                  holders.is_gone)] == [row_id]
    finally:
        child.kill()
        child.wait(30)


def test_a_pass_asks_once_per_holder_and_reads_only_the_gone_ones_rows(
        engine: Engine, store: OutboxStore) -> None:
    """Every sender pass looks for leases to take over; a live sender holds many. Whether
    a holder runs is asked once per holder, not per row, and its leases — however many,
    and ahead of the gone holder's in the queue — hide nothing."""
    ids = queue_mails(engine, *(mail(n) for n in range(1, 31)))
    assert len(store.claim_due(T0, 300, 20, "live")) == 20
    assert len(store.claim_due(T0, 300, 10, "dead")) == 10
    asked: list[str | None] = []

    def gone(holder: str | None) -> bool:
        asked.append(holder)
        return holder == "dead"

    first = store.claim_due(T0 + 1, 300, 4, "me", gone)
    assert sorted(asked) == ["dead", "live"]
    assert [row.id for row in first] == ids[20:24]
    asked.clear()
    rest = store.claim_due(T0 + 1, 300, 100, "me", gone)
    assert sorted(asked) == ["dead", "live", "me"]
    assert [row.id for row in rest] == ids[24:]
    assert {row_of(store, i).lease_holder for i in ids[:20]} == {"live"}


def test_concurrent_senders_claim_disjoint_rows(engine: Engine, database_url: str) -> None:
    ids = queue_mails(engine, *(mail(n, "user%d@example.org" % n) for n in range(40)))
    workers = 4
    barrier = threading.Barrier(workers)
    claimed: list[list[int]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def claim(index: int) -> None:
        worker_engine = create_database_engine(database_url)
        try:
            barrier.wait(30)
            claimed[index] = [row.id for row in
                              OutboxStore(worker_engine).claim_due(T0, 300, 40)]
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)
        finally:
            worker_engine.dispose()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    every = [row_id for found in claimed for row_id in found]
    assert sorted(every) == sorted(ids)  # each row exactly once


# -- Maildir -------------------------------------------------------------------

def test_maildir_delivers_each_row_once(engine: Engine, store: OutboxStore,
                                        tmp_path: Path) -> None:
    [row_id] = queue_mails(engine, mail())
    row = row_of(store, row_id)
    maildir = tmp_path / "maildir"
    transport = MaildirTransport(str(maildir))

    transport.deliver(row)
    transport.deliver(row)
    [name] = os.listdir(maildir / "new")
    assert (maildir / "new" / name).read_bytes() == (
        "Return-Path: <assistant@example.org>\nDelivered-To: bob@example.org\n"
        + row.message.replace("\r\n", "\n")).encode()
    assert os.listdir(maildir / "tmp") == []

    os.rename(maildir / "new" / name, maildir / "cur" / (name + ":2,S"))  # a reader saw it
    transport.deliver(row)
    assert os.listdir(maildir / "new") == []
    [read] = mailbox.Maildir(str(maildir), create=False)
    assert read["Message-ID"] == "<%s>" % row.message_id

    sender = Sender(store, transport, BASE, DAY, clock=Clock())
    assert sender.run_once() == SendReport(sent=1)
    assert os.listdir(maildir / "new") == []


# -- the thread in the server --------------------------------------------------

class ObservedSender(Sender):
    """A sender that reports each run (or its exception) on a queue."""

    runs: queue.Queue[SendReport | Exception]

    def run_once(self, limit: int = 100,
                 stopping: Callable[[], bool] = lambda: False) -> SendReport:
        try:
            report = super().run_once(limit, stopping)
        except Exception as e:
            self.runs.put(e)
            raise
        self.runs.put(report)
        return report


def test_sender_thread_wakes_on_demand_and_stops(engine: Engine, store: OutboxStore,
                                                 tmp_path: Path) -> None:
    sender = ObservedSender(store, MaildirTransport(str(tmp_path / "maildir")), BASE, DAY)
    sender.runs = queue.Queue()
    thread = SenderThread(sender, poll_interval=3600)
    thread.start()
    try:
        assert sender.runs.get(timeout=30) == SendReport()  # first run: nothing due
        queue_mails(engine, mail(), now=int(time.time()))
        thread.wake()
        assert sender.runs.get(timeout=30) == SendReport(sent=1)
    finally:
        thread.stop(timeout=30)
    assert not thread.is_alive()
    assert len(os.listdir(tmp_path / "maildir" / "new")) == 1


def test_sender_thread_survives_a_database_that_is_down(tmp_path: Path) -> None:
    down = create_database_engine("sqlite:///%s" % (tmp_path / "gone" / "x.sqlite3"))
    shutil.rmtree(tmp_path / "gone")  # the engine made the folder; now it cannot open
    sender = ObservedSender(OutboxStore(down), MaildirTransport(str(tmp_path / "m")), BASE,
                            DAY)
    sender.runs = queue.Queue()
    thread = SenderThread(sender, poll_interval=3600)
    thread.start()
    try:
        assert isinstance(sender.runs.get(timeout=30), Exception)
        thread.wake()
        assert isinstance(sender.runs.get(timeout=30), Exception)
        assert thread.is_alive()
    finally:
        thread.stop(timeout=30)
        down.dispose()
    assert not thread.is_alive()


# -- commands ------------------------------------------------------------------

WORKER_SCRIPT = """
import argparse, logging, sys
from radicale_tracks.commands.outbox import add_commands
parser = argparse.ArgumentParser()
parser.add_argument("--config")
add_commands(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
logging.basicConfig(level=logging.INFO)
sys.exit(args.handler(args))
"""


def config_for(tmp_path: Path, database_url: str, **options: str) -> Path:
    return write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN,
                        free_port(), {"database_url": database_url, **options})


def smtp_config(tmp_path: Path, database_url: str, port: int, **options: str) -> Path:
    return config_for(tmp_path, database_url, mail_transport="smtp",
                      smtp_server="127.0.0.1", smtp_port=str(port), **options)


def command(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--config", str(config), *argv])
    return int(args.handler(args))


def test_list_show_retry_commands(
        engine: Engine, store: OutboxStore, database_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = config_for(tmp_path, database_url)
    sent, failed, pending = queue_mails(engine, mail(1), mail(2, "carol@example.org"),
                                        mail(3, "dave@example.org"))
    store.mark_sent(sent, T0)
    store.mark_failed(failed, "SMTP 550 5.1.1 no such user (RCPT TO)", T0)

    assert command(config, "outbox", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        [str(pending), "pending", "0"], [str(failed), "failed", "1"],
        [str(sent), "sent", "1"]]
    assert "carol@example.org" in lines[1] and "550" in lines[1]

    assert command(config, "outbox", "list", "--status", "failed") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        str(failed)]

    assert command(config, "outbox", "show", str(failed)) == 0
    shown = capsys.readouterr().out
    assert "message_id: m2.invitation@tracks.example.org" in shown
    assert "last_error: SMTP 550" in shown
    assert mail(2, "carol@example.org").message.replace("\r\n", "\n") in shown
    assert command(config, "outbox", "show", "9999") == 1

    assert command(config, "outbox", "retry") == 2
    assert command(config, "outbox", "retry", str(failed), str(sent)) == 0
    assert "requeued 1 " in capsys.readouterr().out
    row = row_of(store, failed)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at >= T0

    store.mark_failed(failed, "again", T0)
    store.mark_failed(pending, "again", T0)
    assert command(config, "outbox", "retry", "--all-failed") == 0
    assert "requeued 2 " in capsys.readouterr().out
    assert store.counts() == {"pending": 2, "sent": 1, "failed": 0}


def test_purge_deletes_settled_rows_older_than_n_days(
        engine: Engine, store: OutboxStore, database_url: str, tmp_path: Path) -> None:
    config = config_for(tmp_path, database_url)
    now = int(time.time())
    old, recent, old_failed, old_pending = queue_mails(
        engine, mail(1), mail(2), mail(3), mail(4), now=now - 60 * DAY)
    store.mark_sent(old, now - 40 * DAY)
    store.mark_sent(recent, now - 5 * DAY)
    store.mark_failed(old_failed, "gave up", now - 40 * DAY)

    assert command(config, "outbox", "purge") == 0
    assert {row.id for row in store.rows()} == {recent, old_failed, old_pending}
    assert command(config, "outbox", "purge", "--failed") == 0
    assert {row.id for row in store.rows()} == {recent, old_pending}
    assert command(config, "outbox", "purge", "--older-than-days", "1") == 0
    assert {row.id for row in store.rows()} == {old_pending}  # pending is never purged


def test_worker_once_sends_what_is_due_and_reports_failure(
        engine: Engine, store: OutboxStore, database_url: str, tmp_path: Path,
        smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(tmp_path, database_url, smtp.port)
    now = int(time.time())
    queue_mails(engine, mail(1), mail(2, "carol@example.org"), now=now)
    queue_mails(engine, mail(3, "later@example.org"), now=now + DAY)  # not due

    assert command(config, "worker", "--once") == 0
    assert "sent 2, retried 0, failed 0" in capsys.readouterr().out
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == [
        "bob@example.org", "carol@example.org"]

    smtp.handler.rcpt_answers["nobody@example.org"] = "550 5.1.1 no such user"
    [refused] = queue_mails(engine, mail(4, "nobody@example.org"), now=now)
    assert command(config, "worker", "--once") == 1
    assert row_of(store, refused).status == "failed"
    assert store.counts() == {"pending": 1, "sent": 2, "failed": 1}


def test_worker_loop_sends_and_exits_on_sigterm(
        engine: Engine, store: OutboxStore, database_url: str, tmp_path: Path,
        smtp: SmtpServer) -> None:
    config = smtp_config(tmp_path, database_url, smtp.port, outbox_poll_interval="3600")
    [row_id] = queue_mails(engine, mail(), now=int(time.time()))
    log = open(tmp_path / "worker.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, "--config", str(config), "worker"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not smtp.handler.received and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        assert len(smtp.handler.received) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    assert row_of(store, row_id).status == "sent"


def test_transport_from_settings(tmp_path: Path) -> None:
    database_url = "sqlite:///%s" % (tmp_path / "tracks.sqlite3")
    _configuration, settings = load_settings(str(config_for(tmp_path, database_url)))
    transport = transport_from_settings(settings)
    assert isinstance(transport, MaildirTransport)
    assert transport.path == str(tmp_path / "collections" / "maildir")
    _configuration, settings = load_settings(str(config_for(
        tmp_path, database_url, mail_transport="smtp", smtp_security="tls",
        smtp_username="u", smtp_password="s3cret")))
    transport = transport_from_settings(settings)
    assert isinstance(transport, SmtpTransport)
    assert (transport.port, transport.security, transport.username) == (465, "tls", "u")
    assert "s3cret" not in repr(transport)
