"""Who on a meeting is a room or a resource rather than a person.

Rooms and resources answer invitations; they do not follow a track. The assistant keeps
them out of its members (no row, no mail, no feed link) and shows their answers instead.
An attendee is one when its ATTENDEE says so (RFC 5545 §3.2.3 ``CUTYPE=ROOM`` or
``RESOURCE``), or when the server knows the address as a room (its room directory,
``user_types``) — clients often leave CUTYPE out, and a room here is a room whatever
the client wrote.

Pure: reads ``icalendar`` objects.
"""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar

from radicale_tracks.core.itip import attendees_of, main_components, parameter

#: RFC 5545 §3.2.3 calendar user types that are no person
RESOURCE_TYPES = frozenset({"ROOM", "RESOURCE"})


def resources_of(calendar: Calendar | None, known: Iterable[str] = ()) -> frozenset[str]:
    """The attendees of ``calendar`` that are rooms or resources: by their CUTYPE in any
    instance, or because they are among ``known`` (normalised room addresses)."""
    if calendar is None:
        return frozenset()
    rooms = frozenset(known)
    found: set[str] = set()
    for component in main_components(calendar).values():
        for address, prop in attendees_of(component).items():
            if address in rooms or parameter(prop, "CUTYPE") in RESOURCE_TYPES:
                found.add(address)
    return frozenset(found)


__all__ = ["RESOURCE_TYPES", "resources_of"]
