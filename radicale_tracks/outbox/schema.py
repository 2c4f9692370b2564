"""The outbox table: one row per message and envelope recipient.

The message is rendered completely (headers, Message-ID, MIME parts) when the row is
written, in the transaction of the change that caused it; the sender only transmits the
stored bytes, so a retry sends exactly the same message.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from radicale_tracks.db.metadata import metadata

outbox = Table(
    "tracks_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("envelope_from", String(512), nullable=False),
    Column("recipient", String(512), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(998), nullable=False),
    Column("track_id", Integer, nullable=True),
    Column("uid", String(1024), nullable=True),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    # a sender owns a row until then; an expired lease is taken over (crashed sender)
    Column("lease_until", BigInteger, nullable=True),
    # who holds the lease (``outbox/holders.py``): a sender on the same machine takes
    # over a lease whose process no longer runs, without waiting for lease_until
    Column("lease_holder", String(255), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("sent_at", BigInteger, nullable=True),
    Index("ix_tracks_outbox_due", "status", "next_attempt_at"),
    # reminders are rows due later: a cancelled or moved booking finds its own
    Index("ix_tracks_outbox_kind_uid", "kind", "uid"),
)
