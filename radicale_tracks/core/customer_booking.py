"""Booking a meeting for a customer (schedule on behalf): the agent's answers read and
checked, and the event they become.

An agent (a user here) books a meeting between an external customer and team members,
rooms and pools, at a slot the slot finder offered. What is decided here:

* every field of the wizard or the JSON API is read by one reader, and each refusal
  names the field (``BookingError.field``), so the page can put the message next to it;
* an e-mail address is accepted only in a form every mail system delivers
  (``customer_address``): a typo found now is better than a bounce after the booking;
* the event: the holder (the team member whose calendar keeps it) is ORGANIZER, with
  ``SENT-BY`` the agent when someone else booked; team members, rooms and the assistant
  (or a track's address) are attendees; the customer is an attendee only when "add to
  calendar event" is on, with ``SCHEDULE-AGENT=NONE`` (RFC 6638 §7.1) when no mail is to
  go to them, and ``X-TRACKS-HIDE-ATTENDEES`` when they may not see who else comes;
* times are written in the customer's zone (with its VTIMEZONE), so the customer's mail
  reads in their wall-clock time; everyone's calendar program shows it in their own;
* when the customer is not on the event, the confirmation they may get is a PUBLISH
  without description or attendees (``customer_confirmation``).

Pure: the caller passes the uid, the clock's "now" and the addresses it resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from radicale_tracks.core.addresses import as_uri, normalize_address, read_address
from radicale_tracks.core.itip import HIDE_ATTENDEES
from radicale_tracks.core.timezones import iana_zone, vtimezone

PRODID: Final = "-//radicale-tracks//schedule on behalf//EN"
MEETING_TYPES: Final = {"video": "Video call", "phone": "Phone call",
                        "in-person": "In person"}
MIN_DURATION_MINUTES: Final = 5
MAX_DURATION_MINUTES: Final = 8 * 60
MAX_MEMBERS: Final = 50
MAX_ROOMS: Final = 20
MAX_TEXT: Final = {"name": 200, "subject": 200, "location": 500, "conference": 1000,
                   "description": 8000}

#: RFC 5322 dot-atom local part, ASCII only (SMTPUTF8 is not everywhere yet).
_LOCAL: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_TOP_LABEL: Final = re.compile(r"^([A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$")
_URL: Final = re.compile(r"^(https?://|tel:|sip:)\S+$", re.IGNORECASE)


class BookingError(ValueError):
    """A booking that cannot be made as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Customer:
    name: str
    address: str          # normalised


@dataclass(frozen=True)
class MeetingDetails:
    subject: str
    duration: int                   # seconds
    members: tuple[str, ...]        # users here
    rooms: tuple[str, ...]          # room addresses
    pools: tuple[str, ...]          # pool names
    description: str = ""
    conference: str = ""
    meeting_type: str = "video"
    location: str = ""


@dataclass(frozen=True)
class Notifications:
    """Step 4: what the customer gets, and the advanced settings."""

    add_to_event: bool = True
    send_confirmation: bool = True
    customer_zone: str = "UTC"
    holder: str | None = None           # a member; None: the agent if a member, else the first
    customer_sees_attendees: bool = True


@dataclass(frozen=True)
class Booking:
    customer: Customer
    details: MeetingDetails
    start: int                               # POSIX seconds
    zone: str                                # the agent's display zone
    notifications: Notifications
    accepted_conflicts: frozenset[str] = frozenset()   # addresses the agent saw busy
    track: str | None = None                 # slug of an existing track, else a new one

    @property
    def end(self) -> int:
        return self.start + self.details.duration

    def holder_for(self, agent: str) -> str:
        chosen = self.notifications.holder
        if chosen:
            return chosen
        return agent if agent in self.details.members else self.details.members[0]


# -- reading --------------------------------------------------------------------------

