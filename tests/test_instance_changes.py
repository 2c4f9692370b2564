"""Ordering by the organizer's SEQUENCE/DTSTAMP, and what changed per instance (issue 16).

Pure vectors: the copies we keep are compared with the organizer's next message by the
organizer's own SEQUENCE and DTSTAMP (RFC 5546 §2.1.5), and a change to one occurrence is
reported as that occurrence's change, compared with the occurrence it replaced.
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar

from radicale_tracks.core.broker import changed_instances, organizer_messages
from radicale_tracks.core.itip import dtstamp_of, main_components, sequence_of, status_of
from radicale_tracks.core.receipt import (
    Outcome,
    apply_message,
    keep_organizer_stamps,
    organizer_stamps_differ,
    without_override_recurrence,
)
from radicale_tracks.core.summaries import describe_update, meeting_facts
from vectors.itip.canonical import load

K1 = "20270111T090000Z"
SCENARIO = "google-override-with-rrule"
LATER = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)   # when we processed it
ALICE = frozenset({"alice@example.org"})


def _series() -> Calendar:
    existing = load("receipt", SCENARIO, "existing.ics")
    assert existing is not None
    return existing


def _override_message() -> Calendar:
    message = load("receipt", SCENARIO, "message.ics")
    assert message is not None
    return message


def _message(text: str) -> Calendar:
    return Calendar.from_ical(text)


CANCEL_SAME_SEQUENCE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Ximian//NONSGML Evolution Calendar//EN
METHOD:CANCEL
BEGIN:VEVENT
UID:weekly-1@example.org
DTSTAMP:20261202T090000Z
DTSTART;VALUE=DATE-TIME:20270104T090000Z
SEQUENCE:0
STATUS:CANCELLED
ORGANIZER;CN=Alice:mailto:alice@example.org
ATTENDEE;CN=Bob:mailto:bob@example.org
END:VEVENT
END:VCALENDAR
"""


# -- ordering: the organizer's stamps -----------------------------------------------------

def test_copy_reauthored_here_keeps_the_organizers_stamps_and_a_later_cancel_applies() -> None:
    organizer = _series()   # SEQUENCE 0, DTSTAMP 2026-12-01 09:00 (the organizer's)
    # the assistant re-derives the organizer's message: DTSTAMP is the moment it ran
    (relayed,) = [m for m in organizer_messages(None, organizer, ALICE, LATER)
                  if m.recipient == "bob@example.org"]
    copy = apply_message(relayed.calendar(), None).calendar
    assert copy is not None
    master = main_components(copy)[None]
    assert dtstamp_of(master) == LATER
    # … so a CANCEL the organizer made later, keeping SEQUENCE, looked older: dropped
    assert apply_message(_message(CANCEL_SAME_SEQUENCE), copy).outcome is Outcome.STALE

    kept = keep_organizer_stamps(copy, organizer)
    master = main_components(kept)[None]
    assert dtstamp_of(master) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert sequence_of(master) == 0
    receipt = apply_message(_message(CANCEL_SAME_SEQUENCE), kept)
    assert receipt.outcome is Outcome.CANCELLED and receipt.calendar is not None
    assert status_of(main_components(receipt.calendar)[None]) == "CANCELLED"


def test_stamps_are_kept_per_instance() -> None:
    organizer = apply_message(_override_message(), _series()).calendar
    assert organizer is not None
    stale_copy = Calendar.from_ical(organizer.to_ical())
    for component in main_components(stale_copy).values():
        component.pop("DTSTAMP")
        component.add("DTSTAMP", LATER)
        component.pop("SEQUENCE")
        component.add("SEQUENCE", 5)
    assert organizer_stamps_differ(stale_copy, organizer)
    kept = main_components(keep_organizer_stamps(stale_copy, organizer))
    assert dtstamp_of(kept[None]) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert dtstamp_of(kept[K1]) == datetime(2026, 12, 3, 9, tzinfo=UTC)
    assert sequence_of(kept[None]) == sequence_of(kept[K1]) == 0
    assert not organizer_stamps_differ(keep_organizer_stamps(stale_copy, organizer),
                                       organizer)


def test_retry_is_idempotent_and_a_later_dtstamp_at_the_same_sequence_applies() -> None:
    """RFC 5546 §2.1.5: equal SEQUENCE and DTSTAMP is the same message again (a retry);
    equal SEQUENCE with a later DTSTAMP is a newer version."""
    stored = apply_message(_override_message(), _series()).calendar
    assert stored is not None
    again = apply_message(_override_message(), stored)
    assert again.outcome is Outcome.STALE and again.reason.startswith("duplicate")
    newer = Calendar.from_ical(_override_message().to_ical().replace(
        b"DTSTAMP:20261203T090000Z", b"DTSTAMP:20261204T090000Z").replace(
        b"with the customer", b"with the customer (room 2)"))
    applied = apply_message(newer, stored)
    assert applied.outcome is Outcome.UPDATED and applied.changes == ("SUMMARY",)


