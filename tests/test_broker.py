"""The scheduling broker: old/new object vectors → expected iTIP messages.

Each scenario lives in tests/vectors/itip/broker/<scenario>/ (organizer side) or
tests/vectors/itip/attendee/<scenario>/ (attendee side): ``old.ics`` and/or ``new.ics``
(absent = did not exist / deleted) and ``expected/<METHOD>-<recipient>.ics``, one file
per expected message, compared canonically (PRODID, DTSTAMP, folding and order ignored).
The table below gives what each message must say besides its content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from radicale_tracks.core.broker import attendee_messages, build_reply, organizer_messages
from radicale_tracks.core.itip import (
    PRODID,
    InstanceKey,
    ItipError,
    ItipMessage,
    Method,
    PartStat,
    attendees_of,
    instance_key,
    main_components,
    parse_calendar,
    sequence_of,
)
from radicale_tracks.core.validation import validate
from vectors.itip.canonical import ROOT, canonical, components, load

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
ALICE = frozenset({"alice@example.org"})
K1 = "20270111T090000Z"  # 2027-01-11 10:00 Europe/Berlin, the overridden instance
K2 = "20270118T090000Z"


@dataclass(frozen=True)
class Expect:
    recipient: str
    method: str
    instances: tuple[InstanceKey, ...]
    significant: bool
    changes: tuple[str, ...]


def case(scenario: str, *expected: Expect,
         organizer: frozenset[str] = ALICE) -> object:
    return pytest.param(scenario, organizer, list(expected), id=scenario)


ORGANIZER_CASES = [
    case("new-single-event",
         Expect("bob@example.org", "REQUEST", (None,), True, ()),
         Expect("carol@example.org", "REQUEST", (None,), True, ())),
    case("bookkeeping-only"),
    case("moved-meeting",
         Expect("bob@example.org", "REQUEST", (None,), True, ("DTEND", "DTSTART")),
         Expect("carol@example.org", "REQUEST", (None,), True, ("DTEND", "DTSTART"))),
    case("title-change",
         Expect("bob@example.org", "REQUEST", (None,), False, ("SUMMARY",)),
         Expect("carol@example.org", "REQUEST", (None,), False, ("SUMMARY",))),
    case("partstat-only",  # a reply applied by the organizer's client: not significant
         Expect("bob@example.org", "REQUEST", (None,), False, ("ATTENDEE",)),
         Expect("carol@example.org", "REQUEST", (None,), False, ("ATTENDEE",))),
    case("attendee-added",
         Expect("bob@example.org", "REQUEST", (None,), False, ("ATTENDEE",)),
         Expect("carol@example.org", "REQUEST", (None,), False, ("ATTENDEE",)),
         Expect("dave@example.org", "REQUEST", (None,), True, ("ATTENDEE",))),
    case("attendee-removed",
         Expect("bob@example.org", "REQUEST", (None,), False, ("ATTENDEE",)),
         Expect("carol@example.org", "CANCEL", (None,), True, ("ATTENDEE",))),
    case("attendees-all-removed",  # Thunderbird drops ORGANIZER with the last attendee
         Expect("bob@example.org", "CANCEL", (None,), True, ("ATTENDEE",)),
         Expect("carol@example.org", "CANCEL", (None,), True, ("ATTENDEE",))),
    case("deleted",
         Expect("bob@example.org", "CANCEL", (None,), True, ()),
         Expect("carol@example.org", "CANCEL", (None,), True, ())),
    case("deleted-already-cancelled"),
    case("master-cancelled",
         Expect("bob@example.org", "CANCEL", (None,), True, ("STATUS",)),
         Expect("carol@example.org", "CANCEL", (None,), True, ("STATUS",))),
    case("recurring-new",
         Expect("bob@example.org", "REQUEST", (None, K1), True, ()),
         Expect("carol@example.org", "REQUEST", (None,), True, ()),  # EXDATE for K1
         Expect("dave@example.org", "REQUEST", (K1,), True, ())),
    case("override-added",
         Expect("bob@example.org", "REQUEST", (None, K1), True,
                ("ATTENDEE", "DTEND", "DTSTART")),
         Expect("carol@example.org", "CANCEL", (K1,), True, ("ATTENDEE",)),
         Expect("dave@example.org", "REQUEST", (K1,), True, ("ATTENDEE", "DTEND", "DTSTART"))),
    case("override-changed",
         Expect("bob@example.org", "REQUEST", (None, K1), False, ("LOCATION",)),
         Expect("dave@example.org", "REQUEST", (K1,), False, ("LOCATION",))),
    case("override-removed",
         Expect("bob@example.org", "REQUEST", (None,), True, ("ATTENDEE", "DTEND", "DTSTART")),
         Expect("carol@example.org", "REQUEST", (None,), True,
                ("ATTENDEE", "DTEND", "DTSTART")),
         Expect("dave@example.org", "CANCEL", (K1,), True, ("ATTENDEE",))),
    case("exdate-added",
         Expect("bob@example.org", "CANCEL", (K2,), True, ("EXDATE",)),
         Expect("carol@example.org", "CANCEL", (K2,), True, ("EXDATE",))),
    case("override-cancelled",
         Expect("bob@example.org", "CANCEL", (K1,), True, ("STATUS",)),
         Expect("dave@example.org", "CANCEL", (K1,), True, ("STATUS",))),
    case("schedule-agent-client",
         Expect("carol@example.org", "REQUEST", (None,), True, ())),
    case("force-send",
         Expect("carol@example.org", "REQUEST", (None,), False, ())),
    case("organizer-not-ours"),
    case("no-organizer"),
    case("vjournal-ignored"),
    case("address-forms",
         Expect("bob+tag@example.org", "REQUEST", (None,), True, ()),
         organizer=frozenset({"MAILTO:Alice@Example.org"})),
    case("address-forms-unchanged", organizer=frozenset({"mailto:alice%40example.org"})),
    case("all-day-new",
         Expect("bob@example.org", "REQUEST", (None,), True, ())),
    case("all-day-exdate",
         Expect("bob@example.org", "CANCEL", ("20270111",), True, ("EXDATE",))),
    case("vtodo-new",
         Expect("bob@example.org", "REQUEST", (None,), True, ())),
    case("vtodo-due-changed",
         Expect("bob@example.org", "REQUEST", (None,), True, ("DUE",))),
]


def _snapshot(calendar: Calendar | None) -> bytes | None:
    return None if calendar is None else bytes(calendar.to_ical())


def check_messages(folder: Path, messages: list[ItipMessage], expected: list[Expect]) -> None:
    """Messages match the table, the expected files, and the invariants of every message."""
    assert [Expect(m.recipient, m.method.value, m.instances, m.significant, m.changes)
            for m in messages] == expected
    assert messages == sorted(messages, key=lambda m: (m.recipient, m.method.value))
    files = {path.name: path for path in (folder / "expected").glob("*.ics")}
    assert sorted(files) == sorted("%s-%s.ics" % (e.method, e.recipient) for e in expected)
    for message in messages:
        path = files["%s-%s.ics" % (message.method.value, message.recipient)]
        assert canonical(message.ics) == canonical(path.read_bytes()), path
        check_envelope(message)


def check_envelope(message: ItipMessage) -> None:
    """METHOD, PRODID, CRLF, DTSTAMP=now, no alarms or SCHEDULE-STATUS, valid iTIP."""
    assert "\r\n" in message.ics and "\n" not in message.ics.replace("\r\n", "")
    calendar = message.calendar()
    assert str(calendar["METHOD"]) == message.method.value
    assert str(calendar["PRODID"]) == PRODID
    assert validate(calendar) is message.method
    parts = components(calendar)
    assert parts and all(part["DTSTAMP"].dt == NOW for part in parts)
    assert [instance_key(part) for part in parts] == list(message.instances)
    assert {str(part["UID"]) for part in parts} == {message.uid}
    for part in parts:
        assert not [sub for sub in part.subcomponents if sub.name == "VALARM"]
        for prop in attendees_of(part).values():
            assert "SCHEDULE-STATUS" not in prop.params
            assert "SCHEDULE-FORCE-SEND" not in prop.params
    used = {str(part[name].params["TZID"]) for part in parts for name in part
            if hasattr(part[name], "params") and "TZID" in part[name].params}
    zones = {str(sub["TZID"]) for sub in calendar.subcomponents if sub.name == "VTIMEZONE"}
    assert zones == used


@pytest.mark.parametrize("scenario, organizer, expected", ORGANIZER_CASES)
def test_organizer_messages(scenario: str, organizer: frozenset[str],
                            expected: list[Expect]) -> None:
    old, new = load("broker", scenario, "old.ics"), load("broker", scenario, "new.ics")
    before = (_snapshot(old), _snapshot(new))
    messages = organizer_messages(old, new, organizer, NOW)
    check_messages(ROOT / "broker" / scenario, messages, expected)
    assert (_snapshot(old), _snapshot(new)) == before, "inputs must not be mutated"
    assert all(m.sender == "alice@example.org" for m in messages)
    assert not [m for m in messages if m.recipient == "alice@example.org"]


def test_every_broker_scenario_is_listed() -> None:
    listed = {param.id for param in ORGANIZER_CASES}
    assert {path.name for path in (ROOT / "broker").iterdir()} == listed


def test_deleted_object_cancel_bumps_sequence() -> None:
    old = load("broker", "deleted", "old.ics")
    assert old is not None
    (message, *_) = organizer_messages(old, None, ALICE, NOW)
    (part,) = components(message.calendar())
    assert message.sequence == sequence_of(part) == 1
    assert str(part["STATUS"]) == "CANCELLED"


def test_attendee_only_in_an_override_gets_only_that_override() -> None:
    new = load("broker", "recurring-new", "new.ics")
    messages = {m.recipient: m for m in organizer_messages(None, new, ALICE, NOW)}
    (part,) = components(messages["dave@example.org"].calendar())
    assert instance_key(part) == K1 and "RRULE" not in part
    (master,) = components(messages["carol@example.org"].calendar())
    assert [v.dt for v in master["EXDATE"].dts] == [
        main_components(new)[K1]["RECURRENCE-ID"].dt]


# --- attendee side ---------------------------------------------------------------------

ATTENDEE_CASES = [
    pytest.param("accept-master", [
        Expect("alice@example.org", "REPLY", (None,), True, ("ATTENDEE",))],
        {None: "ACCEPTED"}, id="accept-master"),
    pytest.param("decline-instance", [
        Expect("alice@example.org", "REPLY", (K1,), True, ("ATTENDEE",))],
        {K1: "DECLINED"}, id="decline-instance"),
    pytest.param("accept-series-tentative-instance", [
        Expect("alice@example.org", "REPLY", (None, K1), True, ("ATTENDEE",))],
        {None: "ACCEPTED", K1: "TENTATIVE"}, id="accept-series-tentative-instance"),
    pytest.param("exdate-added", [
        Expect("alice@example.org", "REPLY", (K2,), True, ("ATTENDEE",))],
        {K2: "DECLINED"}, id="exdate-added"),
    pytest.param("deleted", [
        Expect("alice@example.org", "REPLY", (None,), True, ("ATTENDEE",))],
        {None: "DECLINED"}, id="deleted"),
    pytest.param("stored-accepted", [  # a copy written already accepted (old is None)
        Expect("alice@example.org", "REPLY", (None,), True, ("ATTENDEE",))],
        {None: "ACCEPTED"}, id="stored-accepted"),
    pytest.param("alarm-only", [], {}, id="alarm-only"),
    pytest.param("organizer-schedules-itself", [], {}, id="organizer-schedules-itself"),
]


@pytest.mark.parametrize("scenario, expected, partstats", ATTENDEE_CASES)
def test_attendee_messages(scenario: str, expected: list[Expect],
                           partstats: dict[InstanceKey, str]) -> None:
    old, new = load("attendee", scenario, "old.ics"), load("attendee", scenario, "new.ics")
    before = (_snapshot(old), _snapshot(new))
    messages = attendee_messages(old, new, "MAILTO:Bob@Example.org", NOW)
    check_messages(ROOT / "attendee" / scenario, messages, expected)
    assert (_snapshot(old), _snapshot(new)) == before
    for message in messages:
        assert message.sender == "bob@example.org"
        organizer_copy = old or new
        assert organizer_copy is not None
        stored = main_components(organizer_copy)
        for part in components(message.calendar()):
            (prop,) = attendees_of(part).values()
            assert partstats[instance_key(part)] == str(prop.params["PARTSTAT"])
            source = stored.get(instance_key(part), stored[None])
            assert sequence_of(part) == sequence_of(source)  # the organizer's SEQUENCE


def test_every_attendee_scenario_is_listed() -> None:
    listed = {param.id for param in ATTENDEE_CASES}
    assert {path.name for path in (ROOT / "attendee").iterdir()} == listed


# --- build_reply -----------------------------------------------------------------------


def _organizer_copy() -> Calendar:
    calendar = load("broker", "recurring-new", "new.ics")
    assert calendar is not None
    return calendar


def test_build_reply_defaults_to_every_instance_the_attendee_is_in() -> None:
    calendar = _organizer_copy()
    before = _snapshot(calendar)
    reply = build_reply(calendar, "MAILTO:Bob@Example.org", PartStat.ACCEPTED, NOW,
                        comment="See you there")
    assert _snapshot(calendar) == before
    assert (reply.method, reply.recipient, reply.sender) == (
        Method.REPLY, "alice@example.org", "bob@example.org")
    assert reply.instances == (None, K1)
    check_envelope(reply)
    organizer = main_components(calendar)
    for part in components(reply.calendar()):
        key = instance_key(part)
        (prop,) = attendees_of(part).values()
        assert str(prop) == "mailto:bob@example.org" and str(prop.params["CN"]) == "Bob"
        assert str(prop.params["PARTSTAT"]) == "ACCEPTED"
        assert sequence_of(part) == sequence_of(organizer[key])
        assert str(part["ORGANIZER"]) == "mailto:alice@example.org"
        assert str(part["COMMENT"]) == "See you there"
        if key is not None:  # RECURRENCE-ID kept exactly as the organizer wrote it
            assert part["RECURRENCE-ID"].to_ical() == organizer[key]["RECURRENCE-ID"].to_ical()
            assert part["RECURRENCE-ID"].params == organizer[key]["RECURRENCE-ID"].params


def test_build_reply_for_an_instance_without_override() -> None:
    reply = build_reply(_organizer_copy(), "carol@example.org", PartStat.DECLINED, NOW,
                        instances=[K2])
    (part,) = components(reply.calendar())
    assert reply.instances == (K2,)
    assert part["RECURRENCE-ID"].to_ical() == b"20270118T100000"
    assert str(part["RECURRENCE-ID"].params["TZID"]) == "Europe/Berlin"
    assert part["DTSTART"].dt == part["RECURRENCE-ID"].dt
    assert str(attendees_of(part)["carol@example.org"].params["PARTSTAT"]) == "DECLINED"


@pytest.mark.parametrize("attendee, instances", [
    pytest.param("mallory@example.net", None, id="not-invited"),
    pytest.param("dave@example.org", [None], id="not-in-the-master"),
    pytest.param("carol@example.org", [K1], id="not-in-the-override"),
])
def test_build_reply_refuses_someone_not_invited(attendee: str,
                                                 instances: list[InstanceKey] | None) -> None:
    with pytest.raises(ItipError, match=r"^RFC 5546 §3\.2\.3: a REPLY must come from an "
                                        r"ATTENDEE") as caught:
        build_reply(_organizer_copy(), attendee, PartStat.ACCEPTED, NOW, instances=instances)
    assert caught.value.method == "REPLY" and caught.value.uid == "weekly-1@example.org"


def test_build_reply_needs_an_organizer() -> None:
    calendar = parse_calendar((ROOT / "broker" / "no-organizer" / "new.ics").read_bytes())
    with pytest.raises(ItipError, match="ORGANIZER"):
        build_reply(calendar, "bob@example.org", PartStat.ACCEPTED, NOW)
