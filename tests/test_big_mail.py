"""Big inbound mail: read once, outside the write lock, and never stored bigger than a PUT.

A 10.4 MB invitation used to be parsed per recipient while holding Radicale's storage
write lock (every reader waited 23 s) and was stored although a calendar app's PUT of
the same object would have been refused. Here the limits are small (``[server]
max_resource_size = 3000``, ``inbound_max_message_bytes = 20000``) so the mails stay
small; ``bench/big_mail.py`` measures time, memory and readers' waits at full size.

``deliver`` and ``lmtp`` run as the MTA runs them (subprocesses); the structural checks
(one parse per mail; the lock free while parsing) call the same processor in process,
on a real storage, with our own parsing functions counted.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from databases import fresh_database
from helpers import PLUGIN, free_port, run_cli, write_config
from inbound_mta import connect_lmtp, invitation, stamp

pytestmark = pytest.mark.files_only   # the files item store itself

RESOURCE_LIMIT = 3000
MESSAGE_LIMIT = 20000
ORGANIZER = "olivia@external.test"
USERS = ("alice", "bob", "carol")


class Setup:
    def __init__(self, folder: Path, database_url: str, **options: str) -> None:
        self.collections = folder / "collections"
        self.config = write_config(folder / "radicale.conf", self.collections, PLUGIN,
                                   free_port(), {
            "database_url": database_url, "domain": "example.org",
            "maildir": str(folder / "maildir"),
            "inbound_allowed_senders": "external.test",
            "inbound_trusted_authserv_ids": "mx.example.org",
            "inbound_max_message_bytes": str(MESSAGE_LIMIT),
            # above max_resource_size: that limit is the one tested, unless said
            "inbound_max_calendar_bytes": str(MESSAGE_LIMIT), **options},
            rights_type="radicale_tracks.rights")
        text = self.config.read_text().replace("[server]\n", "[server]\nmax_resource_size = %d"
                                               "\n" % RESOURCE_LIMIT, 1)
        self.config.write_text(text)
        for user in USERS:  # they have logged in: their principal folders exist
            (self.collections / "collection-root" / user).mkdir(parents=True)

    def deliver(self, raw: bytes, *recipients: str) -> subprocess.CompletedProcess[bytes]:
        arguments = [sys.executable, "-m", "radicale_tracks.cli", "--config",
                     str(self.config), "deliver", "--sender", ORGANIZER]
        for recipient in recipients:
            arguments += ["--recipient", recipient]
        return subprocess.run(arguments, input=raw, capture_output=True, timeout=120)

    def stored_with(self, uid: str) -> list[Path]:
        """Every object file (not Radicale's cache) whose text names ``uid``."""
        root = self.collections / "collection-root"
        return [path for path in root.rglob("*.ics") if ".Radicale.cache" not in
                path.parts and uid.encode() in path.read_bytes()]

    def held(self) -> list[str]:
        listed = run_cli(self.config, "quarantine", "list")
        assert listed.returncode == 0, listed.stderr
        return listed.stdout.splitlines()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    with fresh_database(request.param, tmp_path) as url:
        yield Setup(tmp_path, url)


def big_invitation(uid: str, characters: int, *attendees: str, extra: str = "") -> bytes:
    """An authenticated invitation whose calendar part is ``characters`` long (at least
    as long as without a DESCRIPTION), the DESCRIPTION on one unfolded line."""
    from radicale_tracks.core.imip import parse_mail

    def mail(description: str) -> bytes:
        lines = "\n".join(line for line in (extra, description) if line)
        return stamp(invitation(uid, ORGANIZER, ORGANIZER, list(attendees), extra=lines),
                     "pass")

    def length(raw: bytes) -> int:
        part = parse_mail(raw).calendar()
        assert part is not None
        return len(part.text)

    base = length(mail(""))
    if characters <= base:
        return mail("")
    raw = mail("DESCRIPTION:" + "w" * max(0, characters - base - len("DESCRIPTION:\r\n")))
    assert length(raw) == characters
    return raw


def test_a_calendar_part_larger_than_a_put_may_store_is_refused_and_kept(
        setup: Setup) -> None:
    uid = "big-%s" % uuid.uuid4().hex
    raw = big_invitation(uid, RESOURCE_LIMIT + 2000, "bob@example.org")
    assert len(raw) < MESSAGE_LIMIT  # the mail itself is within its limit
    done = setup.deliver(raw, "bob@example.org")
    assert done.returncode == 65, done.stderr
    said = done.stderr.decode()
    assert "the calendar data is" in said and "max_resource_size" in said
    assert "at most %d" % RESOURCE_LIMIT in said
    assert setup.stored_with(uid) == []
    row = next(line.split()[0] for line in setup.held() if "bob@example.org" in line)
    kept = run_cli(setup.config, "quarantine", "show", row, "--raw").stdout
    assert kept.replace("\n", "\r\n").encode() == raw.replace(b"\r\n", b"\n").replace(
        b"\n", b"\r\n")  # the whole mail, to release once the limit is raised


def test_a_calendar_part_above_inbound_max_calendar_bytes_is_refused_unparsed(
        tmp_path: Path) -> None:
    """Mail from elsewhere gets a smaller bound than a user's PUT: storing an object
    holds the write lock for time in proportion to its size."""
    setup = Setup(tmp_path, "sqlite:///%s" % (tmp_path / "tracks.sqlite3"),
                  inbound_max_calendar_bytes="2000")
    uid = "calendar-bytes-%s" % uuid.uuid4().hex
    # under max_resource_size in characters, over 2000 bytes in UTF-8
    raw = big_invitation(uid, 1800, "bob@example.org", extra="COMMENT:" + "é" * 300)
    done = setup.deliver(raw, "bob@example.org")
    said = done.stderr.decode()
    assert done.returncode == 65, said
    assert "inbound_max_calendar_bytes" in said and "at most 2000 bytes" in said
    assert setup.stored_with(uid) == []


def test_an_object_that_grows_above_the_limit_when_repaired_is_refused(
        setup: Setup) -> None:
    """The calendar part fits, but the object to store does not (a VTIMEZONE generated
    for a Windows zone name, SCHEDULE-STATUS…): the storage refuses it, the sender reads
    why, and nothing of it stays on disk."""
    uid = "grows-%s" % uuid.uuid4().hex
    windows = "TZID=W. Europe Standard Time"
    extra = "X-PADDING:" + "p" * 40
    probe = big_invitation(uid, 0, "bob@example.org", extra=extra)
    raw = big_invitation(uid, RESOURCE_LIMIT - 30, "bob@example.org",
                         extra=extra).replace(b"DTSTART:20270301T100000Z",
                                              b"DTSTART;" + windows.encode() +
                                              b":20270301T100000").replace(
        b"DTEND:20270301T110000Z", b"DTEND;" + windows.encode() + b":20270301T110000")
    assert len(probe) < len(raw) < MESSAGE_LIMIT
    done = setup.deliver(raw, "bob@example.org")
    said = done.stderr.decode()
    assert done.returncode == 65, said
    assert "max_resource_size" in said and "could not process" not in said
    assert setup.stored_with(uid) == []
    assert any("bob@example.org" in line for line in setup.held())


def test_a_mail_above_inbound_max_message_bytes_keeps_only_its_header(setup: Setup) -> None:
    uid = "huge-%s" % uuid.uuid4().hex
    raw = big_invitation(uid, MESSAGE_LIMIT + 5000, "bob@example.org")
    done = setup.deliver(raw, "bob@example.org")
    said = done.stderr.decode()
    assert done.returncode == 65, said
    assert "inbound_max_message_bytes" in said
    row = next(line.split()[0] for line in setup.held() if "bob@example.org" in line)
    kept = run_cli(setup.config, "quarantine", "show", row, "--raw").stdout
    assert "Message-ID:" in kept and "BEGIN:VCALENDAR" not in kept
    assert len(kept) < MESSAGE_LIMIT
    assert setup.stored_with(uid) == []


def test_lmtp_refuses_oversized_data_with_552_before_taking_it(setup: Setup) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(setup.config),
         "lmtp", "--listen", "127.0.0.1:%d" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    uid = "lmtp-big-%s" % uuid.uuid4().hex
    try:
        connection = connect_lmtp(port)
        connection.ehlo_or_helo_if_needed()
        assert connection.mail(ORGANIZER)[0] == 250
        assert connection.rcpt("bob@example.org")[0] == 250
        code, said = connection.data(big_invitation(uid, MESSAGE_LIMIT + 5000,
                                                    "bob@example.org"))
        assert code == 552, said
        connection.quit()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert setup.stored_with(uid) == []
    assert setup.held() == []  # refused before it was buffered: nothing to keep


# -- in process: parsed once, and never under the write lock ------------------------------

class LockProbe:
    """Whether another process could take Radicale's storage read lock right now: a
    non-blocking shared ``flock`` on the storage's lock file, as Radicale takes it."""

    def __init__(self, collections: Path) -> None:
        self.path = collections / ".Radicale.lock"

    def readable(self) -> bool:
        with open(self.path, "a+") as lock_file:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
            return True


def test_a_mail_is_parsed_once_for_all_recipients_and_never_under_the_lock(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from radicale_tracks.inbound import reading as reading_module
    from radicale_tracks.plugin.inbound_delivery import open_processor
    from radicale_tracks.scheduling.engine import Scheduler

    storage, processor = open_processor(str(setup.config))
    probe = LockProbe(setup.collections)
    seen: dict[str, list[bool]] = {"parse_mail": [], "parse_calendar": [], "store": []}

    def counted(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name].append(probe.readable())
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(reading_module, "parse_mail",
                        counted("parse_mail", reading_module.parse_mail))
    monkeypatch.setattr(reading_module, "parse_calendar",
                        counted("parse_calendar", reading_module.parse_calendar))
    monkeypatch.setattr(Scheduler, "receive_request",
                        counted("store", Scheduler.receive_request))
    uid = "once-%s" % uuid.uuid4().hex
    recipients = ["%s@example.org" % user for user in USERS]
    raw = big_invitation(uid, RESOURCE_LIMIT - 500, *recipients)
    results = processor.process(raw, ORGANIZER, recipients)
    assert [(r.recipient, int(r.code)) for r in results] == [(r, 0) for r in recipients], [
        r.reason for r in results]
    # read once, with the lock free; stored once per recipient, under the lock
    assert seen["parse_mail"] == [True]
    assert seen["parse_calendar"] == [True]
    assert seen["store"] == [False, False, False]
    # every recipient got a copy of their own
    owners = {path.relative_to(setup.collections / "collection-root").parts[0]
              for path in setup.stored_with(uid)}
    assert owners == set(USERS)
