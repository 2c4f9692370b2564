"""Booking on behalf of a customer: the readers, the event, the confirmation, and the broker's
hidden attendee list (``X-TRACKS-HIDE-ATTENDEES``). Pure vectors: no server, no I/O."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar, Component

from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.customer_booking import (
    Booking,
    BookingError,
    EventParties,
    Person,
    booking_calendar,
    customer_address,
    customer_confirmation,
    read_booking,
    read_customer,
    read_details,
)
from radicale_tracks.core.itip import (
    HIDE_ATTENDEES,
    ItipMessage,
    Method,
    attendees_of,
    hides_attendees,
    parameter,
)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
START = "2026-11-23T09:00:00Z"
HOLDER = "alice@example.org"
CUSTOMER = "carla@customer.example"
#: 254 characters, 64 before the @, labels of at most 63: the longest address accepted.
LONGEST = "b" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".org"
EVERYONE = {HOLDER, "bob@example.org", "room1@example.org", CUSTOMER, "assistant@example.org"}


def booking_data(**changes: Any) -> dict[str, Any]:
    """A valid booking body; ``changes`` replace top-level fields, ``details__x`` or
    ``notifications__x`` one field inside."""
    data: dict[str, Any] = {
        "customer": {"name": "Carla", "email": CUSTOMER},
        "details": {"subject": "Intro", "duration": 45, "members": ["alice", "bob"],
                    "rooms": ["Room1@Example.org"], "description": "Agenda",
                    "conference": "https://meet.example/x", "location": "HQ"},
        "start": START, "zone": "Europe/Berlin", "notifications": {}}
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            data[section][name] = value
        else:
            data[key] = value
    return data


def refusal(call: Any, *args: Any) -> BookingError:
    with pytest.raises(BookingError) as caught:
        call(*args)
    return caught.value


# -- customer_address -------------------------------------------------------------------

@pytest.mark.parametrize(("given", "expected"), [
    ("bob@example.org", "bob@example.org"),
    ("bob+tag@example.org", "bob+tag@example.org"),
    ("bob@mail.eu.example.org", "bob@mail.eu.example.org"),
    ("Bob.Smith@Example.ORG", "bob.smith@example.org"),
    ("mailto:bob@example.org", "bob@example.org"),
    ("MAILTO:Bob@example.org", "bob@example.org"),
    ("  bob@example.org  ", "bob@example.org"),
    ("bob@example.xn--p1ai", "bob@example.xn--p1ai"),
])
def test_customer_address_accepted(given: str, expected: str) -> None:
    """Forms every mail system delivers come back normalised, as the rest compares them."""
    assert customer_address(given) == expected


@pytest.mark.parametrize(("given", "says"), [
    ("", "is required"),
    (None, "is required"),
    ("   ", "is required"),
    ("bob.example.org", "exactly one @"),
    ("bob@@example.org", "exactly one @"),
    ("bob@x@example.org", "exactly one @"),
    ("bob smith@example.org", "spaces or control characters"),
    ("bob\x07@example.org", "spaces or control characters"),
    ("bjørn@example.org", "non-ASCII"),
    ("bob@exämple.org", "non-ASCII"),
    (".bob@example.org", "part before @"),
    ("bob.@example.org", "part before @"),
    ("bob..smith@example.org", "part before @"),
    ("@example.org", "part before @"),
    ("bob@localhost", "not a mail domain"),
    ("bob@example.123", "not a mail domain"),
    ("bob@-example.org", "not a mail domain"),
    ("bob@example..org", "not a mail domain"),
    (LONGEST.replace("@", "@d"), "at most 254"),
    ("b" * 65 + "@example.org", "part before @"),
    # Percent escapes would be decoded by normalize_address into another address.
    ("a%40b@example.org", "%-escapes"),
    ("a%20b@example.org", "%-escapes"),
])
def test_customer_address_refused(given: Any, says: str) -> None:
    """A typo caught at booking time beats a bounce; the message says what is wrong."""
    error = refusal(customer_address, given)
    assert error.field == "customer.email"
    assert says in str(error)


def test_customer_address_lengths_at_the_limit() -> None:
    """254 characters in all and 64 before the @ are still fine."""
    assert len(LONGEST) == 254
    assert customer_address(LONGEST) == LONGEST


# -- readers ----------------------------------------------------------------------------

def test_read_customer() -> None:
    """Name and address are read together; the address comes back normalised."""
    customer = read_customer({"name": " Carla ", "email": "Carla@Customer.Example"})
    assert (customer.name, customer.address) == ("Carla", CUSTOMER)
    assert refusal(read_customer, {"email": CUSTOMER}).field == "customer.name"
    assert refusal(read_customer, {"name": "Carla"}).field == "customer.email"


@pytest.mark.parametrize(("changes", "field"), [
    ({"details__subject": ""}, "subject"),
    ({"details__subject": None}, "subject"),
    ({"details__subject": "Intro\x00"}, "subject"),
    ({"details__duration": 4}, "duration"),
    ({"details__duration": 481}, "duration"),
    ({"details__duration": "half an hour"}, "duration"),
    ({"details__duration": True}, "duration"),
    ({"details__members": []}, "members"),
    ({"details__members": ["u%d" % i for i in range(51)]}, "members"),
    ({"details__members": ["alice", 7]}, "members"),
    ({"details__meeting_type": "carrier-pigeon"}, "meeting_type"),
    ({"details__description": "x" * 8001}, "description"),
    ({"customer__email": "bob@localhost"}, "customer.email"),
    ({"colour": "red"}, "colour"),
    ({"details": "Intro"}, "details"),
    ({"notifications__holder": "zed"}, "notifications.holder"),
    ({"notifications__send_confirmation": "maybe"}, "notifications.send_confirmation"),
    ({"zone": "Mars/Olympus_Mons"}, "zone"),
    ({"notifications__customer_zone": "Mars/Olympus_Mons"}, "notifications.customer_zone"),
    ({"start": "2026-11-23T09:00:00"}, "start"),
    ({"start": "next Monday"}, "start"),
    ({"start": None}, "start"),
    ({"accepted_conflicts": "bob@example.org"}, "accepted_conflicts"),
    ({"accepted_conflicts": [1]}, "accepted_conflicts"),
])
def test_read_booking_refusal_names_the_field(changes: dict[str, Any], field: str) -> None:
    """The page puts each message next to the input at fault, so the field must be right."""
    assert refusal(read_booking, booking_data(**changes), "UTC").field == field


def test_read_details_limits_are_inclusive() -> None:
    """5 and 480 minutes, 50 members and 8000 characters of description are allowed."""
    for minutes in (5, 480):
        assert read_details({"subject": "s", "duration": minutes,
                             "members": ["a"]}).duration == minutes * 60
    details = read_details({"subject": "s", "members": ["u%d" % i for i in range(50)],
                            "description": "x" * 8000})
    assert (len(details.members), len(details.description)) == (50, 8000)
    assert details.duration == 30 * 60  # the default


@pytest.mark.parametrize("members", [
    ["bob", "alice", "bob", " alice "],
    "bob, alice,bob alice",
])
def test_members_deduplicated_in_order(members: list[str] | str) -> None:
    """The wizard posts a comma string, the API a list; the first mention keeps its place."""
    details = read_details({"subject": "s", "duration": "45", "members": members,
                            "rooms": ["Room1@Example.org", "mailto:Room2@example.org"]})
    assert details.members == ("bob", "alice")
    assert details.duration == 2700
    assert details.rooms == ("room1@example.org", "room2@example.org")
    assert details.meeting_type == "video"


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("false", False),
    ("on", True), ("off", False), ("ON", True), ("", False),
])
def test_flags(value: Any, expected: bool) -> None:
    """Checkboxes arrive as "on"/"off" from the form, booleans from JSON."""
    notes = read_booking(booking_data(notifications={
        "add_to_event": value, "send_confirmation": value,
        "customer_sees_attendees": value}), "UTC").notifications
    assert (notes.add_to_event, notes.send_confirmation,
            notes.customer_sees_attendees) == (expected,) * 3


def test_read_booking_happy_path() -> None:
    """Defaults: every flag on, the customer's zone is the agent's; Windows names mapped."""
    booking = read_booking(booking_data(zone=None, accepted_conflicts=["MAILTO:Bob@Example.org"]),
                           "W. Europe Standard Time")
    assert booking.zone == "Europe/Berlin"
    assert booking.notifications.customer_zone == "Europe/Berlin"
    assert booking.notifications.add_to_event and booking.notifications.send_confirmation
    assert booking.notifications.customer_sees_attendees
    assert booking.start == int(datetime(2026, 11, 23, 9, tzinfo=UTC).timestamp())
    assert booking.end - booking.start == 45 * 60
    assert booking.accepted_conflicts == frozenset({"bob@example.org"})
    assert booking.track is None
    other = read_booking(booking_data(start="2026-11-23T10:00:00+01:00", notifications={
        "customer_zone": "W. Europe Standard Time"}), "UTC")
    assert other.start == booking.start
    assert other.notifications.customer_zone == "Europe/Berlin"


@pytest.mark.parametrize(("holder", "agent", "expected"), [
    ("bob", "alice", "bob"),     # chosen in step 4
    (None, "bob", "bob"),        # the agent books for themselves
    (None, "zed", "alice"),      # the agent is not in the meeting: the first member
])
def test_holder_for(holder: str | None, agent: str, expected: str) -> None:
    """Whose calendar keeps the event."""
    booking = read_booking(booking_data(notifications__holder=holder), "UTC")
    assert booking.holder_for(agent) == expected


# -- the event --------------------------------------------------------------------------

def make_booking(**changes: Any) -> Booking:
    return read_booking(booking_data(**changes), "UTC")


def make_calendar(booking: Booking, sent_by: str | None = None) -> Calendar:
    parties = EventParties(
        organizer=Person(HOLDER, "Alice"), sent_by=sent_by,
        members=(Person("bob@example.org", "Bob"),),
        rooms=(Person("room1@example.org", "Room 1"),), assistant="assistant@example.org")
    built = booking_calendar(booking, parties, uid="uid-1", now=NOW)
    return Calendar.from_ical(built.to_ical())  # what is stored is what is written


def event_of(calendar: Calendar) -> Component:
    return calendar.walk("VEVENT")[0]


@pytest.mark.parametrize("sent_by", [None, "agent@example.org"])
def test_event_parties(sent_by: str | None) -> None:
    """Holder organizes (SENT-BY the agent only when someone else booked) and has accepted;
    the rest are asked; rooms are ROOM, the assistant a RESOURCE."""
    event = event_of(make_calendar(make_booking(), sent_by))
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:" + HOLDER
    assert organizer.params["CN"] == "Alice"
    assert organizer.params.get("SENT-BY") == (sent_by and "mailto:" + sent_by)
    attendees = attendees_of(event)
    assert set(attendees) == EVERYONE
    holder = attendees[HOLDER]
    assert (parameter(holder, "PARTSTAT"), parameter(holder, "RSVP")) == ("ACCEPTED", "")
    bob = attendees["bob@example.org"]
    assert (parameter(bob, "PARTSTAT"), parameter(bob, "RSVP"),
            parameter(bob, "CUTYPE")) == ("NEEDS-ACTION", "TRUE", "INDIVIDUAL")
    assert parameter(attendees["room1@example.org"], "CUTYPE") == "ROOM"
    assert parameter(attendees["assistant@example.org"], "CUTYPE") == "RESOURCE"
    customer = attendees[CUSTOMER]
    assert (parameter(customer, "SCHEDULE-AGENT"), hides_attendees(customer)) == ("", False)
    assert customer.params["CN"] == "Carla"


@pytest.mark.parametrize(("notes", "present", "agent", "hidden"), [
    ({}, True, "", False),
    ({"send_confirmation": False}, True, "NONE", False),
    ({"customer_sees_attendees": False}, True, "", True),
    ({"send_confirmation": "off", "customer_sees_attendees": "off"}, True, "NONE", True),
    ({"add_to_event": False}, False, "", False),
    ({"add_to_event": False, "customer_sees_attendees": False}, False, "", False),
])
def test_customer_attendee(notes: dict[str, Any], present: bool, agent: str,
                           hidden: bool) -> None:
    """The customer is on the event only when asked; no mail → SCHEDULE-AGENT=NONE;
    may not see the team → our hide parameter."""
    attendees = attendees_of(event_of(make_calendar(make_booking(notifications=notes))))
    assert (CUSTOMER in attendees) is present
    assert set(attendees) - {CUSTOMER} == EVERYONE - {CUSTOMER}
    if present:
        customer = attendees[CUSTOMER]
        assert parameter(customer, "SCHEDULE-AGENT") == agent
        assert parameter(customer, HIDE_ATTENDEES) == ("TRUE" if hidden else "")


@pytest.mark.parametrize(("zone", "wall"), [
    ("America/New_York", datetime(2026, 11, 23, 4)),
    ("Europe/Berlin", datetime(2026, 11, 23, 10)),
    ("Asia/Kolkata", datetime(2026, 11, 23, 14, 30)),
])
def test_times_in_the_customer_zone(zone: str, wall: datetime) -> None:
    """The customer's mail reads in their wall-clock time, with the VTIMEZONE to say so."""
    calendar = make_calendar(make_booking(notifications__customer_zone=zone))
    event = event_of(calendar)
    assert event["DTSTART"].params["TZID"] == zone
    assert event["DTSTART"].dt.replace(tzinfo=None) == wall
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=45)
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(
        2026, 11, 23, 9, tzinfo=UTC)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [zone]


