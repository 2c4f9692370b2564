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
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import AddressBook, normalize_address
from radicale_tracks.core.attendee_changes import is_attendee_rewrite, merge_attendee_change
from radicale_tracks.core.broker import attendee_messages, organizer_messages
from radicale_tracks.core.itip import (
    ItipError,
    ItipMessage,
    Method,
    all_attendees,
    as_list,
    attendees_of,
    main_components,
    organizer_of,
    parameter,
    parse_calendar,
    sequence_of,
)
from radicale_tracks.core.receipt import (
    Outcome,
    apply_message,
    keep_organizer_stamps,
    organizer_stamps_differ,
    without_override_recurrence,
)
from radicale_tracks.core.scheduling import (
    Role,
    is_consequential,
    merge_partstats,
    owner_attendee,
    partstats_of,
    scheduling_role,
    strip_schedule_parameters,
    with_organizer_schedule_status,
    with_partstats,
    with_schedule_status,
)
from radicale_tracks.scheduling import tags
from radicale_tracks.scheduling.ports import SchedulingCalendars, StoredObject

if TYPE_CHECKING:
    from radicale_tracks.mail.compose import MailTemplates
    from radicale_tracks.outbox.mail import OutgoingMail
    from radicale_tracks.scheduling.rooms import RoomAnswer, RoomBooking
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.scheduling")

#: RFC 6638 §7.3 / RFC 5546 §3.6 request-status codes used as SCHEDULE-STATUS.
SENT = "1.1"        # sent (by mail): delivery not confirmed
DELIVERED = "1.2"   # delivered to a calendar user on this server
INVALID_USER = "3.7"
NO_AUTHORITY = "3.8"
DELIVERY_FAILED = "5.1"
NOT_SUPPORTED = "5.3"  # beyond the attendee limit: not scheduled by the server


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


class Recipient(NamedTuple):
    kind: str         # "local" | "assistant" | "external" | "invalid"
    user: str | None


class Delivery(NamedTuple):
    """One message to send: where to, and a local recipient's copy as found (looked up
    once, for the organizer check and for the update)."""

    message: ItipMessage
    recipient: Recipient
    existing: StoredObject | None = None


Store = Callable[[Calendar | None], None]


