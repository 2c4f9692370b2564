"""Delivery to users here: the inbox, the user's copy, its Schedule-Tag (RFC 6638 §3.2).

The last stage of scheduling, for every message that reaches a calendar user of this
server — from a local organizer's write, an attendee's answer, or mail from elsewhere.
An attendee's and an organizer's delivery take the one step :func:`apply_and_deliver`
(the message applied to the copy; a refused or stale one goes no further; the rest into
the inbox), then write the copy:

- a REQUEST or CANCEL into an attendee's calendar (:meth:`Deliveries.to_attendee`);
- a REPLY into the organizer's copy, which the other local attendees' copies follow
  (§3.2.2.1 "refresh", :meth:`Deliveries.reply`).

A room's delivery does not: the room applied the message when it answered
(``RoomBooking.answer``, which answers nothing for a refused or stale one), so
:meth:`Deliveries.to_room` puts it into the room's inbox, writes the room's copy as it
answered, and sends its REPLY to the organizer.

Server writes never schedule again (a server write is not a client write).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import ItipError, ItipMessage, all_attendees, parse_calendar
from radicale_tracks.core.receipt import Outcome, apply_message
from radicale_tracks.core.scheduling import (
    is_consequential,
    partstats_of,
    strip_schedule_parameters,
    with_partstats,
)
from radicale_tracks.scheduling import tags
from radicale_tracks.scheduling.plan import Classify, OrganizerPlan, organized_by
from radicale_tracks.scheduling.ports import (
    CalendarObjects,
    DefaultCalendar,
    InboxDelivery,
    ObjectsByUid,
    StoredObject,
)

if TYPE_CHECKING:
    from radicale_tracks.outbox.mail import OutgoingMail
    from radicale_tracks.scheduling.mails import SchedulingMails
    from radicale_tracks.scheduling.rooms import RoomAnswer
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.scheduling")

#: a booking's customer's mail for one message (None: not the customer's)
CustomerMail = Callable[[ItipMessage, Calendar, Calendar | None], "OutgoingMail | None"]


class InboxCalendars(ObjectsByUid, DefaultCalendar, CalendarObjects, InboxDelivery, Protocol):
    """What delivery needs of the users' calendars: the engine's port without the user
    look-ups (``ports.SchedulingCalendars`` satisfies it)."""


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_and_deliver` did."""

    #: how it went, as deliveries report it: the receipt's outcome, or "refused: …"
    answer: str
    #: the recipient's copy with the message applied; None when nothing is to be
    #: written (refused, stale, or nothing left to keep)
    calendar: Calendar | None = None


def apply_and_deliver(calendars: InboxCalendars, user: str, message: ItipMessage,
                      received: Calendar | None, stored: Calendar | None, *,
                      authoritative: bool, refusal: str) -> Applied:
    """The step every delivery to a user here takes: ``received`` (``message`` parsed)
    applied to their copy ``stored`` (``core/receipt``); a message that cannot be applied
    is refused (logged as ``refusal``) and a stale one ignored, both without reaching the
    inbox; any other goes into ``user``'s inbox.

    ``received`` None: ``message`` is parsed here, as part of applying it, so a text that
    does not parse is refused like one that does not apply (an invitation); a caller
    that reads the parsed message afterwards (a REPLY's answers) parses it itself."""
    try:
        if received is None:
            received = message.calendar()
        receipt = apply_message(received, stored, authoritative=authoritative)
    except ItipError as e:
        logger.warning("%s to %s: %s", refusal, user, e)
        return Applied("refused: %s" % e)
    if receipt.outcome is Outcome.STALE:
        return Applied(receipt.outcome.value)
    calendars.deliver(user, message.ics)
    return Applied(receipt.outcome.value, receipt.calendar)


