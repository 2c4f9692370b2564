"""Bookings for customers: the row behind each schedule-on-behalf booking.

The holder's event stays the meeting; ``tracks_booking`` remembers who booked it for
whom, the zones, the state Meetings shows, and the version of the customer's signed
link. Reminders are outbox rows due later, found by ``kind`` and ``uid``: the index
makes cancelling them cheap.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_booking",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(1024), nullable=False, unique=True),
        sa.Column("agent", sa.String(256), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("calendar_path", sa.String(1024), nullable=False),
        sa.Column("href", sa.String(1024), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("customer_address", sa.String(512), nullable=False),
        sa.Column("customer_zone", sa.String(64), nullable=False),
        sa.Column("agent_zone", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(16), nullable=True),
        sa.Column("customer_on_event", sa.Boolean, nullable=False),
        sa.Column("customer_mailed", sa.Boolean, nullable=False),
        sa.Column("customer_sees_attendees", sa.Boolean, nullable=False),
        sa.Column("link_version", sa.Integer, nullable=False),
        sa.Column("pending_actor", sa.String(16), nullable=True),
        sa.Column("pending_note", sa.Text, nullable=True),
        sa.Column("reminders_until", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tracks_booking_agent", "tracks_booking", ["agent"])
    op.create_index("ix_tracks_booking_start", "tracks_booking", ["start"])
    op.create_index("ix_tracks_outbox_kind_uid", "tracks_outbox", ["kind", "uid"])


def downgrade() -> None:
    op.drop_index("ix_tracks_outbox_kind_uid", "tracks_outbox")
    op.drop_table("tracks_booking")
