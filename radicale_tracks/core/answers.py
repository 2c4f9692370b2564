"""What the assistant writes in answer to mail: pure builders.

* :func:`received_message` — an iTIP calendar that arrived by mail, as the
  :class:`~radicale_tracks.core.itip.ItipMessage` the scheduling engine delivers (the same
  value a local organizer's write produces, so mail and CalDAV share one delivery path);
* :func:`declinecounter` — the answer to a COUNTER (RFC 5546 §3.2.8): the assistant
  keeps meetings, it does not move them on its own;
* :func:`shared_note` — a mail without calendar data sent to a track address, as the
  VJOURNAL members' clients show (RFC 5545 §3.6.3), attachments inline up to a limit.

Pure: callers pass ``now``, tokens and limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Component, Event, Journal, vCalAddress, vText
from icalendar.prop import vBinary

from radicale_tracks.core.addresses import as_uri, normalize_address
from radicale_tracks.core.itip import (
    ItipMessage,
    Method,
    attendees_of,
    build_message,
    first,
    main_components,
    sequence_of,
    serialize,
    sorted_instances,
    uid_of,
)

PRODID = "-//radicale-tracks//assistant//EN"


def received_message(calendar: Calendar, recipient: str, sender: str) -> ItipMessage:
    """``calendar`` (with METHOD) as a message from ``sender`` to ``recipient``."""
    method = Method(str(calendar.get("METHOD", "")).upper())
    components = main_components(calendar)
    if not components:
        found = [c for c in calendar.subcomponents if c.name not in ("VTIMEZONE",)]
        uid, sequence = (uid_of(found[0]), sequence_of(found[0])) if found else ("", 0)
    else:
        master = components.get(None) or next(iter(components.values()))
        uid, sequence = uid_of(master), sequence_of(master)
    return ItipMessage(method=method, recipient=normalize_address(recipient),
                       sender=normalize_address(sender), uid=uid, sequence=sequence,
                       instances=sorted_instances(components), significant=True,
                       changes=(), ics=serialize(calendar))


def declinecounter(counter: Calendar, organizer: str, sent_by: str | None,
                   now: datetime, comment: str) -> ItipMessage:
    """The DECLINECOUNTER for each instance a COUNTER proposed (RFC 5546 §3.2.8).

    ORGANIZER is the meeting's organizer (SENT-BY the track: the assistant answers on
    their behalf), ATTENDEE the proposer, UID/SEQUENCE/RECURRENCE-ID from the proposal.
    """
    components = main_components(counter)
    proposer = ""
    parts: list[Component] = []
    for component in components.values():
        reply = Event() if component.name == "VEVENT" else type(component)()
        reply.add("UID", uid_of(component))
        reply.add("DTSTAMP", now)
        reply.add("SEQUENCE", sequence_of(component))
        recurrence = first(component.get("RECURRENCE-ID"))
        if recurrence is not None:
            reply["RECURRENCE-ID"] = recurrence
        organizer_prop = vCalAddress(as_uri(normalize_address(organizer)))
        if sent_by:
            organizer_prop.params["SENT-BY"] = as_uri(normalize_address(sent_by))
        reply["ORGANIZER"] = organizer_prop
        for address, prop in attendees_of(component).items():
            proposer = proposer or address
            reply.add("ATTENDEE", prop)
        reply.add("COMMENT", comment)
        parts.append(reply)
    if not parts:
        raise ValueError("a COUNTER without VEVENT/VTODO has nothing to decline")
    return build_message(Method.DECLINECOUNTER, proposer, organizer, parts, [counter],
                         significant=True, changes=())


@dataclass(frozen=True)
class SharedFile:
    filename: str | None
    content_type: str
    data: bytes


def shared_note(*, uid: str, subject: str, text: str, sender: str, sender_name: str | None,
                files: Sequence[SharedFile], now: datetime, max_file_bytes: int,
                max_total_bytes: int) -> Calendar:
    """A VJOURNAL holding a mail shared into a track.

    Files beyond the limits are named in the description instead of attached, so the
    note says what was left out rather than silently dropping it.
    """
    journal = Journal()
    journal.add("UID", uid)
    journal.add("DTSTAMP", now)
    journal.add("DTSTART", now)
    journal.add("SUMMARY", subject or "(no subject)")
    organizer = vCalAddress(as_uri(normalize_address(sender)))
    if sender_name:
        organizer.params["CN"] = vText(sender_name)
    journal["ORGANIZER"] = organizer
    journal.add("CATEGORIES", ["Shared"])
    left_out: list[str] = []
    total = 0
    for index, shared in enumerate(files, 1):
        name = shared.filename or "attachment-%d" % index
        if len(shared.data) > max_file_bytes or total + len(shared.data) > max_total_bytes:
            left_out.append("%s (%d bytes)" % (name, len(shared.data)))
            continue
        total += len(shared.data)
        journal.add("ATTACH", vBinary(shared.data, {"FMTTYPE": shared.content_type,
                                                    "FILENAME": name}))
    description = text.strip()
    if left_out:
        description += ("\n\n" if description else "") + (
            "Not attached (over the size limit): %s" % ", ".join(left_out))
    if description:
        journal.add("DESCRIPTION", description)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add_component(journal)
    return calendar


__all__ = ["SharedFile", "declinecounter", "received_message", "shared_note"]
