"""The inbound mail log and quarantine.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_inbound",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(512), nullable=False),
        sa.Column("envelope_sender", sa.String(512), nullable=True),
        sa.Column("from_address", sa.String(512), nullable=True),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("uid", sa.String(1024), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("digest", "recipient",
                            name="uq_tracks_inbound_digest_recipient"),
    )
    op.create_index("ix_tracks_inbound_status", "tracks_inbound", ["status", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_tracks_inbound_status", table_name="tracks_inbound")
    op.drop_table("tracks_inbound")
