"""The Schedule-Tag table (RFC 6638 §3.2.10).

A scheduling object's Schedule-Tag is its ETag at the last *consequential* change. Most of
the time that is simply its current ETag, so a row exists only while an object carries
changes the server merged without changing the tag (an attendee's PARTSTAT in the
organizer's copy, a PARTSTAT-only update in an attendee's copy): the row keeps the tag
from before. The files stay the source of truth; losing this table only changes each
affected tag once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table

from radicale_tracks.db.metadata import metadata

schedule_tags = Table(
    "tracks_schedule_tag", metadata,
    Column("id", Integer, primary_key=True),
    # "<collection path>/<href>", the object's path without slashes around it
    Column("path", String(2048), nullable=False, unique=True),
    Column("tag", String(160), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
