"""A big mail through ``radicale-tracks deliver``: time, peak memory, and another user's reads.

Starts ``radicale-tracks serve`` (SQLite, or ``--database-url``) with users alice, bob and
carol, then pipes each mail below into ``radicale-tracks deliver`` as an MTA would, while
carol GETs one of her own events in a loop. Per mail it prints the exit code and the
line ``deliver`` wrote, its wall time, its peak RSS (``wait4``), the longest of carol's
GETs while it ran, and whether anything was stored in bob's calendars.

Mails (all invitations from an organizer elsewhere to bob, about ``--size`` bytes,
default 10.4 MB — under the default ``inbound_max_message_bytes`` of 10 MiB):

- ``calendar``: the calendar part itself is that big (a long DESCRIPTION, 8bit);
- ``attachment``: a small invitation with a file attached (base64);
- ``calendar x2``: the big calendar part to two recipients (bob and alice);
- ``calendar 95%``: a calendar part of 95 % of that, under Radicale's default
  ``max_resource_size`` (10 000 000): what a PUT could store too (refused by the default
  ``inbound_max_calendar_bytes``; ``--calendar-limit 10000000`` lets it through);
- ``calendar 1 MiB``: a calendar part just under the default ``inbound_max_calendar_bytes``.

    .venv/bin/python bench/big_mail.py [--size 10400000] [--calendar-limit N]
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import PLUGIN, RadicaleServer, mkcalendar, put  # noqa: E402

AUTHSERV = "mx.example.org"


def invitation(uid: str, description: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "METHOD:REQUEST",
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:20270301T100000Z", "DTEND:20270301T110000Z", "SUMMARY:Big one",
             "ORGANIZER:mailto:olivia@external.test",
             "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org",
             "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:alice@example.org"]
    if description:
        folded = "DESCRIPTION:" + description
        lines += [folded[:74]] + [" " + folded[i:i + 73] for i in range(74, len(folded), 73)]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def headers(boundary: str) -> str:
    return ("Authentication-Results: %s; dkim=pass header.d=external.test; "
            "dmarc=pass header.from=external.test\r\n"
            "From: Olivia <olivia@external.test>\r\nTo: bob@example.org\r\n"
            "Subject: Big invitation\r\nMessage-ID: <%s@external.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n" % (
                AUTHSERV, boundary, boundary))


def calendar_mail(size: int, uid: str) -> bytes:
    boundary = "b-" + uid
    fixed = len(headers(boundary)) + 400
    text = invitation(uid, "x" * 10)
    description = "word " * ((size - fixed - len(text)) * 73 // 76 // 5)
    body = invitation(uid, description)
    return (headers(boundary) + "--%s\r\nContent-Type: text/calendar; charset=utf-8; "
            "method=REQUEST\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s--\r\n" % (
                boundary, body, boundary)).encode()


def attachment_mail(size: int, uid: str) -> bytes:
    boundary = "b-" + uid
    data = os.urandom((size - 2000) * 3 // 4 * 76 // 78)
    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (headers(boundary) + "--%s\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n"
            "--%s\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n%s"
            "\r\n--%s\r\nContent-Type: application/octet-stream\r\nContent-Disposition: "
            "attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            "%s\r\n--%s--\r\n" % (boundary, boundary, invitation(uid), boundary, encoded,
                                  boundary)).encode()


class Reader(threading.Thread):
    """Carol reading one of her events again and again: the longest wait is kept."""

    def __init__(self, server: RadicaleServer, url: str) -> None:
        super().__init__(daemon=True)
        self.session = server.session("carol")
        self.url = url
        self.running = threading.Event()
        self.stop = threading.Event()
        self.longest = 0.0
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.running.wait(0.05):
                continue
            start = time.perf_counter()
            answer = self.session.get(self.url, timeout=600)
            took = time.perf_counter() - start
            assert answer.status_code == 200, answer.status_code
            self.longest = max(self.longest, took)
            self.count += 1


def deliver(config: Path, raw: bytes, recipients: list[str]
            ) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, peak RSS in KiB) of one ``deliver``."""
    command = [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config),
               "deliver", "--sender", "olivia@external.test", "--queue-only"]
    for recipient in recipients:
        command += ["--recipient", recipient]
    with tempfile.TemporaryFile() as mail, tempfile.TemporaryFile() as errors:
        mail.write(raw)
        mail.seek(0)
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=mail, stderr=errors,
                                   stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        took = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace").strip()
    return process.returncode, said, took, int(usage.ru_maxrss)


def stored_bytes(server: RadicaleServer, user: str) -> int:
    """Bytes of every .ics file under a user's folder (calendars and inbox)."""
    assert server.folder is not None
    root = server.folder / "collection-root" / user
    return sum(path.stat().st_size for path in root.rglob("*.ics")) if root.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_400_000, help="mail size in bytes")
    parser.add_argument("--database-url", default="", help="default: SQLite")
    parser.add_argument("--calendar-limit", type=int, default=1048576,
                        help="inbound_max_calendar_bytes (default: the default, 1 MiB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="big-mail-") as workdir:
        folder = Path(workdir)
        url = args.database_url or "sqlite:///%s" % (folder / "tracks.sqlite3")
        server = RadicaleServer(folder / "server", storage_type=PLUGIN, storage_options={
            "database_url": url, "domain": "example.org", "mail_transport": "maildir",
            "maildir": str(folder / "maildir"), "inbound_allowed_senders": "external.test",
            "inbound_trusted_authserv_ids": AUTHSERV,
            "inbound_max_calendar_bytes": str(args.calendar_limit)},
            rights_type="radicale_tracks.rights").start()
        try:
            for user in ("alice", "bob", "carol"):
                session = server.session(user)
                mkcalendar(session, "%s/%s/work/" % (server.url, user))
            carol = "%s/carol/work/mine.ics" % server.url
            put(server.session("carol"), carol, invitation("carol-own").replace(
                "METHOD:REQUEST\r\n", "").replace("ORGANIZER", "X-O").replace(
                "ATTENDEE", "X-A"))
            reader = Reader(server, carol)
            reader.start()
            under = args.size * 95 // 100
            cases = [("calendar", calendar_mail, args.size, ["bob@example.org"]),
                     ("attachment", attachment_mail, args.size, ["bob@example.org"]),
                     ("calendar x2", calendar_mail, args.size, ["bob@example.org",
                                                                "alice@example.org"]),
                     ("calendar 95%", calendar_mail, under, ["bob@example.org"]),
                     ("calendar 1 MiB", calendar_mail, 1_040_000, ["bob@example.org"])]
            print("%-14s %9s %4s %8s %9s %7s %10s  %s" % (
                "mail", "bytes", "exit", "seconds", "peak MiB", "GETs", "worst GET",
                "stored in bob's folder / what deliver said"))
            for number, (name, build, size, recipients) in enumerate(cases):
                raw = build(size, "big-%d" % number)
                before = stored_bytes(server, "bob")
                reader.longest, reader.count = 0.0, 0
                reader.running.set()
                code, said, took, peak = deliver(server.config, raw, recipients)
                reader.running.clear()
                print("%-14s %9d %4d %8.1f %9.0f %7d %9.2fs  +%d B / %s" % (
                    name, len(raw), code, took, peak / 1024, reader.count, reader.longest,
                    stored_bytes(server, "bob") - before, said[:160].replace("\n", " | ")))
            reader.stop.set()
            reader.join()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
