"""Rooms and resources added by command.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_room",
        sa.Column("address", sa.String(512), primary_key=True),
        sa.Column("principal", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("pools", sa.Text, nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("max_conflicts", sa.Integer, nullable=True),
        sa.Column("max_conflict_percent", sa.Integer, nullable=True),
        sa.Column("max_duration", sa.Integer, nullable=True),
        sa.Column("window_days", sa.Integer, nullable=True),
        sa.Column("delegates", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracks_room")
