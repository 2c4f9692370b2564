"""Tables of the index (SQLAlchemy Core: the hot paths are set-based and bulk inserts).

Times are integer POSIX seconds in UTC: portable between SQLite and PostgreSQL, cheap to
compare, and exact for iCalendar's one-second resolution. ``TIMESTAMP_MIN``/``MAX``
stand for "unbounded", as in Radicale's own item cache.

Changing a table means a new Alembic revision (see ``radicale_tracks/db/metadata.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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

#: Occurrences up to this many seconds are "short": a window [s, e) finds them among
#: starts in (s - LONG_OCCURRENCE, e).
LONG_OCCURRENCE = 8 * 24 * 3600

#: One row per indexed collection (calendar or address book).
collections = Table(
    "tracks_collection", metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False, unique=True),
    Column("tag", String(32), nullable=False, default=""),
    # mtime of the collection folder when the index last matched it: a cheap check that
    # no file was added or removed behind Radicale's back
    Column("dir_mtime_ns", BigInteger, nullable=True),
    # XOR of file_digest(href, mtime, size) over the indexed files: one scan of the
    # folder and one row tell whether any file changed since it was indexed
    Column("files_digest", BigInteger, nullable=False, default=0),
    # item_store = database (the rows are the collection, ``index/item_store.py``):
    # Radicale's properties as JSON (NULL in files mode, where .Radicale.props holds
    # them), the revision every write bumps (the sync-collection change log counts in
    # it), a random id that makes a deleted-then-recreated collection's old tokens
    # invalid, the last revision whose deletions were purged, the last write's time
    Column("props", Text, nullable=True),
    Column("revision", BigInteger, nullable=False, default=0, server_default="0"),
    Column("sync_id", String(32), nullable=True),
    Column("purged_revision", BigInteger, nullable=False, default=0, server_default="0"),
    Column("modified_ns", BigInteger, nullable=True),
)

#: item_store = database: the sync-collection change log, one row per href ever stored
#: in a collection — its last change's revision, and whether that change deleted it
#: (sabre/dav's calendarchanges, kept to one row per href: a sync needs only the last).
item_changes = Table(
    "tracks_item_change", metadata,
    Column("collection_id", Integer,
           ForeignKey("tracks_collection.id", ondelete="CASCADE"), primary_key=True),
    Column("href", String(1024), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("changed_ns", BigInteger, nullable=False),
    Index("ix_tracks_item_change_revision", "collection_id", "revision"),
)

#: One row per stored object (``.ics``/``.vcf`` file).
items = Table(
    "tracks_item", metadata,
    Column("id", Integer, primary_key=True),
    Column("collection_id", Integer,
           ForeignKey("tracks_collection.id", ondelete="CASCADE"), nullable=False),
    Column("href", String(1024), nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("component", String(32), nullable=False),
    Column("etag", String(128), nullable=False),
    Column("organizer", String(512), nullable=True),
    Column("recurring", Boolean, nullable=False, default=False),
    # overall bounds, as Radicale computes them (fallback when coverage is partial)
    Column("range_start", BigInteger, nullable=False),
    Column("range_end", BigInteger, nullable=False),
    # occurrences in [covered_from, covered_until) are all in tracks_occurrence
    Column("covered_from", BigInteger, nullable=False),
    Column("covered_until", BigInteger, nullable=False),
    Column("file_mtime_ns", BigInteger, nullable=False),
    Column("file_size", BigInteger, nullable=False),
    # the object as Radicale serves it (like Radicale's own item cache): queries answer
    # from here without opening files once the folder fingerprint matched
    Column("text", Text, nullable=False),
    UniqueConstraint("collection_id", "href", name="uq_tracks_item_href"),
    Index("ix_tracks_item_uid", "collection_id", "uid"),
    # scheduling finds a user's copy of a meeting by UID across their calendars
    Index("ix_tracks_item_uid_only", "uid"),
    Index("ix_tracks_item_covered_from", "collection_id", "covered_from"),
    Index("ix_tracks_item_covered_until", "collection_id", "covered_until"),
    # objects above max_resource_size are left out of answers, as Radicale does
    Index("ix_tracks_item_size", "collection_id", "file_size"),
)

#: Attendees of an object, addresses normalised (lower-case, ``mailto:`` stripped).
attendees = Table(
    "tracks_attendee", metadata,
    Column("item_id", Integer, ForeignKey("tracks_item.id", ondelete="CASCADE"),
           nullable=False),
    Column("address", String(512), nullable=False),
    Column("partstat", String(32), nullable=True),
    Column("role", String(32), nullable=True),
    Column("recurrence_id", Text, nullable=True),
    Index("ix_tracks_attendee_item", "item_id"),
    Index("ix_tracks_attendee_address", "address"),
)

#: Occurrence intervals of an object (RFC 4791 §9.9 semantics, UTC) and whether each
#: one blocks time. ``fbtype`` is NULL for time that never counts as busy (transparent
#: events, to-dos, journals), "FREE" for cancelled events, else an RFC 5545 FBTYPE.
occurrences = Table(
    "tracks_occurrence", metadata,
    Column("item_id", Integer, ForeignKey("tracks_item.id", ondelete="CASCADE"),
           nullable=False),
    Column("collection_id", Integer, nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("fbtype", String(32), nullable=True),
    # longer than LONG_OCCURRENCE: window queries look these up apart, so that the
    # others can be found by a bounded range scan on start
    Column("long", Boolean, nullable=False),
    # covering: a team's busy time is read from the index alone (migration 0006)
    Index("ix_tracks_occurrence_window", "collection_id", "long", "start", "end", "fbtype",
          "item_id"),
    Index("ix_tracks_occurrence_item", "item_id"),
)
