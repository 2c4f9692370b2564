"""Several nodes on one database: values they share.

``tracks_setting`` holds what every node of one database must agree on and used to be
a file beside the collections (the web pages' form-token secret): nodes on different
hosts share no folder. The first node to start makes a value, the others read it
(``db/shared_values.py``); a node that finds the old file adopts its value, so form
tokens issued before the upgrade keep working.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks_setting",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracks_setting")
