"""The bookings table: what the web's schedule-on-behalf remembers about each booking.

The holder's event is the meeting; this row is what the event cannot say: who booked it
for which customer, in which zones the agent and the customer read times, what the
customer may see, the state people read on Meetings, and the version of the customer's
signed link (bumped to revoke every link given out). Times are POSIX seconds in UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from radicale_tracks.db.metadata import metadata

bookings = Table(
    "tracks_booking", metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(1024), nullable=False, unique=True),
    Column("agent", String(256), nullable=False),
    Column("holder", String(256), nullable=False),
    Column("calendar_path", String(1024), nullable=False),
    Column("href", String(1024), nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("customer_address", String(512), nullable=False),
    Column("customer_zone", String(64), nullable=False),
    Column("agent_zone", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    # the meeting's details as booked (members, rooms, pools, duration, …), JSON: what a
    # reschedule searches slots for
    Column("details", Text, nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    # confirmed | rescheduled | cancelled | awaiting-room
    Column("state", String(16), nullable=False),
    # agent | customer | organizer (a change from a calendar program)
    Column("changed_by", String(16), nullable=True),
    Column("customer_on_event", Boolean, nullable=False),
    Column("customer_mailed", Boolean, nullable=False),
    Column("customer_sees_attendees", Boolean, nullable=False),
    Column("link_version", Integer, nullable=False),
    # who changes the booking next and why, set by the web in the write's transaction
    # and read by the scheduling write itself (its mails say it), then cleared
    Column("pending_actor", String(16), nullable=True),
    Column("pending_note", Text, nullable=True),
    # reminders are planned for occurrences up to here (a series is topped up)
    Column("reminders_until", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_tracks_booking_agent", "agent"),
    Index("ix_tracks_booking_start", "start"),
)
