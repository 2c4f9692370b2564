"""The users' calendars and inboxes on Radicale's storage: the scheduling engine's port.

Implements :class:`~radicale_tracks.scheduling.ports.SchedulingCalendars` (and the rooms'
:class:`~radicale_tracks.scheduling.ports.BusyTime`) on the file backend, typed against
its protocols (``calendar_store.py``). Called inside the storage write lock of the
client's request. Every write goes through ``upload_indexed``: indexed in the same
transaction, and never scheduled again (these are the server's writes, not a client's).
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from radicale import pathutils

from radicale_tracks.plugin.calendar_store import CalendarStore, StoredCalendar
from radicale_tracks.plugin.schedule_boxes import (
    ensure_boxes,
    inbox_path,
    is_schedule_box,
    remove_message,
)
from radicale_tracks.plugin.track_calendars import item_from_text
from radicale_tracks.rooms.directory import configured_rooms
from radicale_tracks.scheduling.ports import StoredObject

DEFAULT_CALENDAR = "calendar"
#: the inbox's property remembering the user's default calendar (its path, "/alice/work/")
DEFAULT_CALENDAR_PROPERTY = "C:schedule-default-calendar-URL"
_SAFE_HREF = re.compile(r"^[A-Za-z0-9@._-]{1,120}$")


class StorageSchedulingCalendars:
    """The scheduling engine's and the rooms' port on the file backend."""

    def __init__(self, storage: CalendarStore) -> None:
        self.storage = storage

    # -- users ----------------------------------------------------------------------

    def user_exists(self, user: str) -> bool:
        """A user exists once they logged in (their principal folder is there) or when
        the admin listed their addresses; the assistant principal is nobody's calendar."""
        if not pathutils.is_safe_filesystem_path_component(user) or (
                user == self.storage.settings.assistant_principal):
            return False
        if self.storage.exists("/%s/" % user):
            return True
        return any(user == listed for listed, _ in self.storage.settings.addresses) or any(
            user == room.principal
            for room in configured_rooms(self.storage.settings))

    def user_of_uri(self, uri: str) -> str | None:
        """``/bob/`` or ``https://host/bob/`` (the principal URL, RFC 6638 §2.4.1)."""
        path = unquote(urlsplit(uri).path) if "://" in uri else unquote(uri)
        parts = [p for p in path.split("/") if p]
        if len(parts) != 1:
            return None
        return parts[0] if self.user_exists(parts[0]) else None

    # -- objects --------------------------------------------------------------------

    def calendars_of(self, user: str) -> list[StoredCalendar]:
        found: list[StoredCalendar] = []
        for collection in self.storage.collections_in("/%s/" % user):
            if collection.tag != "VCALENDAR":
                continue
            name = collection.path.partition("/")[2]
            if name and "/" not in name and not is_schedule_box(name):
                found.append(collection)
        return sorted(found, key=lambda c: c.path)

    def find_object(self, user: str, uid: str) -> StoredObject | None:
        return next(self._objects_with_uid(user, uid), None)

    def copy_elsewhere(self, user: str, uid: str, path: str, href: str
                       ) -> StoredObject | None:
        """The user's scheduling object ``uid`` anywhere but ``path``/``href``. Calendar
        programs move an event to another calendar by writing the copy and deleting the
        original (Thunderbird, apps on Android): the copy is the same meeting, not a new
        one, and the delete no cancellation (RFC 6638 §3.2.4.1 lets a server refuse the
        copy instead; this one follows the client). Asked on every new scheduling
        object, so the index is asked first and only a calendar holding the UID is
        opened (and, in a write hold of the database store, locked)."""
        for found_path, found_href in self.storage.index.find_uid_of_user(user, uid):
            if (found_path, found_href) == (path, href) or is_schedule_box(
                    found_path.partition("/")[2]):
                continue
            calendar = self.storage.calendar("/%s/" % found_path)
            item = calendar.item(found_href) if calendar is not None and (
                calendar.tag == "VCALENDAR") else None
            if item is not None and "ORGANIZER" in item.serialize():
                return StoredObject(found_path, found_href, item.serialize(), item.etag)
        return None

    def _objects_with_uid(self, user: str, uid: str) -> Iterator[StoredObject]:
        calendars = {c.path: c for c in self.calendars_of(user)}
        for collection in calendars.values():
            collection.sync_index_if_folder_changed()
        for path, href in self.storage.index.find_uid(calendars, uid):
            item = calendars[path].item(href)
            if item is not None:
                yield StoredObject(path, href, item.serialize(), item.etag)

    def event_calendars(self, user: str) -> list[str]:
        """The paths of the user's calendars that take events, by name."""
        found = []
        for collection in self.calendars_of(user):
            components = collection.meta("C:supported-calendar-component-set")
            if not components or "VEVENT" in str(components).split(","):
                found.append(collection.path)
        return found

    def existing_default(self, user: str) -> str | None:
        """The user's default calendar (RFC 6638 §9.2): the one remembered on their
        inbox — the first one new meetings went to, or the one their client chose —
        while it takes events; else the first by name."""
        paths = self.event_calendars(user)
        remembered = self.remembered_default(user)
        return remembered if remembered in paths else (paths[0] if paths else None)

    def remembered_default(self, user: str) -> str | None:
        inbox = self.storage.calendar(inbox_path(user))
        value = inbox.meta(DEFAULT_CALENDAR_PROPERTY) if inbox is not None else None
        return value.strip("/") if value else None

    def remember_default(self, user: str, path: str | None) -> None:
        """Keep ``path`` as the user's default calendar (None: forget it, the first by
        name counts again). Under the write lock."""
        ensure_boxes(self.storage, user)
        inbox = self.storage.calendar(inbox_path(user))
        if inbox is not None and self.remembered_default(user) != path:
            inbox.set_property(DEFAULT_CALENDAR_PROPERTY,
                               "/%s/" % path.strip("/") if path else None)

    def default_calendar(self, user: str) -> str:
        """The user's default calendar, created when they have none that takes events,
        and remembered: a calendar made later (an "Archive") never takes its place."""
        path = self.existing_default(user)
        if path is None:
            ensure_boxes(self.storage, user)
            made = "/%s/%s/" % (user, DEFAULT_CALENDAR)
            if not self.storage.exists(made):
                self.storage.create_collection(made, props={
                    "tag": "VCALENDAR", "D:displayname": "Calendar",
                    "C:supported-calendar-component-set": "VEVENT,VTODO"})
            path = made.strip("/")
        self.remember_default(user, path)
        return path

    def collection(self, path: str) -> StoredCalendar:
        found = self.storage.calendar("/%s/" % path.strip("/"))
        if found is None:
            raise LookupError("collection /%s/ is missing" % path.strip("/"))
        return found

    def write_object(self, collection_path: str, href: str, text: str) -> None:
        collection = self.collection(collection_path)
        collection.upload_indexed(href, item_from_text(collection.path, text))

    def new_href(self, uid: str) -> str:
        if _SAFE_HREF.match(uid) and pathutils.is_safe_filesystem_path_component(uid):
            return uid + ".ics"
        return secrets.token_hex(16) + ".ics"

    def remove_object(self, collection_path: str, href: str) -> None:
        self.collection(collection_path).delete_indexed(href)

    # -- rooms ----------------------------------------------------------------------

    def busy_intervals(self, user: str, start: int, end: int, exclude_uid: str
                       ) -> list[tuple[int, int]]:
        """Busy time of ``user`` from the index (Radicale's free-busy semantics), without
        the object ``exclude_uid`` — a meeting never conflicts with itself."""
        calendars = {c.path: c for c in self.calendars_of(user)}
        excluded: dict[str, set[str]] = {}
        for path, href in self.storage.index.find_uid(calendars, exclude_uid):
            excluded.setdefault(path, set()).add(href)
        window = (datetime.datetime.fromtimestamp(start, datetime.UTC),
                  datetime.datetime.fromtimestamp(end, datetime.UTC))
        found: list[tuple[int, int]] = []
        for path, collection in calendars.items():
            # an event that cannot be expanded counts as busy where it spans (and is
            # logged): the room declines rather than the invitation failing
            for begin, finish, fbtype in collection.free_busy(
                    *window, 0, exclude=frozenset(excluded.get(path, ())), estimates=[]):
                if fbtype.upper() != "FREE":
                    found.append((int(begin.timestamp()), int(finish.timestamp())))
        return found

    def occurrences(self, text: str, start: int, end: int, limit: int
                    ) -> tuple[list[tuple[int, int]], bool]:
        """Occurrences the index would record for ``text`` expanded over [start, end)."""
        from radicale_tracks.index.extract import TIMESTAMP_MAX, Expansion, extract_entry

        entry = extract_entry(item_from_text("", text), Expansion(start, end, limit))
        return ([(o.start, o.end) for o in entry.occurrences],
                entry.covered_until >= TIMESTAMP_MAX)

    # -- inbox ----------------------------------------------------------------------

    def deliver(self, user: str, text: str) -> str:
        """An iTIP message into ``user``'s inbox; the oldest go beyond the limit."""
        ensure_boxes(self.storage, user)
        found = self.storage.calendar(inbox_path(user))
        if found is None:
            # this process made it, someone deleted it since (another node, a client
            # deleting the principal): what it remembers is no longer so
            self.storage.boxes_ready.discard(user)
            ensure_boxes(self.storage, user)
        inbox = self.collection(inbox_path(user))
        href = secrets.token_hex(16) + ".ics"
        inbox.upload_indexed(href, item_from_text(inbox.path, text))
        self._trim(inbox)
        return href

    def _trim(self, inbox: StoredCalendar) -> None:
        limit = self.storage.settings.inbox_max_items
        names = [n for n in inbox.by_age() if n.endswith(".ics")]
        if len(names) <= limit:
            return
        for name in names[:len(names) - limit]:
            remove_message(inbox, name)
