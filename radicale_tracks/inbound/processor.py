"""Inbound iMIP: one mail and its envelope recipients → what became of it, per recipient.

The MTA hands us a raw RFC 5322 message (``deliver`` on stdin, or ``lmtp``) and the
envelope. The message is read once, before Radicale's write lock is taken
(``inbound/reading.py``: MIME, the calendar part — refused unparsed above what a CalDAV
PUT may store —, its repairs, limits and RFC 5546 validation). Then for each recipient,
under the lock, this module decides, in order:

1. whose address it is: the assistant, a track address, a user here — else "unknown
   recipient" (67), and nothing is stored (the MTA returns the mail to its sender);
2. whether we saw it before (same Message-ID, or same bytes without trace headers, to the
   same recipient): an MTA retry gets the first answer again and changes nothing;
3. what it is: a bounce (kept), no calendar data (a note for a track, nothing for a user,
   refused for the assistant), iCalendar that parses, has a METHOD (MIME or body, and they
   agree — RFC 6047 §2.4), stays within the limits and passes RFC 5546 validation;
4. whether the sender is who the calendar data says (``core/mail_trust.py``): ORGANIZER
   for REQUEST/CANCEL, the ATTENDEE for REPLY/REFRESH/COUNTER; allow-list;
   Authentication-Results; and for a track address, a member of that track;
5. the effect: users here through the scheduling engine (the same delivery as a CalDAV
   organizer's), the assistant through ``tracks/mailed.py``.

Everything refused, and everything accepted without an effect, keeps its raw bytes in
the quarantine (``tracks_inbound``) with its reason, in the same transaction as any
effect. Exit codes follow sysexits(3): 0 done, 65 refused (the MTA bounces with our
reason), 67 unknown recipient, 75 temporary failure (the MTA retries). A refusal of a
mail that must not be answered (null envelope sender, Auto-Submitted) is quarantined but
answered 0: bounces of bounces and of auto-replies help nobody.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from icalendar import Calendar
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from radicale_tracks.core.addresses import AddressBook, normalize_address
from radicale_tracks.core.answers import SharedFile, received_message
from radicale_tracks.core.imip import InboundMail
from radicale_tracks.core.itip import (
    Method,
    all_attendees,
    attendees_of,
    main_components,
    master_of,
    organizer_of,
    parameter,
    uid_of,
    unaddressable_attendees,
)
from radicale_tracks.core.leniency import (
    drop_unaddressable_attendees,
)
from radicale_tracks.core.mail_trust import TrustPolicy, judge_sender
from radicale_tracks.errors import ResourceTooLarge
from radicale_tracks.inbound import store
from radicale_tracks.inbound.reading import (
    Code,
    InboundLimits,
    MailReader,
    MailReading,
    Refusal,
    Result,
    check_valid,
    kept,
    message_digest,
    processed,
)
from radicale_tracks.inbound.store import InboundRow, Status
from radicale_tracks.tracks import store as tracks_store
from radicale_tracks.tracks.store import Track

if TYPE_CHECKING:
    from radicale_tracks.scheduling.engine import Scheduler
    from radicale_tracks.tracks.assistant import Assistant
    from radicale_tracks.tracks.mailed import AssistantMail

logger = logging.getLogger("radicale.tracks.inbound")

_T = TypeVar("_T")

#: what a sender reads when the fault is ours: never the program's error text
INTERNAL_ERROR_REASON = ("the server could not process this message; the administrator "
                         "has been told and the message is kept")
TEMPORARY_REASON = "temporary failure, try again later"

#: what the quarantine keeps of a mail above inbound_max_message_bytes: its header
_MAX_KEPT_HEADER = 64 * 1024


@dataclass(frozen=True)
class Disposition:
    """What became of the message for one recipient."""

    recipient: str
    code: Code
    status: Status | None   # None: nothing recorded (unknown recipient, temporary)
    reason: str
    row_id: int | None = None




class InboundPorts(Protocol):
    """What the processor needs from the server (``plugin/inbound_delivery.py``)."""

    book: AddressBook

    def write_lock(self, recipient: str) -> AbstractContextManager[None]:
        """The storage's write lock for one recipient's delivery (with locks per
        calendar, the recipient's own unit first: two deliveries of one mail to one
        recipient, on two hosts at once, are ordered, and the second is a retry)."""
        ...

    def restartable(self, work: Callable[[], _T]) -> _T:
        """``work`` (which takes the write lock) run again when the storage asks for
        its locks in order (per-calendar locks); once otherwise."""
        ...

    def begin(self) -> AbstractContextManager[Connection]: ...

    def user_exists(self, user: str) -> bool: ...

    @property
    def scheduler(self) -> Scheduler: ...

    @property
    def assistant(self) -> Assistant: ...

    @property
    def assistant_mail(self) -> AssistantMail: ...

    def wake_sender(self) -> None: ...


@dataclass(frozen=True)
class _Target:
    kind: str                 # assistant | track | user
    address: str
    user: str | None = None
    track: Track | None = None












class InboundProcessor:
    def __init__(self, ports: InboundPorts, policy: TrustPolicy, limits: InboundLimits,
                 clock: Callable[[], datetime.datetime]) -> None:
        self.ports = ports
        self.book = ports.book
        self.policy = policy
        self.limits = limits
        self.reader = MailReader(limits)
        self.clock = clock

    # -- entry points ---------------------------------------------------------------

    def process(self, raw: bytes, envelope_sender: str | None,
                recipients: list[str]) -> list[Disposition]:
        """Handle one message for each envelope recipient (one transaction each).

        The mail is read once, before any lock is taken (``_read``: MIME, the calendar
        part, its repairs, limits and RFC 5546 validation); each recipient's delivery
        then holds Radicale's write lock only for what depends on stored state."""
        sender = normalize_address(envelope_sender or "")
        reading = self.reader.read(raw)
        digest = message_digest(raw, reading.mail.message_id if reading.mail else None)
        results = []
        for number, recipient in enumerate(recipients):
            # the effects may change the calendar they are given: every recipient but
            # the last gets its own copy, made here, outside the lock
            own = reading.copy() if number < len(recipients) - 1 else reading
            results.append(self._one(raw, own, digest, sender,
                                     normalize_address(recipient), None))
        self.ports.wake_sender()
        return results

    def knows(self, recipient: str) -> bool:
        """Whether mail to ``recipient`` is ours to take (LMTP asks at RCPT)."""
        with self.ports.begin() as connection:
            return self._target(connection, normalize_address(recipient)) is not None

    def release(self, row: InboundRow) -> Disposition:
        """Process a held message again as if its sender were trusted (an admin vouches
        for it); the row becomes "released" when that worked."""
        if row.raw is None:
            return Disposition(row.recipient, Code.REFUSED, row.status,
                               "message #%d has no raw bytes to release" % row.id, row.id)
        result = self._one(row.raw, self.reader.read(row.raw), row.digest,
                           normalize_address(row.envelope_sender or ""), row.recipient, row)
        self.ports.wake_sender()
        return result

    # -- one recipient --------------------------------------------------------------

    def _one(self, raw: bytes, reading: MailReading, digest: str, envelope_sender: str,
             recipient: str, releasing: InboundRow | None) -> Disposition:
        mail = reading.mail

        def locked() -> Disposition | tuple[Result, int]:
            with self.ports.write_lock(recipient), self.ports.begin() as connection:
                target = self._target(connection, recipient)
                if target is None:
                    return Disposition(recipient, Code.NO_USER, None,
                                       "no such recipient here: %s" % recipient)
                if releasing is None:
                    before = store.previous(connection, digest, recipient)
                    if before is not None:
                        return Disposition(recipient, Code(before.exit_code), before.status,
                                           "already received (#%d): %s" % (
                                               before.id, before.reason), before.id)
                if reading.error is not None:
                    raise reading.error
                if reading.failure is not None or mail is None:
                    result = Result(Status.QUARANTINED, Code.REFUSED,
                                     reading.failure or "not a readable mail message")
                else:
                    result = self._decide(connection, reading, envelope_sender, target,
                                          trusted=releasing is not None)
                    if result.status is Status.QUARANTINED and (
                            not envelope_sender or (mail.auto_submitted or "no") != "no"):
                        result = Result(result.status, Code.OK, result.reason +
                                         " (not bounced: automatic mail)", result.method,
                                         result.uid)
                return result, self._record(connection, raw, mail, digest,
                                            envelope_sender, recipient, result, releasing)

        try:
            outcome = self.ports.restartable(locked)
            if isinstance(outcome, Disposition):
                return outcome
            result, row_id = outcome
        except (OperationalError, DBAPIError, TimeoutError, OSError):
            logger.exception("Inbound mail to %s: temporary failure", recipient)
            return Disposition(recipient, Code.TEMPORARY, None, TEMPORARY_REASON)
        except Exception as e:  # a bug must not lose the mail: keep it, say so
            logger.exception("Inbound mail to %s could not be processed", recipient)
            return self._keep_after_error(raw, mail, digest, envelope_sender, recipient, e,
                                          releasing)
        if releasing is not None and result.status is Status.PROCESSED:
            result = Result(Status.RELEASED, result.code, result.reason, result.method,
                             result.uid)
        level = logging.INFO if result.code is Code.OK else logging.WARNING
        logger.log(level, "Inbound mail to %s from %s: %s (%s)", recipient,
                   envelope_sender or "<>", result.status.value, result.reason)
        return Disposition(recipient, result.code, result.status, result.reason, row_id)

    def _record(self, connection: Connection, raw: bytes, mail: InboundMail | None,
                digest: str, envelope_sender: str, recipient: str, result: Result,
                releasing: InboundRow | None) -> int:
        keep = result.status in (Status.KEPT, Status.QUARANTINED)
        if releasing is not None:
            status = Status.RELEASED if result.status is Status.PROCESSED else result.status
            store.settle(connection, releasing.id, status, result.reason, int(result.code),
                         keep_raw=keep)
            return releasing.id
        return store.record(
            connection, received_at=int(self.clock().timestamp()), digest=digest,
            recipient=recipient, envelope_sender=envelope_sender or None,
            from_address=mail.from_address if mail else None,
            message_id=mail.message_id if mail else None,
            subject=mail.subject if mail else "", method=result.method, uid=result.uid,
            status=result.status, exit_code=int(result.code), reason=result.reason,
            size=len(raw), raw=self._kept_raw(raw) if keep else None)

    def _kept_raw(self, raw: bytes) -> bytes:
        """What the quarantine keeps of a mail: all of it up to
        ``inbound_max_message_bytes`` (so a row is bounded by that), else its header
        section alone, at most ``_MAX_KEPT_HEADER`` bytes — who sent it, when, about what
        — since the rest was never read."""
        if len(raw) <= self.limits.max_message_bytes:
            return raw
        head = re.split(rb"\r?\n\r?\n", raw[:_MAX_KEPT_HEADER], maxsplit=1)[0]
        return head + b"\r\n\r\n"

    def _keep_after_error(self, raw: bytes, mail: InboundMail | None, digest: str,
                          envelope_sender: str, recipient: str, error: Exception,
                          releasing: InboundRow | None) -> Disposition:
        """A program error: the sender reads a sentence, never the error; the admin finds
        the error with its traceback (``tracks list``/``tracks show UID``) and the mail in
        the quarantine, to release once the cause is fixed."""
        detail = traceback.format_exc(limit=30)
        method, uid = _method_and_uid(mail)
        # an object too large to store is the sender's fault and says so
        reason = str(error) if isinstance(error, ResourceTooLarge) else INTERNAL_ERROR_REASON
        try:
            with self.ports.begin() as connection:
                result = Result(Status.QUARANTINED, Code.REFUSED, reason, method, uid)
                if releasing is None and store.previous(connection, digest,
                                                        recipient) is not None:
                    return Disposition(recipient, Code.REFUSED, None, reason)
                row_id = self._record(connection, raw, mail, digest, envelope_sender,
                                      recipient, result, releasing)
                meeting = tracks_store.meeting_by_uid(connection, uid) if uid else None
                tracks_store.record_activity(
                    connection, at=int(self.clock().timestamp()), kind="failed", uid=uid,
                    track_id=meeting.track_id if meeting is not None else None,
                    actor=(mail.from_address if mail else None) or envelope_sender or None,
                    summary="mail #%d to %s could not be processed: %s: %s" % (
                        row_id, recipient, type(error).__name__, _short(error)),
                    detail=detail)
        except Exception:
            logger.exception("Could not keep the inbound mail to %s", recipient)
            return Disposition(recipient, Code.TEMPORARY, None, TEMPORARY_REASON)
        return Disposition(recipient, Code.REFUSED, Status.QUARANTINED, reason, row_id)

    def _target(self, connection: Connection, recipient: str) -> _Target | None:
        if self.book.is_assistant(recipient):
            return _Target("assistant", recipient)
        token = self.book.track_token(recipient)
        if token is not None:
            track = tracks_store.track_by_token(connection, token)
            return _Target("track", recipient, track=track) if track is not None else None
        user = self.book.user_of(recipient)
        if user is not None and self.ports.user_exists(user):
            return _Target("user", recipient, user=user)
        return None



    # -- deciding (per recipient, under the write lock) -----------------------------

    def _decide(self, connection: Connection, reading: MailReading, envelope_sender: str,
                target: _Target, trusted: bool) -> Result:
        try:
            return self._act(connection, reading, envelope_sender, target, trusted)
        except Refusal as refusal:
            return Result(Status.QUARANTINED, Code.REFUSED, refusal.reason, refusal.method,
                           refusal.uid)

    def _act(self, connection: Connection, reading: MailReading, envelope_sender: str,
             target: _Target, trusted: bool) -> Result:
        mail = reading.mail
        assert mail is not None
        if reading.kept is not None:
            return reading.kept
        if reading.refusal is not None:
            raise reading.refusal
        calendar, method, uid = reading.calendar, reading.method, reading.uid
        if calendar is None or method is None:
            if target.kind == "track":
                return self._share(connection, mail, envelope_sender, target, trusted)
            raise Refusal("no calendar data (text/calendar or an .ics attachment): "
                           "nothing to schedule%s" % (
                               "; to share a note, write to a track's address"
                               if target.kind == "assistant" else ""))
        if method is Method.REPLY:
            # outlook.com answers without ORGANIZER: the mail went to the organizer
            organizer = self._organizer_for_reply(connection, calendar, target)
            for component in main_components(calendar).values():
                if component.get("ORGANIZER") is None and organizer:
                    component.add("ORGANIZER", "mailto:" + organizer)
        if not reading.validated:
            check_valid(calendar, method, uid)
        sender = self._trusted_sender(connection, mail, envelope_sender, calendar, method,
                                      target, trusted, uid)
        result = self._dispatch(connection, calendar, method, target, sender)
        return Result(result.status, result.code, result.reason, method.value, uid)



    def _organizer_for_reply(self, connection: Connection, calendar: Calendar,
                             target: _Target) -> str | None:
        if target.kind == "user":
            return target.address
        master = master_of(calendar)
        meeting = tracks_store.meeting_by_uid(connection, uid_of(master)) if master else None
        return meeting.organizer if meeting is not None else None



    def _trusted_sender(self, connection: Connection, mail: InboundMail,
                        envelope_sender: str, calendar: Calendar, method: Method,
                        target: _Target, trusted: bool, uid: str) -> str:
        """The address the message speaks for, once we believe the mail is from it."""
        expected = _expected_senders(calendar, method)
        unusable = unaddressable_attendees(calendar)
        if not expected and unusable and not _from_organizer(method):
            raise Refusal("the replying ATTENDEE's address cannot be used: %s" % (
                unusable[0].describe()), method.value, uid)
        if not expected:
            raise Refusal("no %s to check the sender against" % (
                "ORGANIZER" if _from_organizer(method) else "ATTENDEE"), method.value, uid)
        if trusted:
            return expected[0]
        sender = self._believed(mail, envelope_sender, expected, "ORGANIZER" if (
            _from_organizer(method)) else "replying ATTENDEE", method.value, uid)
        if target.kind == "track":
            assert target.track is not None
            self._require_member(connection, target.track, sender, method.value, uid)
        return sender

    def _believed(self, mail: InboundMail, envelope_sender: str, expected: list[str],
                  role: str, method: str | None = None, uid: str | None = None) -> str:
        """The ``expected`` address the mail comes from, when the trust rules say so."""
        verdict = judge_sender(self.policy, envelope_sender=envelope_sender or None,
                               from_address=mail.from_address, expected=expected,
                               authentication_results=mail.authentication_results,
                               role=role)
        if not verdict.trusted or verdict.matched is None:
            raise Refusal(verdict.reason, method, uid)
        return verdict.matched

    @staticmethod
    def _members(connection: Connection, track: Track) -> list[str]:
        """A track's address takes mail from these: its organizer and members."""
        members = [m.address for m in tracks_store.track_members(connection, track.id)]
        return [track.organizer, *(m for m in members if m != track.organizer)]

    def _require_member(self, connection: Connection, track: Track, sender: str,
                        method: str | None, uid: str | None) -> None:
        if sender not in self._members(connection, track):
            raise Refusal("%s is not a member of this track: a track's address takes "
                           "mail from its organizer and members only" % sender, method, uid)
        if not track.is_open:
            raise Refusal("this track is closed", method, uid)

    # -- effects --------------------------------------------------------------------

    def _dispatch(self, connection: Connection, calendar: Calendar, method: Method,
                  target: _Target, sender: str) -> Result:
        if target.kind == "user":
            return self._to_user(connection, calendar, method, target, sender)
        from radicale_tracks.tracks.mailed import Answer

        answer = self.ports.assistant_mail.receive(connection, calendar, method,
                                                   target.address, sender)
        if answer.answer is Answer.REFUSED:
            raise Refusal(answer.reason)
        if answer.answer is Answer.KEPT:
            return kept(answer.reason)
        return processed(answer.reason)

    def _to_user(self, connection: Connection, calendar: Calendar, method: Method,
                 target: _Target, sender: str) -> Result:
        assert target.user is not None
        scheduler = self.ports.scheduler
        if method in (Method.REQUEST, Method.CANCEL):
            if target.address not in all_attendees(calendar):
                raise Refusal("%s is not an ATTENDEE of this %s" % (target.address,
                                                                     method.value))
            for component in main_components(calendar).values():
                # the user's copy carries no attendee nobody can be reached at
                drop_unaddressable_attendees(component)
            message = received_message(calendar, target.address, sender)
            outcome = scheduler.receive_request(connection, target.user, message)
        elif method is Method.REPLY:
            master = master_of(calendar)
            organizer = (organizer_of(master) if master is not None else None) or (
                target.address)
            message = received_message(calendar, organizer, sender)
            outcome = scheduler.receive_reply(connection, target.user, message,
                                              self.ports.assistant)
        else:
            scheduler.deliver_to_inbox(target.user, received_message(
                calendar, target.address, sender))
            return processed("%s delivered to %s's inbox" % (method.value, target.user))
        if outcome.startswith("refused"):
            raise Refusal(outcome.partition(": ")[2] or outcome)
        if outcome == "ignored":
            return kept("nothing in %s's calendars to apply the %s to" % (
                target.user, method.value))
        return processed("%s for %s" % (outcome, target.user))

    def _share(self, connection: Connection, mail: InboundMail, envelope_sender: str,
               target: _Target, trusted: bool) -> Result:
        from radicale_tracks.tracks.mailed import Answer, SharedMail

        assert target.track is not None
        track = target.track
        sender = mail.from_address or envelope_sender
        if not trusted:
            sender = self._believed(mail, envelope_sender, self._members(connection, track),
                                    "track member (a track's address takes mail from its "
                                    "organizer and members only)")
            if not track.is_open:
                raise Refusal("this track is closed")
        if not sender:
            raise Refusal("no sender to credit the note to")
        files = tuple(SharedFile(a.filename, a.content_type, a.data)
                      for a in mail.attachments)
        answer = self.ports.assistant_mail.share(connection, track, SharedMail(
            key=mail.message_id or hashlib.sha256(mail.text_body.encode()).hexdigest(),
            subject=mail.subject, text=mail.text_body, sender=sender,
            sender_name=mail.from_name, files=files))
        if answer.answer is Answer.REFUSED:
            raise Refusal(answer.reason)
        return processed(answer.reason)


