"""kill -9 in the middle of a scheduling write, and of a mail being sent.

A real ``radicale-tracks serve`` kills itself with SIGKILL at a chosen point of alice's
PUT of an invitation to bob (a user here), carol (a user here who never logged in: her
folders are made by the write), the assistant (a new track folder) and dana (mail):
after the Nth file change of
the write's transaction (``RADICALE_TRACKS_TEST_CRASH_AFTER_FILE_WRITES``), for every N
the write has, and after the commit before the journal is deleted
(``RADICALE_TRACKS_TEST_CRASH_AFTER_COMMIT``). After the restart the write is whole —
alice's object, bob's and carol's inbox messages and copies, the track with its copy,
dana's outbox row, and dana's mail then arrives — or entirely absent (no folder of
carol's, no track folder), and ``verify`` finds index and files in agreement.

The same for ``deliver`` (the MTA retries the mail whose pipe died: nothing of it stays
before the retry that completes) and for a web booking killed after its commit (its
confirmation mail commits with the event). ``verify`` finishes a journal left behind,
``verify --repair`` re-indexes what differs.

A ``radicale-tracks worker`` killed while the SMTP server holds its mail at DATA leaves
the row leased for 300 s; the next sender on this machine takes it over on its first
pass, and sends the same Message-ID.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import select

from databases import fresh_database
from helpers import PLUGIN, RadicaleServer, free_port, run_cli, write_config
from mailserver import MailSink
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.db.journal import JOURNAL_FOLDER
from radicale_tracks.inbound.schema import inbound_mail as inbound
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.schema import outbox
from radicale_tracks.outbox.store import OutboxStore, enqueue
from radicale_tracks.tracks.schema import activities
from radicale_tracks.tracks.schema import meetings as meeting
from worlds import server_options

pytestmark = pytest.mark.files_only   # the files item store itself

DOMAIN = "example.org"
START = datetime.datetime(2027, 5, 3, 9, tzinfo=datetime.UTC)
#: more file changes than the invitation makes
MOST_CHANGES = 30

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def invitation(uid: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:" + START.strftime("%Y%m%dT%H%M%SZ"),
             "DTEND:" + (START + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"),
             "SUMMARY:Crash " + uid, "SEQUENCE:0",
             "ORGANIZER;CN=Alice:mailto:alice@example.org",
             "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org",
             "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:carol@example.org",
             "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:assistant@example.org",
             "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:dana@elsewhere.test",
             "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def files_with(folder: Path, uid: str) -> list[Path]:
    return sorted(p for p in folder.glob("*.ics") if ("UID:" + uid) in p.read_text())


class World:
    """The server's folder and database, and what one UID left in them."""

    def __init__(self, server: RadicaleServer, url: str) -> None:
        self.server = server
        assert server.folder is not None
        self.root = server.folder / "collection-root"
        self.engine = create_database_engine(url)

    def state(self, uid: str) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(outbox.c.recipient).where(
                outbox.c.uid == uid)).scalars().all()
            meetings = connection.execute(select(meeting.c.track_id).where(
                meeting.c.uid == uid)).scalars().all()
        tracks = [folder for folder in (self.root / "assistant").glob("*")
                  if folder.is_dir()] if (self.root / "assistant").is_dir() else []
        return {
            "alice's object": len(files_with(self.root / "alice" / "work", uid)),
            "bob's inbox": len(files_with(self.root / "bob" / "schedule-inbox", uid)),
            "bob's copy": len(files_with(self.root / "bob" / "work", uid)),
            "carol's folder": int((self.root / "carol").is_dir()),
            "carol's inbox": len(files_with(self.root / "carol" / "schedule-inbox", uid)),
            "carol's copy": len(files_with(self.root / "carol" / "calendar", uid)),
            "track meeting row": len(meetings),
            "track folders": len(tracks),
            "track copies": sum(len(files_with(folder, uid)) for folder in tracks),
            "dana's mail row": int("dana@elsewhere.test" in rows),
        }

    def leftover_journals(self) -> list[str]:
        assert self.server.folder is not None
        folder = self.server.folder / JOURNAL_FOLDER
        return sorted(os.listdir(folder)) if folder.is_dir() else []


