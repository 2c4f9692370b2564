"""The stages of an organizer's write (RFC 6638 §3.2), each a value in, a value out.

:meth:`Scheduler._organizer <radicale_tracks.scheduling.engine.Scheduler>` runs them in
order:

1. :func:`messages_to_send` — the broker's REQUEST/CANCEL per attendee (none for a
   version older than the stored one);
2. ``plan_deliveries`` (``scheduling/plan.py``) — who gets what, the statuses so far;
3. :func:`with_assistant` — the assistant answers its messages; attendees get the
   meeting as it will be stored, with its answer and the track's details;
4. :func:`with_rooms` — rooms here answer by policy, their answers in the meeting;
5. :func:`to_store` — the organizer's object with every SCHEDULE-STATUS;
6. delivery (``scheduling/delivery.py``) and mail (``scheduling/mails.py``).

Each stage answers an :class:`OrganizerMeeting` (or the object to store) for the next,
so it can be run and checked alone.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.itip import ItipMessage
from radicale_tracks.core.scheduling import with_schedule_status
from radicale_tracks.scheduling.plan import OrganizerPlan, kept_statuses, older

if TYPE_CHECKING:
    from radicale_tracks.scheduling.rooms import RoomAnswer, RoomBooking
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.scheduling")


@dataclass(frozen=True)
class OrganizerMeeting:
    """The meeting as it will be stored, and the plan that goes with it."""

    #: the organizer's object to store (None: deleted)
    base: Calendar | None
    plan: OrganizerPlan
    #: who got the organizer's iTIP message inside the assistant's mail already
    mailed_by_assistant: frozenset[str] = frozenset()
    #: room principal → its answer, for the rooms here that answered
    room_answers: Mapping[str, RoomAnswer] = field(default_factory=dict)


def messages_to_send(old: Calendar | None, new: Calendar | None, addresses: frozenset[str],
                     now: datetime.datetime, path: str) -> list[ItipMessage]:
    """The broker's messages for the change ``old`` → ``new``; none when an offline
    client wrote back an older version: stored as written (a PUT is a PUT), but nobody
    is sent a version older than the one they have."""
    if older(new, old):
        logger.info("Not scheduled: %s has a lower SEQUENCE than the stored version", path)
        return []
    return organizer_messages(old, new, addresses, now)


def with_assistant(assistant: Assistant | None, connection: Connection, owner: str,
                   source_path: str, old: Calendar | None, new: Calendar | None,
                   plan: OrganizerPlan, addresses: frozenset[str], now: datetime.datetime,
                   mailed_elsewhere: frozenset[str] = frozenset()) -> OrganizerMeeting:
    """The assistant's stage: it handles the change (tracks, copies, its mails) and
    may answer the organizer's object to store; then attendees get the meeting as
    stored — the assistant's answer and the track's details included.
    ``mailed_elsewhere``: who hears about the meeting in a booking's own words (its
    customer), never in the track's."""
    if assistant is None:
        return OrganizerMeeting(new, plan)
    from radicale_tracks.tracks.assistant import OrganizerChange

    captured: list[Calendar | None] = []
    mailed = assistant.handle_organizer_change(
        connection, OrganizerChange(user=owner, source_path=source_path, old=old, new=new,
                                    mailed_elsewhere=mailed_elsewhere),
        captured.append, local_recipients=plan.local_recipients)
    if not captured or captured[0] is None:
        return OrganizerMeeting(new, plan, mailed)
    base = captured[0]
    return OrganizerMeeting(base, plan.resent(organizer_messages(old, base, addresses, now)),
                            mailed)


def with_rooms(rooms: RoomBooking | None, connection: Connection, old: Calendar | None,
               meeting: OrganizerMeeting, addresses: frozenset[str], now: datetime.datetime
               ) -> OrganizerMeeting:
    """The rooms' stage: rooms here answer by policy (``scheduling/rooms.py``); their
    answers go into the meeting, and the others see them in the meeting they get."""
    if meeting.base is None or rooms is None:
        return meeting
    base, answers = rooms.answers_for(connection, meeting.plan.deliveries, meeting.base)
    plan = meeting.plan
    if answers:
        plan = plan.resent(organizer_messages(old, base, addresses, now), keep_users=answers)
    return replace(meeting, base=base, plan=plan, room_answers=answers)


@dataclass(frozen=True)
class ToStore:
    """The store stage's answer."""

    #: the object to store; None: as the client sent it
    calendar: Calendar | None
    #: recipient → SCHEDULE-STATUS, as the stored object says
    statuses: dict[str, str]


def to_store(meeting: OrganizerMeeting, old: Calendar | None, sent: Calendar | None,
             is_assistant_side: Callable[[str], bool]) -> ToStore:
    """The organizer's object with the SCHEDULE-STATUS of every attendee (the engine's,
    and those the client or the assistant set, §7.1); stored as sent when that is what
    the client sent, so its ETag stays the one it has."""
    statuses = dict(meeting.plan.statuses)
    if meeting.base is None:
        return ToStore(None, statuses)
    statuses.update(kept_statuses(meeting.base, is_assistant_side))
    stored = with_schedule_status(meeting.base, statuses, old)
    return ToStore(None if sent is not None and stored.to_ical() == sent.to_ical()
                   else stored, statuses)
