"""Indexes that let a team's busy time be read from index pages alone.

The occurrence window index now carries every column a busy-time question reads (end,
FBTYPE, the object), so that thirty calendars' two weeks come off the index without a
row lookup per occurrence; objects above ``max_resource_size`` are found by size.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tracks_occurrence_window", table_name="tracks_occurrence")
    op.create_index("ix_tracks_occurrence_window", "tracks_occurrence",
                    ["collection_id", "long", "start", "end", "fbtype", "item_id"])
    op.create_index("ix_tracks_item_size", "tracks_item", ["collection_id", "file_size"])


def downgrade() -> None:
    op.drop_index("ix_tracks_item_size", table_name="tracks_item")
    op.drop_index("ix_tracks_occurrence_window", table_name="tracks_occurrence")
    op.create_index("ix_tracks_occurrence_window", "tracks_occurrence",
                    ["collection_id", "long", "start"])
