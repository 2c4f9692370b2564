"""Rows of the outbox: queueing in the caller's transaction, claiming, settling.

:func:`enqueue` takes the caller's connection so that a mail is committed — or rolled back
— together with the change that caused it. Everything else is :class:`OutboxStore`, one
short transaction per operation.

Claiming is a lease, safe with several senders on several machines. On PostgreSQL the
due rows are read with ``SELECT … FOR UPDATE SKIP LOCKED`` and leased in the same
transaction: senders claiming at the same moment get disjoint rows and none waits for
another's locks. SQLite has no SKIP LOCKED (and one writer at a time anyway): there the
candidates are read first, then each is taken with a conditional ``UPDATE`` that only one
sender can win (rowcount 1). Each lease names its holder (``outbox/holders.py``): a
sender that crashed leaves its lease behind, a sender on the same machine that sees the
holder no longer runs takes the row over at once, any other after the lease expired.
Times are POSIX seconds (UTC).

On PostgreSQL, queueing rows (and requeueing failed ones) also issues ``NOTIFY`` on
:data:`CHANNEL` in the same transaction: PostgreSQL delivers it at the commit (never for
a rollback), and every listening sender (``outbox/wakeups.py``) runs at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.schema import outbox

logger = logging.getLogger("radicale.tracks.outbox")

#: The PostgreSQL channel a transaction that queues mail notifies (at its commit).
CHANNEL = "tracks_outbox"


class Status(StrEnum):
    """Life of a row: pending until sent, or failed for an admin to look at."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxRow:
    """One row of ``tracks_outbox``.

    ``next_attempt_at`` is when a pending row is due; on a failed row it is the time it
    failed (``retry`` sets it back to now).
    """

    id: int
    created_at: int
    message_id: str
    envelope_from: str
    recipient: str
    kind: str
    subject: str
    track_id: int | None
    uid: str | None
    message: str
    status: Status
    attempts: int
    next_attempt_at: int
    lease_until: int | None
    last_error: str | None
    sent_at: int | None
    lease_holder: str | None = None

    @classmethod
    def from_mapping(cls, values: Any) -> OutboxRow:
        fields = dict(values)
        fields["status"] = Status(fields["status"])
        return cls(**fields)


def enqueue(connection: Connection, mails: Iterable[OutgoingMail], now: int,
            due: int | None = None) -> list[int]:
    """Queue mails as pending rows, due now (or at ``due``: a reminder), in the
    transaction of ``connection``.

    Nothing is committed here: the caller's transaction decides, so a change that rolls
    back sends nothing. Returns the new row ids in order.
    """
    ids = []
    for mail in mails:
        result = connection.execute(insert(outbox).values(
            created_at=now, message_id=mail.message_id, envelope_from=mail.envelope_from,
            recipient=mail.recipient, kind=mail.kind, subject=mail.subject,
            track_id=mail.track_id, uid=mail.uid, message=mail.message,
            status=Status.PENDING.value, attempts=0,
            next_attempt_at=now if due is None else due,
            lease_until=None, lease_holder=None, last_error=None, sent_at=None))
        key = result.inserted_primary_key
        assert key is not None
        ids.append(int(key[0]))
    if ids:
        notify_senders(connection)
    return ids


