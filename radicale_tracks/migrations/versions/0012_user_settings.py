"""What each user chose on the pages: the wizard's time zone.

``tracks_user_setting`` holds (user, name) → text (``db/user_settings.py``): the zone
the booking wizard shows times in, remembered on the server so it follows the user to
another browser and every node of a shared database.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_user_setting",
        sa.Column("user", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracks_user_setting")
