"""The ports the engines use to reach calendars, defined once.

The scheduling engine (``scheduling/engine.py``), room booking (``scheduling/rooms.py``)
and the assistant (``tracks/assistant.py``) reach stored calendars only through these
protocols; the file backend implements them in ``plugin/`` (``scheduling_calendars.py``,
``track_calendars.py``, ``storage.py``). A second storage backend (calendar data in
PostgreSQL) implements the same protocols and the engines do not change.

All are called inside the backend's write hold of the client's request and in the
write's database transaction: what they store commits or rolls back with the write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from icalendar import Calendar
    from sqlalchemy import Connection

    from radicale_tracks.core.itip import ItipMessage
    from radicale_tracks.outbox.mail import OutgoingMail


class StoredObject(NamedTuple):
    """A calendar object as stored: where, its text and its ETag."""

    collection_path: str
    href: str
    text: str
    etag: str


class CalendarUsers(Protocol):
    """Who has calendars on this server."""

    def user_exists(self, user: str) -> bool: ...

    def user_of_uri(self, uri: str) -> str | None:
        """The local user a non-mailto calendar user address names (principal URL)."""
        ...


class ObjectsByUid(Protocol):
    """A user's scheduling object found by its UID, in any of their calendars."""

    def find_object(self, user: str, uid: str) -> StoredObject | None: ...


class DefaultCalendar(Protocol):
    """Where a user's copy of a new meeting goes (created when they have none)."""

    def default_calendar(self, user: str) -> str: ...


class CalendarObjects(Protocol):
    """Server writes of users' objects (never scheduled again: not a client's write)."""

    def write_object(self, collection_path: str, href: str, text: str) -> None: ...

    def new_href(self, uid: str) -> str: ...

    def remove_object(self, collection_path: str, href: str) -> None: ...


class InboxDelivery(Protocol):
    """An iTIP message into a user's scheduling inbox (RFC 6638 §2.1)."""

    def deliver(self, user: str, text: str) -> str: ...


class SchedulingCalendars(CalendarUsers, ObjectsByUid, DefaultCalendar, CalendarObjects,
                          InboxDelivery, Protocol):
    """The users' calendars and inboxes, as the scheduling engine needs them."""


class BusyTime(Protocol):
    """What a room's answer needs from the storage: busy time and occurrences."""

    def busy_intervals(self, user: str, start: int, end: int, exclude_uid: str
                       ) -> list[tuple[int, int]]:
        """The user's busy time (any FBTYPE but FREE), without the object ``exclude_uid``."""
        ...

    def occurrences(self, text: str, start: int, end: int, limit: int
                    ) -> tuple[list[tuple[int, int]], bool]:
        """Occurrences of an object in [start, end) as the index reads them, and whether
        that was all of them (False: the series goes on, or the cap was hit)."""
        ...


#: the rooms' name for :class:`BusyTime`
RoomCalendars = BusyTime


class TrackCalendars(Protocol):
    """The track collections under the assistant principal (the storage implements it)."""

    def create_track_calendar(self, slug: str, title: str) -> None: ...

    def read_copy(self, slug: str, href: str) -> str | None: ...

    def write_copy(self, slug: str, href: str, ics: str) -> None: ...

    def user_exists(self, user: str) -> bool: ...

    def user_zone(self, user: str) -> str | None: ...


class BookedMeetings(Protocol):
    """Meetings booked for a customer (``bookings/``): their customer hears about every
    change in a booking's own words, and the booking follows the meeting."""

    def booking_for(self, connection: Connection, uid: str, owner: str) -> Booked | None:
        """The booking of the meeting ``uid`` when ``owner`` (whose object was written
        or answered) holds it; None for any other meeting — and for another user's
        object that merely carries the booking's UID."""
        ...

    def customer_mail(self, connection: Connection, booking: Booked, message: ItipMessage,
                      calendar: Calendar, old: Calendar | None) -> OutgoingMail:
        """The mail to the booking's customer carrying ``message``."""
        ...

    def follow(self, connection: Connection, booking: Booked, stored: Calendar | None,
               old: Calendar | None = None, where: tuple[str, str] | None = None
               ) -> None:
        """The booking after the organizer's write (``stored`` None: deleted; ``old``:
        the version before it; ``where``: the collection and href it is stored at)."""
        ...


class Booked(Protocol):
    """A booking as the engine sees it: whose mails are the booking's."""

    @property
    def customer_address(self) -> str: ...


class WriteHold(Protocol):
    """The backend's hold of its write lock on this thread (None outside it): a
    transaction journals file changes only within the hold it began in
    (``db/session.py``'s ``write_hold``)."""

    def __call__(self) -> object | None: ...
