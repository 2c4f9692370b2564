"""Reading one inbound mail: once for all its recipients, before any lock is taken.

What a mail says holds for every recipient, so it is read once, outside Radicale's write
lock, by :class:`MailReader`: its size against ``inbound_max_message_bytes``, its MIME,
the calendar part (METHOD in the MIME type and the body agree, RFC 6047 §2.4), the
calendar data's size against what a CalDAV PUT may store (refused unparsed), folding
repairs, the attendee count on the text, time-zone rules bounded on the text, then the
parse, broken components dropped or refused, what real clients leave out put back
(``_repaired``), the component/attendee/instance limits and RFC 5546 validation. The
result is a :class:`MailReading` with exactly one outcome; the processor
(``inbound/processor.py``) decides per recipient, under the lock, what it means for them.

The outcomes both share live here too: the sysexits :class:`Code`, a :class:`Result`,
and the :class:`Refusal` that carries a reason a person reads.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from icalendar import Calendar

from radicale_tracks.core.addresses import read_address
from radicale_tracks.core.attendee_limit import most_attendees_per_instance
from radicale_tracks.core.imip import InboundMail, MailError, parse_mail
from radicale_tracks.core.itip import (
    ItipError,
    Method,
    as_list,
    main_components,
    parse_calendar,
    uid_of,
)
from radicale_tracks.core.leniency import (
    check_value_types,
    drop_local_attachments,
    drop_or_refuse_broken,
    drop_redundant_duration,
    repair_addresses,
    repair_folding,
)
from radicale_tracks.core.periods import periods_as_dates
from radicale_tracks.core.timezones import UnknownTimezones, define_timezones, normalize_timezones
from radicale_tracks.core.validation import validate
from radicale_tracks.core.zone_limits import UnboundedTimezones, ZoneLimits, bounded_zones_in_text
from radicale_tracks.inbound.store import Status

if TYPE_CHECKING:
    pass

logger = logging.getLogger("radicale.tracks.inbound")

#: headers an MTA adds on the way: a retried delivery may differ in them only
_TRACE_HEADERS = ("received", "return-path", "delivered-to", "x-original-to",
                  "x-delivered-to", "authentication-results", "arc-authentication-results",
                  "arc-seal", "arc-message-signature", "x-spam-status", "x-spam-score")

DEFAULT_PRODID = "-//radicale-tracks//inbound (no PRODID)//EN"


class Code(IntEnum):
    """sysexits(3) as MTAs read them."""

    OK = 0
    REFUSED = 65      # EX_DATAERR: bounced with the reason
    NO_USER = 67      # EX_NOUSER
    TEMPORARY = 75    # EX_TEMPFAIL: the MTA tries again later


@dataclass(frozen=True)
class InboundLimits:
    max_message_bytes: int
    max_components: int
    max_attendees: int
    max_instances: int
    max_file_bytes: int
    max_shared_bytes: int
    #: what a CalDAV PUT may store (Radicale's max_resource_size, as its PUT caps it)
    max_resource_size: int
    #: the calendar part of a mail, in UTF-8 bytes (inbound_max_calendar_bytes)
    max_calendar_bytes: int
    zones: ZoneLimits = ZoneLimits()


@dataclass(frozen=True)
class Result:
    status: Status
    code: Code
    reason: str
    method: str | None = None
    uid: str | None = None


class Refusal(Exception):
    def __init__(self, reason: str, method: str | None = None, uid: str | None = None
                 ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.method = method
        self.uid = uid


def processed(reason: str) -> Result:
    return Result(Status.PROCESSED, Code.OK, reason)


def kept(reason: str) -> Result:
    return Result(Status.KEPT, Code.OK, reason)


@dataclass(frozen=True)
class MailReading:
    """What one mail says for every recipient, read once before any lock is taken.

    Exactly one outcome: ``failure`` (not mail, too large), ``error`` (a program error
    while reading, reported per recipient), ``kept`` (nothing to act on), ``refusal``,
    a ``calendar`` to act on, or none of these (no calendar data: a note for a track).
    """

    mail: InboundMail | None
    failure: str | None = None
    error: Exception | None = None
    kept: Result | None = None
    refusal: Refusal | None = None
    calendar: Calendar | None = None
    method: Method | None = None
    uid: str = ""
    validated: bool = False  # False: a REPLY validated once it has its ORGANIZER

    def copy(self) -> MailReading:
        """Another recipient's own calendar to change."""
        if self.calendar is None:
            return self
        return dataclasses.replace(self, calendar=copy.deepcopy(self.calendar))


