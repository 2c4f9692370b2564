"""The assistant answering mail: iTIP from organizers and participants elsewhere.

An organizer on Google Calendar or Outlook invites ``assistant@<domain>`` by mail; the
inbound processor (``inbound/processor.py``) has already decided the mail is readable,
within limits and from whom it claims (``core/mail_trust.py``). Here each method gets
the assistant's answer:

- REQUEST / CANCEL: applied to the track's copy (``core/receipt.py``: stale ones
  ignored), then handled exactly like a local organizer's write of the same change
  (:meth:`Assistant.handle_organizer_change` with ``external_organizer``): a new track or
  the invited track, members, the REPLY (ACCEPTED) and the confirmation to the organizer
  — but no invitation to participants, whose own calendar already invited them;
- REPLY: the participant's answer recorded in the track (and in a local organizer's
  copy, through the scheduling engine);
- REFRESH: the meeting as it stands, sent again to the participant asking;
- COUNTER: a DECLINECOUNTER — the assistant keeps meetings, it does not move them;
- a mail without calendar data to a track address: a VJOURNAL note in the track.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.answers import SharedFile, declinecounter, received_message, shared_note
from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.itip import (
    ItipMessage,
    Method,
    all_attendees,
    master_of,
    organizer_of,
    parse_calendar,
    uid_of,
)
from radicale_tracks.core.receipt import Outcome, apply_message
from radicale_tracks.core.scheduling import partstats_of
from radicale_tracks.core.track_details import with_sent_by
from radicale_tracks.tracks import store
from radicale_tracks.tracks.assistant import Assistant, OrganizerChange, copy_href
from radicale_tracks.tracks.store import Meeting, Track

logger = logging.getLogger("radicale.tracks.assistant")

COUNTER_COMMENT = ("The assistant keeps this meeting's track but does not reschedule; "
                   "please ask the organizer.")


class Answer(StrEnum):
    PROCESSED = "processed"   # acted on (or a stale repeat of something acted on)
    KEPT = "kept"             # nothing to act on: kept for the admin to look at
    REFUSED = "refused"       # not allowed or not possible: quarantined, bounced


@dataclass(frozen=True)
class MailAnswer:
    answer: Answer
    reason: str


@dataclass(frozen=True)
class SharedMail:
    """A mail without calendar data, as a track note needs it."""

    key: str                 # Message-ID or digest: the same mail twice is one note
    subject: str
    text: str
    sender: str
    sender_name: str | None
    files: tuple[SharedFile, ...]


class _Found(NamedTuple):
    """The track meeting a participant's message is about, and its copy."""

    meeting: Meeting
    track: Track
    copy: Calendar


#: delivers a REPLY to a local organizer (the scheduling engine's path); answers how
#: it went ("reply-applied", "stale", "ignored", "refused: …")
DeliverReply = Callable[[Connection, str, ItipMessage], str]


