"""The rooms an admin added with ``radicale-tracks rooms add`` (rooms written in the
config file are not stored: the config stays their one source).

Pools are a comma list on the room: rooms are few (tens, hundreds), every reader wants
all of them, and a room's pools are edited together with the room.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from radicale_tracks.db.metadata import metadata

rooms = Table(
    "tracks_room", metadata,
    Column("address", String(512), primary_key=True),
    Column("principal", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),            # ROOM | RESOURCE
    Column("capacity", Integer, nullable=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("pools", Text, nullable=False, default=""),
    Column("policy", String(16), nullable=False),          # always | if-free | manual
    Column("max_conflicts", Integer, nullable=True),
    Column("max_conflict_percent", Integer, nullable=True),
    Column("max_duration", Integer, nullable=True),        # minutes
    Column("window_days", Integer, nullable=True),
    Column("delegates", Text, nullable=False, default=""),  # user names, comma list
    Column("created_at", BigInteger, nullable=False),
)
