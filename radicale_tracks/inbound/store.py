"""Rows of the inbound mail log: dedup on retry, and the quarantine an admin works on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from radicale_tracks.inbound.schema import inbound_mail


class Status(StrEnum):
    PROCESSED = "processed"      # acted on (or recognised as already known): raw not kept
    KEPT = "kept"                # accepted, nothing to act on (a bounce, an unsolicited
                                 # reply): raw kept for the admin
    QUARANTINED = "quarantined"  # refused: raw kept with the reason
    RELEASED = "released"        # an admin released it and it was processed


#: statuses whose raw bytes are kept and listed by ``quarantine list``
HELD = (Status.KEPT, Status.QUARANTINED)


@dataclass(frozen=True)
class InboundRow:
    id: int
    received_at: int
    digest: str
    recipient: str
    envelope_sender: str | None
    from_address: str | None
    message_id: str | None
    subject: str
    method: str | None
    uid: str | None
    status: Status
    exit_code: int
    reason: str
    size: int
    raw: bytes | None

    @classmethod
    def from_row(cls, row: Any) -> InboundRow:
        values = dict(row._mapping)
        values["status"] = Status(values["status"])
        values["raw"] = bytes(values["raw"]) if values["raw"] is not None else None
        return cls(**values)


def previous(connection: Connection, digest: str, recipient: str) -> InboundRow | None:
    """The earlier delivery of the same message to the same recipient, if any."""
    row = connection.execute(select(inbound_mail).where(
        inbound_mail.c.digest == digest, inbound_mail.c.recipient == recipient)).first()
    return InboundRow.from_row(row) if row is not None else None


def record(connection: Connection, *, received_at: int, digest: str, recipient: str,
           envelope_sender: str | None, from_address: str | None, message_id: str | None,
           subject: str, method: str | None, uid: str | None, status: Status,
           exit_code: int, reason: str, size: int, raw: bytes | None) -> int:
    result = connection.execute(insert(inbound_mail).values(
        received_at=received_at, digest=digest, recipient=recipient[:512],
        envelope_sender=(envelope_sender or None) and envelope_sender[:512],
        from_address=from_address and from_address[:512],
        message_id=message_id and message_id[:998], subject=subject[:998],
        method=method and method[:32], uid=uid and uid[:1024], status=status.value,
        exit_code=exit_code, reason=reason, size=size, raw=raw))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def held(connection: Connection, *, everything: bool = False, limit: int = 100
         ) -> list[InboundRow]:
    """Quarantined and kept messages (``everything``: every row), newest first."""
    query = select(inbound_mail).order_by(inbound_mail.c.received_at.desc(),
                                          inbound_mail.c.id.desc()).limit(limit)
    if not everything:
        query = query.where(inbound_mail.c.status.in_([s.value for s in HELD]))
    return [InboundRow.from_row(row) for row in connection.execute(query)]


def by_id(connection: Connection, row_id: int) -> InboundRow | None:
    row = connection.execute(select(inbound_mail).where(inbound_mail.c.id == row_id)).first()
    return InboundRow.from_row(row) if row is not None else None


def settle(connection: Connection, row_id: int, status: Status, reason: str,
           exit_code: int, keep_raw: bool) -> None:
    values: dict[str, Any] = {"status": status.value, "reason": reason,
                              "exit_code": exit_code}
    if not keep_raw:
        values["raw"] = None
    connection.execute(update(inbound_mail).where(inbound_mail.c.id == row_id)
                       .values(**values))


def remove(connection: Connection, row_id: int) -> bool:
    return bool(connection.execute(delete(inbound_mail).where(
        inbound_mail.c.id == row_id)).rowcount)
