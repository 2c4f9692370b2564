"""Three writers racing on one scheduled event, against a real ``radicale-tracks serve``.

Each round alice creates an event inviting bob and carol (users of the server), then three
clients PUT versions of it at once — bob in, bob out, bob optional; the same SEQUENCE and
DTSTAMP, as Evolution (and Outlook for minor edits) write them — while carol reads her
calendar. After each round every attendee's copy is compared with alice's final version
(active and equal iff invited: ``tests/test_concurrent_writers.out_of_step``). Printed:
rounds out of step, PUT time (median, max) and carol's GET time while the writers ran.
Not run by ``make test``; issue 17, item 7.

    python bench/same_event_race.py --rounds 20
    python bench/same_event_race.py --database-url postgresql+psycopg://postgres@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import PLUGIN, USERS, RadicaleServer  # noqa: E402
from test_concurrent_writers import DOMAIN, out_of_step, version  # noqa: E402

VERSIONS = [["bob", "carol"], ["carol"], ["carol", "OPT-PARTICIPANT:bob"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default="", help="default: SQLite in the folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="race-") as folder:
        work = Path(folder)
        url = args.database_url or "sqlite:///%s" % (work / "tracks.sqlite3")
        server = RadicaleServer(work / "server", storage_type=PLUGIN,
                                storage_options={"database_url": url, "domain": DOMAIN},
                                rights_type="radicale_tracks.rights").start()
        try:
            return race(server, args.rounds)
        finally:
            server.stop()


def race(server: RadicaleServer, rounds: int) -> int:
    sessions = {user: server.session(user) for user in USERS}
    for user, session in sessions.items():
        session.request("MKCALENDAR", "%s/%s/work/" % (server.url, user))
    writers = [server.session("alice") for _ in VERSIONS]
    root = server.folder / "collection-root" if server.folder else Path()
    puts: list[float] = []
    reads: list[float] = []
    out: list[str] = []
    for round_ in range(rounds):
        uid = "race-%d" % round_
        url = "%s/alice/work/%s.ics" % (server.url, uid)
        headers = {"Content-Type": "text/calendar"}
        sessions["alice"].put(url, data=version(uid, "start", ["bob", "carol"]),
                              headers=headers).raise_for_status()
        start = threading.Barrier(len(VERSIONS) + 1, timeout=60)
        done = threading.Event()

        def write(session: requests.Session, attendees: list[str]) -> None:
            start.wait()
            began = time.perf_counter()
            session.put(url, data=version(uid, "start", attendees), headers=headers)
            puts.append(time.perf_counter() - began)

        def read() -> None:
            start.wait()
            while not done.is_set():
                began = time.perf_counter()
                sessions["carol"].get("%s/carol/work/" % server.url)
                reads.append(time.perf_counter() - began)

        threads = [threading.Thread(target=write, args=(s, a))
                   for s, a in zip(writers, VERSIONS)]
        reader = threading.Thread(target=read)
        for thread in [*threads, reader]:
            thread.start()
        for thread in threads:
            thread.join(120)
        done.set()
        reader.join(120)
        problems = out_of_step(root, uid)
        if problems:
            out.append("round %d: %s" % (round_, "; ".join(problems)))
    print("rounds out of step: %d of %d" % (len(out), rounds))
    for line in out:
        print("  " + line)
    print("PUT: median %.3f s, max %.3f s (%d)" % (statistics.median(puts), max(puts),
                                                  len(puts)))
    if reads:
        print("carol's GET while they ran: median %.3f s, max %.3f s (%d)" % (
            statistics.median(reads), max(reads), len(reads)))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