def customer_address(value: Any, field: str = "customer.email") -> str:
    """A normalised address, or a ``BookingError`` saying what is wrong with it.

    Stricter than the core validator (``core/addresses.read_address``), which it
    ends with: a customer's address is typed, so it must be one every mail system
    delivers to, written plainly.
    """
    if not isinstance(value, str) or not value.strip():
        raise BookingError(field, "an e-mail address is required")
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.rstrip(".") if text.count("@") == 1 else text   # "bob@example.org."
    if len(text) > 254:
        raise BookingError(field, "an e-mail address has at most 254 characters")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise BookingError(field, "%r contains spaces or control characters" % text)
    if text.count("@") != 1:
        raise BookingError(field, "%r is not an e-mail address: it needs exactly one @"
                           % text)
    local, domain = text.split("@")
    if not text.isascii():
        raise BookingError(field, "%r has non-ASCII characters; use the ASCII "
                           "(punycode) form of the domain" % text)
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise BookingError(field, "%r is not an e-mail address: the part before @ is "
                           "not valid" % text)
    labels = domain.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or not (
            _TOP_LABEL.match(labels[-1])):
        raise BookingError(field, "%r is not an e-mail address: %r is not a mail "
                           "domain" % (text, domain))
    reading = read_address(text)
    address = reading.address
    if "%" in text and address != text.lower():  # %-escapes: "a%40b@x.org" would become "a@b@x.org"
        raise BookingError(field, "%r is not an e-mail address: write it without "
                           "%%-escapes" % text)
    if not reading.is_mail:  # the core's rules, for whatever the checks above let by
        raise BookingError(field, "%r is not an e-mail address: %s" % (text, reading.problem))
    return address


def read_customer(data: Mapping[str, Any]) -> Customer:
    """Step 1: ``{"name": …, "email": …}``."""
    name = _text(data, "name", "customer.name", required=True)
    return Customer(name=name, address=customer_address(data.get("email")))


def read_details(data: Mapping[str, Any]) -> MeetingDetails:
    """Step 2: the meeting's fields; whether users and rooms exist is the caller's check."""
    subject = _text(data, "subject", "subject", required=True)
    duration = _integer(data.get("duration", 30), "duration")
    if not MIN_DURATION_MINUTES <= duration <= MAX_DURATION_MINUTES:
        raise BookingError("duration", "duration is %d to %d minutes" % (
            MIN_DURATION_MINUTES, MAX_DURATION_MINUTES))
    members = _names(data, "members", MAX_MEMBERS)
    if not members:
        raise BookingError("members", "choose at least one team member")
    rooms = tuple(dict.fromkeys(normalize_address(a) for a in _names(data, "rooms",
                                                                      MAX_ROOMS)))
    pools = _names(data, "pools", MAX_ROOMS)
    meeting_type = str(data.get("meeting_type") or "video")
    if meeting_type not in MEETING_TYPES:
        raise BookingError("meeting_type", "meeting_type is one of %s" % ", ".join(
            MEETING_TYPES))
    return MeetingDetails(
        subject=subject, duration=duration * 60, members=members, rooms=rooms, pools=pools,
        description=_text(data, "description", "description"),
        conference=_text(data, "conference", "conference"),
        meeting_type=meeting_type, location=_text(data, "location", "location"))


