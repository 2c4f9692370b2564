"""Schedule-Tags kept across server merges; objects found by UID across collections.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_schedule_tag",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(2048), nullable=False, unique=True),
        sa.Column("tag", sa.String(160), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tracks_item_uid_only", "tracks_item", ["uid"])


def downgrade() -> None:
    op.drop_index("ix_tracks_item_uid_only", table_name="tracks_item")
    op.drop_table("tracks_schedule_tag")
