"""The organizer's plan (RFC 6638 §3.2): who gets which message, and what each is told.

The first stage of scheduling an organizer's write, kept apart so it can be read and
tested on its own: the broker's messages in, a :class:`OrganizerPlan` out — the
deliveries to make, the messages the assistant handles, and the SCHEDULE-STATUS decided
so far per recipient (§3.2.9, §7.3). It knows the calendars only through the two
look-ups it is handed (who an address is, a user's copy of a UID), so it runs on plain
values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from icalendar import Calendar

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    ItipMessage,
    attendees_of,
    main_components,
    organizer_of,
    parameter,
    parse_calendar,
    sequence_of,
)
from radicale_tracks.scheduling.ports import StoredObject

logger = logging.getLogger("radicale.tracks.scheduling")

#: RFC 6638 §7.3 / RFC 5546 §3.6 request-status codes used as SCHEDULE-STATUS.
SENT = "1.1"        # sent (by mail): delivery not confirmed
DELIVERED = "1.2"   # delivered to a calendar user on this server
INVALID_USER = "3.7"
NO_AUTHORITY = "3.8"
DELIVERY_FAILED = "5.1"
NOT_SUPPORTED = "5.3"  # beyond the attendee limit: not scheduled by the server


class Recipient(NamedTuple):
    kind: str         # "local" | "assistant" | "external" | "invalid"
    user: str | None


class Delivery(NamedTuple):
    """One message to send: where to, and a local recipient's copy as found (looked up
    once, for the organizer check and for the update)."""

    message: ItipMessage
    recipient: Recipient
    existing: StoredObject | None = None


@dataclass(frozen=True)
class OrganizerPlan:
    """What an organizer's change sends, before anything is sent."""

    deliveries: tuple[Delivery, ...] = ()
    #: messages to the assistant or a track address: the assistant answers them
    to_assistant: tuple[ItipMessage, ...] = ()
    #: recipient → SCHEDULE-STATUS, for everyone a message was made for
    statuses: Mapping[str, str] = field(default_factory=dict)

    @property
    def local_recipients(self) -> frozenset[str]:
        """The addresses of users here: they get the message in their inbox and copy."""
        return frozenset(d.message.recipient for d in self.deliveries
                         if d.recipient.kind == "local")

    def resent(self, messages: Iterable[ItipMessage], keep_users: Collection[str] = ()
               ) -> OrganizerPlan:
        """The plan with each delivery's message made again from the meeting as it is
        stored (``messages``: the broker's for that version), but for the local users
        in ``keep_users``, whose message stays the one they answered."""
        again = {m.recipient: m for m in messages}
        return OrganizerPlan(tuple(
            d if d.recipient.user is not None and d.recipient.user in keep_users
            else d._replace(message=again.get(d.message.recipient, d.message))
            for d in self.deliveries), self.to_assistant, self.statuses)


Classify = Callable[[str], Recipient]
FindObject = Callable[[str, str], "StoredObject | None"]


def plan_deliveries(messages: Iterable[ItipMessage], classify: Classify,
                    find_object: FindObject, max_attendees: int) -> OrganizerPlan:
    """Who gets what: ``classify`` tells where an address leads, ``find_object`` finds
    a local user's copy of a UID. Past ``max_attendees`` (the assistant's side not
    counted) nobody is scheduled by the server (5.3); an address that leads nowhere gets
    3.7, a local copy that belongs to another organizer 3.8 (§3.2: only a meeting's
    organizer changes an attendee's copy)."""
    deliveries: list[Delivery] = []
    to_assistant: list[ItipMessage] = []
    statuses: dict[str, str] = {}
    counted = 0
    for message in messages:
        recipient = classify(message.recipient)
        if recipient.kind == "assistant":
            to_assistant.append(message)
            continue
        counted += 1
        if counted > max_attendees:
            statuses[message.recipient] = NOT_SUPPORTED
            continue
        if recipient.kind == "invalid":
            statuses[message.recipient] = INVALID_USER
            continue
        existing = None
        if recipient.kind == "local":
            assert recipient.user is not None
            existing = find_object(recipient.user, message.uid)
            if existing is not None and not organized_by(parse_calendar(existing.text),
                                                         message.sender):
                logger.warning("Not delivered to %s: %s is not the organizer of %s",
                               recipient.user, message.sender, message.uid)
                statuses[message.recipient] = NO_AUTHORITY
                continue
        statuses[message.recipient] = DELIVERED if recipient.kind == "local" else SENT
        deliveries.append(Delivery(message, recipient, existing))
    return OrganizerPlan(tuple(deliveries), tuple(to_assistant), statuses)


def organizer_of_copy(calendar: Calendar) -> str | None:
    """The ORGANIZER of a stored copy (its master, or its first instance)."""
    main = main_components(calendar)
    first_component = main.get(None) or next(iter(main.values()), None)
    return organizer_of(first_component) if first_component is not None else None


def organized_by(stored: Calendar | None, organizer: str) -> bool:
    """Whether a copy (None: there is none yet) is the meeting of ``organizer``: only
    a meeting's organizer changes an attendee's copy (RFC 6638 §3.2), and only a
    meeting's attendees answer the organizer's."""
    return stored is None or organizer_of_copy(stored) == normalize_address(organizer)


def older(new: Calendar | None, old: Calendar | None) -> bool:
    """Whether ``new``'s master (or first instance) has a lower SEQUENCE than ``old``'s."""
    if new is None or old is None:
        return False
    new_main, old_main = main_components(new), main_components(old)
    if not new_main or not old_main:
        return False
    new_first = new_main.get(None) or next(iter(new_main.values()))
    old_first = old_main.get(None) or next(iter(old_main.values()))
    return sequence_of(new_first) < sequence_of(old_first)


def kept_statuses(calendar: Calendar, is_assistant_side: Callable[[str], bool]
                  ) -> dict[str, str]:
    """SCHEDULE-STATUS set by someone else than the engine: the client's for attendees
    it schedules itself (§7.1), the assistant's for its own addresses."""
    found: dict[str, str] = {}
    for component in main_components(calendar).values():
        for address, prop in attendees_of(component).items():
            agent = parameter(prop, "SCHEDULE-AGENT")
            status = parameter(prop, "SCHEDULE-STATUS")
            if status and (agent in ("CLIENT", "NONE") or is_assistant_side(address)):
                found[address] = status
    return found
