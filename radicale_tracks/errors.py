"""One root exception for the project; subclasses carry what an adapter needs to report.

Adapters translate these once, at the edge (CLI message and exit code, HTTP status).
"""

from __future__ import annotations


class TracksError(Exception):
    """Root of every error radicale-tracks raises on purpose."""


class ConfigurationError(TracksError):
    """A configuration value is missing or invalid; the message names option and value."""


class SchemaOutdatedError(TracksError):
    """The database schema is older than this code; ``radicale-tracks db upgrade`` fixes it."""

    def __init__(self, found: str | None, expected: str) -> None:
        super().__init__(
            "database schema is at revision %s, this version needs %s: run "
            "'radicale-tracks --config FILE db upgrade'" % (found or "(none)", expected))
        self.found = found
        self.expected = expected


class WriteRefused(TracksError):
    """A client's write refused by a check made under the storage's write lock, where the
    decision and the write are one step; the application answers it (never plain
    Radicale, which is not told to check)."""


class ScheduleTagMismatch(WriteRefused):
    """If-Schedule-Tag-Match names another tag than the object's current one (RFC 6638
    §3.2.10): 412."""


class AttendeeChangeRefused(WriteRefused):
    """An attendee's write that no merge can make theirs (another ORGANIZER, RFC 6638
    §3.2.2.1): 403 ``allowed-attendee-scheduling-object-change``; the message says why."""


class ResourceTooLarge(TracksError, ValueError):
    """An object the server was about to store is larger than a CalDAV PUT may store
    (``[server] max_resource_size``): whatever path it came by (mail, a copy for an
    attendee or a track, a client's object the server grew), it would be one no client
    could have written. A :class:`ValueError`, because that is what Radicale answers a
    refused upload with (400) under plain ``radicale`` with only the storage plugin."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            "the calendar object is %d characters; this server stores objects of at most "
            "%d (max_resource_size)" % (size, limit))
        self.size = size
        self.limit = limit


class ResourceTooLargeRefused(WriteRefused):
    """A client's write the server would have stored larger than ``max_resource_size``
    (time zones defined, SCHEDULE-STATUS, a copy or message for an attendee): refused,
    nothing stored or sent — 403 ``CALDAV:max-resource-size`` (RFC 4791 §5.3.2.1) with
    the sentence of the :class:`ResourceTooLarge` it carries."""