def test_utc_needs_no_vtimezone() -> None:
    """UTC is written with Z; a VTIMEZONE would be noise."""
    calendar = make_calendar(make_booking(zone="UTC"))
    event = event_of(calendar)
    assert calendar.walk("VTIMEZONE") == []
    assert "TZID" not in event["DTSTART"].params
    assert event["DTSTART"].dt == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert b"DTSTART:20261123T090000Z" in calendar.to_ical()


@pytest.mark.parametrize(("conference", "feature"), [
    ("https://meet.example/x", "VIDEO"),
    ("http://meet.example/y", "VIDEO"),
    ("sip:room@sip.example", "VIDEO"),
    ("tel:+4930123456", "PHONE"),
    ("TEL:+4930123456", "PHONE"),
    ("ask for Carla at the desk", None),
    ("ftp://files.example/x", None),
])
def test_conference(conference: str, feature: str | None) -> None:
    """Any text goes into the description; only a URL a program can open is a CONFERENCE."""
    event = event_of(make_calendar(make_booking(details__conference=conference)))
    assert str(event["DESCRIPTION"]) == "Agenda\n\nJoin: " + conference
    if feature is None:
        assert "CONFERENCE" not in event
    else:
        assert str(event["CONFERENCE"]) == conference
        assert event["CONFERENCE"].params["FEATURE"] == feature
        assert event["CONFERENCE"].params["VALUE"] == "URI"