class AssistantMail:
    """Inbound iMIP for the assistant and the track addresses."""

    def __init__(self, assistant: Assistant, deliver_reply: DeliverReply,
                 max_file_bytes: int, max_total_bytes: int) -> None:
        self.assistant = assistant
        self.deliver_reply = deliver_reply
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes

    def receive(self, connection: Connection, calendar: Calendar, method: Method,
                recipient: str, sender: str) -> MailAnswer:
        """``calendar`` (validated, METHOD set) mailed to ``recipient`` (the assistant or
        a track address) by ``sender`` (the ORGANIZER or ATTENDEE the trust check
        matched)."""
        if method in (Method.REQUEST, Method.CANCEL):
            return self._from_organizer(connection, calendar, method, recipient)
        answer_to = {Method.REPLY: self._reply, Method.REFRESH: self._refresh,
                     Method.COUNTER: self._counter}.get(method)
        if answer_to is not None:
            found = self._meeting_of(connection, calendar, sender)
            if isinstance(found, MailAnswer):
                return found
            return answer_to(connection, calendar, sender, found)
        if method is Method.ADD:
            return MailAnswer(Answer.REFUSED, "METHOD:ADD is not supported by the "
                              "assistant; the organizer's calendar can send the whole "
                              "series as a REQUEST (RFC 5546 §3.2.4)")
        return MailAnswer(Answer.KEPT, "METHOD:%s needs no answer from the assistant"
                          % method.value)

    # -- the organizer --------------------------------------------------------------

    def _from_organizer(self, connection: Connection, calendar: Calendar, method: Method,
                        recipient: str) -> MailAnswer:
        master = master_of(calendar)
        assert master is not None  # validated
        organizer = organizer_of(master)
        assert organizer is not None
        uid = uid_of(master)
        if recipient not in all_attendees(calendar):
            return MailAnswer(Answer.REFUSED, "%s is not an ATTENDEE of UID %s: invite the "
                              "address instead of copying it" % (recipient, uid))
        meeting = store.meeting_by_uid(connection, uid, organizer)
        track = store.track_by_id(connection, meeting.track_id) if meeting else None
        existing_text = (self.assistant.calendars.read_copy(track.slug, meeting.href)
                         if track is not None and meeting is not None else None)
        existing = parse_calendar(existing_text) if existing_text else None
        if existing is None and method is Method.CANCEL:
            return MailAnswer(Answer.KEPT, "nothing to cancel: UID %s is in no track" % uid)
        receipt = apply_message(calendar, existing)
        if receipt.outcome is Outcome.STALE:
            if track is not None:
                store.record_activity(connection, at=self._now(), kind="stale",
                                      track_id=track.id, uid=uid, actor=organizer,
                                      summary=receipt.reason)
            return MailAnswer(Answer.PROCESSED, "stale, ignored: %s" % receipt.reason)
        if receipt.outcome is Outcome.IGNORED or receipt.calendar is None:
            return MailAnswer(Answer.KEPT, receipt.reason)
        new = None if receipt.outcome is Outcome.CANCELLED else receipt.calendar
        change = OrganizerChange(user=None, source_path=None, old=existing, new=new,
                                 external_organizer=organizer, received=receipt.calendar)
        self.assistant.handle_organizer_change(connection, change, lambda _stored: None)
        after = store.meeting_by_uid(connection, uid, organizer)
        if after is None:
            refusal = self._refusal(connection, uid, organizer)
            return MailAnswer(Answer.REFUSED, refusal or "the assistant did not take UID "
                              "%s (see 'radicale-tracks tracks list')" % uid)
        return MailAnswer(Answer.PROCESSED, "%s in track %s" % (
            receipt.outcome.value, self._slug(connection, after)))

    @staticmethod
    def _refusal(connection: Connection, uid: str, organizer: str) -> str | None:
        for entry in store.recent_activity(connection, kinds=["refused"], limit=5):
            if entry.uid == uid and entry.kind == "refused" and entry.actor == organizer:
                return entry.summary
        return None

    @staticmethod
    def _slug(connection: Connection, meeting: Meeting) -> str:
        track = store.track_by_id(connection, meeting.track_id)
        return track.slug if track is not None else "?"

    # -- participants ---------------------------------------------------------------

    def _meeting_of(self, connection: Connection, calendar: Calendar, attendee: str
                    ) -> _Found | MailAnswer:
        """The track meeting a participant's message is about, with its copy."""
        master = master_of(calendar)
        assert master is not None
        uid = uid_of(master)
        organizer = organizer_of(master)
        meeting = (store.meeting_by_uid(connection, uid, organizer) if organizer else None
                   ) or store.meeting_by_uid(connection, uid)
        track = store.track_by_id(connection, meeting.track_id) if meeting else None
        text = (self.assistant.calendars.read_copy(track.slug, meeting.href)
                if meeting is not None and track is not None else None)
        if meeting is None or track is None or text is None:
            return MailAnswer(Answer.KEPT, "UID %s is in no track" % uid)
        copy = parse_calendar(text)
        if attendee not in all_attendees(copy):
            return MailAnswer(Answer.REFUSED, "%s is not invited to UID %s" % (attendee, uid))
        return _Found(meeting, track, copy)

    def _reply(self, connection: Connection, calendar: Calendar, attendee: str,
               found: _Found) -> MailAnswer:
        meeting, track, copy = found
        organizer_user = self.assistant.local_user(meeting.organizer)
        if organizer_user is not None:
            # the organizer is here: their copy takes the answer, the track follows
            result = self.deliver_reply(connection, organizer_user, received_message(
                calendar, meeting.organizer, attendee))
            if result.startswith("refused"):
                return MailAnswer(Answer.REFUSED, result)
            return MailAnswer(Answer.PROCESSED, "%s answered: %s" % (attendee, result))
        receipt = apply_message(calendar, copy)
        if receipt.outcome is Outcome.STALE:
            return MailAnswer(Answer.PROCESSED, "stale, ignored: %s" % receipt.reason)
        if receipt.outcome is not Outcome.REPLY_APPLIED:
            return MailAnswer(Answer.KEPT, receipt.reason)
        self.assistant.follow_reply(connection, meeting.uid, meeting.organizer, attendee,
                                    partstats_of(calendar, attendee), reply=calendar)
        return MailAnswer(Answer.PROCESSED, "%s answered in track %s" % (attendee,
                                                                         track.slug))

    def _refresh(self, connection: Connection, calendar: Calendar, attendee: str,
                 found: _Found) -> MailAnswer:
        meeting, track, copy = found
        requests = [m for m in organizer_messages(None, copy, frozenset({meeting.organizer}),
                                                  self.assistant.clock())
                    if m.recipient == attendee and m.method is Method.REQUEST]
        if not requests:
            return MailAnswer(Answer.KEPT, "nothing current to send to %s" % attendee)
        track_address = self.assistant.book.track_address(track.token)
        context = self.assistant.track_context(track, copy, attendee)
        self.assistant.queue_mail(connection, track, meeting.uid, "meeting_current",
                                  attendee, None, context,
                                  with_sent_by(requests[0].ics, track_address), "REQUEST")
        store.record_activity(connection, at=self._now(), kind="refresh", track_id=track.id,
                              uid=meeting.uid, actor=attendee,
                              summary="%s asked for the current state" % attendee)
        return MailAnswer(Answer.PROCESSED, "current state sent to %s" % attendee)

    def _counter(self, connection: Connection, calendar: Calendar, attendee: str,
                 found: _Found) -> MailAnswer:
        meeting, track, copy = found
        track_address = self.assistant.book.track_address(track.token)
        answer = declinecounter(calendar, meeting.organizer, track_address,
                                self.assistant.clock(), COUNTER_COMMENT)
        context = self.assistant.track_context(track, copy, attendee)
        self.assistant.queue_mail(connection, track, meeting.uid, "counter_declined",
                                  attendee, None, context, answer.ics, "DECLINECOUNTER")
        store.record_activity(connection, at=self._now(), kind="counter", track_id=track.id,
                              uid=meeting.uid, actor=attendee,
                              summary="%s proposed a change; declined" % attendee)
        return MailAnswer(Answer.PROCESSED, "DECLINECOUNTER sent to %s" % attendee)

    # -- shared content -------------------------------------------------------------

    def share(self, connection: Connection, track: Track, mail: SharedMail) -> MailAnswer:
        """A note in the track: subject, text, sender and attachments (VJOURNAL)."""
        digest = hashlib.sha256(mail.key.encode("utf-8")).hexdigest()[:32]
        uid = "shared-%s@%s" % (digest, self.assistant.book.domain)
        href = copy_href(uid)
        if self.assistant.calendars.read_copy(track.slug, href) is not None:
            return MailAnswer(Answer.PROCESSED, "already shared in track %s" % track.slug)
        note = shared_note(uid=uid, subject=mail.subject, text=mail.text, sender=mail.sender,
                           sender_name=mail.sender_name, files=mail.files,
                           now=self.assistant.clock(), max_file_bytes=self.max_file_bytes,
                           max_total_bytes=self.max_total_bytes)
        self.assistant.calendars.write_copy(track.slug, href, note.to_ical().decode("utf-8"))
        store.record_activity(connection, at=self._now(), kind="shared", track_id=track.id,
                              uid=uid, actor=mail.sender,
                              summary="%s shared \"%s\"" % (mail.sender, mail.subject))
        store.touch_track(connection, track.id, self._now())
        return MailAnswer(Answer.PROCESSED, "shared in track %s" % track.slug)

    # -- helpers --------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.assistant.clock().timestamp())