class Scheduler:
    """Implicit scheduling for one storage; stateless between writes."""

    def __init__(self, config: SchedulingConfig, book: AddressBook,
                 calendars: SchedulingCalendars, templates: Callable[[], MailTemplates],
                 clock: Callable[[], datetime.datetime], tokens: Callable[[], str],
                 rooms: RoomBooking | None = None) -> None:
        self.config = config
        self.rooms = rooms
        self.book = book
        self.calendars = calendars
        self.templates = templates
        self.clock = clock
        self.tokens = tokens

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
        messages: list[ItipMessage] = []
        if _older(new, write.old):
            # an offline client wrote back an older version: stored as written (a PUT is
            # a PUT), but nobody is sent a version older than the one they have
            logger.info("Not scheduled: %s has a lower SEQUENCE than the stored version",
                        write.path)
        else:
            messages = organizer_messages(write.old, new, addresses, now)
        plan: list[Delivery] = []
        assistant_messages: list[ItipMessage] = []
        statuses: dict[str, str] = {}
        counted = 0
        for message in messages:
            recipient = self.classify(message.recipient)
            if recipient.kind == "assistant":
                assistant_messages.append(message)
                continue
            counted += 1
            if counted > self.config.max_attendees:
                statuses[message.recipient] = NOT_SUPPORTED
                continue
            if recipient.kind == "invalid":
                statuses[message.recipient] = INVALID_USER
                continue
            existing = None
            if recipient.kind == "local":
                assert recipient.user is not None
                existing = self.calendars.find_object(recipient.user, message.uid)
                if existing is not None and _organizer(parse_calendar(existing.text)) != (
                        normalize_address(message.sender)):
                    # RFC 6638 §3.2: only a meeting's organizer changes an attendee's copy
                    logger.warning("Not delivered to %s: %s is not the organizer of %s",
                                   recipient.user, message.sender, message.uid)
                    statuses[message.recipient] = NO_AUTHORITY
                    continue
            statuses[message.recipient] = DELIVERED if recipient.kind == "local" else SENT
            plan.append(Delivery(message, recipient, existing))
        local = frozenset(d.message.recipient for d in plan if d.recipient.kind == "local")

        base = new
        mailed_by_assistant: frozenset[str] = frozenset()
        if assistant is not None:
            from radicale_tracks.tracks.assistant import OrganizerChange

            captured: list[Calendar | None] = []
            mailed_by_assistant = assistant.handle_organizer_change(
                connection, OrganizerChange(user=write.owner, source_path="/%s" % write.path,
                                            old=write.old, new=new),
                captured.append, local_recipients=local)
            if captured and captured[0] is not None:
                base = captured[0]
                # attendees get the meeting as stored: the assistant's answer and the
                # track's details included
                again = {m.recipient: m for m in organizer_messages(write.old, base,
                                                                      addresses, now)}
                plan = [d._replace(message=again.get(d.message.recipient, d.message))
                        for d in plan]
        room_answers: dict[str, RoomAnswer] = {}
        if base is not None and self.rooms is not None:
            base, room_answers = self._answer_for_rooms(connection, plan, base)
            if room_answers:
                # the others see the rooms' answers in the meeting they get
                again = {m.recipient: m for m in organizer_messages(write.old, base,
                                                                      addresses, now)}
                plan = [d if d.recipient.user in room_answers else d._replace(
                    message=again.get(d.message.recipient, d.message)) for d in plan]
        if base is not None:
            statuses.update(self._kept_statuses(base))
            stored = with_schedule_status(base, statuses, write.old)
            store(None if write.sent is not None and stored.to_ical() == write.sent.to_ical()
                  else stored)
        else:
            store(None)
        tags.forget(connection, write.path)
        outcome.statuses = statuses

        if assistant is not None:
            # the assistant is a principal like any other: what it was sent is on record
            for message in assistant_messages:
                self.calendars.deliver(self.config.assistant_principal, message.ics)
        mails: list[OutgoingMail] = []
        latest = new if new is not None else write.old
        assert latest is not None
        shared: dict[object, object] = {}  # what the mails of this write have in common
        for message, recipient, existing in plan:
            if recipient.kind == "local" and recipient.user in room_answers:
                result = self._deliver_to_room(connection, recipient.user, message,
                                               existing, room_answers[recipient.user],
                                               write.owner, mails, assistant)
                outcome.deliveries.append("%s: %s" % (recipient.user, result))
            elif recipient.kind == "local":
                assert recipient.user is not None
                result = self._deliver_to_attendee(connection, recipient.user, message,
                                                   existing)
                outcome.deliveries.append("%s: %s" % (recipient.user, result))
            elif message.recipient not in mailed_by_assistant:
                mails.append(self._mail(message, latest, write.old, shared))
        self._enqueue(connection, mails, now)
        outcome.mails = len(mails)

    def _kept_statuses(self, calendar: Calendar) -> dict[str, str]:
        """SCHEDULE-STATUS set by someone else than this engine: the client's for attendees
        it schedules itself (§7.1), the assistant's for its own addresses."""
        found: dict[str, str] = {}
        for component in main_components(calendar).values():
            for address, prop in attendees_of(component).items():
                agent = parameter(prop, "SCHEDULE-AGENT")
                status = parameter(prop, "SCHEDULE-STATUS")
                if status and (agent in ("CLIENT", "NONE")
                               or self.book.is_assistant_side(address)):
                    found[address] = status
        return found

    def _deliver_to_attendee(self, connection: Connection, user: str, message: ItipMessage,
                             existing: StoredObject | None, authoritative: bool = True
                             ) -> str:
        """A REQUEST or CANCEL into ``user``'s inbox and calendar (``existing``: their
        copy, already checked to be the sender's meeting). ``authoritative``: made here
        from a local organizer's write, under the write lock and in the order of the
        writes, so applied whatever its DTSTAMP (``core/receipt``); mail from elsewhere
        passes False and keeps RFC 5546 ordering."""
        stored = parse_calendar(existing.text) if existing else None
        try:
            receipt = apply_message(message.calendar(), stored, authoritative=authoritative)
        except ItipError as e:
            logger.warning("Not delivered to %s: %s", user, e)
            return "refused: %s" % e
        if receipt.outcome is Outcome.STALE:
            return receipt.outcome.value
        self.calendars.deliver(user, message.ics)
        if receipt.calendar is None:
            return receipt.outcome.value
        copy = strip_schedule_parameters(receipt.calendar)
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
        self.calendars.write_object(collection, href, _text(copy))
        return receipt.outcome.value

    # -- rooms ----------------------------------------------------------------------

    def _answer_for_rooms(self, connection: Connection, plan: list[Delivery],
                          base: Calendar) -> tuple[Calendar, dict[str, RoomAnswer]]:
        """The rooms' answers to a local organizer's meeting, applied to it before it is
        stored: the organizer's client gets one version, with the rooms' PARTSTATs."""
        assert self.rooms is not None
        answers: dict[str, RoomAnswer] = {}
        local = [d for d in plan if d.recipient.kind == "local" and d.recipient.user]
        directory = self.rooms.directory(connection) if local else None
        for delivery in local:
            user = delivery.recipient.user
            assert user is not None and directory is not None
            room = directory.by_principal(user)
            if room is None:
                continue
            stored = parse_calendar(delivery.existing.text) if delivery.existing else None
            answer = self.rooms.answer(room, delivery.message, stored, authoritative=True)
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

    def _deliver_to_room(self, connection: Connection, user: str, message: ItipMessage,
                         existing: StoredObject | None, answer: RoomAnswer,
                         organizer_user: str | None, mails: list[OutgoingMail],
                         assistant: Assistant | None = None) -> str:
        """The request into the room's inbox, its copy as it answered (none when it
        declined), and its REPLY to the organizer: into a local organizer's inbox (their
        object already carries the answer) or by mail. A meeting's track follows the
        answer as it follows anyone's REPLY (the assistant wrote its copy before the room
        answered)."""
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
            self.calendars.write_object(collection, href, _text(answer.copy))
        for reply in answer.replies:
            if organizer_user is not None:
                self.calendars.deliver(organizer_user, reply.ics)
            else:
                mails.append(self._mail(reply, answer.copy or message.calendar(), None))
            if assistant is not None:
                replied = reply.calendar()
                room = normalize_address(reply.sender)
                assistant.follow_reply(connection, reply.uid, normalize_address(
                    reply.recipient), room, partstats_of(replied, room), reply=replied)
        return "%s by policy (%s)" % (answer.decision.partstat.value.lower(),
                                      answer.decision.reason)

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
                result = self._deliver_reply(connection, recipient.user, message,
                                             write.owner, assistant)
                outcome.deliveries.append("%s: %s" % (recipient.user, result))
            else:
                mails.append(self._mail(message, latest, None))
        self._enqueue(connection, mails, now)
        outcome.mails = len(mails)

    def _deliver_reply(self, connection: Connection, organizer_user: str,
                       message: ItipMessage, replier_user: str,
                       assistant: Assistant | None) -> str:
        """A REPLY into the organizer's inbox and copy; other local attendees follow."""
        existing = self.calendars.find_object(organizer_user, message.uid)
        stored = parse_calendar(existing.text) if existing else None
        if stored is not None and _organizer(stored) != normalize_address(message.recipient):
            logger.warning("Reply not delivered to %s: %s is not theirs", organizer_user,
                           message.uid)
            return "refused: not the organizer's meeting"
        reply = message.calendar()
        try:
            receipt = apply_message(reply, stored)
        except ItipError as e:
            logger.warning("Reply not delivered to %s: %s", organizer_user, e)
            return "refused: %s" % e
        if receipt.outcome is Outcome.STALE:
            return receipt.outcome.value
        self.calendars.deliver(organizer_user, message.ics)
        if receipt.calendar is None or existing is None:
            return receipt.outcome.value
        now = int(self.clock().timestamp())
        tags.keep(connection, tags.object_path(existing.collection_path, existing.href),
                  existing.etag, now)
        self.calendars.write_object(existing.collection_path, existing.href,
                                    _text(receipt.calendar))
        replier = normalize_address(message.sender)
        answers = partstats_of(reply, replier)
        if assistant is not None:
            assistant.follow_reply(connection, message.uid, normalize_address(
                message.recipient), replier, answers, reply=reply)
        for address in all_attendees(receipt.calendar)[:self.config.max_attendees]:
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
            self.calendars.write_object(other.collection_path, other.href, _text(refreshed))
        return receipt.outcome.value

    # -- messages from elsewhere (iMIP, inbound/processor.py) --------------------------

    def receive_request(self, connection: Connection, user: str, message: ItipMessage
                        ) -> str:
        """A REQUEST or CANCEL mailed by an organizer elsewhere to ``user``: the same
        delivery as a local organizer's, and the same rule that only a meeting's
        organizer changes an attendee's copy."""
        existing = self.calendars.find_object(user, message.uid)
        stored = parse_calendar(existing.text) if existing is not None else None
        if stored is not None and _organizer(stored) != normalize_address(message.sender):
            return "refused: %s's copy of UID %s belongs to another organizer (%s)" % (
                user, message.uid, NO_AUTHORITY)
        room = (self.rooms.directory(connection).by_principal(user)
                if self.rooms is not None else None)
        if room is not None:
            assert self.rooms is not None
            answer = self.rooms.answer(room, message, stored, authoritative=False)
            if answer is not None:
                mails: list[OutgoingMail] = []
                result = self._deliver_to_room(connection, user, message, existing, answer,
                                               None, mails)
                self._enqueue(connection, mails, self.clock())
                return result
        return self._deliver_to_attendee(connection, user, message, existing,
                                         authoritative=False)

    def receive_reply(self, connection: Connection, organizer_user: str,
                      message: ItipMessage, assistant: Assistant | None) -> str:
        """A REPLY mailed by an attendee elsewhere to ``organizer_user`` here."""
        return self._deliver_reply(connection, organizer_user, message, "", assistant)

    def deliver_to_inbox(self, user: str, message: ItipMessage) -> None:
        """Methods only the user's client acts on (REFRESH, COUNTER, …): the inbox."""
        self.calendars.deliver(user, message.ics)

    # -- mail -----------------------------------------------------------------------

    def _mail(self, message: ItipMessage, calendar: Calendar, old: Calendar | None,
              shared: dict[object, object] | None = None) -> OutgoingMail:
        """An RFC 6047 message for someone outside this server.

        ``shared`` keeps what mails about the same change have in common (the message
        parsed, the meeting's facts, what changed, the names): one organizer's write
        mails each attendee the same object, and working it out again per recipient
        made a write for N attendees cost N² readings of them.
        """
        from radicale_tracks.mail.compose import compose_mail, message_id_for

        shared = {} if shared is None else shared
        names = cast("dict[str, str] | None", shared.get(id(calendar)))
        if names is None:
            names = shared[id(calendar)] = _names(calendar)
        sender_name = names.get(normalize_address(message.sender))
        key = (message.method, message.ics, message.sender, message.changes,
               message.instances)
        if key not in shared:
            shared[key] = self._mail_context(message, calendar, old, sender_name)
        kind, context = cast("tuple[str, dict[str, object]]", shared[key])
        recipient_name = names.get(normalize_address(message.recipient))
        context = dict(context, recipient_name=recipient_name or message.recipient)
        return compose_mail(
            self.templates(), kind, context, sender=message.sender,
            sender_name=sender_name or "", recipient=message.recipient,
            recipient_name=recipient_name, message_id=message_id_for(
                self.tokens(), self.book.domain),
            now=self.clock(), itip=message.ics, method=message.method.value,
            envelope_from=self.config.from_email, uid=message.uid)

    def _mail_context(self, message: ItipMessage, calendar: Calendar, old: Calendar | None,
                      sender_name: str | None) -> tuple[str, dict[str, object]]:
        """The template and its context for ``message``, but for whom it goes to."""
        from radicale_tracks.core.broker import focused_changes
        from radicale_tracks.core.summaries import describe_instance, describe_update, meeting_facts

        sent = message.calendar()
        facts = dict(meeting_facts(sent if message.method is not Method.REPLY else calendar),
                     join_url="")
        context: dict[str, object] = {
            "meeting": facts, "organizer_name": sender_name or message.sender,
            "domain": self.book.domain,
            "signature": "the calendar server of %s" % self.book.domain,
            "instance": ", ".join(describe_instance(key, sent) for key in message.instances
                                  if key),
            "changes": [], "attendee_name": sender_name or message.sender, "answer": ""}
        if message.method is Method.REQUEST:
            kind = "invitation"
            if message.changes:
                # what changed in words, for the occurrence(s) the message is about:
                # per instance, a changed occurrence against the occurrence it replaced
                changes, instances = focused_changes(old, calendar, message.changes,
                                                     message.instances)
                instance, sentences = describe_update(old, sent, changes, instances)
                context["instance"] = instance
                context["changes"] = sentences or ["Some details changed."]
                if len(instances) == 1 and instances[0] is not None:
                    # one occurrence changed: the mail shows it, not the series
                    context["meeting"] = dict(meeting_facts(sent, None, instances[0]),
                                              join_url="")
        elif message.method is Method.CANCEL:
            kind = "cancellation"
        else:
            kind = "reply"
            answers = set(partstats_of(sent, normalize_address(message.sender)).values())
            context["answer"] = _answer(answers)
        return kind, context

    @staticmethod
    def _enqueue(connection: Connection, mails: list[OutgoingMail],
                 now: datetime.datetime) -> None:
        if mails:
            from radicale_tracks.outbox.store import enqueue

            enqueue(connection, mails, int(now.timestamp()))


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