# -- helpers ----------------------------------------------------------------------------





def _from_organizer(method: Method) -> bool:
    return method in (Method.REQUEST, Method.CANCEL, Method.ADD, Method.PUBLISH,
                      Method.DECLINECOUNTER)


def _expected_senders(calendar: Calendar, method: Method) -> list[str]:
    """Who may send this: the ORGANIZER (and its SENT-BY), or the replying ATTENDEEs."""
    found: dict[str, None] = {}
    for component in main_components(calendar).values():
        if _from_organizer(method):
            prop = component.get("ORGANIZER")
            if prop is None:
                continue
            found[normalize_address(str(prop))] = None
            sent_by = parameter(prop, "SENT-BY")
            if sent_by:
                found[normalize_address(sent_by)] = None
        else:
            for address, prop in attendees_of(component).items():
                found[address] = None
                sent_by = parameter(prop, "SENT-BY")
                if sent_by:
                    found[normalize_address(sent_by)] = None
    return [address for address in found if address]




def _method_and_uid(mail: InboundMail | None) -> tuple[str | None, str | None]:
    """METHOD and UID of a mail's calendar part, as far as they can be read (for the
    admin's view of a failure; the failure itself may be in reading them)."""
    try:
        part = mail.calendar() if mail is not None else None
        if part is None:
            return None, None
        found = re.search(r"^UID(?:;[^:\r\n]*)?:([^\r\n]+)", part.text, re.M)
        return part.method or None, found.group(1).strip() if found else None
    except Exception:
        return None, None


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


__all__ = ["Disposition", "InboundPorts", "InboundProcessor"]
