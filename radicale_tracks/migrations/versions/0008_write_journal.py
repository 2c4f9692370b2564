"""Crash safety: the write journal's table, and who holds an outbox lease.

``tracks_write_journal`` holds one row per scheduling write whose files were journaled
(``db/journal.py``): committed with the write's rows, it tells a recovery that the files
are final. ``tracks_outbox.lease_holder`` names the process that leased a row (machine,
pid, process start), so a sender on the same machine takes over the leases of a process
that no longer runs at once instead of waiting for them to expire.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_write_journal",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("tracks_outbox") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracks_outbox") as batch:
        batch.drop_column("lease_holder")
    op.drop_table("tracks_write_journal")