def _older(new: Calendar | None, old: Calendar | None) -> bool:
    """Whether ``new``'s master (or first instance) has a lower SEQUENCE than ``old``'s."""
    if new is None or old is None:
        return False
    new_main, old_main = main_components(new), main_components(old)
    if not new_main or not old_main:
        return False
    new_first = new_main.get(None) or next(iter(new_main.values()))
    old_first = old_main.get(None) or next(iter(old_main.values()))
    return sequence_of(new_first) < sequence_of(old_first)


def _organizer(calendar: Calendar) -> str | None:
    main = main_components(calendar)
    first_component = main.get(None) or next(iter(main.values()), None)
    return organizer_of(first_component) if first_component is not None else None


def _text(calendar: Calendar) -> str:
    return str(calendar.to_ical().decode("utf-8"))


def _names(calendar: Calendar) -> dict[str, str]:
    """Address → CN, as the object writes it (ORGANIZER or ATTENDEE; the first wins)."""
    names: dict[str, str] = {}
    for component in main_components(calendar).values():
        for prop in [*as_list(component.get("ORGANIZER")), *as_list(component.get("ATTENDEE"))]:
            cn = getattr(prop, "params", {}).get("CN")
            if cn:
                names.setdefault(normalize_address(str(prop)), str(cn))
    return names


def _answer(partstats: set[str]) -> str:
    words = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted",
             "DELEGATED": "delegated", "NEEDS-ACTION": "has not yet answered"}
    if len(partstats) == 1:
        return words.get(next(iter(partstats)), "answered")
    return "answered"
