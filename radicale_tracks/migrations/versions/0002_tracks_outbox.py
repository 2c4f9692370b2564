"""Tracks, members, meetings, activity log and the mail outbox.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_track",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("feed_token", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("organizer", sa.String(512), nullable=False),
        sa.Column("organizer_user", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tracks_member",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("track_id", sa.Integer,
                  sa.ForeignKey("tracks_track.id", ondelete="CASCADE"), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("user", sa.String(256), nullable=True),
        sa.Column("name", sa.String(512), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("partstat", sa.String(32), nullable=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("track_id", "address", name="uq_tracks_member_address"),
    )
    op.create_index("ix_tracks_member_user", "tracks_member", ["user"])
    op.create_index("ix_tracks_member_address", "tracks_member", ["address"])
    op.create_table(
        "tracks_meeting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("track_id", sa.Integer,
                  sa.ForeignKey("tracks_track.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uid", sa.String(1024), nullable=False),
        sa.Column("href", sa.String(1024), nullable=False),
        sa.Column("organizer", sa.String(512), nullable=False),
        sa.Column("source_path", sa.String(1024), nullable=True),
        sa.Column("summary", sa.String(1024), nullable=False),
        sa.Column("dtstart", sa.BigInteger, nullable=True),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("track_id", "uid", name="uq_tracks_meeting_uid"),
    )
    op.create_index("ix_tracks_meeting_uid", "tracks_meeting", ["uid"])
    op.create_table(
        "tracks_activity",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("track_id", sa.Integer,
                  sa.ForeignKey("tracks_track.id", ondelete="SET NULL"), nullable=True),
        sa.Column("uid", sa.String(1024), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(512), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_tracks_activity_track", "tracks_activity", ["track_id", "at"])
    op.create_index("ix_tracks_activity_at", "tracks_activity", ["at"])
    op.create_table(
        "tracks_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("envelope_from", sa.String(512), nullable=False),
        sa.Column("recipient", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("track_id", sa.Integer, nullable=True),
        sa.Column("uid", sa.String(1024), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_tracks_outbox_due", "tracks_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("tracks_outbox")
    op.drop_table("tracks_activity")
    op.drop_table("tracks_meeting")
    op.drop_table("tracks_member")
    op.drop_table("tracks_track")
