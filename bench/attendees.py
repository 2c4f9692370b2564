"""PUT of one organizer's event with N attendees elsewhere: plugin against vanilla Radicale.

Both applications are called in process through WSGI (the path a WSGI server takes), on
a fresh folder each: ``MKCALENDAR`` then one ``PUT`` of an event with N attendees, the
organizer and N - 1 at an external domain (so every one of them is a mail recipient).
A 403 includes Radicale's ``[auth] delay`` (it delays every 403; no lock is held). Prints
the status and the seconds of the PUT, and the peak memory Python allocated meanwhile (tracemalloc,
``--memory``: slows the PUT itself down). ``--profile`` writes a cProfile of the
plugin's PUT next to each line (``attendees-<N>.prof``).

    .venv/bin/python bench/attendees.py                      # N = 50 200 1000 10000 100000
    .venv/bin/python bench/attendees.py --n 200 1000 --profile
    .venv/bin/python bench/attendees.py --n 10000 --option max_attendees_per_instance=100000

Not run by ``make test``: timings belong here, tests assert structural bounds.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from helpers import PLUGIN, VANILLA, write_config  # noqa: E402
from inprocess import call_wsgi  # noqa: E402


def event(attendees: int, uid: str = "bench-attendees") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART:20270301T100000Z",
             "DTEND:20270301T110000Z", "SUMMARY:All hands",
             "ORGANIZER;CN=Alice:mailto:alice@example.org",
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org"]
    lines += ["ATTENDEE;CN=Guest %d;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:guest%d@elsewhere.test"
              % (n, n) for n in range(attendees - 1)]   # N attendees, the organizer one
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])


class Wsgi:
    """One Radicale application (vanilla or the plugin's subclass), called in process."""

    def __init__(self, folder: Path, storage: str, database_url: str = "",
                 extra: dict[str, str] | None = None) -> None:
        from radicale import config as radicale_config

        options = {"database_url": database_url, "domain": "example.org",
                   "outbox_sender": "False", **(extra or {})} if (
            storage == PLUGIN) else {}
        folder.mkdir(parents=True)
        path = write_config(folder / "radicale.conf", folder / "collections", storage,
                            5232, options)
        configuration = radicale_config.load([(str(path), False)])
        if storage == PLUGIN:
            from radicale_tracks.plugin.application import Application
        else:
            from radicale.app import Application  # type: ignore[assignment]
        self.app = Application(configuration)

    def __call__(self, method: str, path: str, body: str = "") -> int:
        return call_wsgi(self.app, method, path, "alice", body)[0]


def measure(call: Callable[[], int], memory: bool, profile: Path | None
            ) -> tuple[int, float, float | None]:
    if memory:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    status = call()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if profiler and profile:
        profiler.dump_stats(str(profile))
    return status, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 200, 1000, 10000, 100000])
    parser.add_argument("--vanilla", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--database-url", default="",
                        help="the plugin's database (default: SQLite in the folder)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a [storage] option of the plugin, e.g. "
                             "max_attendees_per_instance=200000 (repeatable)")
    args = parser.parse_args()
    extra = dict(option.split("=", 1) for option in args.option)
    print("%-8s %-8s %6s %9s %9s" % ("N", "server", "status", "seconds", "peak MiB"))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            body = event(n)
            kinds = [PLUGIN, VANILLA] if args.vanilla else [PLUGIN]
            for kind in kinds:
                app = Wsgi(Path(tmp) / ("%s-%d" % (kind, n)), kind, args.database_url,
                           extra)
                assert app("MKCALENDAR", "/alice/work/") == 201
                profile = Path("attendees-%d.prof" % n) if (
                    args.profile and kind == PLUGIN) else None
                status, seconds, peak = measure(
                    lambda app=app, body=body: app("PUT", "/alice/work/bench.ics", body),
                    args.memory, profile)
                print("%-8d %-8s %6d %9.2f %9s" % (
                    n, "plugin" if kind == PLUGIN else "vanilla", status, seconds,
                    "%.0f" % peak if peak is not None else "-"), flush=True)


if __name__ == "__main__":
    main()
