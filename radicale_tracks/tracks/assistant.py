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

The stages are values handed on: what arrived, the track chosen, the receipt, the
organizer's object and the track copy (pure, ``tracks/assistant_stages.py``), and who
hears what (``tracks/assistant_mails.py``); this module runs them and does the writes.

It reaches calendars only through the :class:`TrackCalendars` port (the storage adapter
implements it inside Radicale's write lock) and the database through the connection it is
handed, so one storage write is one transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import AddressBook, read_address
from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.itip import (
    ItipError,
    ItipMessage,
    Method,
    as_list,
    attendees_of,
    master_of,
    organizer_of,
    partstat_of,
    sequence_of,
    uid_of,
)
from radicale_tracks.core.receipt import Outcome, Receipt, apply_message
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
    with_track_details,
)
from radicale_tracks.mail.compose import MailTemplates, compose_mail, message_id_for
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.store import enqueue
from radicale_tracks.scheduling.ports import TrackCalendars
from radicale_tracks.tracks import store
from radicale_tracks.tracks.assistant_mails import (
    People,
    PlannedMail,
    TrackChange,
    attendee_names,
    decide_mails,
    focus,
)
from radicale_tracks.tracks.assistant_stages import (
    activity_kind,
    apply_all,
    organizer_version,
    track_copy_of,
    with_refusals,
)
from radicale_tracks.tracks.store import Track

logger = logging.getLogger("radicale.tracks.assistant")


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
    #: who hears about the meeting in a booking's own words (its customer): no track mail
    mailed_elsewhere: frozenset[str] = frozenset()

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


@dataclass(frozen=True)
class _Arrival:
    """What an organizer's change brings the assistant (its first stage)."""

    #: the change, both versions with the details of the meeting's track if it has one
    change: OrganizerChange
    organizer: str
    organizer_name: str | None
    #: the meeting and its track, when the assistant knows the meeting already
    meeting: store.Meeting | None
    track: Track | None
    #: every message the broker made for the change
    messages: tuple[ItipMessage, ...]
    #: those to the assistant and track addresses
    received: tuple[ItipMessage, ...]

    @property
    def uid(self) -> str:
        return self.received[0].uid if self.received else ""