class MailReader:
    """Reads mail against the server's limits (``InboundLimits``)."""

    def __init__(self, limits: InboundLimits) -> None:
        self.limits = limits

    def read(self, raw: bytes) -> MailReading:
        """What the mail says, as far as that holds for every recipient: read once,
        before any lock is taken, so a big mail costs its parsing once and nobody
        waits for it. A program error here is kept and reported per recipient."""
        limit = self.limits.max_message_bytes
        if len(raw) > limit:
            return MailReading(None, failure="the message is larger than %d bytes, the "
                               "limit of this server (inbound_max_message_bytes)" % limit)
        try:
            mail = parse_mail(raw)
        except MailError as e:
            return MailReading(None, failure="not a readable mail message: %s" % e)
        try:
            return self._read_calendar(mail)
        except Refusal as refusal:
            return MailReading(mail, refusal=refusal)
        except Exception as e:
            logger.exception("Inbound mail could not be read")
            return MailReading(mail, error=e)

    def _read_calendar(self, mail: InboundMail) -> MailReading:
        if mail.is_delivery_report:
            return MailReading(mail, kept=kept("a delivery status notification (a mail "
                                                "sent from here could not be delivered?)"))
        part = mail.calendar()
        if part is None:
            return MailReading(mail)
        if part.methods_disagree:
            raise Refusal("METHOD %s in the MIME type but %s in the calendar data "
                           "(RFC 6047 §2.4)" % (part.mime_method, part.body_method))
        if not part.method:
            raise Refusal("no METHOD in the MIME type or the calendar data: not an iTIP "
                           "message (RFC 6047 §2.4)")
        try:
            method = Method(part.method)
        except ValueError:
            raise Refusal("unknown METHOD %s (RFC 5546 §1.4)" % part.method) from None
        self._check_calendar_size(part.text, method.value)
        text, refolded = repair_folding(part.text)
        if refolded:
            logger.info("Inbound calendar data repaired: %s", "; ".join(refolded))
        self._check_attendee_count(text, method.value)
        try:   # on the text: parsing and every reader after it would expand the rules
            text = bounded_zones_in_text(text, self.limits.zones) or text
        except UnboundedTimezones as e:
            raise Refusal(str(e), method.value) from None
        try:
            calendar = parse_calendar(text)
        except ItipError as e:
            raise Refusal(str(e), method.value) from None
        del text
        try:
            drop_or_refuse_broken(calendar)
        except ItipError as e:
            raise Refusal(str(e), method.value) from None
        calendar = self._repaired(calendar, method)
        kinds = {str(c.name).upper() for c in calendar.subcomponents} - {"VTIMEZONE"}
        uid = next((uid_of(c) for c in calendar.subcomponents if c.name != "VTIMEZONE"), "")
        if kinds & {"VFREEBUSY"}:
            return MailReading(mail, kept=Result(
                Status.KEPT, Code.OK, "free-busy by mail is not answered here (users ask "
                "through their CalDAV outbox)", method.value, uid))
        self._check_limits(calendar, method.value, uid)
        # a REPLY without ORGANIZER is validated once the recipient has lent it one
        validated = not lacks_organizer(calendar, method)
        if validated:
            check_valid(calendar, method, uid)
        return MailReading(mail, calendar=calendar, method=method, uid=uid,
                           validated=validated)

    def _repaired(self, calendar: Calendar, method: Method) -> Calendar:
        """What real clients leave out, put back where it is unambiguous."""
        try:
            # every TZID placed: mapped to IANA, or given the VTIMEZONE it lacks — a zone
            # nobody can place is refused, never read as UTC (as a CalDAV PUT is)
            calendar = define_timezones(normalize_timezones(calendar))
        except UnknownTimezones as refused:
            first = next(iter(main_components(calendar).values()), None)
            raise Refusal(str(refused), method.value,
                           uid_of(first) if first is not None else None) from None
        calendar = periods_as_dates(calendar)
        if "METHOD" not in calendar:
            calendar.add("METHOD", method.value)
        if "VERSION" not in calendar:
            calendar.add("VERSION", "2.0")
        if "PRODID" not in calendar:
            calendar.add("PRODID", DEFAULT_PRODID)
        for component in main_components(calendar).values():
            drop_redundant_duration(component)
            drop_local_attachments(component)
        repaired = repair_addresses(calendar)
        if repaired:
            logger.info("Inbound addresses repaired: %s", "; ".join(repaired))
        for component in main_components(calendar).values():
            for prop in as_list(component.get("ORGANIZER")):
                reading = read_address(str(prop))
                if not reading.is_mail:
                    # iMIP: the organizer is answered by mail, so an address it must be
                    raise Refusal("the ORGANIZER's address %r cannot be used: %s" % (
                        str(prop), reading.problem or "it is not an e-mail address"),
                        method.value, uid_of(component))
        return calendar

    def _check_calendar_size(self, text: str, method: str) -> None:
        """Before parsing: never spend a parse, nor the write lock's time, on calendar
        data this server would not store."""
        limits = self.limits
        if len(text) > limits.max_resource_size:
            raise Refusal("the calendar data is %d characters; this server stores "
                           "calendar objects of at most %d (max_resource_size), as for "
                           "a calendar app's upload" % (len(text),
                                                        limits.max_resource_size), method)
        if len(text) * 4 > limits.max_calendar_bytes:  # else it cannot be over the limit
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > limits.max_calendar_bytes:
                raise Refusal("the calendar data is %d bytes; this server takes calendar "
                               "data of at most %d bytes by mail "
                               "(inbound_max_calendar_bytes)" % (
                                   size, limits.max_calendar_bytes), method)

    def _check_attendee_count(self, text: str, method: str) -> None:
        """The attendee limit, counted on the text before it is parsed: parsing,
        repairing and scheduling all grow with the attendees."""
        attendees = most_attendees_per_instance(text)
        if attendees > self.limits.max_attendees:
            raise Refusal("%d attendees in one component; the limit is %d "
                           "(inbound_max_attendees)" % (attendees, self.limits.max_attendees),
                           method)

    def _check_limits(self, calendar: Calendar, method: str, uid: str) -> None:
        components = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
        limits = self.limits
        if len(components) > limits.max_components:
            raise Refusal("%d components; the limit is %d (inbound_max_components)" % (
                len(components), limits.max_components), method, uid)
        instances = 0
        for component in components:
            attendees = len(as_list(component.get("ATTENDEE")))
            if attendees > limits.max_attendees:
                raise Refusal("%d attendees in one component; the limit is %d "
                               "(inbound_max_attendees)" % (attendees, limits.max_attendees),
                               method, uid)
            instances += 1
            for name in ("RDATE", "EXDATE"):
                for prop in as_list(component.get(name)):
                    instances += len(getattr(prop, "dts", [])) or 1
            for rule in as_list(component.get("RRULE")):
                count = rule.get("COUNT") if hasattr(rule, "get") else None
                if count:
                    instances += int(as_list(count)[0])
        if instances > limits.max_instances:
            raise Refusal("%d recurrence instances; the limit is %d "
                           "(inbound_max_instances)" % (instances, limits.max_instances),
                           method, uid)


def lacks_organizer(calendar: Calendar, method: Method) -> bool:
    return method is Method.REPLY and any(
        component.get("ORGANIZER") is None
        for component in main_components(calendar).values())


def check_valid(calendar: Calendar, method: Method, uid: str) -> None:
    """RFC 5546 §3 and value types, or the refusal naming the rule."""
    try:
        check_value_types(calendar)
        validate(calendar)
    except ItipError as e:
        raise Refusal(e.rule, method.value, uid) from None


def message_digest(raw: bytes, message_id: str | None) -> str:
    """Identity of a message across MTA retries: its Message-ID with its body (two
    different messages that share a Message-ID stay two), else its bytes without the
    trace headers MTAs add on the way."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
    if message_id:
        return hashlib.sha256(b"mid:" + message_id.strip().encode("utf-8", "replace") +
                              b"\n" + body).hexdigest()
    kept: list[bytes] = []
    skipping = False
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        skipping = name in _TRACE_HEADERS
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"raw:" + b"\n".join(kept) + b"\n\n" + body).hexdigest()
