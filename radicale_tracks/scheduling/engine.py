"""Implicit scheduling (RFC 6638 §3): a user's write of a scheduling object → deliveries.

The storage plugin calls :meth:`Scheduler.handle_write` for every write of a calendar
object by the owner of its calendar, inside Radicale's write lock and one database
transaction. The engine

1. tells organizer from attendee objects (§3.1) by the owner's addresses;
2. for an organizer: asks the broker for the REQUEST/CANCEL per attendee, lets the
   assistant handle the assistant's and track addresses (its own mails then carry the
   invitation for people outside the server), delivers to local users — a message in their
   inbox and their copy created or updated in their calendar — and queues iMIP mail for
   everyone else; SCHEDULE-STATUS on each ATTENDEE says what happened (§3.2.9, §7.3);
3. for an attendee: sends the REPLY the PARTSTAT change implies to the organizer — into a
   local organizer's inbox and copy (whose other local attendees' copies follow, §3.2.2.1
   "refresh") or by mail — with SCHEDULE-STATUS on ORGANIZER;
4. keeps Schedule-Tags (§3.2.10): a tag changes with consequential changes only.

The owner's object is stored (``store``) before anything else happens, exactly once.
Deliveries write other users' objects through :class:`SchedulingCalendars`, which never
schedules again (a server write is not a client write).

This module holds the entry points and runs the stages; the stages are their own
modules: ``plan.py`` (who gets what), ``organizer.py`` (an organizer's write: the
assistant, rooms, the object to store), ``rooms.py`` (a room's answer), ``delivery.py``
(inbox and copies of users here) and ``mails.py`` (iMIP for everyone else).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import AddressBook, normalize_address
from radicale_tracks.core.attendee_changes import is_attendee_rewrite, merge_attendee_change
from radicale_tracks.core.broker import attendee_messages
from radicale_tracks.core.itip import ItipMessage, parse_calendar
from radicale_tracks.core.receipt import (
    keep_organizer_stamps,
    organizer_stamps_differ,
    without_override_recurrence,
)
from radicale_tracks.core.scheduling import (
    Role,
    is_consequential,
    merge_partstats,
    owner_attendee,
    scheduling_role,
    with_organizer_schedule_status,
)
from radicale_tracks.scheduling import organizer as stages
from radicale_tracks.scheduling import tags
from radicale_tracks.scheduling.delivery import Deliveries
from radicale_tracks.scheduling.mails import SchedulingMails, enqueue
from radicale_tracks.scheduling.plan import (
    DELIVERED,
    DELIVERY_FAILED,
    INVALID_USER,
    NO_AUTHORITY,
    NOT_SUPPORTED,
    SENT,
    Delivery,
    Recipient,
    organized_by,
    plan_deliveries,
)
from radicale_tracks.scheduling.ports import (
    Booked,
    BookedMeetings,
    SchedulingCalendars,
    StoredObject,
)

if TYPE_CHECKING:
    from radicale_tracks.mail.compose import MailTemplates
    from radicale_tracks.outbox.mail import OutgoingMail
    from radicale_tracks.scheduling.rooms import RoomBooking
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.scheduling")

__all__ = ["DELIVERED", "DELIVERY_FAILED", "INVALID_USER", "NOT_SUPPORTED", "NO_AUTHORITY",
           "SENT", "Delivery", "ObjectWrite", "Recipient", "Scheduler", "SchedulingCalendars",
           "SchedulingConfig", "StoredObject", "WriteOutcome"]



@dataclass(frozen=True)
class ObjectWrite:
    """A client's write of a calendar object, as the storage plugin saw it."""

    owner: str
    collection_path: str
    href: str
    old: Calendar | None
    new: Calendar | None     # None: the object is deleted
    old_etag: str | None
    #: the client sent a matching If-Schedule-Tag-Match: merge the server's
    #: inconsequential changes (other attendees' PARTSTAT) into what it sent
    merge: bool = False
    #: what the client sent, when ``new`` is it with repaired addresses
    repaired_from: Calendar | None = None

    @property
    def sent(self) -> Calendar | None:
        """The object as the client sent it (stored as is when nothing else changed)."""
        return self.repaired_from if self.repaired_from is not None else self.new

    @property
    def path(self) -> str:
        return tags.object_path(self.collection_path, self.href)