def make_calendar(server: RadicaleServer, user: str) -> None:
    body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>')
    session = server.session(user)
    assert session.request("PROPFIND", "%s/%s/" % (server.url, user),
                           headers={"Depth": "0"}).status_code == 207
    answer = session.request("MKCALENDAR", "%s/%s/work/" % (server.url, user), data=body)
    assert answer.status_code == 201, answer.text


def with_calendars(server: RadicaleServer, *users: str) -> None:
    """The users logged in once, each with a calendar "work"; the server stopped."""
    server.start()
    for user in users:
        make_calendar(server, user)
    server.stop()


def put_invitation(server: RadicaleServer, uid: str) -> int | None:
    """The PUT's status, or None when the server died answering it."""
    try:
        answer = server.session("alice").put(
            "%s/alice/work/%s.ics" % (server.url, uid), data=invitation(uid),
            headers={"Content-Type": "text/calendar"}, timeout=60)
    except requests.ConnectionError:
        return None
    return answer.status_code


def died(server: RadicaleServer) -> bool:
    assert server.process is not None
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return server.process.returncode == -signal.SIGKILL


def assert_whole_or_absent(world: World, sink: MailSink, uid: str, acknowledged: bool
                           ) -> bool:
    """After a restart: verify is clean, no journal is left, and the write is all there
    (and dana's mail arrives) or not at all. Returns whether it is there."""
    assert world.leftover_journals() == []
    verified = world.server.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    state = world.state(uid)
    whole, absent = all(state.values()), not any(state.values())
    assert whole or absent, state
    assert whole or not acknowledged, state
    if whole:
        wait_for_invitation(sink, uid)
    return whole


def wait_for_invitation(sink: MailSink, uid: str) -> None:
    """dana's mail of ``uid`` arrives (bounded: ``wait_for`` fails after 20 s)."""
    for count in range(1, 50):
        mails = sink.wait_for(count)
        if any(mail.recipient == "dana@elsewhere.test" and mail.calendar() is not None
               and str(mail.calendar().walk("VEVENT")[0]["UID"]) == uid for mail in mails):
            return
    raise AssertionError("no mail of %s to dana" % uid)


def test_kill_9_at_every_file_change_of_a_scheduling_put_leaves_it_whole_or_absent(
        tmp_path: Path, database: str) -> None:
    sink = MailSink().start()
    options = server_options(sink.port, database, addresses="carol: carol@example.org")
    server = RadicaleServer(tmp_path / "server", storage_type=PLUGIN,
                            storage_options=options, rights_type="radicale_tracks.rights")
    world = World(server, database)
    try:
        with_calendars(server, "alice", "bob")
        crashed, outcomes = 0, []
        for changes in range(1, MOST_CHANGES + 1):
            uid = "crash-after-%d" % changes
            server.env = {"RADICALE_TRACKS_TEST_CRASH_AFTER_FILE_WRITES": str(changes)}
            server.start()
            status = put_invitation(server, uid)
            if status is not None:
                assert status in (201, 204)
                server.stop()
                server.env = {}
                server.start()
                assert assert_whole_or_absent(world, sink, uid, acknowledged=True)
                server.stop()
                break
            assert died(server), "the server was not killed at file change %d" % changes
            crashed += 1
            server.env = {}
            server.start()   # start-up finishes the journal left behind
            outcomes.append(assert_whole_or_absent(world, sink, uid, acknowledged=False))
            server.stop()
        # each file change of the write was a crash point; none committed before its end
        print("file changes of the write: %d" % crashed)
        assert crashed >= 3 and outcomes == [False] * crashed, (crashed, outcomes)

        uid = "crash-after-commit"
        server.env = {"RADICALE_TRACKS_TEST_CRASH_AFTER_COMMIT": "1"}
        server.start()
        assert put_invitation(server, uid) is None and died(server)
        assert world.leftover_journals() != []   # committed, journal not yet deleted
        server.env = {}
        server.start()
        assert assert_whole_or_absent(world, sink, uid, acknowledged=False)
    finally:
        server.stop()
        sink.stop()
        world.engine.dispose()


