"""Admin commands of inbound mail: ``deliver`` (MTA pipe), ``lmtp``, ``quarantine …``.

``deliver`` is what an MTA's pipe transport runs: it must answer with sysexits(3) and one
line on stderr, whatever happens. So it never lets an exception or a configuration
problem out as a traceback: anything that is not the message's fault is 75 (the MTA keeps
the mail and tries again), so a broken config or a database restart loses no mail.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from radicale_tracks.errors import TracksError
from radicale_tracks.inbound import store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from radicale_tracks.inbound.processor import Disposition, InboundProcessor
    from radicale_tracks.plugin.storage import Storage
    from radicale_tracks.tracks.store import Activity

logger = logging.getLogger("radicale.tracks.inbound")

EXIT_FAILED = 1
READ_CHUNK = 1 << 16


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deliver = commands.add_parser(
        "deliver", help="take one mail on stdin (an MTA pipe transport); exit 0 done, "
        "65 refused, 67 unknown recipient, 75 try again later")
    deliver.add_argument("--sender", default="",
                         help="the envelope sender (MAIL FROM); empty for a bounce")
    deliver.add_argument("--recipient", action="append", required=True,
                         help="an envelope recipient (repeatable; one per call is best)")
    deliver.add_argument("--queue-only", action="store_true",
                         help="leave the answers in the outbox for the server's sender "
                         "instead of sending them before exiting")
    deliver.set_defaults(handler=deliver_command)

    lmtp = commands.add_parser("lmtp", help="an LMTP server for the MTA, until SIGTERM")
    lmtp.add_argument("--listen", default="127.0.0.1:8024", help="HOST:PORT "
                      "(default 127.0.0.1:8024; [::1]:8024 for IPv6)")
    lmtp.set_defaults(handler=lmtp_command)

    quarantine = commands.add_parser(
        "quarantine", help="inbound mail that was refused or had nothing to act on")
    actions = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = actions.add_parser("list", help="one line per held mail, newest first")
    listing.add_argument("--all", action="store_true",
                         help="every inbound mail received, processed ones too")
    listing.add_argument("--limit", type=int, default=100, help="default 100")
    listing.set_defaults(handler=quarantine_list)
    show = actions.add_parser("show", help="one mail: envelope, reason, message")
    show.add_argument("id", type=int)
    show.add_argument("--raw", action="store_true", help="only the raw message bytes")
    show.set_defaults(handler=quarantine_show)
    release = actions.add_parser(
        "release", help="process a held mail again, trusting its sender (you vouch "
        "for it); the limits and RFC checks still apply")
    release.add_argument("ids", type=int, nargs="+", metavar="ID")
    release.set_defaults(handler=quarantine_release)
    delete = actions.add_parser("delete", help="forget held mails")
    delete.add_argument("ids", type=int, nargs="+", metavar="ID")
    delete.set_defaults(handler=quarantine_delete)


# -- deliver ------------------------------------------------------------------------------

def read_bounded(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` + 1 bytes of ``stream``, reading (and dropping) the rest so the MTA
    sees its whole message taken."""
    kept = bytearray()
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            return bytes(kept)
        if len(kept) <= limit:
            kept.extend(chunk[:limit + 1 - len(kept)])


def exit_code(results: list[Disposition]) -> int:
    """One status for the MTA: a temporary failure wins (it retries the whole mail)."""
    from radicale_tracks.inbound.reading import Code

    codes = [int(result.code) for result in results]
    if int(Code.TEMPORARY) in codes:
        return int(Code.TEMPORARY)
    return next((code for code in codes if code), 0)


def deliver_command(args: argparse.Namespace) -> int:
    from radicale_tracks.inbound.reading import Code

    if not args.verbose:
        # the MTA puts stderr into its log and its bounces: one line per recipient
        logging.disable(logging.CRITICAL)
    try:
        storage, processor = _processor(args.config)
        raw = read_bounded(sys.stdin.buffer, processor.limits.max_message_bytes)
        results = processor.process(raw, args.sender, list(args.recipient))
    except Exception as e:
        logger.debug("deliver failed", exc_info=True)
        # our own errors (configuration, database schema) are sentences; anything else
        # is a program error, whose text the sender must not read in a bounce
        said = _one_line(str(e)) if isinstance(e, TracksError) else ""
        print("radicale-tracks deliver: temporary failure, try again later%s" % (
            ": " + said if said else ""), file=sys.stderr)
        return int(Code.TEMPORARY)
    for result in results:
        print("radicale-tracks deliver: %s: %s" % (result.recipient, _one_line(
            result.reason)), file=sys.stderr)
    if not args.queue_only:
        _send_now(storage)
    return exit_code(results)


def _processor(config: str | None, start_sender: bool = False
               ) -> tuple[Storage, InboundProcessor]:
    from radicale_tracks.plugin.inbound_delivery import open_processor

    return open_processor(config, start_sender=start_sender)