@dataclass(frozen=True)
class SchedulingConfig:
    from_email: str
    max_attendees: int
    assistant_principal: str = "assistant"
    prodid: str = "-//radicale-tracks//scheduling//EN"


@dataclass
class WriteOutcome:
    role: Role | None = None
    #: recipient → SCHEDULE-STATUS
    statuses: dict[str, str] = field(default_factory=dict)
    #: deliveries made, "user: outcome", for logs and tests
    deliveries: list[str] = field(default_factory=list)
    mails: int = 0


Store = Callable[[Calendar | None], None]


class Scheduler:
    """Implicit scheduling for one storage; stateless between writes."""

    def __init__(self, config: SchedulingConfig, book: AddressBook,
                 calendars: SchedulingCalendars, templates: Callable[[], MailTemplates],
                 clock: Callable[[], datetime.datetime], tokens: Callable[[], str],
                 rooms: RoomBooking | None = None, bookings: BookedMeetings | None = None
                 ) -> None:
        self.config = config
        self.bookings = bookings
        self.rooms = rooms
        self.book = book
        self.calendars = calendars
        self.templates = templates
        self.clock = clock
        self.tokens = tokens
        # the stages read the clock through the scheduler: a test may set it later
        self.mails = SchedulingMails(book, config.from_email, lambda: self.templates(),
                                     lambda: self.clock(), lambda: self.tokens())
        self.deliveries = Deliveries(calendars, self.classify, self.mails,
                                     lambda: self.clock(), config.max_attendees,
                                     answered=self._answered)

    # -- who is who -----------------------------------------------------------------

    def classify(self, address: str) -> Recipient:
        """Where a calendar user address leads: a user here, the assistant, mail, nowhere."""
        uri = address.strip()
        if not uri.lower().startswith("mailto:") and ("/" in uri or ":" in uri):
            user = self.calendars.user_of_uri(uri)
            return Recipient("local", user) if user else Recipient("invalid", None)
        if self.book.is_assistant_side(uri):
            return Recipient("assistant", None)
        normalized = normalize_address(uri)
        if "@" not in normalized:
            return Recipient("invalid", None)
        user = self.book.user_of(normalized)
        if user is not None and self.calendars.user_exists(user):
            return Recipient("local", user)
        # someone without a calendar here, even at our domain: mail reaches them
        return Recipient("external", None)

    # -- the entry point ------------------------------------------------------------

    def handle_write(self, connection: Connection, write: ObjectWrite, store: Store,
                     assistant: Assistant | None) -> WriteOutcome:
        """Schedule ``write``; ``assistant`` is given when the write involves it (the
        caller tests that cheaply, and retries without it when it fails)."""
        addresses = self.book.addresses_of(write.owner)
        write = _with_repaired_addresses(write)
        role = None
        for version in (write.new, write.old):
            if version is not None and role is None:
                role = scheduling_role(version, addresses)
        outcome = WriteOutcome(role=role)
        if role is None:
            store(None)
            tags.forget(connection, write.path)
            return outcome
        now = self.clock()
        new = write.new
        if new is not None and write.old is not None:
            if role is Role.ATTENDEE and is_attendee_rewrite(write.old, new, addresses):
                # RFC 6638 §3.2.2.1: only the attendee's own participation is theirs to
                # change; the rest stays the organizer's current version (a client's
                # stale copy never moves the meeting back)
                new = merge_attendee_change(write.old, new, addresses)
            elif write.merge:
                new = merge_partstats(new, write.old, addresses)
        if new is not None and role is Role.ORGANIZER:
            new = without_override_recurrence(new)
        if role is Role.ORGANIZER:
            self._organizer(connection, write, new, addresses, store, assistant, now, outcome)
        else:
            self._attendee(connection, write, new, addresses, store, assistant, now, outcome)
        return outcome

    # -- organizer ------------------------------------------------------------------

    def _organizer(self, connection: Connection, write: ObjectWrite, new: Calendar | None,
                   addresses: frozenset[str], store: Store, assistant: Assistant | None,
                   now: datetime.datetime, outcome: WriteOutcome) -> None:
        """plan → assistant → rooms → store → deliver (``scheduling/organizer.py``)."""
        messages = stages.messages_to_send(write.old, new, addresses, now, write.path)
        plan = plan_deliveries(messages, self.classify, self.calendars.find_object,
                               self.config.max_attendees)
        booking = self._booking(connection, new if new is not None else write.old,
                                write.owner)
        meeting = stages.with_assistant(
            assistant, connection, write.owner, "/%s" % write.path, write.old, new, plan,
            addresses, now, mailed_elsewhere=frozenset(
                {booking.customer_address} if booking is not None else ()))
        meeting = stages.with_rooms(self.rooms, connection, write.old, meeting, addresses,
                                    now)
        stored = stages.to_store(meeting, write.old, write.sent, self.book.is_assistant_side)
        store(stored.calendar)
        tags.forget(connection, write.path)
        outcome.statuses = stored.statuses

        if assistant is not None:
            # the assistant is a principal like any other: what it was sent is on record
            for message in meeting.plan.to_assistant:
                self.calendars.deliver(self.config.assistant_principal, message.ics)
        latest = new if new is not None else write.old
        assert latest is not None
        customer_mail = None
        if booking is not None and self.bookings is not None:
            bookings, customer = self.bookings, booking

            def customer_mail(message: ItipMessage, calendar: Calendar,
                              old: Calendar | None) -> OutgoingMail | None:
                if normalize_address(message.recipient) != customer.customer_address:
                    return None
                return bookings.customer_mail(connection, customer, message, calendar, old)

        outcome.deliveries, mails = self.deliveries.organizer_plan(
            connection, meeting.plan, meeting.room_answers, meeting.mailed_by_assistant,
            write.owner, latest, write.old, assistant, customer_mail)
        enqueue(connection, mails, now)
        outcome.mails = len(mails)
        if booking is not None and self.bookings is not None:
            kept = stored.calendar if stored.calendar is not None else meeting.base
            self.bookings.follow(connection, booking, kept, write.old,
                                 where=(write.collection_path, write.href))

    def _answered(self, connection: Connection, organizer: str, uid: str, copy: Calendar
                  ) -> None:
        """An answer reached the copy of ``organizer`` (a user): a booking's state
        follows (a room that accepted later ends "awaiting a room")."""
        booking = (self.bookings.booking_for(connection, uid, organizer) if self.bookings
                   else None)
        if booking is not None and self.bookings is not None:
            self.bookings.follow(connection, booking, copy)

    def _booking(self, connection: Connection, calendar: Calendar | None, owner: str
                 ) -> Booked | None:
        """The booking of the meeting, when it was booked for a customer and ``owner``
        (the writer's object) holds it."""
        if self.bookings is None or calendar is None:
            return None
        from radicale_tracks.core.itip import master_of

        master = master_of(calendar)
        uid = str(master.get("UID", "")) if master is not None else ""
        return self.bookings.booking_for(connection, uid, owner) if uid else None

    # -- attendee -------------------------------------------------------------------

    def _attendee(self, connection: Connection, write: ObjectWrite, new: Calendar | None,
                  addresses: frozenset[str], store: Store, assistant: Assistant | None,
                  now: datetime.datetime, outcome: WriteOutcome) -> None:
        latest = new if new is not None else write.old
        assert latest is not None
        address = owner_attendee(latest, addresses)
        messages = attendee_messages(write.old, new, address, now) if address else []
        status: str | None = None
        plan: list[tuple[ItipMessage, Recipient]] = []
        for message in messages:
            recipient = self.classify(message.recipient)
            if recipient.kind in ("invalid", "assistant"):
                status = INVALID_USER
                continue
            status = DELIVERED if recipient.kind == "local" else SENT
            plan.append((message, recipient))
        if new is not None:
            stored = with_organizer_schedule_status(new, status) if status else new
            if write.old is not None and organizer_stamps_differ(stored, write.old):
                # the copy keeps the organizer's SEQUENCE and DTSTAMP, not the ones the
                # attendee's client wrote: the organizer's next message is ordered by them
                stored = keep_organizer_stamps(stored, write.old)
            store(None if write.sent is not None and stored.to_ical() == write.sent.to_ical()
                  else stored)
            if write.old is not None and not is_consequential(write.old, new) and (
                    write.old_etag):
                tags.keep(connection, write.path, write.old_etag, int(now.timestamp()))
            else:
                tags.forget(connection, write.path)
        else:
            store(None)
            tags.forget(connection, write.path)
        if status:
            outcome.statuses = {message.recipient: status for message in messages}
        mails: list[OutgoingMail] = []
        for message, recipient in plan:
            if recipient.kind == "local":
                assert recipient.user is not None
                result = self.deliveries.reply(connection, recipient.user, message,
                                               write.owner, assistant)
                outcome.deliveries.append("%s: %s" % (recipient.user, result))
            else:
                mails.append(self.mails.mail(message, latest, None))
        enqueue(connection, mails, now)
        outcome.mails = len(mails)

    # -- messages from elsewhere (iMIP, inbound/processor.py) --------------------------

    def receive_request(self, connection: Connection, user: str, message: ItipMessage
                        ) -> str:
        """A REQUEST or CANCEL mailed by an organizer elsewhere to ``user``: the same
        delivery as a local organizer's, and the same rule that only a meeting's
        organizer changes an attendee's copy."""
        existing = self.calendars.find_object(user, message.uid)
        stored = parse_calendar(existing.text) if existing is not None else None
        if not organized_by(stored, message.sender):
            return "refused: %s's copy of UID %s belongs to another organizer (%s)" % (
                user, message.uid, NO_AUTHORITY)
        room = (self.rooms.directory(connection).by_principal(user)
                if self.rooms is not None else None)
        if room is not None:
            assert self.rooms is not None
            answer = self.rooms.answer(room, message, stored, authoritative=False)
            if answer is not None:
                mails: list[OutgoingMail] = []
                result = self.deliveries.to_room(connection, user, message, existing,
                                                 answer, None, mails)
                enqueue(connection, mails, self.clock())
                return result
        return self.deliveries.to_attendee(connection, user, message, existing,
                                           authoritative=False)

    def receive_reply(self, connection: Connection, organizer_user: str,
                      message: ItipMessage, assistant: Assistant | None) -> str:
        """A REPLY mailed by an attendee elsewhere to ``organizer_user`` here."""
        return self.deliveries.reply(connection, organizer_user, message, "", assistant)

    def deliver_to_inbox(self, user: str, message: ItipMessage) -> None:
        """Methods only the user's client acts on (REFRESH, COUNTER, …): the inbox."""
        self.calendars.deliver(user, message.ics)


def _with_repaired_addresses(write: ObjectWrite) -> ObjectWrite:
    """The write with ORGANIZER/ATTENDEE values that have one reading written as
    ``mailto:<address>`` (``core/leniency.repair_addresses``): the organizer's object,
    the copies and the mails all carry the address that was meant."""
    if write.new is None:
        return write
    from dataclasses import replace

    from radicale_tracks.core.leniency import repair_addresses
    from radicale_tracks.core.track_details import copy_calendar

    new = copy_calendar(write.new)
    repairs = repair_addresses(new)
    if not repairs:
        return write
    logger.info("Addresses repaired in %s: %s", write.path, "; ".join(repairs))
    return replace(write, new=new, repaired_from=write.new)


