"""Admin commands of the outbox: ``outbox list|show|retry|purge`` and ``worker``.

A thin adapter: parse arguments, call :class:`OutboxStore` or :class:`Sender`, print.
``radicale_tracks.commands.main`` adds these to its parser with :func:`add_commands`; errors that
are :class:`TracksError` (bad configuration, outdated schema) are reported there, exit 2.
Exit 1 means the command ran and found a problem (no such row, a mail failed).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from radicale_tracks.commands.config import load_settings
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.outbox.sender import Sender, SenderThread, SendReport
from radicale_tracks.outbox.store import CHANNEL, OutboxRow, OutboxStore, Status
from radicale_tracks.outbox.transports import transport_from_settings
from radicale_tracks.settings import Settings

logger = logging.getLogger("radicale.tracks.outbox")

EXIT_FAILED = 1
EXIT_USAGE = 2
DAY = 86400


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``outbox`` (with its subcommands) and ``worker`` to a subparsers action."""
    outbox = commands.add_parser("outbox", help="the queue of outgoing mail")
    actions = outbox.add_subparsers(dest="outbox_command", required=True)

    listing = actions.add_parser("list", help="one line per mail, newest first")
    listing.add_argument("--status", choices=[status.value for status in Status])
    listing.add_argument("--limit", type=_positive, default=100, help="default 100")
    listing.set_defaults(handler=outbox_list)

    show = actions.add_parser("show", help="every field of one mail and the message")
    show.add_argument("id", type=int)
    show.set_defaults(handler=outbox_show)

    retry = actions.add_parser("retry", help="send failed mails again")
    retry.add_argument("ids", type=int, nargs="*", metavar="ID")
    retry.add_argument("--all-failed", action="store_true", help="every failed mail")
    retry.set_defaults(handler=outbox_retry)

    purge = actions.add_parser("purge", help="delete sent (and failed) mails")
    purge.add_argument("--older-than-days", type=_non_negative, default=30,
                       help="settled more than N days ago (default 30)")
    purge.add_argument("--failed", action="store_true", help="failed mails too")
    purge.set_defaults(handler=outbox_purge)

    worker = commands.add_parser(
        "worker", help="send queued mail until SIGTERM (or once, with --once)")
    worker.add_argument("--once", action="store_true",
                        help="send what is due and exit; exit 1 if a mail failed")
    worker.set_defaults(handler=worker_run)


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be zero or a positive integer")
    return number


@contextlib.contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Settings, OutboxStore]]:
    _configuration, settings = load_settings(args.config)
    engine = create_database_engine(settings.database_url)
    try:
        ensure_schema(engine)
        yield settings, OutboxStore(engine)
    finally:
        engine.dispose()