class Deliveries:
    """Delivers messages to users here; stateless between writes."""

    def __init__(self, calendars: InboxCalendars, classify: Classify,
                 mails: SchedulingMails, clock: Callable[[], datetime.datetime],
                 max_attendees: int,
                 answered: Callable[[Connection, str, str, Calendar], None] | None = None
                 ) -> None:
        """``answered(connection, organizer user, uid, copy)``: an answer was applied to
        an organizer's copy here (a booking follows its rooms' answers)."""
        self.answered = answered
        self.calendars = calendars
        self.classify = classify
        self.mails = mails
        self.clock = clock
        self.max_attendees = max_attendees

    def organizer_plan(self, connection: Connection, plan: OrganizerPlan,
                       room_answers: Mapping[str, RoomAnswer],
                       mailed_by_assistant: Collection[str], organizer_user: str,
                       latest: Calendar, old: Calendar | None, assistant: Assistant | None,
                       customer_mail: CustomerMail | None = None
                       ) -> tuple[list[str], list[OutgoingMail]]:
        """Every delivery of an organizer's plan: rooms answer, other users here get
        inbox and copy, everyone else a mail — unless the assistant's mail carried the
        invitation already. ``customer_mail`` renders the mail of a booking's customer
        (``bookings/``). Answers the deliveries made ("user: outcome") and the mails to
        queue."""
        deliveries: list[str] = []
        mails: list[OutgoingMail] = []
        shared: dict[object, object] = {}  # what the mails of this write have in common
        for message, recipient, existing in plan.deliveries:
            user = recipient.user
            if recipient.kind == "local" and user is not None and user in room_answers:
                result = self.to_room(connection, user, message, existing,
                                      room_answers[user], organizer_user, mails, assistant)
                deliveries.append("%s: %s" % (user, result))
            elif recipient.kind == "local":
                assert recipient.user is not None
                result = self.to_attendee(connection, recipient.user, message, existing)
                deliveries.append("%s: %s" % (recipient.user, result))
            elif customer_mail is not None and (
                    customer := customer_mail(message, latest, old)) is not None:
                mails.append(customer)
            elif message.recipient not in mailed_by_assistant:
                mails.append(self.mails.mail(message, latest, old, shared))
        return deliveries, mails

    def to_attendee(self, connection: Connection, user: str, message: ItipMessage,
                    existing: StoredObject | None, authoritative: bool = True) -> str:
        """A REQUEST or CANCEL into ``user``'s inbox and calendar (``existing``: their
        copy, already checked to be the sender's meeting). ``authoritative``: made here
        from a local organizer's write, under the write lock and in the order of the
        writes, so applied whatever its DTSTAMP (``core/receipt``); mail from elsewhere
        passes False and keeps RFC 5546 ordering."""
        stored = parse_calendar(existing.text) if existing else None
        applied = apply_and_deliver(self.calendars, user, message, None, stored,
                                    authoritative=authoritative, refusal="Not delivered")
        if applied.calendar is None:
            return applied.answer
        copy = strip_schedule_parameters(applied.calendar)
        if existing is None:
            collection, href = self.calendars.default_calendar(user), self.calendars.new_href(
                message.uid)
        else:
            collection, href = existing.collection_path, existing.href
            path = tags.object_path(collection, href)
            if stored is None or is_consequential(stored, copy):
                tags.forget(connection, path)
            else:
                tags.keep(connection, path, existing.etag, int(self.clock().timestamp()))
        self.calendars.write_object(collection, href, text_of(copy))
        return applied.answer

    def to_room(self, connection: Connection, user: str, message: ItipMessage,
                existing: StoredObject | None, answer: RoomAnswer,
                organizer_user: str | None, mails: list[OutgoingMail],
                assistant: Assistant | None = None) -> str:
        """The request into the room's inbox, its copy as it answered (none when it
        declined), and its REPLY to the organizer: into a local organizer's inbox (their
        object already carries the answer) or by mail (added to ``mails``). A meeting's
        track follows the answer as it follows anyone's REPLY (the assistant wrote its
        copy before the room answered)."""
        self.calendars.deliver(user, message.ics)
        if answer.copy is None:
            if existing is not None:
                self.calendars.remove_object(existing.collection_path, existing.href)
                tags.forget(connection, tags.object_path(existing.collection_path,
                                                         existing.href))
        else:
            if existing is None:
                collection = self.calendars.default_calendar(user)
                href = self.calendars.new_href(message.uid)
            else:
                collection, href = existing.collection_path, existing.href
                tags.forget(connection, tags.object_path(collection, href))
            self.calendars.write_object(collection, href, text_of(answer.copy))
        for reply in answer.replies:
            if organizer_user is not None:
                self.calendars.deliver(organizer_user, reply.ics)
            else:
                mails.append(self.mails.mail(reply, answer.copy or message.calendar(), None))
            if assistant is not None:
                replied = reply.calendar()
                room = normalize_address(reply.sender)
                assistant.follow_reply(connection, reply.uid, normalize_address(
                    reply.recipient), room, partstats_of(replied, room), reply=replied)
        return "%s by policy (%s)" % (answer.decision.partstat.value.lower(),
                                      answer.decision.reason)

    def reply(self, connection: Connection, organizer_user: str, message: ItipMessage,
              replier_user: str, assistant: Assistant | None) -> str:
        """A REPLY into the organizer's inbox and copy; other local attendees follow."""
        existing = self.calendars.find_object(organizer_user, message.uid)
        stored = parse_calendar(existing.text) if existing else None
        if not organized_by(stored, message.recipient):
            logger.warning("Reply not delivered to %s: %s is not theirs", organizer_user,
                           message.uid)
            return "refused: not the organizer's meeting"
        reply = message.calendar()
        applied = apply_and_deliver(self.calendars, organizer_user, message, reply, stored,
                                    authoritative=False, refusal="Reply not delivered")
        if applied.calendar is None or existing is None:
            return applied.answer
        now = int(self.clock().timestamp())
        tags.keep(connection, tags.object_path(existing.collection_path, existing.href),
                  existing.etag, now)
        self.calendars.write_object(existing.collection_path, existing.href,
                                    text_of(applied.calendar))
        if self.answered is not None:
            self.answered(connection, organizer_user, message.uid, applied.calendar)
        replier = normalize_address(message.sender)
        answers = partstats_of(reply, replier)
        if assistant is not None:
            assistant.follow_reply(connection, message.uid, normalize_address(
                message.recipient), replier, answers, reply=reply)
        for address in all_attendees(applied.calendar)[:self.max_attendees]:
            if address == replier:
                continue
            recipient = self.classify(address)
            if recipient.kind != "local" or recipient.user in (None, organizer_user,
                                                                 replier_user):
                continue
            assert recipient.user is not None
            other = self.calendars.find_object(recipient.user, message.uid)
            if other is None:
                continue
            refreshed = with_partstats(parse_calendar(other.text), replier, answers)
            tags.keep(connection, tags.object_path(other.collection_path, other.href),
                      other.etag, now)
            self.calendars.write_object(other.collection_path, other.href, text_of(refreshed))
        return applied.answer


def text_of(calendar: Calendar) -> str:
    return str(calendar.to_ical().decode("utf-8"))
