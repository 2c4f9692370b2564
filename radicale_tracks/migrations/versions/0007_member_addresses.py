"""Track members stored before addresses were read by one validator, repaired.

Earlier versions stored ``mailto:x@y`` (from ``mailto:mailto:x@y``), letter-case
variants, and empty members (from an ATTENDEE emptied by a broken fold). A member is
written to, so its address must be one: each row is read by ``core/addresses.read_address``;
a repairable one takes its normalised address (merged into the row already holding it),
and one that names nobody is removed with an activity line saying so, where ``tracks
show`` and the Meetings page show it — nobody disappears without a word.

Revision ID: 0007
Revises: 0006
"""

import time

import sqlalchemy as sa
from alembic import op

from radicale_tracks.core.addresses import read_address

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_members = sa.table("tracks_member", sa.column("id", sa.Integer),
                    sa.column("track_id", sa.Integer), sa.column("address", sa.String),
                    sa.column("role", sa.String))
_activities = sa.table("tracks_activity", sa.column("at", sa.BigInteger),
                       sa.column("track_id", sa.Integer), sa.column("kind", sa.String),
                       sa.column("actor", sa.String), sa.column("summary", sa.Text))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_members.c.id, _members.c.track_id, _members.c.address,
                                  _members.c.role).order_by(_members.c.id)).all()
    held = {(row.track_id, row.address) for row in rows}
    now = int(time.time())
    for row in rows:
        reading = read_address(row.address)
        if reading.is_mail and reading.address == row.address:
            continue
        if reading.is_mail and (row.track_id, reading.address) not in held:
            bind.execute(sa.update(_members).where(_members.c.id == row.id)
                         .values(address=reading.address))
            held.discard((row.track_id, row.address))
            held.add((row.track_id, reading.address))
            continue
        bind.execute(sa.delete(_members).where(_members.c.id == row.id))
        held.discard((row.track_id, row.address))
        if reading.is_mail:
            continue  # the same person's row is already there
        bind.execute(sa.insert(_activities).values(
            at=now, track_id=row.track_id, kind="member-removed", actor=None,
            summary="member %r removed: %s (it was stored by an earlier version; "
                    "correct the attendee in the organizer's calendar)" % (
                        row.address, reading.problem or "not an e-mail address")))


def downgrade() -> None:
    pass  # the repaired addresses are right for every version
