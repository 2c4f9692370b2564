"""What the write journal costs a scheduling PUT, and what a plain PUT pays (nothing).

One ``radicale-tracks serve`` (SQLite, ``[storage] _filesystem_fsync`` as Radicale's
default: on), alice and bob with a calendar. Measured: ``--puts`` PUTs of alice's new
invitation to bob (a user here: inbox message and copy) and dana (mail: an outbox row;
no SMTP server listens, the mail waits), and as many plain PUTs (no ORGANIZER). Prints
the median and 90th percentile of each. Run it once with this tree and once with an
older one on ``PYTHONPATH`` to compare:

    PYTHONPATH=. python bench/journal_cost.py --puts 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import PLUGIN, RadicaleServer, free_port  # noqa: E402


def event(uid: str, organized: bool) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z", "DTSTART:20270503T090000Z",
             "DTEND:20270503T100000Z", "SUMMARY:Bench " + uid]
    if organized:
        lines += ["ORGANIZER:mailto:alice@example.org",
                  "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org",
                  "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dana@elsewhere.test"]
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR"]) + "\r\n"


def timed_puts(server: RadicaleServer, count: int, organized: bool, prefix: str = ""
               ) -> list[float]:
    session = server.session("alice")
    found = []
    for number in range(count):
        uid = "%s%s-%d" % (prefix, "invite" if organized else "plain", number)
        began = time.perf_counter()
        answer = session.put("%s/alice/work/%s.ics" % (server.url, uid),
                             data=event(uid, organized),
                             headers={"Content-Type": "text/calendar"})
        found.append(time.perf_counter() - began)
        assert answer.status_code == 201, (answer.status_code, answer.text)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RadicaleServer(Path(folder), storage_type=PLUGIN, storage_options={
            "database_url": "sqlite:///%s/db.sqlite3" % folder, "domain": "example.org",
            "mail_transport": "smtp", "smtp_server": "127.0.0.1",
            "smtp_port": str(free_port())}, rights_type="radicale_tracks.rights").start()
        try:
            for user in ("alice", "bob"):
                session = server.session(user)
                session.request("PROPFIND", "%s/%s/" % (server.url, user),
                                headers={"Depth": "0"})
                session.request("MKCALENDAR", "%s/%s/work/" % (server.url, user))
            timed_puts(server, 3, True, "warm-up-")  # imports, first deliveries
            for organized in (True, False):
                found = sorted(timed_puts(server, args.puts, organized))
                print("%-22s median %6.1f ms   p90 %6.1f ms   (%d PUTs)" % (
                    "scheduling PUT" if organized else "plain PUT",
                    statistics.median(found) * 1000,
                    found[int(len(found) * 0.9) - 1] * 1000, len(found)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