@pytest.mark.parametrize(("meeting_type", "category"), [
    ("video", "Video call"), ("phone", "Phone call"), ("in-person", "In person")])
def test_event_fields(meeting_type: str, category: str) -> None:
    """Summary, place, category, identity and the bookkeeping a client expects."""
    event = event_of(make_calendar(make_booking(
        details__meeting_type=meeting_type, details__conference="", details__description="")))
    assert event["CATEGORIES"].cats == [category]
    assert (str(event["UID"]), str(event["SUMMARY"]), str(event["LOCATION"])) == (
        "uid-1", "Intro", "HQ")
    assert (str(event["STATUS"]), str(event["TRANSP"]), event["SEQUENCE"]) == (
        "CONFIRMED", "OPAQUE", 0)
    assert event["DTSTAMP"].dt == NOW
    assert "DESCRIPTION" not in event and "CONFERENCE" not in event


def test_customer_confirmation() -> None:
    """A customer who is not on the event keeps time, subject and place: no description,
    no team, no agent."""
    booking = make_booking(notifications={"add_to_event": False,
                                          "customer_zone": "America/New_York"})
    calendar = make_calendar(booking, sent_by="agent@example.org")
    published = Calendar.from_ical(customer_confirmation(calendar).to_ical())
    assert str(published["METHOD"]) == "PUBLISH"
    original, event = event_of(calendar), event_of(published)
    for name in ("UID", "DTSTART", "DTEND", "SUMMARY", "LOCATION", "CONFERENCE"):
        assert event[name].to_ical() == original[name].to_ical(), name
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert "DESCRIPTION" not in event and "ATTENDEE" not in event
    assert str(event["ORGANIZER"]) == "mailto:" + HOLDER
    assert dict(event["ORGANIZER"].params) == {"CN": "Alice"}
    assert [str(tz["TZID"]) for tz in published.walk("VTIMEZONE")] == ["America/New_York"]


