"""iTIP validation (RFC 5546 §3.2–§3.5) and the shared vocabulary of radicale_tracks.core.itip.

Vectors: tests/vectors/itip/validate/invalid/<rule>.ics must raise an ItipError whose rule
names the RFC section; tests/vectors/itip/validate/valid/<case>.ics must pass.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event, vDDDTypes

from radicale_tracks.core.itip import (
    ItipError,
    ItipMessage,
    Method,
    PartStat,
    attendees_of,
    instance_key,
    main_components,
    organizer_of,
    parse_calendar,
    recurrence_id_for,
    recurrence_key,
    sequence_of,
)
from radicale_tracks.core.signature import changed_properties, component_signature
from radicale_tracks.core.validation import validate
from radicale_tracks.errors import TracksError
from vectors.itip.canonical import ROOT

VALIDATE = ROOT / "validate"

INVALID = [
    ("missing-method", "RFC 5546 §1.4: an iTIP message must have a METHOD property"),
    ("unknown-method", "RFC 5546 §1.4: unknown METHOD INVITE"),
    ("request-without-organizer", "RFC 5546 §3.2.2: a REQUEST VEVENT must have an ORGANIZER"),
    ("request-without-attendee",
     "RFC 5546 §3.2.2: a REQUEST VEVENT must have at least one ATTENDEE"),
    ("request-without-dtstart", "RFC 5546 §3.2.2: a REQUEST VEVENT must have a DTSTART"),
    ("request-without-dtstamp", "RFC 5546 §3.2.2: a REQUEST VEVENT must have a DTSTAMP"),
    ("request-without-uid", "RFC 5546 §3.2.2: a REQUEST VEVENT must have a UID"),
    ("reply-with-two-attendees",
     "RFC 5546 §3.2.3: a REPLY VEVENT must have exactly one ATTENDEE, found 2"),
    ("reply-without-attendee", "RFC 5546 §3.2.3: a REPLY VEVENT must have an ATTENDEE"),
    ("cancel-without-organizer", "RFC 5546 §3.2.5: a CANCEL VEVENT must have an ORGANIZER"),
    ("refresh-with-two-attendees",
     "RFC 5546 §3.2.6: a REFRESH VEVENT must have exactly one ATTENDEE, found 2"),
    ("counter-without-attendee",
     "RFC 5546 §3.2.7: a COUNTER VEVENT must have at least one ATTENDEE"),
    ("two-organizers", "RFC 5546 §3.2.2: a REQUEST VEVENT must have at most one ORGANIZER"),
    ("dtend-and-duration",
     "RFC 5545 §3.6.1: DTEND and DURATION must not both occur in a VEVENT"),
    ("due-and-duration", "RFC 5545 §3.6.2: DUE and DURATION must not both occur in a VTODO"),
    ("mixed-uids", "RFC 5546 §3.2.2: all components of a REQUEST must have the same UID"),
    ("mixed-component-types",
     "RFC 5546 §3: an iTIP message carries one component type, found VEVENT and VTODO"),
    ("negative-sequence",
     "RFC 5545 §3.8.7.4: SEQUENCE must be a non-negative integer, found -1"),
    ("sequence-not-integer",
     "RFC 5545 §3.8.7.4: SEQUENCE must be a non-negative integer, found two"),
    ("duplicate-recurrence-id",
     "RFC 5545 §3.8.4.4: two components share UID and RECURRENCE-ID 20270117T090000Z"),
    ("bad-dtstart", "RFC 5545 §3.3.4: DTSTART must be a DATE or DATE-TIME value"),
    ("vjournal-request", "RFC 5546 §3.5: REQUEST is not defined for VJOURNAL"),
    ("no-component", "RFC 5546 §3: an iTIP message must contain a VEVENT, VTODO"),
    ("not-icalendar", "RFC 5545: not a valid iCalendar object"),
    ("not-a-vcalendar", "RFC 5545: not a valid iCalendar object: expected VCALENDAR"),
    ("two-vcalendars", "RFC 5545: not a valid iCalendar object"),
]


@pytest.mark.parametrize("name, rule", [pytest.param(n, r, id=n) for n, r in INVALID])
def test_invalid_message_names_the_rule(name: str, rule: str) -> None:
    data = (VALIDATE / "invalid" / ("%s.ics" % name)).read_bytes()
    with pytest.raises(ItipError) as caught:
        validate(parse_calendar(data))
    assert caught.value.rule.startswith(rule), caught.value.rule
    assert caught.value.rule in str(caught.value)
    assert caught.value.rule.startswith(("RFC 5545", "RFC 5546"))


def test_every_invalid_vector_is_listed() -> None:
    on_disk = {path.stem for path in (VALIDATE / "invalid").glob("*.ics")}
    assert on_disk == {name for name, _ in INVALID}


VALID = [
    ("request-single", Method.REQUEST),
    ("request-override-only", Method.REQUEST),
    ("reply-without-organizer", Method.REPLY),  # outlook.com
    ("cancel-without-attendees", Method.CANCEL),
    ("request-vtodo-without-dtstart", Method.REQUEST),
    ("publish-several-objects", Method.PUBLISH),
    ("counter-instance", Method.COUNTER),
    ("method-lower-case", Method.REQUEST),
    ("vfreebusy-request", Method.REQUEST),
    ("vjournal-cancel", Method.CANCEL),
]


@pytest.mark.parametrize("name, method", [pytest.param(n, m, id=n) for n, m in VALID])
def test_valid_message(name: str, method: Method) -> None:
    data = (VALIDATE / "valid" / ("%s.ics" % name)).read_bytes()
    assert validate(parse_calendar(data)) is method


def test_every_valid_vector_is_listed() -> None:
    assert {path.stem for path in (VALIDATE / "valid").glob("*.ics")} == {n for n, _ in VALID}


def test_error_carries_fields_and_is_a_tracks_error() -> None:
    data = (VALIDATE / "invalid" / "request-without-organizer.ics").read_bytes()
    with pytest.raises(TracksError) as caught:
        validate(parse_calendar(data))
    error = caught.value
    assert isinstance(error, ItipError)
    assert (error.method, error.uid) == ("REQUEST", "rule-1@example.org")
    assert str(error) == ("RFC 5546 §3.2.2: a REQUEST VEVENT must have an ORGANIZER "
                          "(METHOD:REQUEST, UID:rule-1@example.org)")


@pytest.mark.parametrize("data", [
    pytest.param("garbage", id="one-line-str-is-not-a-path"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\xff\xfe", id="binary"),
])
def test_parse_calendar_rejects_garbage(data: str | bytes) -> None:
    with pytest.raises(ItipError, match="^RFC 5545: not a valid iCalendar object"):
        parse_calendar(data)


def test_vocabulary_uses_rfc_spellings() -> None:
    assert [m.value for m in Method] == ["PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL",
                                         "REFRESH", "COUNTER", "DECLINECOUNTER"]
    assert PartStat.NEEDS_ACTION == "NEEDS-ACTION"
    assert {p.value for p in PartStat} == {"NEEDS-ACTION", "ACCEPTED", "DECLINED",
                                           "TENTATIVE", "DELEGATED"}


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("value, key", [
    pytest.param(datetime(2027, 1, 11, 9, tzinfo=UTC), "20270111T090000Z", id="utc"),
    pytest.param(datetime(2027, 1, 11, 10, tzinfo=BERLIN), "20270111T090000Z", id="tzid"),
    pytest.param(datetime(2027, 7, 12, 10, tzinfo=BERLIN), "20270712T080000Z", id="tzid-dst"),
    pytest.param(datetime(2027, 1, 11, 10), "20270111T100000", id="floating"),
    pytest.param(date(2027, 1, 11), "20270111", id="date"),
])
def test_instance_key_normalises_recurrence_id(value: date | datetime, key: str) -> None:
    event = Event()
    event.add("RECURRENCE-ID", value)
    assert instance_key(event) == key == recurrence_key(value)
    assert instance_key(Event()) is None


def _event(*lines: str) -> Event:
    text = "BEGIN:VEVENT\r\n%s\r\nEND:VEVENT\r\n" % "\r\n".join(lines)
    parsed = Event.from_ical(text.encode())
    assert isinstance(parsed, Event)
    return parsed


BASE = ("UID:x", "DTSTART:20270110T090000Z", "DTEND:20270110T100000Z", "SUMMARY:Plan",
        "ORGANIZER:mailto:alice@example.org")


def test_signature_ignores_bookkeeping_and_address_spelling() -> None:
    old = _event(*BASE, "DTSTAMP:20261201T090000Z", "SEQUENCE:0",
                 "ATTENDEE;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:bob+tag@example.org",
                 "EXDATE:20270117T090000Z,20270124T090000Z")
    new = _event(*BASE, "DTSTAMP:20261205T090000Z", "SEQUENCE:4",
                 "LAST-MODIFIED:20261205T090000Z", "X-MOZ-GENERATION:3",
                 "ATTENDEE;SCHEDULE-STATUS=1.2;PARTSTAT=accepted:MAILTO:Bob%2Btag@Example.ORG",
                 "EXDATE;TZID=Europe/Berlin:20270124T100000", "EXDATE:20270117T090000Z",
                 "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT5M", "END:VALARM")
    assert component_signature(old) == component_signature(new)
    assert changed_properties(old, new) == ()


def test_changed_properties_names_what_differs() -> None:
    old = _event(*BASE, "ATTENDEE:mailto:bob@example.org")
    new = _event(*BASE[:3], "SUMMARY:Plan B", BASE[4], "LOCATION:Room 2",
                 "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org")
    assert changed_properties(old, new) == ("ATTENDEE", "LOCATION", "SUMMARY")
    assert changed_properties(old, new, ignore=("ATTENDEE",)) == ("LOCATION", "SUMMARY")


def test_readers() -> None:
    calendar = parse_calendar((ROOT / "broker" / "override-added" / "new.ics").read_bytes())
    components = main_components(calendar)
    assert list(components) == [None, "20270111T090000Z"]
    master = components[None]
    assert organizer_of(master) == "alice@example.org"
    assert list(attendees_of(master)) == ["alice@example.org", "bob@example.org",
                                          "carol@example.org"]
    assert sequence_of(master) == 1 and sequence_of(Event()) == 0
    assert main_components(Calendar()) == {}


def test_message_is_a_frozen_value() -> None:
    message = ItipMessage(Method.REQUEST, "bob@example.org", "alice@example.org", "u", 0,
                          (None,), True, (), "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.recipient = "mallory@example.net"  # type: ignore[misc]
    assert isinstance(message.calendar(), Calendar)
    assert message.calendar() is not message.calendar()


def test_recurrence_id_for_a_key_round_trips() -> None:
    assert recurrence_key(recurrence_id_for("20270111T090000Z").dt) == "20270111T090000Z"
    assert recurrence_id_for("20270111").dt == date(2027, 1, 11)
    assert isinstance(recurrence_id_for("20270111T100000"), vDDDTypes)