def _time(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds, UTC)
    return "%d (%s)" % (seconds, moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def outbox_list(args: argparse.Namespace) -> int:
    now = int(time.time())
    with _opened(args) as (_settings, store):
        for row in store.rows(args.status, args.limit):
            print(_line(row, now))
    return 0


def _moment(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(row: OutboxRow, now: int) -> str:
    """id, status, attempts, kind, recipient, subject; a pending row's next attempt and,
    while leased, by whom until when; the last error."""
    when = ""
    if row.status is Status.PENDING:
        when = "  next %s" % _moment(row.next_attempt_at)
        if row.lease_until is not None and row.lease_until >= now:
            when += "  leased by %s until %s" % (row.lease_holder or "an older version",
                                                 _moment(row.lease_until))
    error = "  [%s]" % _short(row.last_error, 60) if row.last_error else ""
    return "%d  %s  %d  %s  %s  %s%s%s" % (
        row.id, row.status.value, row.attempts, row.kind, row.recipient,
        _short(row.subject, 50), when, error)


def outbox_show(args: argparse.Namespace) -> int:
    with _opened(args) as (_settings, store):
        row = store.get(args.id)
    if row is None:
        print("radicale-tracks: no outbox row %d" % args.id, file=sys.stderr)
        return EXIT_FAILED
    for name in ("id", "status", "kind", "envelope_from", "recipient", "subject",
                 "message_id", "track_id", "uid", "attempts", "lease_holder", "last_error"):
        value = getattr(row, name)
        print("%s: %s" % (name, "-" if value is None else value))
    for name in ("created_at", "next_attempt_at", "lease_until", "sent_at"):
        print("%s: %s" % (name, _time(getattr(row, name))))
    print()
    sys.stdout.write(row.message.replace("\r\n", "\n"))
    if not row.message.endswith("\n"):
        print()
    return 0


def outbox_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all_failed:
        print("radicale-tracks: name IDs to retry, or --all-failed", file=sys.stderr)
        return EXIT_USAGE
    with _opened(args) as (_settings, store):
        count = store.retry(None if args.all_failed else args.ids, int(time.time()))
    print("requeued %d failed mails" % count)
    return 0


def outbox_purge(args: argparse.Namespace) -> int:
    statuses = ["sent", "failed"] if args.failed else ["sent"]
    before = int(time.time()) - args.older_than_days * DAY
    with _opened(args) as (_settings, store):
        count = store.purge(before, statuses)
    print("deleted %d %s mails settled before %s" % (count, " and ".join(statuses),
                                                     _time(before)))
    return 0


def worker_run(args: argparse.Namespace) -> int:
    with _opened(args) as (settings, store):
        sender = Sender(store, transport_from_settings(settings),
                        settings.outbox_retry_base, settings.outbox_give_up_after)
        if args.once:
            report = send_due(sender)
            print("sent %d, retried %d, failed %d" % (
                report.sent, report.retried, report.failed))
            return EXIT_FAILED if report.failed else 0
        run_until_signal(sender, settings.outbox_poll_interval,
                         periodic=_reminders_planned_ahead(args.config))
    return 0


def _reminders_planned_ahead(config_path: str | None) -> Callable[[], object]:
    """The worker's hourly work beside sending: booked series' reminders planned further
    ahead (``plugin/booking_reminders.py``), on a storage opened at the first pass."""
    opened: list[Any] = []

    def plan() -> object:
        from radicale_tracks.plugin.backends import open_storage
        from radicale_tracks.plugin.booking_reminders import top_up_reminders

        if not opened:
            opened.append(open_storage(config_path)[0])
        return top_up_reminders(opened[0])

    return plan


def send_due(sender: Sender, batch: int = 100) -> SendReport:
    """Run until a batch comes back short: everything due now has been tried once."""
    sent = retried = failed = 0
    while True:
        report = sender.run_once(batch)
        sent, retried, failed = (sent + report.sent, retried + report.retried,
                                 failed + report.failed)
        if report.handled < batch:
            return SendReport(sent, retried, failed)


#: Seconds a stopping worker waits for the mail it is sending (the SMTP transport's own
#: timeout is 30 s per step); after that it exits anyway and the lease it leaves is
#: taken over — at once by a sender on this machine, by others when it expires.
STOP_GRACE = 45.0


def run_until_signal(sender: Sender, poll_interval: float,
                     grace: float = STOP_GRACE,
                     periodic: Callable[[], object] | None = None) -> bool:
    """Send until SIGTERM or SIGINT (main thread only): a :class:`SenderThread` woken by
    ``LISTEN`` on PostgreSQL and every ``poll_interval`` seconds.

    On the signal the thread finishes the mail it is sending, gives back the rows it
    claimed but did not try, and ends; the worker waits ``grace`` seconds at most for
    that. Returns whether the thread ended within them."""
    stopping = threading.Event()

    def stop(_number: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {number: signal.signal(number, stop)
                for number in (signal.SIGTERM, signal.SIGINT)}
    thread = SenderThread(sender, poll_interval, periodic=periodic)
    try:
        thread.start()
        logger.info("outbox worker: sending%s, polling every %ss",
                    " (woken by LISTEN %s)" % CHANNEL if thread.listener else "",
                    poll_interval)
        while not stopping.wait(1.0):
            if not thread.is_alive():  # never: its loop catches every run's error
                logger.error("outbox worker: the sender thread ended; exiting")
                return False
        logger.info("outbox worker: stopping")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        ended = thread.stop(grace)
    if not ended:
        logger.warning("outbox worker: still sending after %ss; exiting (the lease of "
                       "that mail is taken over)", grace)
    return ended
