"""A room's answer to an invitation delivered to it (by CalDAV or by mail).

The scheduling engine delivers to a room as to any user; before the room's copy is
written this module decides the answer by the room's policy (``core/booking.py``) on the
room's busy time from the index, and turns it into the room's copy (what the room's
calendar holds) and the REPLY to the organizer. For a local organizer that REPLY is
applied to their object before it is stored (:meth:`RoomBooking.answers_for`, the rooms'
stage of ``scheduling/organizer.py``) — one write, no second version for the client to
fetch; an organizer elsewhere is mailed it.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.booking import BookingDecision, booked_copy, decide_booking
from radicale_tracks.core.broker import attendee_messages
from radicale_tracks.core.itip import (
    ItipError,
    ItipMessage,
    Method,
    PartStat,
    main_components,
    parse_calendar,
    serialize,
)
from radicale_tracks.core.receipt import Outcome, apply_message
from radicale_tracks.core.scheduling import strip_schedule_parameters
from radicale_tracks.rooms.directory import Room, RoomDirectory
from radicale_tracks.scheduling.ports import RoomCalendars

if TYPE_CHECKING:
    from radicale_tracks.scheduling.plan import Delivery

logger = logging.getLogger("radicale.tracks.rooms")

#: how far ahead a series is checked for conflicts when the room sets no window
CONFLICT_HORIZON_DAYS = 366
#: most occurrences of one series checked
MAX_CHECKED_OCCURRENCES = 1000


@dataclass(frozen=True)
class RoomAnswer:
    room: Room
    decision: BookingDecision
    #: the room's copy with its answer; None when it declined the whole meeting (the
    #: room's calendar holds only what it accepted)
    copy: Calendar | None
    replies: tuple[ItipMessage, ...]
    outcome: Outcome


class RoomBooking:
    def __init__(self, configured: tuple[Room, ...], calendars: RoomCalendars,
                 clock: Callable[[], datetime.datetime]) -> None:
        self.configured = configured
        self.calendars = calendars
        self.clock = clock

    def directory(self, connection: Connection) -> RoomDirectory:
        """The rooms now (read per write: ``rooms add`` needs no restart)."""
        return RoomDirectory.load(connection, self.configured)

    def answer(self, room: Room, message: ItipMessage, stored: Calendar | None, *,
               authoritative: bool) -> RoomAnswer | None:
        """The answer of ``room`` if ``message`` is a REQUEST it takes; None otherwise
        (CANCEL, stale or unreadable messages: ordinary delivery). ``authoritative``: a
        local organizer's write, ordered by the writes (``core/receipt``); False for mail."""
        if message.method is not Method.REQUEST:
            return None
        try:
            receipt = apply_message(message.calendar(), stored, authoritative=authoritative)
        except ItipError:
            return None
        if receipt.calendar is None or receipt.outcome is Outcome.STALE:
            return None
        received = strip_schedule_parameters(receipt.calendar)
        now = self.clock()
        decision = self._decide(room, received, message.uid, int(now.timestamp()))
        booked = booked_copy(received, room.address, decision)
        replies = tuple(_with_comment(reply, decision.reason)
                        for reply in attendee_messages(received, booked, room.address, now))
        whole_declined = decision.partstat is PartStat.DECLINED
        logger.info("Room %s answers %s: %s (%s)", room.address, message.uid,
                    decision.partstat.value, decision.reason)
        return RoomAnswer(room, decision, None if whole_declined else booked, replies,
                          receipt.outcome)

    def answers_for(self, connection: Connection, deliveries: Iterable[Delivery],
                    base: Calendar) -> tuple[Calendar, dict[str, RoomAnswer]]:
        """The rooms' answers (principal → answer) to a local organizer's meeting
        ``base``, applied to it before it is stored: the organizer's client gets one
        version, with the rooms' PARTSTATs."""
        answers: dict[str, RoomAnswer] = {}
        local = [d for d in deliveries if d.recipient.kind == "local" and d.recipient.user]
        directory = self.directory(connection) if local else None
        for delivery in local:
            user = delivery.recipient.user
            assert user is not None and directory is not None
            room = directory.by_principal(user)
            if room is None:
                continue
            stored = parse_calendar(delivery.existing.text) if delivery.existing else None
            answer = self.answer(room, delivery.message, stored, authoritative=True)
            if answer is None:
                continue
            answers[user] = answer
            for reply in answer.replies:
                try:
                    receipt = apply_message(reply.calendar(), base)
                except ItipError as e:
                    logger.warning("Answer of room %s not applied: %s", user, e)
                    continue
                if receipt.calendar is not None:
                    base = receipt.calendar
        return base, answers

    def _decide(self, room: Room, meeting: Calendar, uid: str, now: int) -> BookingDecision:
        policy = room.policy
        days = policy.window_days or CONFLICT_HORIZON_DAYS
        # one day past the window, so that an occurrence just beyond it is seen
        until = now + (days + 1) * 86400
        occurrences, complete = self.calendars.occurrences(
            serialize(meeting), now, until, MAX_CHECKED_OCCURRENCES)
        occurrences = [(s, e) for s, e in occurrences if e > now and s < until]
        recurring = any(component.get("RRULE") is not None or component.get("RDATE")
                        is not None for component in main_components(meeting).values())
        if recurring and not complete and policy.window_days is None:
            complete = True   # endless series: checked over the horizon, as Exchange does
        busy = []
        if occurrences:
            last_end = max(end for _, end in occurrences)
            busy = self.calendars.busy_intervals(room.principal, now, last_end, uid)
        return decide_booking(policy, occurrences, busy, now, complete=complete,
                              recurring=recurring)


def _with_comment(reply: ItipMessage, reason: str) -> ItipMessage:
    """The REPLY with the room's reason as COMMENT (RFC 5546 §3.2.3 allows one)."""
    calendar = parse_calendar(reply.ics)
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            component.pop("COMMENT", None)
            component.add("COMMENT", reason)
    return dataclasses.replace(reply, ics=serialize(calendar))
