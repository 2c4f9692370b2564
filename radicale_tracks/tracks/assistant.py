"""The assistant: an organizer's write that involves it → tracks, copies, mails.

Owns the orchestration of issue "invite the assistant, get a track":

- the organizer broker (``core/broker.py``) turns (old, new) into iTIP messages; those
  addressed to the assistant or a track address are what the assistant receives;
- receipt (``core/receipt.py``) applies them to the track's copy (newer/older by
  SEQUENCE then DTSTAMP, stale ones ignored);
- the organizer's object gets the assistant's answer and the meeting details
  (``core/track_details.py``) before it is stored;
- members, meetings and an activity line are recorded, and every mail is rendered and
  queued in the same transaction (``outbox/store.enqueue``);
- rooms and resources (``core/resources.py``) are no members: they get no row and no
  mail; their answers reach the track copy like anyone's (:meth:`Assistant.follow_reply`).

It reaches calendars only through the :class:`TrackCalendars` port (the storage adapter
implements it inside Radicale's write lock) and the database through the connection it is
handed, so one storage write is one transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import AddressBook, read_address
from radicale_tracks.core.broker import build_reply, focused_changes, organizer_messages
from radicale_tracks.core.itip import (
    InstanceKey,
    ItipError,
    ItipMessage,
    Method,
    PartStat,
    as_list,
    attendees_of,
    hides_attendees,
    main_components,
    master_of,
    organizer_of,
    partstat_of,
    sequence_of,
    uid_of,
    unaddressable_attendees,
)
from radicale_tracks.core.receipt import Outcome, Receipt, apply_message, keep_organizer_stamps
from radicale_tracks.core.resources import resources_of
from radicale_tracks.core.summaries import (
    describe_answer,
    describe_instance,
    describe_update,
    first_occurrence,
    meeting_facts,
)
from radicale_tracks.core.track_details import (
    TrackDetails,
    set_attendee_status,
    track_copy,
    with_sent_by,
    with_track_details,
)
from radicale_tracks.mail.compose import MailTemplates, compose_mail, message_id_for
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.store import enqueue
from radicale_tracks.scheduling.ports import TrackCalendars
from radicale_tracks.tracks import store
from radicale_tracks.tracks.store import Track

logger = logging.getLogger("radicale.tracks.assistant")

#: RFC 6638 §3.2.9 / RFC 5546 §3.6 request-status codes the assistant writes.
DELIVERED = "1.2"
INVALID_USER = "3.7"


@dataclass(frozen=True)
class AssistantConfig:
    base_url: str
    assistant_principal: str
    join_url_template: str
    from_email: str


@dataclass(frozen=True)
class OrganizerChange:
    """A change of a meeting by its organizer; ``new`` None means deleted.

    Either a local user's write of an object they organize (``user``, ``source_path``),
    or a message from an organizer elsewhere (``user`` None, ``external_organizer`` their
    address): then ``old`` is the track's copy as it was and ``new`` the copy with the
    message applied, and the participants already got the organizer's own invitation.
    ``received`` is then the copy as the organizer's message left it (also when it
    cancelled): the track copy keeps its SEQUENCE and DTSTAMP per instance, so the
    organizer's next message is ordered against what the organizer sent.
    """

    user: str | None
    source_path: str | None
    old: Calendar | None
    new: Calendar | None
    external_organizer: str | None = None
    received: Calendar | None = None

    def organizer_addresses(self, book: AddressBook) -> frozenset[str]:
        if self.external_organizer is not None:
            return frozenset({self.external_organizer})
        assert self.user is not None
        return book.addresses_of(self.user)


def involves_assistant(book: AddressBook, *calendars: Calendar | None) -> bool:
    """Cheap pre-check: does any version name the assistant or a track as attendee?"""
    for calendar in calendars:
        if calendar is None:
            continue
        for component in calendar.subcomponents:
            if any(book.is_assistant_side(str(attendee))
                   for attendee in as_list(component.get("ATTENDEE"))):
                return True
    return False


def copy_href(uid: str) -> str:
    """A file name for the track copy of ``uid`` (UIDs can hold anything)."""
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:40] + ".ics"


def _attendees(calendar: Calendar | None) -> dict[str, str | None]:
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


def _partstats(calendar: Calendar | None) -> dict[str, str]:
    master = master_of(calendar) if calendar is not None else None
    if master is None:
        return {}
    return {address: partstat_of(attendee)
            for address, attendee in attendees_of(master).items()}


def _organizer(calendar: Calendar) -> tuple[str | None, str | None]:
    master = master_of(calendar)
    if master is None or organizer_of(master) is None:
        return None, None
    name = getattr(master.get("ORGANIZER"), "params", {}).get("CN")
    return organizer_of(master), str(name) if name else None


def _sequence(calendar: Calendar) -> int:
    """The SEQUENCE of the meeting as kept (the organizer's; a CANCEL made here for a
    deleted object counts one more, which is not the organizer's)."""
    master = master_of(calendar)
    return sequence_of(master) if master is not None else 0


def _timestamp(calendar: Calendar) -> int | None:
    """The start of the first occurrence that takes place (not one an EXDATE removed)."""
    first = first_occurrence(calendar)
    value = first.start if first is not None else None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp())
    if isinstance(value, datetime.date):
        return int(datetime.datetime(value.year, value.month, value.day,
                                     tzinfo=datetime.UTC).timestamp())
    return None