def read_booking(data: Mapping[str, Any], default_zone: str) -> Booking:
    """The whole booking (the JSON API's body; the wizard posts the same fields)."""
    known = {"customer", "details", "start", "zone", "notifications",
             "accepted_conflicts", "track"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BookingError(unknown[0], "unknown field(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(sorted(known))))
    customer = read_customer(_object(data, "customer"))
    details = read_details(_object(data, "details"))
    zone = zone_name(data.get("zone") or default_zone, "zone")
    start = _instant(data.get("start"), "start")
    notes = _object(data, "notifications", required=False)
    holder = notes.get("holder") or None
    if holder is not None and holder not in details.members:
        raise BookingError("notifications.holder",
                           "the event is held by one of the team members (%s)" % ", ".join(
                               details.members))
    notifications = Notifications(
        add_to_event=_flag(notes, "add_to_event", True),
        send_confirmation=_flag(notes, "send_confirmation", True),
        customer_zone=zone_name(notes.get("customer_zone") or zone,
                                "notifications.customer_zone"),
        holder=holder,
        customer_sees_attendees=_flag(notes, "customer_sees_attendees", True))
    accepted = data.get("accepted_conflicts") or []
    if not isinstance(accepted, list) or not all(isinstance(a, str) for a in accepted):
        raise BookingError("accepted_conflicts", "accepted_conflicts is a list of addresses")
    track = data.get("track") or None
    if track is not None and not isinstance(track, str):
        raise BookingError("track", "track is the id of one of your tracks")
    return Booking(customer=customer, details=details, start=start, zone=zone,
                   notifications=notifications,
                   accepted_conflicts=frozenset(normalize_address(a) for a in accepted),
                   track=track)


def zone_name(value: Any, field: str) -> str:
    """An IANA zone name (Windows names are translated)."""
    name = iana_zone(str(value)) if isinstance(value, str) and value.strip() else None
    if name is None:
        raise BookingError(field, "%r is not a time zone (e.g. Europe/Berlin)" % (value,))
    return name


def _object(data: Mapping[str, Any], name: str, required: bool = True) -> Mapping[str, Any]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise BookingError(name, "%s is an object" % name)
    return value


def _text(data: Mapping[str, Any], name: str, field: str, required: bool = False) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BookingError(field, "%s is text" % field)
    text = value.strip().replace("\r\n", "\n")
    if required and not text:
        raise BookingError(field, "%s is required" % field)
    limit = MAX_TEXT[name]
    if len(text) > limit:
        raise BookingError(field, "%s has at most %d characters" % (field, limit))
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise BookingError(field, "%s contains control characters" % field)
    return text


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise BookingError(field, "%s is a number" % field)
    try:
        return int(str(value).strip())
    except ValueError:
        raise BookingError(field, "%s is a number, not %r" % (field, value)) from None


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "true", "1", "yes", "off",
                                                     "false", "0", "no", ""):
        return value.lower() in ("on", "true", "1", "yes")
    raise BookingError("notifications." + name, "%s is true or false" % name)


def _names(data: Mapping[str, Any], name: str, limit: int) -> tuple[str, ...]:
    value = data.get(name) or []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                              for v in value):
        raise BookingError(name, "%s is a list of names" % name)
    unique = tuple(dict.fromkeys(v.strip() for v in value))
    if len(unique) > limit:
        raise BookingError(name, "at most %d %s" % (limit, name))
    return unique


def _instant(value: Any, field: str) -> int:
    if not isinstance(value, str) or not value.strip():
        raise BookingError(field, "%s is a time such as 2026-11-23T09:00:00Z" % field)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BookingError(field, "%r is not a time such as 2026-11-23T09:00:00Z"
                           % value) from None
    if moment.tzinfo is None:
        raise BookingError(field, "%s needs a UTC offset or Z" % field)
    return int(moment.timestamp())


def details_record(details: MeetingDetails) -> dict[str, Any]:
    """The details as a booking keeps them (JSON): what a reschedule searches for."""
    return {"subject": details.subject, "duration": details.duration // 60,
            "members": list(details.members), "rooms": list(details.rooms),
            "pools": list(details.pools), "description": details.description,
            "conference": details.conference, "meeting_type": details.meeting_type,
            "location": details.location}


# -- the event ------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    address: str
    name: str = ""


@dataclass(frozen=True)
class EventParties:
    """Who is on the event, as the caller resolved them."""

    organizer: Person                   # the holder
    sent_by: str | None                 # the agent's address when not the holder
    members: tuple[Person, ...]         # team members other than the holder
    rooms: tuple[Person, ...]           # explicit rooms and the rooms pools gave
    assistant: str                      # assistant@ or the track's address