def test_deliver_killed_at_every_file_change_and_retried_by_the_mta(
        tmp_path: Path, database: str) -> None:
    """``deliver`` of an invitation to bob killed after each file change (the MTA sees
    the pipe die and retries the same mail): nothing of it before the retry that
    completes, then all of it, once."""
    from inbound_mta import ALLOWED, AUTHSERV, fixture, stamp, uid_in

    server = RadicaleServer(tmp_path / "server", storage_options={
        "database_url": database, "domain": DOMAIN, "inbound_allowed_senders": ALLOWED,
        "inbound_trusted_authserv_ids": AUTHSERV, "mail_transport": "maildir",
        "maildir": str(tmp_path / "maildir")}, rights_type="radicale_tracks.rights")
    world = World(server, database)
    raw = stamp(fixture("google_request.eml"), "pass")
    uid = uid_in(raw)

    def state() -> dict[str, int]:
        with world.engine.connect() as connection:
            rows = connection.execute(select(inbound.c.id).where(
                inbound.c.recipient == "bob@example.org")).all()
        return {"bob's inbox": len(files_with(world.root / "bob" / "schedule-inbox", uid)),
                "bob's copy": len(files_with(world.root / "bob" / "calendar", uid)),
                "inbound row": len(rows)}

    try:
        server.start()
        assert server.session("bob").request("PROPFIND", server.url + "/bob/",
                                             headers={"Depth": "0"}).status_code == 207
        server.stop()
        assert server.folder is not None
        crashed = 0
        for changes in range(1, MOST_CHANGES + 1):
            delivered = subprocess.run(
                [sys.executable, "-m", "radicale_tracks.cli", "--config", str(server.config),
                 "deliver", "--sender", "olivia@gmail.test", "--recipient",
                 "bob@example.org"], input=raw, capture_output=True, timeout=120,
                env={**os.environ,
                     "RADICALE_TRACKS_TEST_CRASH_AFTER_FILE_WRITES": str(changes)})
            verified = server.cli("verify")   # the next process to open the storage
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert world.leftover_journals() == []
            if delivered.returncode != -signal.SIGKILL:
                assert delivered.returncode == 0, delivered.stderr
                assert state() == {"bob's inbox": 1, "bob's copy": 1, "inbound row": 1}
                break
            crashed += 1
            assert state() == {"bob's inbox": 0, "bob's copy": 0, "inbound row": 0}
        assert crashed >= 2, crashed
    finally:
        server.stop()
        world.engine.dispose()


def test_verify_finishes_a_left_journal_and_repair_reindexes_what_differs(
        tmp_path: Path, database: str) -> None:
    from radicale_tracks.db.journal import JournalFolder

    server = RadicaleServer(tmp_path / "server", storage_options={
        "database_url": database, "domain": DOMAIN})
    world = World(server, database)
    try:
        with_calendars(server, "alice", "bob")
        calendar = world.root / "alice" / "work"
        # a write killed after its first file: a journal, a file, no row
        assert server.folder is not None
        journal = JournalFolder(str(server.folder), fsync=True).open()
        journal.record_file(str(calendar / "half.ics"))
        (calendar / "half.ics").write_text(invitation("half"))
        # and a file put into another calendar behind the server's back
        (world.root / "bob" / "work" / "behind.ics").write_text(invitation("behind"))

        first = server.cli("verify")
        assert "1 had not (files put back)" in first.stdout, first.stdout
        assert not (calendar / "half.ics").exists() and world.leftover_journals() == []
        assert first.returncode == 1 and "behind.ics: file not indexed" in first.stdout
        repaired = server.cli("verify", "--repair")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "repaired: bob/work/behind.ics: file not indexed" in repaired.stdout
        assert "index and files agree" in server.cli("verify").stdout
    finally:
        server.stop()
        world.engine.dispose()