# -- the broker: hidden attendee list ---------------------------------------------------

def listed(message: ItipMessage) -> set[str]:
    events = message.calendar().walk("VEVENT")
    assert len(events) == 1
    return set(attendees_of(events[0]))


def hidden_calendar() -> Calendar:
    """The holder's event with a customer who may not see the team."""
    return make_calendar(make_booking(notifications__customer_sees_attendees=False))


def changed(calendar: Calendar, name: str, value: Any) -> Calendar:
    """A copy whose master has ``name`` set to ``value`` (replacing any)."""
    result = copy.deepcopy(calendar)
    event_of(result).pop(name, None)
    event_of(result).add(name, value)
    return result


def recurring() -> Calendar:
    return changed(hidden_calendar(), "RRULE", {"FREQ": "WEEKLY", "COUNT": 3})


def second_exdated() -> Calendar:
    calendar = recurring()
    return changed(calendar, "EXDATE", event_of(calendar)["DTSTART"].dt + timedelta(days=7))


@pytest.mark.parametrize(("old", "new", "method"), [
    pytest.param(None, hidden_calendar, Method.REQUEST, id="created"),
    pytest.param(hidden_calendar, None, Method.CANCEL, id="deleted"),
    pytest.param(hidden_calendar, lambda: changed(hidden_calendar(), "STATUS", "CANCELLED"),
                 Method.CANCEL, id="master-cancelled"),
    # A CANCEL of one occurrence (EXDATE added) keeps the same rule.
    pytest.param(recurring, second_exdated, Method.CANCEL, id="instance-cancelled"),
])
def test_hidden_attendee_list(old: Any, new: Any, method: Method) -> None:
    """The customer's message lists only the customer; everyone else sees everyone; our
    parameter never leaves the store."""
    messages = organizer_messages(old() if old else None, new() if new else None,
                                  frozenset({"MAILTO:Alice@Example.org"}), NOW)
    assert {m.recipient for m in messages} == EVERYONE - {HOLDER}
    for message in messages:
        assert message.method is method
        assert HIDE_ATTENDEES not in message.ics
        expected = {CUSTOMER} if message.recipient == CUSTOMER else EVERYONE
        assert listed(message) == expected, message.recipient


def test_the_core_validator_has_the_last_word() -> None:
    # dot-atom characters only, yet a Lotus Notes name: refused with the core's reason
    with pytest.raises(BookingError, match="Lotus Notes"):
        customer_address("CN=Bob/O=Acme@acme.example.org")
