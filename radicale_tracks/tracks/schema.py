"""Tables of the assistant: tracks, their members and meetings, and an activity log.

The ``.ics`` copies in the track collections are the calendar data; these rows are what
the assistant decided (who is a member, which organizer event feeds which meeting, what
happened when), which the files cannot say. Times are POSIX seconds in UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from radicale_tracks.db.metadata import metadata

#: One row per track: a calendar under the assistant principal.
tracks = Table(
    "tracks_track", metadata,
    Column("id", Integer, primary_key=True),
    # the track's collection is /<assistant principal>/<slug>/ (random, not the token)
    Column("slug", String(64), nullable=False, unique=True),
    # the plus-address assistant+<token>@domain; knowing it lets one add meetings
    Column("token", String(64), nullable=False, unique=True),
    # the read-only feed URL /.tracks/feed/<feed_token>.ics for members without an account
    Column("feed_token", String(64), nullable=False, unique=True),
    Column("title", String(512), nullable=False),
    Column("organizer", String(512), nullable=False),
    Column("organizer_user", String(256), nullable=True),
    Column("status", String(16), nullable=False),  # open | closed
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: People of a track: the organizer and every attendee of its meetings.
members = Table(
    "tracks_member", metadata,
    Column("id", Integer, primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks_track.id", ondelete="CASCADE"),
           nullable=False),
    Column("address", String(512), nullable=False),
    Column("user", String(256), nullable=True),  # local Radicale user, when one
    Column("name", String(512), nullable=True),  # CN
    Column("role", String(16), nullable=False),  # organizer | attendee
    Column("partstat", String(32), nullable=True),
    Column("added_at", BigInteger, nullable=False),
    UniqueConstraint("track_id", "address", name="uq_tracks_member_address"),
    Index("ix_tracks_member_user", "user"),
    Index("ix_tracks_member_address", "address"),
)

#: Meetings of a track: one organizer object each, copied into the track collection.
meetings = Table(
    "tracks_meeting", metadata,
    Column("id", Integer, primary_key=True),
    Column("track_id", Integer, ForeignKey("tracks_track.id", ondelete="CASCADE"),
           nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("href", String(1024), nullable=False),  # of the copy in the track collection
    Column("organizer", String(512), nullable=False),
    # where the organizer's own object lives, when on this server
    Column("source_path", String(1024), nullable=True),
    Column("summary", String(1024), nullable=False),
    Column("dtstart", BigInteger, nullable=True),
    Column("sequence", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active | cancelled
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("track_id", "uid", name="uq_tracks_meeting_uid"),
    Index("ix_tracks_meeting_uid", "uid"),
)

#: What happened: meetings created, changed and cancelled, refusals and failures.
activities = Table(
    "tracks_activity", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("track_id", Integer, ForeignKey("tracks_track.id", ondelete="SET NULL"),
           nullable=True),
    Column("uid", String(1024), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(512), nullable=True),
    Column("summary", Text, nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_tracks_activity_track", "track_id", "at"),
    Index("ix_tracks_activity_at", "at"),
)