def _send_now(storage: Storage) -> None:
    """The answers queued by this delivery go out before the MTA's call returns (the
    server's sender would take them too; the outbox lease keeps them from going twice)."""
    from radicale_tracks.commands.outbox import send_due
    from radicale_tracks.outbox.sender import Sender
    from radicale_tracks.outbox.store import OutboxStore
    from radicale_tracks.outbox.transports import transport_from_settings

    settings = storage.settings
    try:
        send_due(Sender(OutboxStore(storage.engine), transport_from_settings(settings),
                        settings.outbox_retry_base, settings.outbox_give_up_after))
    except Exception:
        logger.warning("Answers stay in the outbox for the server's sender",
                       exc_info=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


# -- lmtp ---------------------------------------------------------------------------------

def lmtp_command(args: argparse.Namespace) -> int:
    from radicale_tracks.inbound.lmtp import parse_listen, serve_until_signal

    host, port = parse_listen(args.listen)
    storage, processor = _processor(args.config, start_sender=True)
    try:
        serve_until_signal(processor, host, port)
    finally:
        if storage.sender_thread is not None:
            storage.sender_thread.stop(timeout=10)
    return 0


# -- quarantine ---------------------------------------------------------------------------

@contextlib.contextmanager
def _database(config: str | None) -> Iterator[object]:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.db.engine import create_database_engine, ensure_schema

    _configuration, settings = load_settings(config)
    engine = create_database_engine(settings.database_url)
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def quarantine_list(args: argparse.Namespace) -> int:
    from sqlalchemy import Engine

    with _database(args.config) as engine:
        assert isinstance(engine, Engine)
        with engine.connect() as connection:
            rows = store.held(connection, everything=args.all, limit=args.limit)
    for row in rows:
        print("%d  %s  %-11s  %s  from %s  %s  [%s]" % (
            row.id, _time(row.received_at), row.status.value, row.recipient,
            row.from_address or row.envelope_sender or "<>", _short(row.subject, 40),
            _short(row.reason, 80)))
    return 0


def _failures_of(connection: Connection, row_id: int) -> list[Activity]:
    """The "failed" activity lines the processor wrote for inbound mail ``row_id``."""
    from radicale_tracks.tracks.store import recent_activity

    prefix = "mail #%d " % row_id
    return [a for a in recent_activity(connection, kinds=("failed",), limit=500)
            if a.summary.startswith(prefix)]


def quarantine_show(args: argparse.Namespace) -> int:
    from sqlalchemy import Engine

    with _database(args.config) as engine:
        assert isinstance(engine, Engine)
        with engine.connect() as connection:
            row = store.by_id(connection, args.id)
            failures = _failures_of(connection, args.id)
    if row is None:
        print("radicale-tracks: no inbound mail %d" % args.id, file=sys.stderr)
        return EXIT_FAILED
    if args.raw:
        sys.stdout.buffer.write(row.raw or b"")
        return 0
    for name in ("id", "status", "exit_code", "reason", "recipient", "envelope_sender",
                 "from_address", "message_id", "subject", "method", "uid", "size"):
        value = getattr(row, name)
        print("%s: %s" % (name, "-" if value in (None, "") else getattr(value, "value",
                                                                        value)))
    print("received_at: %s" % _time(row.received_at))
    for failure in failures:  # the program error the sender was not shown
        print("failure: %s" % failure.summary)
        if failure.detail:
            print("    " + failure.detail.strip().replace("\n", "\n    "))
    if row.raw is not None:
        print()
        sys.stdout.write(row.raw.decode("utf-8", "replace").replace("\r\n", "\n"))
    return 0


def quarantine_release(args: argparse.Namespace) -> int:
    from radicale_tracks.inbound.reading import Code

    storage, processor = _processor(args.config)
    failed = False
    for row_id in args.ids:
        with storage.database.connect() as connection:
            row = store.by_id(connection, row_id)
        if row is None or row.status not in store.HELD:
            print("radicale-tracks: %d is not a held inbound mail" % row_id,
                  file=sys.stderr)
            failed = True
            continue
        result = processor.release(row)
        print("%d  %s: %s" % (row_id, result.status.value if result.status else "-",
                              result.reason))
        failed = failed or result.code is not Code.OK or result.status in (
            store.Status.QUARANTINED,)
    _send_now(storage)
    return EXIT_FAILED if failed else 0


def quarantine_delete(args: argparse.Namespace) -> int:
    from sqlalchemy import Engine

    missing = []
    with _database(args.config) as engine:
        assert isinstance(engine, Engine)
        with engine.begin() as connection:
            for row_id in args.ids:
                if not store.remove(connection, row_id):
                    missing.append(row_id)
    print("deleted %d" % (len(args.ids) - len(missing)))
    for row_id in missing:
        print("radicale-tracks: no inbound mail %d" % row_id, file=sys.stderr)
    return EXIT_FAILED if missing else 0


__all__ = ["add_commands", "exit_code", "read_bounded"]