def booking_calendar(booking: Booking, parties: EventParties, *, uid: str,
                     now: datetime) -> Calendar:
    """The holder's event, ready to be written through the scheduling path."""
    details = booking.details
    zone_id = booking.notifications.customer_zone
    zone = ZoneInfo(zone_id)
    start = datetime.fromtimestamp(booking.start, UTC).astimezone(zone)
    end = start + timedelta(seconds=details.duration)
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now.astimezone(UTC))
    event.add("CREATED", now.astimezone(UTC))
    event.add("SEQUENCE", 0)
    event.add("DTSTART", start)
    event.add("DTEND", end)
    event.add("SUMMARY", details.subject)
    if details.location:
        event.add("LOCATION", details.location)
    description = _description(details)
    if description:
        event.add("DESCRIPTION", description)
    event.add("CATEGORIES", [MEETING_TYPES[details.meeting_type]])
    if _URL.match(details.conference):
        feature = "PHONE" if details.conference.lower().startswith("tel:") else "VIDEO"
        event.add("CONFERENCE", details.conference,
                  parameters={"VALUE": "URI", "FEATURE": feature, "LABEL": "Join"})
    event.add("STATUS", "CONFIRMED")
    event.add("TRANSP", "OPAQUE")
    organizer = vCalAddress(as_uri(parties.organizer.address))
    if parties.organizer.name:
        organizer.params["CN"] = vText(parties.organizer.name)
    if parties.sent_by:
        organizer.params["SENT-BY"] = vText(as_uri(parties.sent_by))
    event.add("ORGANIZER", organizer)
    event.add("ATTENDEE", _attendee(parties.organizer, "INDIVIDUAL", "REQ-PARTICIPANT",
                                    "ACCEPTED", rsvp=False))
    for member in parties.members:
        event.add("ATTENDEE", _attendee(member, "INDIVIDUAL", "REQ-PARTICIPANT",
                                        "NEEDS-ACTION"))
    for room in parties.rooms:
        event.add("ATTENDEE", _attendee(room, "ROOM", "NON-PARTICIPANT", "NEEDS-ACTION"))
    notes = booking.notifications
    if notes.add_to_event:
        customer = _attendee(Person(booking.customer.address, booking.customer.name),
                             "INDIVIDUAL", "REQ-PARTICIPANT", "NEEDS-ACTION")
        if not notes.send_confirmation:
            customer.params["SCHEDULE-AGENT"] = "NONE"
        if not notes.customer_sees_attendees:
            customer.params[HIDE_ATTENDEES] = "TRUE"
        event.add("ATTENDEE", customer)
    event.add("ATTENDEE", _attendee(Person(parties.assistant, "Assistant"), "RESOURCE",
                                    "NON-PARTICIPANT", "NEEDS-ACTION"))
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if zone_id != "UTC":
        calendar.add_component(vtimezone(zone_id, [start.date()]))
    calendar.add_component(event)
    return calendar


def customer_confirmation(calendar: Calendar) -> Calendar:
    """What a customer who is not on the event may keep: time, subject, place and how to
    join — no description, no attendees (METHOD:PUBLISH, RFC 5546 §3.2.1)."""
    published = Calendar()
    published.add("PRODID", PRODID)
    published.add("VERSION", "2.0")
    published.add("METHOD", "PUBLISH")
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            published.add_component(component)
            continue
        if component.name != "VEVENT":
            continue
        event = Event()
        for name in ("UID", "DTSTAMP", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY",
                     "LOCATION", "CONFERENCE", "STATUS", "CATEGORIES"):
            if name in component:
                event.add(name, component[name])
        organizer = component.get("ORGANIZER")
        if organizer is not None:
            event.add("ORGANIZER", vCalAddress(str(organizer), params={
                k: v for k, v in organizer.params.items() if k == "CN"}))
        published.add_component(event)
    return published


def _attendee(person: Person, cutype: str, role: str, partstat: str,
              rsvp: bool = True) -> vCalAddress:
    prop = vCalAddress(as_uri(person.address))
    if person.name:
        prop.params["CN"] = vText(person.name)
    prop.params["CUTYPE"] = cutype
    prop.params["ROLE"] = role
    prop.params["PARTSTAT"] = partstat
    if rsvp:
        prop.params["RSVP"] = "TRUE"
    return prop


def _description(details: MeetingDetails) -> str:
    parts = [details.description] if details.description else []
    if details.conference:
        parts.append("Join: %s" % details.conference)
    return "\n\n".join(parts)
