"""The sender: takes due outbox rows, hands them to a transport, records the outcome.

A row is marked sent right after the transport accepted it, so a crash can resend an
accepted mail only in that short window — and then it is the identical message with the
same Message-ID. Temporary failures back off exponentially (``retry_base`` doubled per
attempt, at most an hour) until ``give_up_after`` seconds after the row was written;
permanent failures stop at once. Rows stay in the table for ``outbox list`` and ``show``.

:class:`SenderThread` runs the sender in a server process and in ``radicale-tracks
worker`` (see :mod:`radicale_tracks.commands.outbox`): it wakes at once when the process
itself queued mail (:meth:`SenderThread.wake`), on PostgreSQL when any process committed
mail (``LISTEN``, ``outbox/wakeups.py``), and every ``poll_interval`` seconds whatever
happens. Its :meth:`SenderThread.stop` ends it between two mails and gives back the
leases of the rows it had claimed but not sent yet, so that other senders take them at
once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from radicale_tracks.outbox import holders, wakeups
from radicale_tracks.outbox.store import OutboxRow, OutboxStore
from radicale_tracks.outbox.transports import PermanentFailure, TemporaryFailure, Transport

logger = logging.getLogger("radicale.tracks.outbox")

#: Longest wait between two attempts of one row, in seconds.
MAX_BACKOFF = 3600
#: Seconds a starting sender thread waits for its listener's first ``LISTEN``.
LISTEN_WAIT = 10.0


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

    def run_once(self, limit: int = 100,
                 stopping: Callable[[], bool] = lambda: False) -> SendReport:
        """Send up to ``limit`` due rows once each. Database errors propagate.

        ``stopping`` is asked before each row: once it says yes, the rows not yet tried
        are given back (their leases released) for other senders to take at once."""
        holder = str(holders.current())
        rows = self.store.claim_due(self.now(), self.lease_seconds, limit, holder,
                                    holders.is_gone)
        outcomes = []
        for number, row in enumerate(rows):
            if stopping():
                self.store.release([left.id for left in rows[number:]], holder)
                break
            outcomes.append(self._deliver(row))
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

    On PostgreSQL (``listen``, the default) an :class:`~radicale_tracks.outbox.wakeups.
    OutboxListener` wakes it whenever any process commits mail. A daemon thread: a
    server that exits does not wait for it; whatever it had claimed is taken over by the
    next sender on this machine at once (the lease names this process), by others once
    the lease expires. A failing run (database down) is logged and the loop goes on.
    """

    def __init__(self, sender: Sender, poll_interval: float, batch: int = 100,
                 listen: bool = True, periodic: Callable[[], object] | None = None,
                 periodic_every: float = 3600.0) -> None:
        super().__init__(name="radicale-tracks-outbox", daemon=True)
        self.sender = sender
        #: work for the sender's hours (booked series' reminders planned further
        #: ahead), run first a minute after the start and then every ``periodic_every``
        self.periodic = periodic
        self.periodic_every = periodic_every
        self._next_periodic = time.monotonic() + min(60.0, periodic_every)
        self.poll_interval = poll_interval
        self.batch = batch
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        engine = sender.store.engine
        self.listener: wakeups.OutboxListener | None = (
            wakeups.OutboxListener(engine.url, self.wake)
            if listen and wakeups.listens(engine) else None)

    def wake(self) -> None:
        """Run soon even if the poll interval has not passed (new mail was committed)."""
        self._wakeup.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """End after the mail being sent now (the rows claimed but not tried yet are
        given back); waits up to ``timeout`` seconds for that. Safe to call more than
        once, from any thread, before or after :meth:`start`. Returns whether the
        thread has ended (a transport still waiting for its server may take longer:
        the SMTP timeout)."""
        self._stopping.set()
        self._wakeup.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.listener is not None:
            self.listener.stop(timeout)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.is_alive()

    def run(self) -> None:
        if self.listener is not None and not self._stopping.is_set():
            self.listener.start()
            # mail committed before LISTEN notifies nobody: the first run comes after it
            # (bounded: with the database down, polling goes on meanwhile)
            deadline = time.monotonic() + LISTEN_WAIT
            while (not self.listener.listening.wait(0.1) and not self._stopping.is_set()
                   and self.listener.is_alive() and time.monotonic() < deadline):
                pass
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                handled = self._run_once()
                self._run_periodic()
                if handled < self.batch:  # a full batch: more may be due
                    self._wakeup.wait(self.poll_interval)
        finally:
            if self.listener is not None:
                self.listener.stop(0)

    def _run_periodic(self) -> None:
        if self.periodic is None or time.monotonic() < self._next_periodic:
            return
        self._next_periodic = time.monotonic() + self.periodic_every
        try:
            self.periodic()
        except Exception:
            logger.exception("outbox sender: periodic work failed; next try in %ss",
                             self.periodic_every)

    def _run_once(self) -> int:
        try:
            report = self.sender.run_once(self.batch, self._stopping.is_set)
        except Exception:
            logger.exception("outbox sender: run failed; next try in %ss",
                             self.poll_interval)
            return 0
        if report.handled:
            logger.info("outbox sender: sent %d, retried %d, failed %d",
                        report.sent, report.retried, report.failed)
        return report.handled
