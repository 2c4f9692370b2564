"""The item index: collections, items, attendees, occurrences.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_collection",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.Column("dir_mtime_ns", sa.BigInteger, nullable=True),
        sa.Column("files_digest", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tracks_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("collection_id", sa.Integer,
                  sa.ForeignKey("tracks_collection.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("href", sa.String(1024), nullable=False),
        sa.Column("uid", sa.String(1024), nullable=False),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("etag", sa.String(128), nullable=False),
        sa.Column("organizer", sa.String(512), nullable=True),
        sa.Column("recurring", sa.Boolean, nullable=False),
        sa.Column("range_start", sa.BigInteger, nullable=False),
        sa.Column("range_end", sa.BigInteger, nullable=False),
        sa.Column("covered_from", sa.BigInteger, nullable=False),
        sa.Column("covered_until", sa.BigInteger, nullable=False),
        sa.Column("file_mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("collection_id", "href", name="uq_tracks_item_href"),
    )
    op.create_index("ix_tracks_item_uid", "tracks_item", ["collection_id", "uid"])
    op.create_index("ix_tracks_item_covered_from", "tracks_item",
                    ["collection_id", "covered_from"])
    op.create_index("ix_tracks_item_covered_until", "tracks_item",
                    ["collection_id", "covered_until"])
    op.create_table(
        "tracks_attendee",
        sa.Column("item_id", sa.Integer,
                  sa.ForeignKey("tracks_item.id", ondelete="CASCADE"), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("partstat", sa.String(32), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("recurrence_id", sa.Text, nullable=True),
    )
    op.create_index("ix_tracks_attendee_item", "tracks_attendee", ["item_id"])
    op.create_index("ix_tracks_attendee_address", "tracks_attendee", ["address"])
    op.create_table(
        "tracks_occurrence",
        sa.Column("item_id", sa.Integer,
                  sa.ForeignKey("tracks_item.id", ondelete="CASCADE"), nullable=False),
        sa.Column("collection_id", sa.Integer, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("fbtype", sa.String(32), nullable=True),
        sa.Column("long", sa.Boolean, nullable=False),
    )
    op.create_index("ix_tracks_occurrence_window", "tracks_occurrence",
                    ["collection_id", "long", "start"])
    op.create_index("ix_tracks_occurrence_item", "tracks_occurrence", ["item_id"])


def downgrade() -> None:
    op.drop_table("tracks_occurrence")
    op.drop_table("tracks_attendee")
    op.drop_table("tracks_item")
    op.drop_table("tracks_collection")