@dataclass(frozen=True)
class _Choice:
    """The track a change goes to (its second stage)."""

    #: the meeting's track, or an open track invited; None: a new one (``creating``)
    track: Track | None
    #: the message to the assistant's side acted on; None: nothing to act on
    message: ItipMessage | None
    #: (track address, why) for the track addresses that cannot take the meeting
    refused: tuple[tuple[str, str], ...]
    creating: bool
    #: the organizer's latest version, with the refused addresses' 3.7
    latest: Calendar
    #: the organizer's mails about the refusals
    mails: tuple[PlannedMail, ...]


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

    @property
    def people(self) -> People:
        """What the mail decision asks about addresses, answered here."""
        return People(self.book.is_assistant_side, self.local_user, self.zone_for)

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
        people nothing more (one invitation per person and change).

        The stages: what arrived (:meth:`_arrival`) → which track (:meth:`_choice`) →
        the messages applied (``apply_all``) → the organizer's object stored → the track
        copy and rows (:meth:`_keep`) → the mails (``tracks/assistant_mails.py``)."""
        now = self.clock()
        arrival = self._arrival(connection, change, now)
        if not arrival.received:
            store_organizer(None)
            return frozenset()
        change, organizer, uid = arrival.change, arrival.organizer, arrival.uid
        choice = self._choice(connection, arrival, now)
        if choice.message is None:
            store_organizer(choice.latest if choice.refused and change.new is not None
                            else None)
            self._send(connection, choice.mails, None, uid, now)
            return frozenset()
        receipt = apply_all([m for m in arrival.received
                             if m.recipient == choice.message.recipient],
                            self._track_copy(choice.track, arrival.meeting))
        if receipt.outcome in (Outcome.STALE, Outcome.IGNORED) or receipt.calendar is None:
            store_organizer(None)
            if choice.track is not None:
                store.record_activity(connection, at=int(now.timestamp()),
                                      kind=receipt.outcome.value, track_id=choice.track.id,
                                      uid=uid, actor=organizer, summary=receipt.reason)
            logger.info("Assistant ignored %s for uid %r: %s", choice.message.method, uid,
                        receipt.reason)
            return frozenset()
        track = choice.track
        if choice.creating:
            track = self._open_track(connection, change, organizer, choice.latest,
                                     int(now.timestamp()))
        assert track is not None
        details = self.details(track, uid)
        messages = arrival.messages
        if arrival.meeting is None and change.new is not None:
            # participants' first invitation carries the track and join links too
            messages = tuple(organizer_messages(
                change.old, with_track_details(change.new, details),
                change.organizer_addresses(self.book), now))
        refused = [address for address, _reason in choice.refused]
        store_organizer(organizer_version(change.new, choice.message.recipient, refused,
                                          details) if change.new is not None else None)
        copy = track_copy_of(receipt.calendar, details, self.book.is_assistant_side,
                             change.received)
        summary = meeting_facts(copy)["summary"]
        resources, new_members = self._keep(connection, arrival, track, copy, summary,
                                            receipt, now)
        mails = [*choice.mails, *decide_mails(TrackChange(
            track=track, details=details, feed_url=self.feed_url(track),
            message=choice.message, messages=messages, receipt=receipt, old=change.old,
            new=change.new, external=change.external_organizer is not None, copy=copy,
            organizer=organizer, organizer_name=arrival.organizer_name,
            new_members=new_members, creating=choice.creating,
            new_meeting=arrival.meeting is None, local_recipients=local_recipients,
            resources=resources, mailed_elsewhere=change.mailed_elsewhere),
            self.people, now)]
        kind = activity_kind(receipt.outcome, choice.creating)
        now_ts = int(now.timestamp())
        store.record_activity(connection, at=now_ts, kind=kind, track_id=track.id, uid=uid,
                              actor=organizer, summary=self._activity_summary(
                                  kind, summary, receipt, change.old,
                                  change.new or copy))
        store.touch_track(connection, track.id, now_ts)
        self._send(connection, mails, track, uid, now)
        logger.info("Assistant %s uid %r in track %s (%s)", kind, uid, track.slug,
                    receipt.reason)
        return frozenset(mail.recipient for mail in mails
                         if mail.itip is not None and mail.recipient != organizer)

    def _arrival(self, connection: Connection, change: OrganizerChange,
                 now: datetime.datetime) -> _Arrival:
        """What the change brings the assistant: the meeting and track it already
        knows (both versions then carry the track's details) and the broker's messages,
        those to its addresses among them."""
        latest = change.new if change.new is not None else change.old
        assert latest is not None
        organizer, organizer_name = _organizer(latest)
        meeting = self._known_meeting(connection, latest, organizer)
        track = store.track_by_id(connection, meeting.track_id) if meeting else None
        if track is not None and meeting is not None:
            change = self._with_details(change, self.details(track, meeting.uid))
        messages = tuple(organizer_messages(change.old, change.new,
                                            change.organizer_addresses(self.book), now))
        received = tuple(m for m in messages if self.book.is_assistant_side(m.recipient))
        # the broker only speaks for objects with an organizer
        assert organizer is not None or not received
        return _Arrival(change, organizer or "", organizer_name, meeting, track, messages,
                        received)

    def _choice(self, connection: Connection, arrival: _Arrival, now: datetime.datetime
                ) -> _Choice:
        """The track the change goes to and the message acted on: the meeting's own
        track, else the first open track invited, else a new one if the assistant was;
        track addresses that cannot take it are refused (a mail to the organizer, an
        activity line, 3.7 on the address)."""
        change, organizer, uid = arrival.change, arrival.organizer, arrival.uid
        latest = change.new if change.new is not None else change.old
        assert latest is not None
        if arrival.track is not None:
            track = arrival.track
            acted_on = next((m for m in arrival.received if m.recipient == self._attendee_of(
                track, arrival.received)), arrival.received[0])
            return _Choice(track, acted_on, (), False, latest, ())
        chosen, message, refused = self._choose_track(connection, arrival.received)
        mails: list[PlannedMail] = []
        for address, reason in refused:
            latest = with_refusals(latest, [address])
            mails.append(PlannedMail("track_refused", organizer, arrival.organizer_name, {
                "address": address, "reason": reason,
                "assistant_address": self.book.assistant,
                "meeting": dict(meeting_facts(latest, self.zone_for(organizer)),
                                join_url="")}))
            store.record_activity(connection, at=int(now.timestamp()), kind="refused",
                                  uid=uid, actor=organizer,
                                  summary="%s: %s" % (address, reason))
            logger.info("Refused %s for uid %r of %s: %s", address, uid, organizer, reason)
        return _Choice(chosen, message, tuple(refused), chosen is None, latest, tuple(mails))

    def _track_copy(self, track: Track | None, meeting: store.Meeting | None
                    ) -> Calendar | None:
        """The track's copy of a meeting it knows, as written."""
        text = (self.calendars.read_copy(track.slug, meeting.href)
                if track is not None and meeting is not None else None)
        return Calendar.from_ical(text) if text else None

    def _keep(self, connection: Connection, arrival: _Arrival, track: Track, copy: Calendar,
              summary: str, receipt: Receipt, now: datetime.datetime
              ) -> tuple[frozenset[str], frozenset[str]]:
        """The track's copy written, the meeting's row and its members recorded; answers
        the rooms and resources among the attendees, and the members new to the track."""
        change, uid, meeting = arrival.change, arrival.uid, arrival.meeting
        now_ts = int(now.timestamp())
        href = meeting.href if meeting is not None else copy_href(uid)
        self.calendars.write_copy(track.slug, href, copy.to_ical().decode("utf-8"))
        cancelled = receipt.outcome is Outcome.CANCELLED
        store.save_meeting(connection, track.id, uid, href=href, organizer=arrival.organizer,
                           source_path=change.source_path,
                           summary=summary, dtstart=_timestamp(copy),
                           sequence=_sequence(copy),
                           status="cancelled" if cancelled else "active", now=now_ts)
        resources = self.resources(connection, change.old, change.new)
        new_members = self._record_members(connection, track, arrival.organizer,
                                           arrival.organizer_name, change, now_ts, resources)
        return resources, frozenset(new_members)

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
        self._send(connection, [PlannedMail(kind, recipient, name, context, itip, method)],
                   track, uid, self.clock())

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
        return replace(
            change,
            old=with_track_details(change.old, details) if change.old is not None else None,
            new=with_track_details(change.new, details) if change.new is not None else None)

    def _attendee_of(self, track: Track, received: Sequence[ItipMessage]) -> str:
        track_address = self.book.track_address(track.token)
        addresses = [m.recipient for m in received]
        return track_address if track_address in addresses else addresses[0]

    def _choose_track(self, connection: Connection, received: Sequence[ItipMessage]
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
        for address, name in attendee_names(change.new).items():
            if (self.book.is_assistant_side(address) or address == organizer
                    or address in resources or not read_address(address).is_mail):
                continue  # rooms are no members; a member is written to: e-mail only
            if store.upsert_member(connection, track.id, address,
                                   user=self.local_user(address), name=name,
                                   role="attendee", partstat=partstats.get(address),
                                   now=now):
                new.add(address)
        return new

    def _send(self, connection: Connection, mails: Sequence[PlannedMail], track: Track | None,
              uid: str, now: datetime.datetime) -> None:
        """The mails decided, rendered from the track's address (the assistant's before
        a track exists) and queued in the caller's transaction."""
        if not mails:
            return
        sender = self.book.track_address(track.token) if track else self.book.assistant
        rendered: list[OutgoingMail] = []
        for mail in mails:
            context = dict(mail.context, recipient_name=mail.name or mail.recipient,
                           domain=self.book.domain)
            rendered.append(compose_mail(
                self.templates, mail.kind, context, sender=sender, sender_name="Assistant",
                recipient=mail.recipient, recipient_name=mail.name,
                message_id=message_id_for(self.tokens(), self.book.domain), now=now,
                itip=mail.itip, method=mail.method, envelope_from=self.config.from_email,
                track_id=track.id if track else None, uid=uid))
        enqueue(connection, rendered, int(now.timestamp()))

    def _activity_summary(self, kind: str, summary: str, receipt: Receipt,
                          old: Calendar | None = None, new: Calendar | None = None) -> str:
        """The activity line (``tracks show``, the Meetings page): what happened in
        words, the occurrence it happened to, in the event's own zone."""
        if kind == "updated" and new is not None:
            changes, instances = focus(self.book.is_assistant_side, old, new,
                                       receipt.changes, receipt.instances)
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
