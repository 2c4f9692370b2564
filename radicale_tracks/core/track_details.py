"""What the assistant writes into calendar objects: the organizer's event and track copies.

The organizer's stored event gets the assistant's answer (PARTSTAT, RFC 6638 §3.2.9
SCHEDULE-STATUS) and the meeting details: the track link (URL), the join link
(RFC 7986 CONFERENCE) and a short appendix at the end of DESCRIPTION. All of it is
*replaced*, never appended again, so an edited and re-saved event carries one copy; none
of it is a "significant" property, so writing it never causes another round of
scheduling.

Pure: works on ``icalendar`` objects and returns new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from icalendar import Calendar, vCalAddress, vUri

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import SCHEDULED_COMPONENTS, as_list
from radicale_tracks.core.leniency import drop_unaddressable_attendees

#: First line of the DESCRIPTION appendix; everything from it to the end is ours.
APPENDIX_MARKER = "-- Track --"
#: The property naming the track an organizer's event belongs to (its slug).
TRACK_PROPERTY = "X-TRACKS-TRACK"


@dataclass(frozen=True)
class TrackDetails:
    slug: str
    title: str
    track_url: str
    track_address: str
    join_url: str | None


def copy_calendar(calendar: Calendar) -> Calendar:
    return Calendar.from_ical(calendar.to_ical())


def appendix(details: TrackDetails) -> str:
    lines = [APPENDIX_MARKER, "Track: %s" % details.title, details.track_url,
             "Invite this track next time: %s" % details.track_address]
    if details.join_url:
        lines.append("Join: %s" % details.join_url)
    return "\n".join(lines)


def strip_appendix(description: str) -> str:
    """The description without our appendix (and the blank line before it)."""
    index = description.find(APPENDIX_MARKER)
    if index < 0:
        return description
    return description[:index].rstrip("\n").rstrip()


def with_track_details(calendar: Calendar, details: TrackDetails) -> Calendar:
    """The organizer's object with the meeting details written (idempotently)."""
    result = copy_calendar(calendar)
    for component in result.subcomponents:
        if component.name not in SCHEDULED_COMPONENTS:
            continue
        own = str(component.get("DESCRIPTION", ""))
        base = strip_appendix(own)
        component.pop("DESCRIPTION", None)
        component.add("DESCRIPTION", (base + "\n\n" if base else "") + appendix(details))
        url = component.get("URL")
        previous = component.get(TRACK_PROPERTY)
        if url is None or str(url) == details.track_url or previous is not None:
            component.pop("URL", None)
            component.add("URL", vUri(details.track_url))
        component.pop(TRACK_PROPERTY, None)
        component.add(TRACK_PROPERTY, details.slug)
        kept = [c for c in as_list(component.get("CONFERENCE"))
                if not (hasattr(c, "params") and c.params.get("X-TRACKS") == "TRUE")]
        component.pop("CONFERENCE", None)
        for conference in kept:
            component.add("CONFERENCE", conference)
        if details.join_url:
            component.add("CONFERENCE", vUri(details.join_url), parameters={
                "VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Join", "X-TRACKS": "TRUE"})
    return result


def set_attendee_status(calendar: Calendar, address: str, *, partstat: str | None,
                        schedule_status: str | None) -> Calendar:
    """Set PARTSTAT and/or SCHEDULE-STATUS of one attendee wherever it appears."""
    result = copy_calendar(calendar)
    wanted = normalize_address(address)
    for component in result.subcomponents:
        if component.name not in SCHEDULED_COMPONENTS:
            continue
        for attendee in as_list(component.get("ATTENDEE")):
            if normalize_address(str(attendee)) != wanted:
                continue
            if partstat is not None:
                attendee.params["PARTSTAT"] = partstat
                attendee.params.pop("RSVP", None)
            if schedule_status is not None:
                attendee.params["SCHEDULE-STATUS"] = schedule_status
    return result


def track_copy(calendar: Calendar, is_assistant_side: Callable[[str], bool]) -> Calendar:
    """The assistant's copy of a meeting, as members see it in the track.

    Alarms are personal and SCHEDULE-STATUS is the organizer's bookkeeping: both go.
    The assistant's own attendee line says it accepted. METHOD goes (a stored object).
    An ATTENDEE without a usable address goes too (the organizer was told).
    """
    result = copy_calendar(calendar)
    result.pop("METHOD", None)
    for component in result.subcomponents:
        if component.name not in SCHEDULED_COMPONENTS:
            continue
        component.subcomponents = [c for c in component.subcomponents
                                   if c.name != "VALARM"]
        drop_unaddressable_attendees(component)
        for attendee in as_list(component.get("ATTENDEE")):
            if not isinstance(attendee, vCalAddress):
                continue
            attendee.params.pop("SCHEDULE-STATUS", None)
            attendee.params.pop("SCHEDULE-FORCE-SEND", None)
            if is_assistant_side(str(attendee)):
                attendee.params["PARTSTAT"] = "ACCEPTED"
                attendee.params.pop("RSVP", None)
    return result


def with_sent_by(ics: str, sent_by: str) -> str:
    """An organizer's iTIP message as sent on their behalf (RFC 5545 §3.2.18 SENT-BY)."""
    calendar = Calendar.from_ical(ics)
    for component in calendar.subcomponents:
        organizer = component.get("ORGANIZER")
        if component.name in SCHEDULED_COMPONENTS and isinstance(organizer, vCalAddress):
            organizer.params["SENT-BY"] = "mailto:" + sent_by
    return str(calendar.to_ical().decode("utf-8"))
