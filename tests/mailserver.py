"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests."""

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

from helpers import free_port


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
                calendar = Calendar.from_ical(data)
                assert part.get_param("method") == str(calendar["METHOD"])
                return calendar
        return None


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.lock:
            self.sink.received.append(Received(
                envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


class MailSink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """At least ``count`` messages, or an assertion naming what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        with self.lock:
            kinds = [(r.kind, r.recipient) for r in self.received]
        raise AssertionError("expected %d mails, got %d: %s" % (count, len(kinds), kinds))

    def settle(self, quiet: float = 1.5, timeout: float = 20.0) -> list[Received]:
        """Everything received once nothing new arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                count = len(self.received)
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        with self.lock:
            return list(self.received)

    def take(self) -> list[Received]:
        with self.lock:
            taken, self.received = self.received, []
        return taken