# -- one occurrence changed ---------------------------------------------------------------

def test_override_is_stored_as_one_occurrence() -> None:
    stored = apply_message(_override_message(), _series()).calendar
    assert stored is not None
    override = main_components(stored)[K1]
    assert override.get("RRULE") is None
    repaired = without_override_recurrence(_override_message())
    assert main_components(repaired)[K1].get("RRULE") is None
    assert main_components(_override_message())[K1].get("RRULE") is not None  # not mutated
    series = _series()
    assert without_override_recurrence(series) is series   # nothing to repair


def test_changes_are_computed_per_instance_against_the_replaced_occurrence() -> None:
    old = _series()
    new = apply_message(_override_message(), old).calendar
    assert new is not None
    assert changed_instances(old, new) == {K1: ("SUMMARY",)}
    instance, sentences = describe_update(old, new, ("SUMMARY",), (K1,))
    assert sentences == ["New title: Weekly sync with the customer (was: Weekly sync)."]
    assert instance.startswith("Monday 11 January 2027, 10:00")
    assert meeting_facts(new)["when"].startswith("Monday 4 January 2027")


def test_organizer_override_with_rrule_is_one_occurrence_for_the_broker() -> None:
    """A CalDAV organizer's client (Google-style) writes an override with RRULE: once
    repaired, the attendees are told the occurrence's title changed, not the series."""
    old = _series()
    broken = Calendar.from_ical(old.to_ical())
    override = main_components(_override_message())[K1]
    broken.add_component(override)
    repaired = without_override_recurrence(broken)
    (request,) = [m for m in organizer_messages(old, repaired, ALICE, LATER)
                  if m.recipient == "bob@example.org"]
    assert request.changes == ("SUMMARY",) and not request.significant
    # several instances: each sentence names its occurrence
    both = Calendar.from_ical(repaired.to_ical().replace(
        b"SUMMARY:Weekly sync\r\n", b"SUMMARY:Weekly sync (new)\r\n", 1))
    # the series changed too: it is described as a whole, never as a new repetition
    per = changed_instances(old, both)
    assert set(per) == {None, K1}
    instance, sentences = describe_update(old, both, ("SUMMARY",), tuple(per))
    assert instance == ""
    assert sentences == ["New title: Weekly sync (new) (was: Weekly sync)."]


def test_two_versions_stamped_within_one_second_are_not_a_retry() -> None:
    """DTSTAMP has whole seconds: an organizer who saves twice within one (the server
    stamps what it sends) makes two versions with equal SEQUENCE and DTSTAMP. A different
    time, title or status is the newer version; the same content again is a retry —
    whatever the copy added of its own (answers, alarms, the track's details)."""
    stored = apply_message(_override_message(), _series()).calendar
    assert stored is not None
    moved = Calendar.from_ical(_override_message().to_ical().replace(
        b"DTSTART;TZID=Europe/Berlin:20270111T100000",
        b"DTSTART;TZID=Europe/Berlin:20270111T103000"))
    applied = apply_message(moved, stored)
    assert applied.outcome is Outcome.UPDATED and "DTSTART" in applied.changes

    copy = Calendar.from_ical(stored.to_ical().replace(
        b"PARTSTAT=ACCEPTED:mailto:bob", b"PARTSTAT=DECLINED:mailto:bob"))
    for component in main_components(copy).values():
        component.add("URL", "https://example.org/track/")
    assert apply_message(_override_message(), copy).outcome is Outcome.STALE

    cancel = Calendar.from_ical(CANCEL_SAME_SEQUENCE.replace(
        "DTSTAMP:20261202T090000Z", "DTSTAMP:20261201T090000Z"))
    cancelled = apply_message(cancel, _series())
    assert cancelled.outcome is Outcome.CANCELLED and cancelled.calendar is not None
    again = apply_message(cancel, cancelled.calendar)
    assert again.outcome is Outcome.STALE and again.reason.startswith("duplicate")


def test_focused_changes_name_the_occurrence_the_message_carries() -> None:
    """What a mail speaks of: the occurrence that changed, with its own property names,
    kept to the instances the recipient's message carries."""
    from radicale_tracks.core.broker import focused_changes

    old = _series()
    new = apply_message(_override_message(), old).calendar
    assert focused_changes(old, new, ("RRULE", "SUMMARY"), (None, K1)) == (
        ("SUMMARY",), (K1,))
    # a recipient whose message carries only the series hears of no occurrence
    assert focused_changes(old, new, ("SUMMARY",), (None,)) == (("SUMMARY",), (None,))
    # nothing changed per instance: the given lists stand
    assert focused_changes(old, old, ("DESCRIPTION",), (None,)) == (("DESCRIPTION",), (None,))
