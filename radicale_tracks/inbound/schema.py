"""The inbound mail log: what arrived, what became of it, and the quarantine.

One row per (message, recipient) the MTA handed us. The row makes a retried delivery a
no-op (same digest and recipient: the first answer is given again), and it is the
quarantine: a refused or unactionable message keeps its raw bytes and its reason until an
admin releases or deletes it. Messages that were acted on keep no raw bytes — their
effect is in the calendars and the activity log.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from radicale_tracks.db.metadata import metadata

inbound_mail = Table(
    "tracks_inbound", metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", BigInteger, nullable=False),
    # sha256 of the Message-ID, or of the message without trace headers when it has none
    Column("digest", String(64), nullable=False),
    Column("recipient", String(512), nullable=False),
    Column("envelope_sender", String(512), nullable=True),
    Column("from_address", String(512), nullable=True),
    Column("message_id", String(998), nullable=True),
    Column("subject", String(998), nullable=False),
    Column("method", String(32), nullable=True),
    Column("uid", String(1024), nullable=True),
    # processed | kept | quarantined | released
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("raw", LargeBinary, nullable=True),
    UniqueConstraint("digest", "recipient", name="uq_tracks_inbound_digest_recipient"),
)

Index("ix_tracks_inbound_status", inbound_mail.c.status, inbound_mail.c.received_at)
