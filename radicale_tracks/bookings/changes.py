"""A booked meeting moved or cancelled: the holder's event as its organizer would write
it, so the change goes through the same scheduling path as a calendar program's.

Moved (RFC 5546 §2.1.4, a significant change): new DTSTART/DTEND in the event's own
zone, SEQUENCE up, and every attendee asked again (PARTSTAT NEEDS-ACTION, RSVP) but the
holder; the rooms are those the slot finder gave for the new time (a pool may give
another room). Cancelled: STATUS:CANCELLED on the master with SEQUENCE up, which the
broker sends as CANCEL to everyone (§3.2.5); the holder keeps the event, marked
cancelled, as calendar programs do. Pure: the caller passes "now".
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping

from icalendar import Calendar, vCalAddress, vText

from radicale_tracks.core.addresses import as_uri, normalize_address
from radicale_tracks.core.itip import attendees_of, main_components, master_of


class ChangeRefused(ValueError):
    """The event cannot be changed as asked (the words are for people)."""


def _bump(component: object, now: datetime.datetime) -> None:
    sequence = int(str(component.get("SEQUENCE", 0)) or 0)  # type: ignore[attr-defined]
    for name, value in (("SEQUENCE", sequence + 1), ("DTSTAMP", now.astimezone(datetime.UTC)),
                        ("LAST-MODIFIED", now.astimezone(datetime.UTC))):
        if name in component:  # type: ignore[operator]
            del component[name]  # type: ignore[attr-defined]
        component.add(name, value)  # type: ignore[attr-defined]


def moved_event(calendar: Calendar, start: int, end: int, rooms: Mapping[str, str],
                replaced_rooms: Collection[str], now: datetime.datetime) -> Calendar:
    """``calendar`` (a single booked meeting) at [start, end), with ``rooms``
    (address → name) instead of the rooms in ``replaced_rooms``."""
    components = main_components(calendar)
    master = master_of(calendar)
    if master is None or len(components) != 1 or "RRULE" in master or "RDATE" in master:
        raise ChangeRefused("this meeting repeats: change it in the calendar program "
                            "that holds it")
    old_start = master.decoded("DTSTART")
    if not isinstance(old_start, datetime.datetime):
        raise ChangeRefused("an all-day meeting cannot be moved to a time slot here")
    zone = old_start.tzinfo or datetime.UTC
    for name in ("DTSTART", "DTEND", "DURATION"):
        if name in master:
            del master[name]
    master.add("DTSTART", datetime.datetime.fromtimestamp(start, zone))
    master.add("DTEND", datetime.datetime.fromtimestamp(end, zone))
    organizer = master.get("ORGANIZER")
    holder = normalize_address(str(organizer)) if organizer is not None else ""
    replaced = {normalize_address(a) for a in replaced_rooms}
    kept = []
    for address, prop in attendees_of(master).items():
        if address in replaced and address not in rooms:
            continue
        if address != holder:
            prop.params["PARTSTAT"] = "NEEDS-ACTION"
            if "SCHEDULE-AGENT" not in prop.params:
                prop.params["RSVP"] = "TRUE"
            prop.params.pop("SCHEDULE-STATUS", None)
        kept.append(prop)
    present = {normalize_address(str(p)) for p in kept}
    for address, name in rooms.items():
        if normalize_address(address) in present:
            continue
        room = vCalAddress(as_uri(address))
        if name:
            room.params["CN"] = vText(name)
        room.params.update({"CUTYPE": "ROOM", "ROLE": "NON-PARTICIPANT",
                            "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
        kept.append(room)
    del master["ATTENDEE"]
    for prop in kept:
        master.add("ATTENDEE", prop)
    _bump(master, now)
    return calendar


def cancelled_event(calendar: Calendar, now: datetime.datetime) -> Calendar:
    """``calendar`` cancelled as a whole."""
    master = master_of(calendar)
    if master is None:
        raise ChangeRefused("the meeting is not in the calendar any more")
    if "STATUS" in master:
        del master["STATUS"]
    master.add("STATUS", "CANCELLED")
    _bump(master, now)
    return calendar
