"""The assistant's calendars on Radicale's storage: the ``TrackCalendars`` port.

Called inside the storage write lock of the organizer's request; writes go through the
storage plugin's own ``upload``, so track copies are indexed in the same transaction.
Typed against the backend's protocols (``calendar_store.py``): the storage builds this
port, so it does not import the storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import vobject
from radicale import item as radicale_item

from radicale_tracks.core.timezones import iana_zone

if TYPE_CHECKING:
    from radicale_tracks.plugin.calendar_store import (
        CalendarStore,
        StoredCalendar,
        UserCalendars,
    )


def item_from_text(collection_path: str, text: str) -> radicale_item.Item:
    """A prepared Radicale item from iCalendar text, as Radicale's PUT builds one."""
    vobject_item = vobject.readOne(text)
    item = radicale_item.Item(collection_path=collection_path, vobject_item=vobject_item)
    item.prepare()
    return item


class StorageTrackCalendars:
    """:class:`~radicale_tracks.scheduling.ports.TrackCalendars` on the file backend;
    users are the scheduling engine's (``users``: its calendars port)."""

    def __init__(self, storage: CalendarStore, users: UserCalendars) -> None:
        self.storage = storage
        self.users = users

    def path(self, slug: str) -> str:
        return "/%s/%s/" % (self.storage.settings.assistant_principal, slug)

    def collection(self, slug: str) -> StoredCalendar:
        found = self.storage.calendar(self.path(slug))
        if found is None or found.tag != "VCALENDAR":
            raise LookupError("track calendar %s is missing" % self.path(slug))
        return found

    def create_track_calendar(self, slug: str, title: str) -> None:
        self.storage.create_collection(self.path(slug), props={
            "tag": "VCALENDAR",
            "D:displayname": title,
            "C:calendar-description": "Meetings of the track \"%s\", kept by the "
                                      "assistant" % title,
            "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL",
        })

    def read_copy(self, slug: str, href: str) -> str | None:
        item = self.collection(slug).item(href)
        return item.serialize() if item is not None else None

    def write_copy(self, slug: str, href: str, ics: str) -> None:
        collection = self.collection(slug)
        collection.upload(href, item_from_text(collection.path, ics))

    def user_exists(self, user: str) -> bool:
        """The scheduling engine's rule: logged in once, or listed in ``addresses`` —
        such a member reads the track over CalDAV, not through the guest feed."""
        return self.users.user_exists(user)

    def user_zone(self, user: str) -> str | None:
        """The IANA zone of a user's first calendar that names one, or None (unknown:
        mails then show the event's own zone)."""
        for collection in self.users.calendars_of(user):
            text = collection.meta("C:calendar-timezone")
            for line in str(text or "").splitlines():
                if line.upper().startswith("TZID"):
                    zone = iana_zone(line.partition(":")[2].strip())
                    if zone:
                        return zone
        return None