def notify_senders(connection: Connection) -> None:
    """Wake every listening sender when ``connection``'s transaction commits.

    PostgreSQL holds a ``NOTIFY`` back until the commit and drops it on a rollback, and
    folds identical notifications of one transaction into one: a write that queues many
    mails wakes each sender once. SQLite has nothing of the kind; its senders poll."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def _free(now: int) -> ColumnElement[bool]:
    """Pending and not leased by a live sender."""
    return and_(outbox.c.status == Status.PENDING.value,
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))


def _leased(now: int) -> ColumnElement[bool]:
    """Due, pending and leased by a named holder whose lease still runs."""
    return and_(outbox.c.status == Status.PENDING.value, outbox.c.lease_until >= now,
                outbox.c.lease_holder.is_not(None), outbox.c.next_attempt_at <= now)


def _gone_holders(connection: Connection, now: int, gone: Callable[[str | None], bool]
                  ) -> list[str]:
    """The holders of live leases on due rows that ``gone`` says no longer run, asked
    once per holder (a few senders), not once per leased row."""
    holders = connection.execute(
        select(outbox.c.lease_holder).where(_leased(now)).distinct()).scalars().all()
    return sorted(h for h in holders if h is not None and gone(h))


def _rows(connection: Connection, ids: Sequence[int]) -> list[OutboxRow]:
    found = connection.execute(
        select(outbox).where(outbox.c.id.in_(list(ids)))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)).mappings().all()
    return [OutboxRow.from_mapping(row) for row in found]


class OutboxStore:
    """The sender's and the admin's view of the outbox."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: int, lease_seconds: int, limit: int,
                  holder: str | None = None,
                  gone: Callable[[str | None], bool] = lambda _holder: False
                  ) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows to ``holder`` until ``now + lease_seconds``.

        A row is due when pending, ``next_attempt_at <= now`` and not leased (or its lease
        expired, or ``gone`` says its holder no longer runs). Two callers never get the
        same row while a lease runs: on PostgreSQL the rows are locked ``SKIP LOCKED``
        while they are leased, elsewhere a takeover is a compare-and-set on the old lease.
        """
        if self.engine.dialect.name == "postgresql":
            return self._claim_skip_locked(now, lease_seconds, limit, holder, gone)
        with self.engine.connect() as connection:
            candidates: dict[int, tuple[str | None, int | None] | None] = {
                row_id: None for row_id in connection.execute(
                    select(outbox.c.id)
                    .where(_free(now), outbox.c.next_attempt_at <= now)
                    .order_by(outbox.c.next_attempt_at, outbox.c.id)
                    .limit(limit)).scalars()}
            room = limit - len(candidates)
            if room > 0:
                candidates.update(self._of_gone_holders(connection, now, room, gone))
        if not candidates:
            return []
        claimed = []
        # ascending ids: PostgreSQL senders lock rows in one order and never deadlock
        with self.engine.begin() as connection:
            for row_id in sorted(candidates):
                taken = candidates[row_id]
                condition = _free(now) if taken is None else and_(
                    outbox.c.status == Status.PENDING.value,
                    outbox.c.lease_holder == taken[0], outbox.c.lease_until == taken[1])
                result = connection.execute(
                    update(outbox).where(outbox.c.id == row_id, condition)
                    .values(lease_until=now + lease_seconds, lease_holder=holder))
                if result.rowcount == 1:
                    claimed.append(row_id)
                    if taken is not None:
                        logger.warning("outbox %d: lease of %s taken over (that process "
                                       "no longer runs)", row_id, taken[0])
        if not claimed:
            return []
        with self.engine.connect() as connection:
            return _rows(connection, claimed)

    def _claim_skip_locked(self, now: int, lease_seconds: int, limit: int,
                           holder: str | None, gone: Callable[[str | None], bool]
                           ) -> list[OutboxRow]:
        """:meth:`claim_due` on PostgreSQL: one transaction locks the due rows no other
        sender has locked (``FOR UPDATE SKIP LOCKED``), leases them and reads them.

        A row another sender leased and committed meanwhile is re-checked against the
        condition once its lock is free (PostgreSQL re-reads a locked row's newest
        version), so it is not taken twice; a row another sender is leasing right now
        is skipped rather than waited for."""
        lease = dict(lease_until=now + lease_seconds, lease_holder=holder)
        with self.engine.begin() as connection:
            free = list(connection.execute(
                select(outbox.c.id)
                .where(_free(now), outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(limit).with_for_update(skip_locked=True)).scalars())
            taken: list[int] = []
            room = limit - len(free)
            if room > 0:
                gone_holders = _gone_holders(connection, now, gone)
                if gone_holders:
                    taken = list(connection.execute(
                        select(outbox.c.id)
                        .where(_leased(now), outbox.c.lease_holder.in_(gone_holders))
                        .order_by(outbox.c.next_attempt_at, outbox.c.id)
                        .limit(room).with_for_update(skip_locked=True)).scalars())
            claimed = free + taken
            if not claimed:
                return []
            connection.execute(update(outbox).where(outbox.c.id.in_(claimed)).values(**lease))
            for row_id in taken:
                logger.warning("outbox %d: lease taken over (its holder no longer runs)",
                               row_id)
            return _rows(connection, claimed)

    def release(self, ids: Sequence[int], holder: str | None) -> int:
        """Give back the leases ``holder`` still has on ``ids`` (a sender stopping before
        it sent them): any sender may take them at once. Returns how many it gave back."""
        if not ids:
            return 0
        with self.engine.begin() as connection:
            result = connection.execute(
                update(outbox).where(outbox.c.id.in_(list(ids)),
                                     outbox.c.status == Status.PENDING.value,
                                     outbox.c.lease_holder == holder)
                .values(lease_until=None, lease_holder=None))
            if result.rowcount:
                notify_senders(connection)
        return int(result.rowcount)

    @staticmethod
    def _of_gone_holders(connection: Connection, now: int, room: int,
                         gone: Callable[[str | None], bool]
                         ) -> dict[int, tuple[str | None, int | None]]:
        """Up to ``room`` due rows leased by holders ``gone`` says no longer run.

        Every sender pass comes here, and a live sender holds many leases: ``gone`` is
        asked once per distinct holder (a few senders), not once per leased row, and
        only the rows of the gone ones are read, ``room`` at most — the live leases in
        front of them neither cost a row each nor hide them."""
        leased = _leased(now)
        gone_holders = _gone_holders(connection, now, gone)
        if not gone_holders:
            return {}
        return {row_id: (old_holder, old_until)
                for row_id, old_holder, old_until in connection.execute(
                    select(outbox.c.id, outbox.c.lease_holder, outbox.c.lease_until)
                    .where(leased, outbox.c.lease_holder.in_(gone_holders))
                    .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(room))}

    def mark_sent(self, row_id: int, now: int) -> bool:
        """The transport accepted the row's mail. False if the row was no longer pending."""
        return self._settle(row_id, status=Status.SENT.value, sent_at=now,
                            attempts=outbox.c.attempts + 1)

    def mark_retry(self, row_id: int, error: str, next_attempt_at: int) -> bool:
        """A temporary failure: pending again, due at ``next_attempt_at``."""
        return self._settle(row_id, next_attempt_at=next_attempt_at, last_error=error,
                            attempts=outbox.c.attempts + 1)

    def mark_failed(self, row_id: int, error: str, now: int) -> bool:
        """Given up: failed with ``error``, kept until an admin retries or purges it."""
        return self._settle(row_id, status=Status.FAILED.value, last_error=error,
                            next_attempt_at=now, attempts=outbox.c.attempts + 1)

    def _settle(self, row_id: int, **values: Any) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.status == Status.PENDING.value)
                .values(lease_until=None, lease_holder=None, **values))
        return bool(result.rowcount == 1)

    def rows(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """Rows newest first, all or of one status."""
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(outbox.c.status == Status(status).value)
        with self.engine.connect() as connection:
            found = connection.execute(query).mappings().all()
        return [OutboxRow.from_mapping(row) for row in found]

    def get(self, row_id: int) -> OutboxRow | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(outbox).where(outbox.c.id == row_id)).mappings().first()
        return OutboxRow.from_mapping(found) if found else None

    def retry(self, ids: Sequence[int] | None, now: int) -> int:
        """Requeue failed rows (``None``: all of them), due now, attempts counted afresh.

        Giving up is measured from ``created_at``: a requeued row older than the sender's
        ``give_up_after`` gets one more attempt. Returns how many rows were requeued.
        """
        query = update(outbox).where(outbox.c.status == Status.FAILED.value)
        if ids is not None:
            if not ids:
                return 0
            query = query.where(outbox.c.id.in_(list(ids)))
        with self.engine.begin() as connection:
            result = connection.execute(query.values(
                status=Status.PENDING.value, attempts=0, next_attempt_at=now,
                lease_until=None, lease_holder=None))
            if result.rowcount:
                notify_senders(connection)
        return int(result.rowcount)

    def purge(self, before: int, statuses: Sequence[str] = (Status.SENT.value,)) -> int:
        """Delete sent (or failed) rows settled before ``before``; pending rows never."""
        chosen = [Status(status).value for status in statuses]
        if Status.PENDING.value in chosen:
            raise ValueError("pending rows are never purged")
        settled_at = case((outbox.c.status == Status.SENT.value, outbox.c.sent_at),
                          else_=outbox.c.next_attempt_at)
        with self.engine.begin() as connection:
            result = connection.execute(delete(outbox).where(
                outbox.c.status.in_(chosen), settled_at < before))
        return int(result.rowcount)

    def counts(self) -> dict[str, int]:
        """Rows per status, every status present."""
        found = {status.value: 0 for status in Status}
        with self.engine.connect() as connection:
            for status, count in connection.execute(
                    select(outbox.c.status, func.count()).group_by(outbox.c.status)):
                found[status] = int(count)
        return found


@dataclass(frozen=True)
class Backlog:
    """How far the senders are behind, for ``/.tracks/health``: pending rows, the age
    of the oldest, and how long the longest-due one has been due (0: nothing due)."""

    pending: int
    oldest_pending_age: int
    lag: int


def backlog(connection: Connection, now: int) -> Backlog:
    """The outbox's :class:`Backlog` at ``now`` in one query over the due index."""
    due = case((outbox.c.next_attempt_at <= now, outbox.c.next_attempt_at), else_=None)
    # a reminder waits for its time on purpose: only rows due count as unsent
    created = case((outbox.c.next_attempt_at <= now, outbox.c.created_at), else_=None)
    count, oldest, first_due = connection.execute(
        select(func.count(), func.min(created), func.min(due))
        .where(outbox.c.status == Status.PENDING.value)).one()
    return Backlog(pending=int(count),
                   oldest_pending_age=max(0, now - int(oldest)) if oldest is not None else 0,
                   lag=max(0, now - int(first_due)) if first_due is not None else 0)
