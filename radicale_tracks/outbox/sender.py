"""The sender: takes due outbox rows, hands them to a transport, records the outcome.

A row is marked sent right after the transport accepted it, so a crash can resend an
accepted mail only in that short window — and then it is the identical message with the
same Message-ID. Temporary failures back off exponentially (``retry_base`` doubled per
attempt, at most an hour) until ``give_up_after`` seconds after the row was written;
permanent failures stop at once. Rows stay in the table for ``outbox list`` and ``show``.

:class:`SenderThread` runs the sender in a server process; ``radicale-tracks worker``
runs it on its own (see :mod:`radicale_tracks.commands.outbox`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from radicale_tracks.outbox import holders
from radicale_tracks.outbox.store import OutboxRow, OutboxStore
from radicale_tracks.outbox.transports import PermanentFailure, TemporaryFailure, Transport

logger = logging.getLogger("radicale.tracks.outbox")

#: Longest wait between two attempts of one row, in seconds.
MAX_BACKOFF = 3600


@dataclass(frozen=True)
class SendReport:
    """What one run did with the rows it claimed."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed


class Outcome(Enum):
    """What became of one claimed row."""

    SENT = "sent"
    RETRIED = "retried"
    FAILED = "failed"


def backoff(retry_base: int, earlier_attempts: int) -> int:
    """Seconds to wait after a failed attempt: ``retry_base``, doubled per earlier attempt
    of the row, at most :data:`MAX_BACKOFF`."""
    return int(min(retry_base * 2 ** min(earlier_attempts, 32), MAX_BACKOFF))


class Sender:
    """Delivers due rows of ``store`` through ``transport``; ``clock`` is POSIX seconds."""

    def __init__(self, store: OutboxStore, transport: Transport, retry_base: int,
                 give_up_after: int, clock: Callable[[], float] = time.time,
                 lease_seconds: int = 300) -> None:
        self.store = store
        self.transport = transport
        self.retry_base = retry_base
        self.give_up_after = give_up_after
        self.clock = clock
        self.lease_seconds = lease_seconds

    def now(self) -> int:
        return int(self.clock())

    def run_once(self, limit: int = 100) -> SendReport:
        """Send up to ``limit`` due rows once each. Database errors propagate."""
        rows = self.store.claim_due(self.now(), self.lease_seconds, limit,
                                    str(holders.current()), holders.is_gone)
        outcomes = [self._deliver(row) for row in rows]
        return SendReport(sent=outcomes.count(Outcome.SENT),
                          retried=outcomes.count(Outcome.RETRIED),
                          failed=outcomes.count(Outcome.FAILED))

    def _deliver(self, row: OutboxRow) -> Outcome:
        try:
            self.transport.deliver(row)
        except PermanentFailure as e:
            return self._fail(row, str(e))
        except TemporaryFailure as e:
            return self._temporary(row, str(e))
        except Exception as e:  # a transport bug must not stop the queue
            logger.exception("outbox %d (%s to %s, uid %r): unexpected error in %r",
                             row.id, row.kind, row.recipient, row.uid, self.transport)
            return self._temporary(row, "%s: %s" % (type(e).__name__, e))
        self.store.mark_sent(row.id, self.now())
        logger.info("outbox %d (%s to %s, uid %r): sent, Message-ID <%s>",
                    row.id, row.kind, row.recipient, row.uid, row.message_id)
        return Outcome.SENT

    def _temporary(self, row: OutboxRow, error: str) -> Outcome:
        now = self.now()
        attempts = row.attempts + 1
        if now >= row.created_at + self.give_up_after:
            return self._fail(row, "gave up after %d attempts: %s" % (attempts, error))
        next_attempt_at = now + backoff(self.retry_base, row.attempts)
        self.store.mark_retry(row.id, error, next_attempt_at)
        logger.warning("outbox %d (%s to %s, uid %r): attempt %d failed, retry in %ds: %s",
                       row.id, row.kind, row.recipient, row.uid, attempts,
                       next_attempt_at - now, error)
        return Outcome.RETRIED

    def _fail(self, row: OutboxRow, reason: str) -> Outcome:
        self.store.mark_failed(row.id, reason, self.now())
        logger.error("outbox %d (%s to %s, uid %r): failed, not retried: %s",
                     row.id, row.kind, row.recipient, row.uid, reason)
        return Outcome.FAILED


class SenderThread(threading.Thread):
    """Runs ``sender`` every ``poll_interval`` seconds, or at once after :meth:`wake`.

    A daemon thread: a server that exits does not wait for it; whatever it had claimed
    is taken over by the next sender on this machine at once (the lease names this
    process), by others once the lease expires. A failing run (database down) is
    logged and the loop goes on.
    """

    def __init__(self, sender: Sender, poll_interval: float, batch: int = 100) -> None:
        super().__init__(name="radicale-tracks-outbox", daemon=True)
        self.sender = sender
        self.poll_interval = poll_interval
        self.batch = batch
        self._wakeup = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        """Run soon even if the poll interval has not passed (new mail was committed)."""
        self._wakeup.set()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the current run, then end; waits up to ``timeout`` seconds for that."""
        self._stopping.set()
        self._wakeup.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            if self._run_once() < self.batch:  # a full batch: more may be due
                self._wakeup.wait(self.poll_interval)

    def _run_once(self) -> int:
        try:
            return self.sender.run_once(self.batch).handled
        except Exception:
            logger.exception("outbox sender: run failed; next try in %ss",
                             self.poll_interval)
            return 0