def test_a_transaction_that_changed_files_may_not_outlive_the_write_lock(
        tmp_path: Path) -> None:
    """The next holder of the lock would take its journal for a dead process's, and a
    rollback after the lock was let go would put files back while another write changes
    them. A transaction begun outside the lock is refused at its first file change,
    before anything is written; one that is still open when the lock ends (left out of
    order) is rolled back, files included, while the lock is still held."""
    from radicale_tracks.index.schema import items
    from radicale_tracks.plugin.backends import open_storage
    from radicale_tracks.plugin.track_calendars import item_from_text

    config = write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN,
                          free_port(), {"database_url": "sqlite:///%s" % (
                              tmp_path / "db.sqlite3"), "domain": DOMAIN})
    storage, _settings = open_storage(str(config))
    folder = tmp_path / "collections" / "collection-root" / "alice" / "work"

    def stored() -> list[str]:
        return sorted(p.name for p in folder.glob("*.ics"))

    with storage.acquire_lock("w", "alice"):
        storage.create_collection("/alice/work/", props={"tag": "VCALENDAR"})
    [calendar] = [c for c in storage.collections() if c.path == "alice/work"]
    with storage.acquire_lock("w", "alice"):   # inside the lock: fine
        with storage.database.begin():
            calendar.upload_indexed("a.ics", item_from_text(calendar.path,
                                                             invitation("a")))
    with storage.database.begin():
        with storage.acquire_lock("w", "alice"):
            with pytest.raises(RuntimeError, match="begin inside the storage's write lock"):
                calendar.upload_indexed("b.ics", item_from_text(calendar.path,
                                                                 invitation("b")))
            assert stored() == ["a.ics"]   # nothing written: nothing to undo later
    # entered in order, left out of order: the lock ends first
    lock = storage.acquire_lock("w", "alice")
    lock.__enter__()
    transaction = storage.database.begin()
    transaction.__enter__()
    calendar.upload_indexed("c.ics", item_from_text(calendar.path, invitation("c")))
    assert stored() == ["a.ics", "c.ics"]
    with pytest.raises(RuntimeError, match="outlived the storage's write lock"):
        lock.__exit__(None, None, None)
    assert stored() == ["a.ics"]   # put back before the lock was let go
    transaction.__exit__(None, None, None)   # nothing left to commit
    assert not storage.database.journal_open
    with storage.engine.connect() as connection:
        assert sorted(connection.execute(select(items.c.href)).scalars()) == ["a.ics"]
    assert stored() == ["a.ics"]


def test_journal_rows_of_ended_processes_go_at_the_next_start_up(
        tmp_path: Path, database: str) -> None:
    """A process deletes its last write's journal row only with its next journaled
    write; one that ends first (each ``deliver``, each server stop) left it forever. The
    next start-up deletes the rows whose journal is gone, leftovers or not: N processes
    that each made one write leave at most one row, the last one's."""
    from radicale_tracks.db.journal import write_journal
    from radicale_tracks.plugin.backends import open_storage
    from radicale_tracks.plugin.track_calendars import item_from_text

    config = write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN,
                          free_port(), {"database_url": database, "domain": DOMAIN})
    engine = create_database_engine(database)

    def rows() -> int:
        with engine.connect() as connection:
            return len(connection.execute(select(write_journal.c.txid)).all())

    try:
        for n in range(5):   # a process: start-up, one journaled write, end
            storage, _settings = open_storage(str(config))
            assert rows() == 0   # the previous one's row went at this start-up
            with storage.acquire_lock("w", "alice"):
                if n == 0:
                    storage.create_collection("/alice/work/", props={"tag": "VCALENDAR"})
                [calendar] = [c for c in storage.collections() if c.path == "alice/work"]
                with storage.database.begin():
                    calendar.upload_indexed("%d.ics" % n, item_from_text(
                        calendar.path, invitation("u%d" % n)))
            assert rows() == 1
            del storage, calendar
        open_storage(str(config))
        assert rows() == 0
    finally:
        engine.dispose()


