"""Who hears what about a change the assistant followed: the track's mails, decided.

The assistant's last stage before rendering (``Assistant.handle_organizer_change``):
from what it did with one organizer change — a :class:`TrackChange` — the mails to the
organizer (the track's news, never her own change back) and to the participants (what
changed, for the occurrence that changed), each in the recipient's zone. The decision is
a value (:class:`PlannedMail`); rendering and queueing are the assistant's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from icalendar import Calendar

from radicale_tracks.core.broker import build_reply, focused_changes
from radicale_tracks.core.itip import (
    InstanceKey,
    ItipMessage,
    Method,
    PartStat,
    attendees_of,
    hides_attendees,
    main_components,
    unaddressable_attendees,
)
from radicale_tracks.core.receipt import Outcome, Receipt
from radicale_tracks.core.summaries import describe_instance, describe_update, meeting_facts
from radicale_tracks.core.track_details import TrackDetails, track_copy, with_sent_by
from radicale_tracks.tracks.store import Track


@dataclass(frozen=True)
class PlannedMail:
    """One mail decided, rendered at the end (when the track's id is known)."""

    kind: str
    recipient: str
    name: str | None
    context: dict[str, Any]
    itip: str | None = None
    method: str | None = None


@dataclass(frozen=True)
class People:
    """What the decision asks about addresses (the assistant answers from its address
    book and the users' calendars)."""

    is_assistant_side: Callable[[str], bool]
    #: the user here an address belongs to, if any
    local_user: Callable[[str], str | None]
    #: the zone mails to an address show times in (None: the event's own)
    zone_for: Callable[[str], str | None]


@dataclass(frozen=True)
class TrackChange:
    """What the assistant did with one organizer change, as its mails tell it."""

    track: Track
    details: TrackDetails
    feed_url: str
    #: the message to the assistant's address that was acted on
    message: ItipMessage
    #: every message the broker made for the change (also to the participants)
    messages: tuple[ItipMessage, ...]
    receipt: Receipt
    old: Calendar | None
    new: Calendar | None
    #: the organizer's calendar is elsewhere: it invites its participants itself
    external: bool
    #: the track's copy as written
    copy: Calendar
    organizer: str
    organizer_name: str | None
    new_members: frozenset[str]
    creating: bool
    new_meeting: bool
    #: users here whom scheduling delivered the invitation to already
    local_recipients: frozenset[str] = frozenset()
    #: rooms and resources: their invitation is scheduling's, never a track's mail
    resources: frozenset[str] = frozenset()
    #: a booking's customer: the booking's mails tell them, never a track's
    mailed_elsewhere: frozenset[str] = frozenset()


def decide_mails(change: TrackChange, people: People, now: datetime.datetime
                 ) -> list[PlannedMail]:
    """Who hears what about ``change``, each in their own zone.

    The organizer is not told about her own change: she gets the track's news
    (created, the meeting added, refused) and, when her calendar is elsewhere and the
    change was significant, the assistant's renewed acceptance; participants get what
    changed, for the occurrence that changed. Rooms and resources get their
    invitation from scheduling, never a track's mail."""
    mails: list[PlannedMail] = []
    track, details, organizer = change.track, change.details, change.organizer
    organizer_name, copy, receipt = change.organizer_name, change.copy, change.receipt
    track_facts = {"title": track.title, "url": details.track_url,
                   "address": details.track_address, "feed_url": change.feed_url}
    external = change.external
    base = {"track": track_facts, "organizer_name": organizer_name or organizer,
            "organizer_external": external}
    new_version = change.new or copy
    # attendees nobody can be reached at: named to the organizer, never dropped
    # without a word (CalDAV clients also see SCHEDULE-STATUS 3.7)
    not_reached = [u.describe() for u in unaddressable_attendees(change.new)
                   ] if change.new is not None else []
    known_unreached = {u.describe() for u in unaddressable_attendees(change.old)
                       } if change.old is not None else set()
    newly_unreached = [n for n in not_reached if n not in known_unreached]

    def add(kind: str, recipient: str, name: str | None, context: dict[str, Any],
            itip: str | None = None, method: str | None = None) -> None:
        mails.append(PlannedMail(kind, recipient, name, context, itip, method))

    def context(recipient: str, **extra: Any) -> dict[str, Any]:
        zone = people.zone_for(recipient)
        facts = dict(meeting_facts(copy, zone), join_url=details.join_url or "")
        return dict(base, meeting=facts, **extra)

    def update(recipient: str, changes: tuple[str, ...],
               instances: tuple[Any, ...]) -> dict[str, Any]:
        changes, instances = focus(people.is_assistant_side, change.old, new_version,
                                   changes, instances)
        zone = people.zone_for(recipient)
        instance, sentences = describe_update(change.old, new_version, changes,
                                              instances, zone)
        result = context(recipient, instance=instance, changes=sentences)
        if len(instances) == 1 and instances[0] is not None:
            # one occurrence changed: the mail shows that occurrence, not the series
            result["meeting"] = dict(meeting_facts(copy, zone, instances[0]),
                                     join_url=details.join_url or "")
        return result

    def cancelled(recipient: str, instances: tuple[Any, ...]) -> str:
        zone = people.zone_for(recipient)
        return ", ".join(describe_instance(key, copy, zone) for key in instances if key)

    per_recipient = {m.recipient: m for m in change.messages
                     if not people.is_assistant_side(m.recipient)
                     and m.recipient not in change.resources
                     and m.recipient not in change.mailed_elsewhere}
    local_recipients = change.local_recipients
    if external:
        # the organizer's own calendar invites, updates and cancels its participants:
        # the assistant only tells new members how to follow the track
        per_recipient = {r: m for r, m in per_recipient.items()
                         if r in change.new_members and m.method is not Method.CANCEL}
        local_recipients = frozenset(per_recipient)

    def itip_for(recipient: str, sent: ItipMessage) -> str | None:
        if recipient in local_recipients:
            return None  # delivered to their calendar by the server already
        return with_sent_by(sent.ics, details.track_address)

    names = {**attendee_names(change.old), **attendee_names(change.new)}
    hidden = _hidden_attendees(change.new)
    outcome = receipt.outcome
    reply: str | None = None
    if change.new is not None and outcome is not Outcome.CANCELLED:
        reply = build_reply(change.new, change.message.recipient, PartStat.ACCEPTED, now).ics
    if outcome is Outcome.CANCELLED or outcome is Outcome.INSTANCE_CANCELLED:
        keys = () if outcome is Outcome.CANCELLED else receipt.instances
        # the organizer's confirmation: the track shows it cancelled
        add("meeting_cancelled", organizer, organizer_name,
            context(organizer, instance=cancelled(organizer, keys), to_organizer=True))
        for recipient, sent in per_recipient.items():
            if sent.method is Method.CANCEL:
                itip = itip_for(recipient, sent)
                add("meeting_cancelled", recipient, names.get(recipient),
                    context(recipient, instance=cancelled(recipient, keys)),
                    itip, "CANCEL" if itip else None)
        return mails
    if (not change.creating and not change.new_meeting
            and set(receipt.changes) <= {"ATTENDEE"}
            and set(attendee_names(change.old)) == set(attendee_names(change.new))
            and not newly_unreached):
        return mails  # only replies (PARTSTAT) changed: the track copy follows, no mail
    if change.creating:
        add("track_created", organizer, organizer_name,
            context(organizer, not_reached=not_reached), reply, "REPLY")
    elif change.new_meeting:
        add("meeting_ready", organizer, organizer_name,
            context(organizer, not_reached=not_reached), reply, "REPLY")
    elif (external and receipt.significant) or newly_unreached:
        # her calendar elsewhere asks attendees to answer a significant change again:
        # the assistant accepted it and says so, with the REPLY her calendar reads;
        # someone newly invited without a usable address is named to her, wherever
        # her calendar is (a client here shows only SCHEDULE-STATUS 3.7)
        add("change_followed", organizer, organizer_name,
            dict(update(organizer, receipt.changes, receipt.instances),
                 not_reached=newly_unreached), reply if external else None,
            "REPLY" if external else None)
    for recipient, sent in per_recipient.items():
        itip = itip_for(recipient, sent)
        method = sent.method.value if itip else None
        if sent.method is Method.CANCEL:
            add("meeting_cancelled", recipient, names.get(recipient),
                context(recipient, instance=cancelled(recipient, sent.instances)),
                itip, method)
            continue
        local = people.local_user(recipient)
        subscribe = {"caldav_url": details.track_url if local else "",
                     "feed_url": "" if local else change.feed_url}
        if recipient in hidden:
            # the track lists everyone: no link to it for who may not see the others
            subscribe = {"caldav_url": "", "feed_url": ""}
        if recipient in change.new_members:
            add("member_added", recipient, names.get(recipient),
                context(recipient, subscribe=subscribe), itip, method)
        elif change.new_meeting:
            add("meeting_added", recipient, names.get(recipient), context(recipient),
                itip, method)
        else:
            add("meeting_changed", recipient, names.get(recipient),
                update(recipient, sent.changes, sent.instances), itip, method)
    return mails


def focus(is_assistant_side: Callable[[str], bool], old: Calendar | None, new: Calendar,
          changes: tuple[str, ...], instances: tuple[InstanceKey, ...]
          ) -> tuple[tuple[str, ...], tuple[InstanceKey, ...]]:
    """What the organizer changed, as members see the meeting (the assistant's own
    answer and delivery bookkeeping are not her change): ``focused_changes``."""
    if old is None:
        return changes, instances
    return focused_changes(track_copy(old, is_assistant_side),
                           track_copy(new, is_assistant_side), changes, instances)


def attendee_names(calendar: Calendar | None) -> dict[str, str | None]:
    """address → CN of every attendee in any component."""
    found: dict[str, str | None] = {}
    for component in main_components(calendar).values() if calendar is not None else ():
        for address, attendee in attendees_of(component).items():
            name = attendee.params.get("CN")
            if address not in found or name:
                found[address] = str(name) if name else found.get(address)
    return found


def _hidden_attendees(calendar: Calendar | None) -> frozenset[str]:
    """Attendees who may not see the others (a customer booked on their behalf)."""
    return frozenset(
        address for component in (main_components(calendar).values() if calendar else ())
        for address, attendee in attendees_of(component).items() if hides_attendees(attendee))
