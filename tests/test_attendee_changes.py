"""An attendee's write merged onto the organizer's current version (RFC 6638 §3.2.2.1).

Fixtures in tests/vectors/scheduling/: ``attendee-current.ics`` is Bob's copy as the
server holds it after Alice moved the weekly review from 15:00 to 16:00 (Berlin), retitled
it, cancelled the last occurrence and moved the third; ``attendee-stale-write.ics`` is
what Bob's client saves afterwards from the copy it fetched before the move: his
acceptance, a transparent meeting, his own alarm and Thunderbird's X-MOZ-LASTACK, and a
decline of an occurrence at the old time.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from radicale_tracks.core.attendee_changes import (
    is_attendee_rewrite,
    merge_attendee_change,
    refused_attendee_change,
)
from radicale_tracks.core.broker import attendee_messages
from radicale_tracks.core.itip import (
    attendees_of,
    exdate_keys,
    main_components,
    parse_calendar,
    sequence_of,
    serialize,
)
from radicale_tracks.core.scheduling import partstats_of

VECTORS = Path(__file__).resolve().parent / "vectors" / "scheduling"
BOB = frozenset({"bob@example.org", "robert+work@example.org"})
BOB_INVITED = "robert+work@example.org"
BERLIN = ZoneInfo("Europe/Berlin")
THIRD = "20270119T150000Z"       # the occurrence Alice moved to 17:00
OLD_SECOND = "20270112T140000Z"  # the second occurrence at the old time (15:00 Berlin)
SECOND = "20270112T150000Z"      # the second occurrence at 16:00 Berlin
FIRST = "20270105T150000Z"
LAST = "20270126T150000Z"        # cancelled by Alice


def text(name: str) -> str:
    return (VECTORS / name).read_text()


def load(name: str) -> Calendar:
    return parse_calendar(text(name))


def alarms(component: Any) -> list[str]:
    return [sub["TRIGGER"].to_ical().decode() for sub in component.subcomponents
            if sub.name == "VALARM"]


def bob_param(calendar: Calendar, key: str | None, name: str) -> str | None:
    value = attendees_of(main_components(calendar)[key])[BOB_INVITED].params.get(name)
    return None if value is None else str(value)


def test_a_stale_save_keeps_the_organizers_version_and_takes_the_answer() -> None:
    stored, written = load("attendee-current.ics"), load("attendee-stale-write.ics")
    before = serialize(written), serialize(stored)
    merged = merge_attendee_change(stored, written, BOB)
    components = main_components(merged)
    master = components[None]
    # the organizer's: time, title, description, cancelled occurrence, bookkeeping
    assert master["DTSTART"].dt == datetime.datetime(2027, 1, 5, 16, tzinfo=BERLIN)
    assert str(master["SUMMARY"]) == "Design review (moved)"
    assert str(master["LOCATION"]) == "Room 2"
    assert "Agenda v2" in str(master["X-ALT-DESC"])
    assert exdate_keys(master) == {LAST}
    assert sequence_of(master) == 3
    assert master["DTSTAMP"].dt == datetime.datetime(2026, 12, 15, 8,
                                                     tzinfo=datetime.UTC)
    assert partstats_of(merged, "carol@example.org") == {None: "ACCEPTED",
                                                         THIRD: "ACCEPTED"}
    # Bob's: his answer for the series, transparency, alarm, client bookkeeping
    assert bob_param(merged, None, "PARTSTAT") == "ACCEPTED"
    assert bob_param(merged, None, "RSVP") is None
    assert str(master["TRANSP"]) == "TRANSPARENT"
    assert str(master["X-MOZ-LASTACK"]) == "20261220T120000Z"
    assert alarms(master) == ["-PT30M"]
    # the occurrence he declined at 15:00 no longer exists; Alice's override stays hers
    assert set(components) == {None, THIRD}
    assert components[THIRD]["DTSTART"].dt == datetime.datetime(2027, 1, 19, 17,
                                                                tzinfo=BERLIN)
    assert bob_param(merged, THIRD, "PARTSTAT") == "NEEDS-ACTION"
    assert (serialize(written), serialize(stored)) == before


def test_the_reply_to_a_stale_save_is_about_the_organizers_version() -> None:
    stored = load("attendee-current.ics")
    merged = merge_attendee_change(stored, load("attendee-stale-write.ics"), BOB)
    now = datetime.datetime(2026, 12, 20, 12, tzinfo=datetime.UTC)
    (reply,) = attendee_messages(stored, merged, BOB_INVITED, now)
    assert reply.recipient == "alice@example.org"
    (component,) = reply.calendar().walk("VEVENT")
    assert sequence_of(component) == 3
    assert component["DTSTART"].dt == datetime.datetime(2027, 1, 5, 16, tzinfo=BERLIN)
    assert partstats_of(reply.calendar(), BOB_INVITED) == {None: "ACCEPTED"}


def test_an_occurrence_declined_by_override_or_exdate_is_kept() -> None:
    current = text("attendee-current.ics")
    master_end = current.index("END:VEVENT")
    # Bob's client, on the current copy: an EXDATE for the first occurrence, the second
    # declined by a new override (retitled for himself), an override at a time that is
    # no occurrence, and an override that changes nothing
    written = current[:master_end] + "EXDATE;TZID=Europe/Berlin:20270105T160000\r\n" + (
        current[master_end:].replace("END:VCALENDAR", "\n".join([
            _override("20270112T160000", "DECLINED", "Not for me"),
            _override("20270113T160000", "ACCEPTED", "Design review (moved)"),
            _override("20270119T160000", "NEEDS-ACTION", "Design review (moved)",
                      start="20270119T170000"),
            "END:VCALENDAR"])))
    merged = merge_attendee_change(load("attendee-current.ics"), parse_calendar(written),
                                   BOB)
    components = main_components(merged)
    assert set(components) == {None, SECOND, THIRD}
    assert exdate_keys(components[None]) == {LAST, FIRST}
    second = components[SECOND]
    assert bob_param(merged, SECOND, "PARTSTAT") == "DECLINED"
    assert str(second["SUMMARY"]) == "Design review (moved)"
    assert second["DTSTART"].dt == datetime.datetime(2027, 1, 12, 16, tzinfo=BERLIN)
    assert sequence_of(second) == 3
    stored = load("attendee-current.ics")
    (reply,) = attendee_messages(stored, merged, BOB_INVITED,
                                 datetime.datetime(2026, 12, 20, tzinfo=datetime.UTC))
    assert partstats_of(reply.calendar(), BOB_INVITED) == {FIRST: "DECLINED",
                                                           SECOND: "DECLINED"}


def test_a_save_that_changes_nothing_of_the_attendees_is_the_stored_copy() -> None:
    stored = load("attendee-current.ics")
    merged = merge_attendee_change(stored, parse_calendar(
        text("attendee-current.ics").replace("Design review (moved)", "Renamed")), BOB)
    assert serialize(merged) == serialize(stored)


def _override(rid: str, partstat: str, summary: str, start: str | None = None) -> str:
    begin = start or rid
    end = "%s%02d%s" % (begin[:9], int(begin[9:11]) + 1, begin[11:])
    return "\r\n".join([
        "BEGIN:VEVENT", "UID:design-review@example.org", "DTSTAMP:20261220T120000Z",
        "SEQUENCE:3", "RECURRENCE-ID;TZID=Europe/Berlin:" + rid,
        "DTSTART;TZID=Europe/Berlin:" + begin, "DTEND;TZID=Europe/Berlin:" + end,
        "SUMMARY:" + summary, "ORGANIZER;CN=Alice:mailto:alice@example.org",
        "ATTENDEE;CN=Bob;PARTSTAT=%s:mailto:robert+work@example.org" % partstat,
        "END:VEVENT"])


def test_only_another_organizer_is_refused() -> None:
    stored = load("attendee-current.ics")
    current = text("attendee-current.ics")
    for organizer in ("mailto:robert+work@example.org", "mailto:mallory@example.net"):
        written = parse_calendar(current.replace(
            "ORGANIZER;CN=Alice:mailto:alice@example.org", "ORGANIZER:" + organizer))
        reason = refused_attendee_change(stored, written, BOB)
        assert reason is not None and "organized by alice@example.org" in reason
    # everything else is merged, not refused
    for written in (load("attendee-stale-write.ics"),
                    parse_calendar(current.replace("Design review (moved)", "Mine"))):
        assert refused_attendee_change(stored, written, BOB) is None
    # another object written over the same resource is no attendee change at all
    other = parse_calendar(current.replace("design-review@example.org", "other@example.org"))
    assert not is_attendee_rewrite(stored, other, BOB)
    assert refused_attendee_change(stored, other, BOB) is None
    # the organizer's own object is not an attendee copy
    assert refused_attendee_change(stored, stored, frozenset({"alice@example.org"})) is None


def test_a_new_override_that_changes_nothing_of_the_attendees_is_not_kept() -> None:
    # the occurrence as the master has it (same answer, RSVP and alarm), with only the
    # client's bookkeeping added
    override = _override("20270112T160000", "NEEDS-ACTION;RSVP=TRUE", "Design review (moved)")
    override = override.replace("DTSTAMP:20261220T120000Z", "\r\n".join([
        "DTSTAMP:20261220T120000Z", "LAST-MODIFIED:20261220T120000Z", "X-MOZ-GENERATION:3"]))
    override = override.replace("END:VEVENT", "\r\n".join([
        "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Design review", "TRIGGER:-PT10M",
        "END:VALARM", "END:VEVENT"]))
    written = text("attendee-current.ics").replace("END:VCALENDAR",
                                                   override + "\r\nEND:VCALENDAR")
    merged = merge_attendee_change(load("attendee-current.ics"), parse_calendar(written), BOB)
    assert set(main_components(merged)) == {None, THIRD}
