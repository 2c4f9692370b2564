"""item_store = database: collection properties, revisions and the change log.

``tracks_collection`` gains what a collection is when the database holds it (its
properties, the revision every write bumps, the id its sync tokens carry, the revision
up to which deletions were purged, the time of its last write); ``tracks_item_change``
is the sync-collection change log, one row per href. Files mode leaves them empty.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracks_collection") as batch:
        batch.add_column(sa.Column("props", sa.Text, nullable=True))
        batch.add_column(sa.Column("revision", sa.BigInteger, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("sync_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("purged_revision", sa.BigInteger, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("modified_ns", sa.BigInteger, nullable=True))
    op.create_table(
        "tracks_item_change",
        sa.Column("collection_id", sa.Integer,
                  sa.ForeignKey("tracks_collection.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("href", sa.String(1024), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("changed_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tracks_item_change_revision", "tracks_item_change",
                    ["collection_id", "revision"])


def downgrade() -> None:
    op.drop_index("ix_tracks_item_change_revision", "tracks_item_change")
    op.drop_table("tracks_item_change")
    with op.batch_alter_table("tracks_collection") as batch:
        for column in ("modified_ns", "purged_revision", "sync_id", "revision", "props"):
            batch.drop_column(column)