def test_a_booking_killed_after_its_commit_keeps_its_confirmation(
        tmp_path: Path, database: str) -> None:
    """The web booking's confirmation mail and activity line commit with its event (one
    transaction): killed right after that commit, all of it is there."""
    from web_booking import CUSTOMER, booking, slot

    sink = MailSink().start()
    options = server_options(sink.port, database, default_time_zone="Europe/Berlin",
                             web_booking_agents="alice")
    server = RadicaleServer(tmp_path / "web", storage_options=options,
                            rights_type="radicale_tracks.rights",
                            web_type="radicale_tracks.web")
    world = World(server, database)
    try:
        with_calendars(server, "alice", "bob")
        server.env = {"RADICALE_TRACKS_TEST_CRASH_AFTER_COMMIT": "1"}
        server.start()
        with pytest.raises(requests.ConnectionError):
            requests.post(server.url + "/.web/api/bookings", auth=("alice", "alice-secret"),
                          json=booking(slot(1, 1, 11), details={
                              "members": ["alice", "bob"], "pools": []}, notifications={
                              "add_to_event": False, "send_confirmation": True}),
                          timeout=60)
        assert died(server)
        server.env = {}
        server.start()
        assert world.leftover_journals() == []
        [event] = list((world.root / "alice" / "work").glob("*.ics"))
        uid = next(line for line in event.read_text().splitlines()
                   if line.startswith("UID:"))[4:]
        with world.engine.connect() as connection:
            kinds = connection.execute(select(outbox.c.kind).where(
                outbox.c.recipient == CUSTOMER["email"])).scalars().all()
            booked = connection.execute(select(activities.c.kind).where(
                activities.c.uid == uid)).scalars().all()
        # the confirmation and the customer's reminders (24 h and 1 h before)
        assert sorted(kinds) == ["booking_confirmation", "booking_reminder",
                                 "booking_reminder"] and "booked" in booked, (kinds, booked)
        assert files_with(world.root / "bob" / "work", uid)
        assert server.cli("verify").returncode == 0
    finally:
        server.stop()
        sink.stop()
        world.engine.dispose()


# -- a sender killed mid-send ---------------------------------------------------------

class HeldAtData:
    """An SMTP server that takes the connection and never answers DATA."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got_data = threading.Event()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.got_data.set()
        await asyncio.sleep(3600)
        return "250 OK"

    def __enter__(self) -> HeldAtData:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def queued_mail(engine: Any) -> OutgoingMail:
    mail = OutgoingMail(
        envelope_from="tracks@example.org", recipient="dana@elsewhere.test",
        kind="invitation", subject="Crash test",
        message=("From: tracks@example.org\r\nTo: dana@elsewhere.test\r\n"
                 "Subject: Crash test\r\nMessage-ID: <crash-1@tracks.example.org>\r\n"
                 "\r\nHello\r\n"),
        message_id="crash-1@tracks.example.org")
    with engine.begin() as connection:
        enqueue(connection, [mail], int(datetime.datetime.now().timestamp()))
    return mail


def test_a_sender_killed_mid_send_is_taken_over_on_the_next_first_pass(
        tmp_path: Path, database: str) -> None:
    engine = create_database_engine(database)
    ensure_schema(engine)
    mail = queued_mail(engine)
    store = OutboxStore(engine)
    try:
        with HeldAtData() as held:
            config = write_config(tmp_path / "held.conf", tmp_path / "collections", PLUGIN,
                                  free_port(), server_options(held.port, database))
            worker = subprocess.Popen(
                [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config),
                 "worker"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert held.got_data.wait(60), "the worker never reached DATA"
                [row] = store.rows()
                assert row.lease_holder is not None
                assert row.lease_holder.split(" ")[1] == str(worker.pid)
                listed = run_cli(config, "outbox", "list").stdout
                assert "next " in listed and "leased by %s" % row.lease_holder in listed
                worker.kill()
                worker.wait(30)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(30)
        [row] = store.rows()
        assert row.status == "pending" and row.lease_until is not None
        assert row.lease_until > datetime.datetime.now().timestamp() + 200  # still leased
        sink = MailSink().start()
        try:
            config = write_config(tmp_path / "sink.conf", tmp_path / "collections", PLUGIN,
                                  free_port(), server_options(sink.port, database))
            # one pass: without the takeover the lease would hold the row for 300 s
            once = run_cli(config, "worker", "--once")
            assert once.returncode == 0 and "sent 1," in once.stdout, once.stdout + once.stderr
            [received] = sink.wait_for(1)
            assert received.message["Message-ID"] == "<%s>" % mail.message_id
        finally:
            sink.stop()
        [row] = store.rows()
        assert row.status == "sent" and row.lease_holder is None
        assert "next " not in run_cli(config, "outbox", "list").stdout
    finally:
        engine.dispose()