def _apply_all(messages: list[ItipMessage], existing: Calendar | None) -> Receipt:
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


@dataclass(frozen=True)
class _PlannedMail:
    kind: str
    recipient: str
    name: str | None
    context: dict[str, Any]
    itip: str | None
    method: str | None


@dataclass
class _Mails:
    """Mails decided while handling one change, rendered at the end (track id known)."""

    pending: list[_PlannedMail] = field(default_factory=list)

    def add(self, kind: str, recipient: str, name: str | None, context: dict[str, Any],
            itip: str | None = None, method: str | None = None) -> None:
        self.pending.append(_PlannedMail(kind, recipient, name, context, itip, method))


class Assistant:
    """Handles organizer writes that involve the assistant; one instance per storage."""

    def __init__(self, config: AssistantConfig, book: AddressBook, templates: MailTemplates,
                 calendars: TrackCalendars, clock: Callable[[], datetime.datetime],
                 tokens: Callable[[], str],
                 rooms: Callable[[Connection], frozenset[str]] | None = None) -> None:
        self.config = config
        #: the addresses of the server's rooms and resources (room directory,
        #: ``user_types``), read per change: ``rooms add`` needs no restart
        self.rooms = rooms
        self.book = book
        self.templates = templates
        self.calendars = calendars
        self.clock = clock
        self.tokens = tokens

    # -- addresses and links --------------------------------------------------------

    def track_url(self, track: Track) -> str:
        return "%s/%s/%s/" % (self.config.base_url, self.config.assistant_principal,
                              track.slug)

    def feed_url(self, track: Track) -> str:
        return "%s/.tracks/feed/%s.ics" % (self.config.base_url, track.feed_token)

    def details(self, track: Track, uid: str) -> TrackDetails:
        join = (self.config.join_url_template.format(track=track.slug, uid=uid)
                if self.config.join_url_template else None)
        return TrackDetails(slug=track.slug, title=track.title, track_url=self.track_url(track),
                            track_address=self.book.track_address(track.token),
                            join_url=join)

    def local_user(self, address: str) -> str | None:
        """The user here an address belongs to (logged in once, or in ``addresses``)."""
        user = self.book.user_of(address)
        return user if user and self.calendars.user_exists(user) else None

    def zone_for(self, address: str) -> str | None:
        """The zone mails to ``address`` show times in: a user's here when their
        calendars name one; None (the event's own zone) for everyone else."""
        user = self.local_user(address)
        return self.calendars.user_zone(user) if user else None

    def resources(self, connection: Connection, *calendars: Calendar | None
                  ) -> frozenset[str]:
        """The rooms and resources among the attendees of ``calendars``: by CUTYPE, or
        rooms of this server whatever their CUTYPE. They are never members."""
        known = self.rooms(connection) if self.rooms is not None else frozenset()
        found: frozenset[str] = frozenset()
        for calendar in calendars:
            found |= resources_of(calendar, known)
        return found

    # -- the entry point ------------------------------------------------------------

    def handle_organizer_change(self, connection: Connection, change: OrganizerChange,
                                store_organizer: Callable[[Calendar | None], None],
                                local_recipients: frozenset[str] = frozenset()
                                ) -> frozenset[str]:
        """Process ``change``; ``store_organizer`` stores the organizer's object (the
        given replacement, or as sent for None) — called exactly once, before any
        other effect, so that a failure afterwards never loses the organizer's write.

        ``local_recipients`` get their invitation from server-side scheduling (inbox and
        calendar), so the assistant's mail to them carries none. The answer is who got
        the organizer's iTIP message inside the assistant's mail: scheduling sends those
        people nothing more (one invitation per person and change)."""
        now = self.clock()
        latest = change.new if change.new is not None else change.old
        assert latest is not None
        organizer, organizer_name = _organizer(latest)
        meeting = self._known_meeting(connection, latest, organizer)
        track = store.track_by_id(connection, meeting.track_id) if meeting else None
        if track is not None and meeting is not None:
            change = self._with_details(change, self.details(track, meeting.uid))
        messages = organizer_messages(change.old, change.new,
                                      change.organizer_addresses(self.book), now)
        received = [m for m in messages if self.book.is_assistant_side(m.recipient)]
        if not received:
            store_organizer(None)
            return frozenset()
        assert organizer is not None  # the broker only speaks for objects with one
        uid = received[0].uid
        latest = change.new if change.new is not None else change.old
        assert latest is not None
        mails = _Mails()
        now_ts = int(now.timestamp())
        refused: list[tuple[str, str]] = []
        if track is None:
            track, message, refused = self._choose_track(connection, received)
            for address, reason in refused:
                latest = set_attendee_status(latest, address, partstat=None,
                                             schedule_status=INVALID_USER)
                mails.add("track_refused", organizer, organizer_name, {
                    "address": address, "reason": reason,
                    "assistant_address": self.book.assistant,
                    "meeting": dict(meeting_facts(latest, self.zone_for(organizer)),
                                    join_url="")})
                store.record_activity(connection, at=now_ts, kind="refused", uid=uid,
                                      actor=organizer, summary="%s: %s" % (address, reason))
                logger.info("Refused %s for uid %r of %s: %s", address, uid, organizer,
                            reason)
            if message is None:
                store_organizer(latest if refused and change.new is not None else None)
                self._send(connection, mails, None, uid, now)
                return frozenset()
            creating = track is None
        else:
            message = next((m for m in received if m.recipient == self._attendee_of(
                track, received)), received[0])
            creating = False
        existing_text = (self.calendars.read_copy(track.slug, meeting.href)
                         if track is not None and meeting is not None else None)
        existing = Calendar.from_ical(existing_text) if existing_text else None
        receipt = _apply_all([m for m in received if m.recipient == message.recipient],
                             existing)
        if receipt.outcome in (Outcome.STALE, Outcome.IGNORED) or receipt.calendar is None:
            store_organizer(None)
            if track is not None:
                store.record_activity(connection, at=now_ts, kind=receipt.outcome.value,
                                      track_id=track.id, uid=uid, actor=organizer,
                                      summary=receipt.reason)
            logger.info("Assistant ignored %s for uid %r: %s", message.method, uid,
                        receipt.reason)
            return frozenset()
        if creating:
            track = self._open_track(connection, change, organizer, latest, now_ts)
        assert track is not None
        assistant_address = message.recipient
        details = self.details(track, uid)
        if meeting is None and change.new is not None:
            # participants' first invitation carries the track and join links too
            messages = organizer_messages(change.old, with_track_details(change.new, details),
                                          change.organizer_addresses(self.book), now)
        if change.new is not None:
            updated = set_attendee_status(change.new, assistant_address,
                                          partstat=PartStat.ACCEPTED.value,
                                          schedule_status=DELIVERED)
            for address, _reason in refused:
                updated = set_attendee_status(updated, address, partstat=None,
                                              schedule_status=INVALID_USER)
            store_organizer(with_track_details(updated, details))
        else:
            store_organizer(None)
        copy = track_copy(with_track_details(receipt.calendar, details),
                          self.book.is_assistant_side)
        if change.received is not None:
            # the message applied was re-authored here (DTSTAMP now): the organizer's
            # own SEQUENCE and DTSTAMP are what their next message is compared with
            copy = keep_organizer_stamps(copy, change.received)
        href = meeting.href if meeting is not None else copy_href(uid)
        self.calendars.write_copy(track.slug, href, copy.to_ical().decode("utf-8"))
        facts = meeting_facts(copy)
        cancelled = receipt.outcome is Outcome.CANCELLED
        store.save_meeting(connection, track.id, uid, href=href, organizer=organizer,
                           source_path=change.source_path, summary=facts["summary"],
                           dtstart=_timestamp(copy),
                           sequence=_sequence(copy),
                           status="cancelled" if cancelled else "active", now=now_ts)
        resources = self.resources(connection, change.old, change.new)
        new_members = self._record_members(connection, track, organizer, organizer_name,
                                           change, now_ts, resources)
        self._decide_mails(mails, track, message, messages, receipt, change, copy, details,
                           organizer, organizer_name, new_members, creating,
                           meeting is None, now, local_recipients, resources)
        kind = {Outcome.CREATED: "created" if creating else "added",
                Outcome.UPDATED: "updated", Outcome.CANCELLED: "cancelled",
                Outcome.INSTANCE_CANCELLED: "instance-cancelled",
                Outcome.REPLY_APPLIED: "reply"}.get(receipt.outcome, receipt.outcome.value)
        store.record_activity(connection, at=now_ts, kind=kind, track_id=track.id, uid=uid,
                              actor=organizer, summary=self._activity_summary(
                                  kind, facts["summary"], receipt, change.old,
                                  change.new or copy))
        store.touch_track(connection, track.id, now_ts)
        self._send(connection, mails, track, uid, now)
        logger.info("Assistant %s uid %r in track %s (%s)", kind, uid, track.slug,
                    receipt.reason)
        return frozenset(mail.recipient for mail in mails.pending
                         if mail.itip is not None and mail.recipient != organizer)

    def follow_reply(self, connection: Connection, uid: str, organizer: str, attendee: str,
                     partstats: dict[Any, str], reply: Calendar | None = None) -> bool:
        """An attendee answered a meeting of a track (merged into the organizer's copy by
        scheduling): the track copy and the member's row show the answer, no mail.

        ``reply`` (the REPLY itself) is applied as to the organizer's copy, so answers for
        single occurrences (a room declining one of a series) show the same way. A room
        or resource answering stays out of the members."""
        from radicale_tracks.core.scheduling import with_partstats

        meeting = store.meeting_by_uid(connection, uid, organizer)
        track = store.track_by_id(connection, meeting.track_id) if meeting else None
        if meeting is None or track is None or not read_address(attendee).is_mail:
            return False
        text = self.calendars.read_copy(track.slug, meeting.href)
        if text is None:
            return False
        before = Calendar.from_ical(text)
        copy = before
        if reply is not None:
            try:
                receipt = apply_message(reply, before)
            except ItipError as e:
                logger.info("Reply of %s not applied to the track copy: %s", attendee, e)
            else:
                if (receipt.outcome is Outcome.REPLY_APPLIED
                        and receipt.calendar is not None):
                    copy = receipt.calendar
        copy = with_partstats(copy, attendee, partstats)
        self.calendars.write_copy(track.slug, meeting.href, copy.to_ical().decode("utf-8"))
        answers = sorted(set(partstats.values()))
        now = int(self.clock().timestamp())
        if attendee in self.resources(connection, before, reply):
            store.remove_members(connection, track.id, [attendee])
        else:
            store.upsert_member(connection, track.id, attendee,
                                user=self.local_user(attendee), name=None, role="attendee",
                                partstat=answers[0] if len(answers) == 1 else None, now=now)
        store.record_activity(connection, at=now, kind="reply", track_id=track.id, uid=uid,
                              actor=attendee, summary=describe_answer(attendee, answers))
        return True

    # -- for answers to mail (tracks/mailed.py) ---------------------------------------

    def track_context(self, track: Track, copy: Calendar, recipient: str | None = None
                      ) -> dict[str, Any]:
        """The template context every track mail shares (track facts, the meeting, in
        the recipient's zone when they are a user here)."""
        organizer, organizer_name = _organizer(copy)
        master = master_of(copy)
        details = self.details(track, uid_of(master) if master is not None else "")
        zone = self.zone_for(recipient) if recipient else None
        return {"track": {"title": track.title, "url": details.track_url,
                          "address": details.track_address,
                          "feed_url": self.feed_url(track)},
                "meeting": dict(meeting_facts(copy, zone), join_url=details.join_url or ""),
                "organizer_name": organizer_name or organizer or track.organizer}

    def queue_mail(self, connection: Connection, track: Track, uid: str, kind: str,
                   recipient: str, name: str | None, context: dict[str, Any],
                   itip: str | None = None, method: str | None = None) -> None:
        """One mail from the track's address, queued in the caller's transaction."""
        mails = _Mails()
        mails.add(kind, recipient, name, context, itip, method)
        self._send(connection, mails, track, uid, self.clock())

    # -- steps ------------------------------------------------------------------------

    @staticmethod
    def _known_meeting(connection: Connection, latest: Calendar, organizer: str | None
                       ) -> store.Meeting | None:
        master = master_of(latest)
        if master is None or organizer is None:
            return None
        return store.meeting_by_uid(connection, str(master.get("UID", "")), organizer)

    @staticmethod
    def _with_details(change: OrganizerChange, details: TrackDetails) -> OrganizerChange:
        """Both versions with the details of the meeting's track.

        A client that saves its own copy drops what the assistant wrote (or keeps an
        older copy of it); comparing versions that both carry the same details makes
        only the organizer's own edits count as changes.
        """
        return OrganizerChange(
            user=change.user, source_path=change.source_path,
            old=with_track_details(change.old, details) if change.old is not None else None,
            new=with_track_details(change.new, details) if change.new is not None else None,
            external_organizer=change.external_organizer, received=change.received)

    def _attendee_of(self, track: Track, received: list[ItipMessage]) -> str:
        track_address = self.book.track_address(track.token)
        addresses = [m.recipient for m in received]
        return track_address if track_address in addresses else addresses[0]

    def _choose_track(self, connection: Connection, received: list[ItipMessage]
                      ) -> tuple[Track | None, ItipMessage | None, list[tuple[str, str]]]:
        """For a meeting new to the assistant: (existing track or None for a new one,
        the message to act on or None, refused track addresses with reasons)."""
        requests = [m for m in received if m.method is Method.REQUEST]
        refused: list[tuple[str, str]] = []
        for message in requests:
            token = self.book.track_token(message.recipient)
            if token is None:
                continue
            track = store.track_by_token(connection, token)
            if track is None:
                refused.append((message.recipient, "there is no track with this address"))
            elif not track.is_open:
                refused.append((message.recipient, "this track is closed"))
            else:
                return track, message, refused
        for message in requests:
            if self.book.is_assistant(message.recipient):
                return None, message, refused
        return None, None, refused

    def _open_track(self, connection: Connection, change: OrganizerChange, organizer: str,
                    latest: Calendar, now: int) -> Track:
        title = meeting_facts(latest)["summary"]
        slug = self.tokens()[:16]
        track = store.insert_track(connection, slug=slug, token=self.tokens()[:20],
                                   feed_token=self.tokens(), title=title,
                                   organizer=organizer, organizer_user=change.user, now=now)
        # a failure later in this transaction rolls the track's rows back and the write
        # journal (db/journal.py) removes its folder: no half-made track stays
        self.calendars.create_track_calendar(slug, title)
        return track

    def _record_members(self, connection: Connection, track: Track, organizer: str,
                        organizer_name: str | None, change: OrganizerChange, now: int,
                        resources: frozenset[str] = frozenset()) -> set[str]:
        new: set[str] = set()
        if store.upsert_member(connection, track.id, organizer, user=change.user,
                               name=organizer_name, role="organizer", partstat="ACCEPTED",
                               now=now):
            new.add(organizer)
        # rooms and resources are no members (rows an older version made go too)
        store.remove_members(connection, track.id, resources)
        partstats = _partstats(change.new)
        for address, name in _attendees(change.new).items():
            if (self.book.is_assistant_side(address) or address == organizer
                    or address in resources or not read_address(address).is_mail):
                continue  # rooms are no members; a member is written to: e-mail only
            if store.upsert_member(connection, track.id, address,
                                   user=self.local_user(address), name=name,
                                   role="attendee", partstat=partstats.get(address),
                                   now=now):
                new.add(address)
        return new

    def _decide_mails(self, mails: _Mails, track: Track, message: ItipMessage,
                      messages: list[ItipMessage], receipt: Receipt,
                      change: OrganizerChange, copy: Calendar, details: TrackDetails,
                      organizer: str, organizer_name: str | None, new_members: set[str],
                      creating: bool, new_meeting: bool, now: datetime.datetime,
                      local_recipients: frozenset[str] = frozenset(),
                      resources: frozenset[str] = frozenset()) -> None:
        """Who hears what about this change, each in their own zone.

        The organizer is not told about her own change: she gets the track's news
        (created, the meeting added, refused) and, when her calendar is elsewhere and the
        change was significant, the assistant's renewed acceptance; participants get what
        changed, for the occurrence that changed. Rooms and resources get their
        invitation from scheduling, never a track's mail."""
        track_facts = {"title": track.title, "url": details.track_url,
                       "address": details.track_address, "feed_url": self.feed_url(track)}
        external = change.external_organizer is not None
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

        def context(recipient: str, **extra: Any) -> dict[str, Any]:
            zone = self.zone_for(recipient)
            facts = dict(meeting_facts(copy, zone), join_url=details.join_url or "")
            return dict(base, meeting=facts, **extra)

        def update(recipient: str, changes: tuple[str, ...],
                   instances: tuple[Any, ...]) -> dict[str, Any]:
            changes, instances = self._focus(change.old, new_version, changes, instances)
            zone = self.zone_for(recipient)
            instance, sentences = describe_update(change.old, new_version, changes,
                                                  instances, zone)
            result = context(recipient, instance=instance, changes=sentences)
            if len(instances) == 1 and instances[0] is not None:
                # one occurrence changed: the mail shows that occurrence, not the series
                result["meeting"] = dict(meeting_facts(copy, zone, instances[0]),
                                         join_url=details.join_url or "")
            return result

        def cancelled(recipient: str, instances: tuple[Any, ...]) -> str:
            zone = self.zone_for(recipient)
            return ", ".join(describe_instance(key, copy, zone) for key in instances if key)

        per_recipient = {m.recipient: m for m in messages
                         if not self.book.is_assistant_side(m.recipient)
                         and m.recipient not in resources}
        if external:
            # the organizer's own calendar invites, updates and cancels its participants:
            # the assistant only tells new members how to follow the track
            per_recipient = {r: m for r, m in per_recipient.items()
                             if r in new_members and m.method is not Method.CANCEL}
            local_recipients = frozenset(per_recipient)

        def itip_for(recipient: str, sent: ItipMessage) -> str | None:
            if recipient in local_recipients:
                return None  # delivered to their calendar by the server already
            return with_sent_by(sent.ics, details.track_address)

        names = {**_attendees(change.old), **_attendees(change.new)}
        hidden = _hidden_attendees(change.new)
        outcome = receipt.outcome
        reply: str | None = None
        if change.new is not None and outcome is not Outcome.CANCELLED:
            reply = build_reply(change.new, message.recipient, PartStat.ACCEPTED, now).ics
        if outcome is Outcome.CANCELLED or outcome is Outcome.INSTANCE_CANCELLED:
            keys = () if outcome is Outcome.CANCELLED else receipt.instances
            # the organizer's confirmation: the track shows it cancelled
            mails.add("meeting_cancelled", organizer, organizer_name,
                      context(organizer, instance=cancelled(organizer, keys),
                              to_organizer=True))
            for recipient, sent in per_recipient.items():
                if sent.method is Method.CANCEL:
                    itip = itip_for(recipient, sent)
                    mails.add("meeting_cancelled", recipient, names.get(recipient),
                              context(recipient, instance=cancelled(recipient, keys)),
                              itip, "CANCEL" if itip else None)
            return
        if (not creating and not new_meeting and set(receipt.changes) <= {"ATTENDEE"}
                and set(_attendees(change.old)) == set(_attendees(change.new))
                and not newly_unreached):
            return  # only replies (PARTSTAT) changed: the track copy follows, no mail
        if creating:
            mails.add("track_created", organizer, organizer_name,
                      context(organizer, not_reached=not_reached), reply, "REPLY")
        elif new_meeting:
            mails.add("meeting_ready", organizer, organizer_name,
                      context(organizer, not_reached=not_reached), reply, "REPLY")
        elif (external and receipt.significant) or newly_unreached:
            # her calendar elsewhere asks attendees to answer a significant change again:
            # the assistant accepted it and says so, with the REPLY her calendar reads;
            # someone newly invited without a usable address is named to her, wherever
            # her calendar is (a client here shows only SCHEDULE-STATUS 3.7)
            mails.add("change_followed", organizer, organizer_name,
                      dict(update(organizer, receipt.changes, receipt.instances),
                           not_reached=newly_unreached), reply if external else None,
                      "REPLY" if external else None)
        for recipient, sent in per_recipient.items():
            itip = itip_for(recipient, sent)
            method = sent.method.value if itip else None
            if sent.method is Method.CANCEL:
                mails.add("meeting_cancelled", recipient, names.get(recipient),
                          context(recipient, instance=cancelled(recipient, sent.instances)),
                          itip, method)
                continue
            local = self.local_user(recipient)
            subscribe = {"caldav_url": details.track_url if local else "",
                         "feed_url": "" if local else self.feed_url(track)}
            if recipient in hidden:
                # the track lists everyone: no link to it for who may not see the others
                subscribe = {"caldav_url": "", "feed_url": ""}
            if recipient in new_members:
                mails.add("member_added", recipient, names.get(recipient),
                          context(recipient, subscribe=subscribe), itip, method)
            elif new_meeting:
                mails.add("meeting_added", recipient, names.get(recipient),
                          context(recipient), itip, method)
            else:
                mails.add("meeting_changed", recipient, names.get(recipient),
                          update(recipient, sent.changes, sent.instances), itip, method)

    def _send(self, connection: Connection, mails: _Mails, track: Track | None,
              uid: str, now: datetime.datetime) -> None:
        if not mails.pending:
            return
        sender = self.book.track_address(track.token) if track else self.book.assistant
        rendered: list[OutgoingMail] = []
        for mail in mails.pending:
            context = dict(mail.context, recipient_name=mail.name or mail.recipient,
                           domain=self.book.domain)
            rendered.append(compose_mail(
                self.templates, mail.kind, context, sender=sender, sender_name="Assistant",
                recipient=mail.recipient, recipient_name=mail.name,
                message_id=message_id_for(self.tokens(), self.book.domain), now=now,
                itip=mail.itip, method=mail.method, envelope_from=self.config.from_email,
                track_id=track.id if track else None, uid=uid))
        enqueue(connection, rendered, int(now.timestamp()))

    def _focus(self, old: Calendar | None, new: Calendar, changes: tuple[str, ...],
               instances: tuple[InstanceKey, ...]) -> tuple[tuple[str, ...],
                                                         tuple[InstanceKey, ...]]:
        """What the organizer changed, as members see the meeting (the assistant's own
        answer and delivery bookkeeping are not her change): ``focused_changes``."""
        if old is None:
            return changes, instances
        side = self.book.is_assistant_side
        return focused_changes(track_copy(old, side), track_copy(new, side), changes,
                               instances)

    def _activity_summary(self, kind: str, summary: str, receipt: Receipt,
                          old: Calendar | None = None, new: Calendar | None = None) -> str:
        """The activity line (``tracks show``, the Meetings page): what happened in
        words, the occurrence it happened to, in the event's own zone."""
        if kind == "updated" and new is not None:
            changes, instances = self._focus(old, new, receipt.changes, receipt.instances)
            instance, sentences = describe_update(old, new, changes, instances)
            head = "%s (%s)" % (summary, instance) if instance else summary
            return "%s: %s" % (head, " ".join(sentences) if sentences else "updated")
        if kind == "instance-cancelled" and new is not None:
            return "%s: cancelled on %s" % (summary, ", ".join(
                describe_instance(key, new) for key in receipt.instances if key))
        words = {"created": "a new track for it", "added": "added to the track"}
        return "%s: %s" % (summary, words.get(kind, kind.replace("-", " ")))


def record_failure(connection: Connection, *, at: int, uid: str | None, actor: str | None,
                   error: BaseException, detail: str, track_id: int | None = None,
                   what: str = "assistant") -> None:
    """A failure of the assistant (or of ``what`` else processed a write), where
    ``tracks show`` and ``tracks list`` show it — for the admin: people never read it."""
    store.record_activity(connection, at=at, kind="failed", uid=uid, actor=actor,
                          track_id=track_id,
                          summary="%s failed: %s: %s" % (what, type(error).__name__, error),
                          detail=detail)


__all__ = ["Assistant", "AssistantConfig", "OrganizerChange", "TrackCalendars",
           "involves_assistant", "record_failure", "copy_href"]
