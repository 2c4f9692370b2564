"""Receiving iTIP: message + stored object vectors → expected receipt and stored object.

Each scenario lives in tests/vectors/itip/receipt/<scenario>/: ``message.ics``, the stored
``existing.ics`` (absent = nothing stored) and ``expected.ics``, the object to store
(absent when nothing is to be stored), compared canonically (PRODID, DTSTAMP, folding and
order ignored; DTSTAMPs are checked separately where they matter).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icalendar import Calendar, Component

from radicale_tracks.core.broker import build_reply, organizer_messages
from radicale_tracks.core.itip import (
    InstanceKey,
    ItipError,
    PartStat,
    attendees_of,
    dtstamp_of,
    main_components,
    parse_calendar,
    sequence_of,
    status_of,
)
from radicale_tracks.core.receipt import Outcome, Receipt, apply_message
from vectors.itip.canonical import ROOT, canonical, components, load

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
K1 = "20270111T090000Z"
K2 = "20270118T090000Z"


def case(scenario: str, outcome: Outcome, instances: tuple[InstanceKey, ...],
         significant: bool, changes: tuple[str, ...], reason: str) -> object:
    return pytest.param(scenario, outcome, instances, significant, changes, reason, id=scenario)


CASES = [
    case("request-new", Outcome.CREATED, (None,), True, (), "new object single-1@example.org"),
    case("request-newer-sequence", Outcome.UPDATED, (None,), True, ("DTEND", "DTSTART"),
         "updated the master"),
    case("request-same-sequence-newer-dtstamp", Outcome.UPDATED, (None,), False, ("SUMMARY",),
         "updated the master"),
    case("request-older-sequence", Outcome.STALE, (None,), False, (),
         "SEQUENCE 2 is older than stored SEQUENCE 3"),
    case("request-same-sequence-older-dtstamp", Outcome.STALE, (None,), False, (),
         "DTSTAMP 20261204T090000Z is older than stored DTSTAMP 20261205T090000Z"),
    case("request-duplicate", Outcome.STALE, (None,), False, (),
         "duplicate: SEQUENCE 1 and DTSTAMP 20261201T090000Z equal the stored ones"),
    case("request-override-only", Outcome.UPDATED, (K1,), True, ("DTEND", "DTSTART"),
         "updated RECURRENCE-ID %s" % K1),
    case("request-master-drops-outdated-override", Outcome.UPDATED, (None, K1), True,
         ("DTEND", "DTSTART"), "updated the master"),
    case("google-utc-recurrence-id", Outcome.UPDATED, (K1,), True,
         ("ATTENDEE", "DTEND", "DTSTART"), "updated RECURRENCE-ID %s" % K1),
    case("google-master-keeps-newer-override", Outcome.UPDATED, (None,), False, ("SUMMARY",),
         "updated the master"),
    # Google: an override still carrying the series' RRULE; one occurrence's title changed
    case("google-override-with-rrule", Outcome.UPDATED, (K1,), False, ("SUMMARY",),
         "updated RECURRENCE-ID %s" % K1),
    case("cancel-whole", Outcome.CANCELLED, (None,), True, ("STATUS",),
         "object single-1@example.org cancelled"),
    case("cancel-instance-existing-override", Outcome.INSTANCE_CANCELLED, (K1,), True,
         ("STATUS",), "cancelled RECURRENCE-ID %s" % K1),
    case("cancel-instance-new-override", Outcome.INSTANCE_CANCELLED, (K2,), True, ("STATUS",),
         "cancelled RECURRENCE-ID %s" % K2),
    case("cancel-instance-already-excluded", Outcome.IGNORED, (K2,), False, (),
         "nothing to cancel: RECURRENCE-ID %s is not in the stored object" % K2),
    case("cancel-no-existing", Outcome.IGNORED, (None,), False, (), "nothing to cancel"),
    case("cancel-stale", Outcome.STALE, (None,), False, (),
         "SEQUENCE 2 is older than stored SEQUENCE 3"),
    case("reply-accepted-master", Outcome.REPLY_APPLIED, (None,), False, ("ATTENDEE",),
         "bob@example.org ACCEPTED for the master"),
    case("reply-declined-master", Outcome.REPLY_APPLIED, (None,), False, ("ATTENDEE",),
         "bob@example.org DECLINED for the master"),
    case("reply-accepted-instance", Outcome.REPLY_APPLIED, ("20270125T090000Z",), False,
         ("ATTENDEE",), "bob@example.org ACCEPTED for RECURRENCE-ID 20270125T090000Z"),
    case("reply-instance-existing-override", Outcome.REPLY_APPLIED, (K1,), False,
         ("ATTENDEE",), "bob@example.org DECLINED for RECURRENCE-ID %s" % K1),
    case("reply-without-organizer", Outcome.REPLY_APPLIED, (None,), False, ("ATTENDEE",),
         "bob@example.org TENTATIVE for the master"),
    case("reply-unknown-attendee", Outcome.IGNORED, (None,), False, (),
         "mallory@example.net is not an attendee of the master of single-1@example.org"),
    case("reply-older-sequence", Outcome.STALE, (None,), False, (),
         "REPLY SEQUENCE 0 is older than stored SEQUENCE 1"),
    case("reply-no-existing", Outcome.IGNORED, (None,), False, (),
         "no stored object to apply the REPLY to"),
    case("publish-ignored", Outcome.IGNORED, (None,), False, (),
         "method PUBLISH is handled by the caller"),
    case("counter-ignored", Outcome.IGNORED, (None,), False, (),
         "method COUNTER is handled by the caller"),
]


def _snapshot(calendar: Calendar | None) -> bytes | None:
    return None if calendar is None else bytes(calendar.to_ical())


@pytest.mark.parametrize("scenario, outcome, instances, significant, changes, reason", CASES)
def test_apply_message(scenario: str, outcome: Outcome, instances: tuple[InstanceKey, ...],
                       significant: bool, changes: tuple[str, ...], reason: str) -> None:
    message = load("receipt", scenario, "message.ics")
    existing = load("receipt", scenario, "existing.ics")
    assert message is not None
    before = (_snapshot(message), _snapshot(existing))
    receipt = apply_message(message, existing)
    assert (receipt.outcome, receipt.instances, receipt.significant, receipt.changes) == (
        outcome, instances, significant, changes)
    assert receipt.reason.startswith(reason), receipt.reason
    assert (_snapshot(message), _snapshot(existing)) == before, "inputs must not be mutated"
    expected = ROOT / "receipt" / scenario / "expected.ics"
    if outcome in (Outcome.STALE, Outcome.IGNORED):
        assert receipt.calendar is None and not expected.exists()
        return
    assert receipt.calendar is not None
    assert canonical(receipt.calendar) == canonical(expected.read_bytes())
    assert "METHOD" not in receipt.calendar
    parse_calendar(receipt.calendar.to_ical())  # serialisable and parseable again
    zones = {str(sub["TZID"]) for source in (message, existing) if source is not None
             for sub in source.subcomponents if sub.name == "VTIMEZONE"}
    assert {str(sub["TZID"]) for sub in receipt.calendar.subcomponents
            if sub.name == "VTIMEZONE"} == zones


def test_every_receipt_scenario_is_listed() -> None:
    listed = {param.id for param in CASES}
    assert {path.name for path in (ROOT / "receipt").iterdir()} == listed


def _stored(scenario: str) -> dict[InstanceKey, Component]:
    message = load("receipt", scenario, "message.ics")
    assert message is not None
    receipt = apply_message(message, load("receipt", scenario, "existing.ics"))
    assert receipt.calendar is not None
    return dict(main_components(receipt.calendar))


def test_newer_request_keeps_the_attendees_alarms() -> None:
    (master,) = _stored("request-newer-sequence").values()
    assert [sub.name for sub in master.subcomponents] == ["VALARM"]
    assert dtstamp_of(master) == datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_cancel_whole_takes_sequence_and_dtstamp_of_the_message() -> None:
    (master,) = _stored("cancel-whole").values()
    assert status_of(master) == "CANCELLED" and sequence_of(master) == 2
    assert dtstamp_of(master) == datetime(2026, 12, 10, 9, tzinfo=UTC)


def test_google_instance_replaces_the_override_named_in_another_zone() -> None:
    stored = _stored("google-utc-recurrence-id")
    assert list(stored) == [None, K1]
    assert sequence_of(stored[K1]) == 3


def test_master_request_keeps_overrides_with_their_own_newer_sequence() -> None:
    stored = _stored("google-master-keeps-newer-override")
    assert list(stored) == [None, K1] and sequence_of(stored[K1]) == 3


def test_reply_sets_partstat_and_drops_schedule_status() -> None:
    (master,) = _stored("reply-accepted-master").values()
    bob = attendees_of(master)["bob@example.org"]
    assert str(bob.params["PARTSTAT"]) == "ACCEPTED"
    assert "SCHEDULE-STATUS" not in bob.params


def test_invalid_message_raises() -> None:
    message = parse_calendar(
        (ROOT / "validate" / "invalid" / "request-without-organizer.ics").read_bytes())
    with pytest.raises(ItipError, match=r"RFC 5546 §3\.2\.2"):
        apply_message(message, None)


def test_message_for_another_uid_is_ignored() -> None:
    message = load("receipt", "request-newer-sequence", "message.ics")
    existing = load("receipt", "request-override-only", "existing.ics")
    assert message is not None
    receipt = apply_message(message, existing)
    assert receipt == Receipt(Outcome.IGNORED, None, "UID single-1@example.org does not match "
                              "the stored UID weekly-1@example.org", (None,), False, ())


def test_round_trip_organizer_to_attendee_and_back() -> None:
    """Broker output is receipt input: invite, store, reply, apply, cancel."""
    organizer_copy = load("broker", "recurring-new", "new.ics")
    assert organizer_copy is not None
    invites = {m.recipient: m for m in organizer_messages(
        None, organizer_copy, frozenset({"alice@example.org"}), NOW)}
    created = apply_message(invites["bob@example.org"].calendar(), None)
    assert created.outcome is Outcome.CREATED and created.calendar is not None
    assert list(main_components(created.calendar)) == [None, K1]

    reply = build_reply(created.calendar, "bob@example.org", PartStat.TENTATIVE, NOW,
                        instances=[K1])
    applied = apply_message(reply.calendar(), organizer_copy)
    assert applied.outcome is Outcome.REPLY_APPLIED and applied.calendar is not None
    override = main_components(applied.calendar)[K1]
    assert str(attendees_of(override)["bob@example.org"].params["PARTSTAT"]) == "TENTATIVE"
    assert str(attendees_of(main_components(applied.calendar)[None])["bob@example.org"]
               .params["PARTSTAT"]) == "ACCEPTED"

    (cancel,) = [m for m in organizer_messages(organizer_copy, None,
                                               frozenset({"alice@example.org"}), NOW)
                 if m.recipient == "bob@example.org"]
    cancelled = apply_message(cancel.calendar(), created.calendar)
    assert cancelled.outcome is Outcome.CANCELLED and cancelled.calendar is not None
    assert {status_of(c) for c in components(cancelled.calendar)} == {"CANCELLED"}
    assert apply_message(cancel.calendar(), cancelled.calendar).outcome is Outcome.STALE


def _invite(attendees: list[str], sequence: int = 0) -> Calendar:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:REQUEST",
             "BEGIN:VEVENT", "UID:same-second@example.org", "DTSTAMP:20270101T120000Z",
             "SEQUENCE:%d" % sequence, "DTSTART:20270301T100000Z",
             "DTEND:20270301T110000Z", "SUMMARY:Planning",
             "ORGANIZER:mailto:alice@example.org"]
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:%s@example.org" % a for a in attendees]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return parse_calendar("\r\n".join(lines))


def test_a_delivery_of_this_server_is_ordered_by_the_writes_not_by_the_second() -> None:
    """Same SEQUENCE, same DTSTAMP, another attendee list: a retry for mail, the next
    write for the server's own delivery; an older SEQUENCE and the same version again
    stay stale either way."""
    stored = apply_message(_invite(["bob", "carol"]), None).calendar
    next_write = _invite(["bob"])
    assert apply_message(next_write, stored).outcome is Outcome.STALE
    applied = apply_message(next_write, stored, authoritative=True)
    assert applied.outcome is Outcome.UPDATED and applied.calendar is not None
    assert set(attendees_of(main_components(applied.calendar)[None])) == {"bob@example.org"}
    assert apply_message(next_write, applied.calendar, authoritative=True
                         ).outcome is Outcome.STALE
    newer = apply_message(_invite(["bob"], sequence=2), None).calendar
    assert apply_message(next_write, newer, authoritative=True).outcome is Outcome.STALE
