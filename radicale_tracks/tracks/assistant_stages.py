"""The assistant's answers as values: what it applies, stores and keeps for one change.

Pure stages of ``Assistant.handle_organizer_change``, each checkable on vectors alone:
the broker's messages to the assistant applied to the track's copy
(:func:`apply_all`), the organizer's object with the assistant's answer and the track's
details (:func:`organizer_version`), and the track's copy to write
(:func:`track_copy_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from icalendar import Calendar

from radicale_tracks.core.itip import ItipMessage, PartStat
from radicale_tracks.core.receipt import Outcome, Receipt, apply_message, keep_organizer_stamps
from radicale_tracks.core.track_details import (
    TrackDetails,
    set_attendee_status,
    track_copy,
    with_track_details,
)

#: RFC 6638 §3.2.9 / RFC 5546 §3.6 request-status codes the assistant writes.
DELIVERED = "1.2"
INVALID_USER = "3.7"


def apply_all(messages: list[ItipMessage], existing: Calendar | None) -> Receipt:
    """Every message the broker made for the assistant's address, applied in order.

    One change can make both a CANCEL (occurrences removed by EXDATE) and a REQUEST
    (the series with its new RDATEs): applying only the first would lose the rest.
    The outcome is the first applied message's unless a later one updated the copy; a
    stale or ignored message leaves the copy to the next one.

    The messages are the broker's, made here from the organizer's write (a CalDAV PUT
    under the write lock, or a mail already judged newer by ``tracks/mailed``): they
    are applied as authoritative (``core/receipt``), so two writes within one second
    both reach the track copy.
    """
    receipt = apply_message(messages[0].calendar(), existing, authoritative=True)
    for later in messages[1:]:
        if receipt.calendar is None:
            receipt = apply_message(later.calendar(), existing, authoritative=True)
            continue
        following = apply_message(later.calendar(), receipt.calendar, authoritative=True)
        if following.calendar is None:
            continue
        outcome = (following.outcome if following.outcome in (Outcome.UPDATED,
                                                               Outcome.CANCELLED)
                   else receipt.outcome)
        receipt = Receipt(outcome, following.calendar,
                          "%s; %s" % (receipt.reason, following.reason),
                          tuple(dict.fromkeys(receipt.instances + following.instances)),
                          receipt.significant or following.significant,
                          tuple(dict.fromkeys(receipt.changes + following.changes)))
    return receipt


def with_refusals(calendar: Calendar, refused: Iterable[str]) -> Calendar:
    """``calendar`` with SCHEDULE-STATUS 3.7 on each refused track address: the
    organizer's client shows that nobody took it."""
    for address in refused:
        calendar = set_attendee_status(calendar, address, partstat=None,
                                       schedule_status=INVALID_USER)
    return calendar


def organizer_version(new: Calendar, assistant_address: str, refused: Iterable[str],
                      details: TrackDetails) -> Calendar:
    """The organizer's object as stored: the assistant's address ACCEPTED (delivered),
    refused track addresses 3.7, and the track's details (links, join URL)."""
    updated = set_attendee_status(new, assistant_address, partstat=PartStat.ACCEPTED.value,
                                  schedule_status=DELIVERED)
    return with_track_details(with_refusals(updated, refused), details)


def track_copy_of(applied: Calendar, details: TrackDetails,
                  is_assistant_side: Callable[[str], bool], received: Calendar | None
                  ) -> Calendar:
    """The track's copy of the meeting the messages were applied to: with the track's
    details, without the assistant's own bookkeeping (``track_copy``). ``received``
    (mail from an organizer elsewhere): the message applied was re-authored here
    (DTSTAMP now), so the copy keeps the organizer's own SEQUENCE and DTSTAMP — what
    their next message is compared with."""
    copy = track_copy(with_track_details(applied, details), is_assistant_side)
    if received is not None:
        copy = keep_organizer_stamps(copy, received)
    return copy


def activity_kind(outcome: Outcome, creating: bool) -> str:
    """The activity line's kind for what the assistant did with a change."""
    return {Outcome.CREATED: "created" if creating else "added",
            Outcome.UPDATED: "updated", Outcome.CANCELLED: "cancelled",
            Outcome.INSTANCE_CANCELLED: "instance-cancelled",
            Outcome.REPLY_APPLIED: "reply"}.get(outcome, outcome.value)
