"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests.

Tests wait on it by event: each message received signals :attr:`MailSink.arrived`;
``settle`` waits until the watched server's outbox has nothing left to send.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import create_engine, func, or_, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from helpers import free_port
from radicale_tracks.outbox.schema import outbox


@dataclass(frozen=True)
class Received:
    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def kind(self) -> str:
        return str(self.message["X-Tracks-Kind"])

    @property
    def recipient(self) -> str:
        return self.recipients[0]

    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    def calendar(self) -> Calendar | None:
        """The iMIP text/calendar part, parsed; checks the METHOD parameter agrees."""
        for part in self.message.walk():
            if part.get_content_type() == "text/calendar":
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes)
                calendar = Calendar.from_ical(data)
                assert part.get_param("method") == str(calendar["METHOD"])
                return calendar
        return None


def _rows_to_send(database_url: str) -> int:
    """Outbox rows a sender sends now or is sending: pending and due, or leased."""
    now = int(time.time())
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            try:
                return int(connection.execute(
                    select(func.count()).select_from(outbox).where(
                        outbox.c.status == "pending",
                        or_(outbox.c.next_attempt_at <= now,
                            outbox.c.lease_until >= now))).scalar_one())
            except (OperationalError, ProgrammingError):  # no table yet: nothing was ever queued
                return 0
    finally:
        engine.dispose()


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.arrived:
            self.sink.received.append(Received(
                envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))
            self.sink.arrived.notify_all()
        return "250 OK"


class MailSink:
    """Keeps every message it accepts; a test waits on :attr:`arrived` (signalled per
    message), never by sleeping."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        #: notified (under :attr:`lock`) each time a message was received
        self.arrived = threading.Condition(self.lock)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        #: the database whose outbox :meth:`settle` waits on (:meth:`watch`)
        self.outbox_url: str | None = None

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """At least ``count`` messages, or an assertion naming what arrived."""
        with self.arrived:
            if self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                return list(self.received)
            kinds = [(r.kind, r.recipient) for r in self.received]
        raise AssertionError("expected %d mails, got %d: %s" % (count, len(kinds), kinds))

    def watch(self, database_url: str) -> MailSink:
        """Settle on the outbox of the server whose database is ``database_url``."""
        self.outbox_url = database_url
        return self

    def settle(self, quiet: float = 1.5, timeout: float = 20.0) -> list[Received]:
        """Everything received once the watched outbox has nothing left to send now
        (:meth:`watch`), or else once nothing new arrived for ``quiet`` seconds."""
        if self.outbox_url:
            return self._drained(self.outbox_url, timeout)
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                seen = len(self.received)
                left = deadline - time.monotonic()
                if left <= 0 or not self._wait_past(seen, min(quiet, left)):
                    return list(self.received)

    def _wait_past(self, seen: int, timeout: float) -> bool:
        """Whether more than ``seen`` messages arrived within ``timeout`` (lock held)."""
        return self.arrived.wait_for(lambda: len(self.received) > seen, timeout)

    def _drained(self, database_url: str, timeout: float) -> list[Received]:
        """Everything received once no outbox row is due or being sent: each message
        the server committed has then been handed to this sink (the row is marked sent
        after the SMTP answer). Re-checked at each arrival, and every 50 ms for a row
        that failed or waits for a retry."""
        deadline = time.monotonic() + timeout
        while True:
            busy = _rows_to_send(database_url)
            with self.arrived:
                if not busy:
                    return list(self.received)
                if time.monotonic() > deadline:
                    kinds = [(r.kind, r.recipient) for r in self.received]
                    raise AssertionError("outbox still sending %d rows; received %s" % (
                        busy, kinds))
                self.arrived.wait(0.05)

    def take(self) -> list[Received]:
        with self.lock:
            taken, self.received = self.received, []
        return taken


def by_kind(mails: list[Received]) -> dict[tuple[str, str], Received]:
    """Messages by (kind, recipient): what a test expects, without their order."""
    return {(m.kind, m.recipient): m for m in mails}
