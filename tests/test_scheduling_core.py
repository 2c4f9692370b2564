"""RFC 6638 rules on stored objects: role, server-set parameters, merges, Schedule-Tag.

Fixtures live in tests/vectors/scheduling/: ``organizer-written.ics`` is what Alice's
client PUTs over ``organizer-stored.ics`` (the server's copy, with the answers that
arrived meanwhile); ``attendee-copy.ics`` is Bob's copy of another meeting (he is invited
as ``robert+work@``) and ``attendee-copy-partstat.ics`` the organizer's re-send of it
after Carol answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from icalendar import Calendar

from radicale_tracks.core.itip import (
    InstanceKey,
    attendees_of,
    main_components,
    parse_calendar,
    serialize,
)
from radicale_tracks.core.scheduling import (
    Role,
    is_consequential,
    merge_partstats,
    owner_attendee,
    partstats_of,
    scheduling_role,
    strip_schedule_parameters,
    with_organizer_schedule_status,
    with_partstats,
    with_schedule_status,
)

VECTORS = Path(__file__).resolve().parent / "vectors" / "scheduling"
ALICE = frozenset({"alice@example.org"})
BOB = frozenset({"bob@example.org", "robert+work@example.org"})
AFTERNOON = "20270111T090000Z"  # 2027-01-11 10:00 Europe/Berlin, moved to 14:00
LONG = "20270125T090000Z"       # only in organizer-written.ics
REVIEW_2 = "20270112T140000Z"   # the override of attendee-copy.ics


def text(name: str) -> str:
    return (VECTORS / name).read_text()


def load(name: str) -> Calendar:
    return parse_calendar(text(name))


def params(calendar: Calendar, key: InstanceKey, address: str, name: str) -> str | None:
    """A parameter of one attendee in one instance, as text; None when absent."""
    prop = attendees_of(main_components(calendar)[key])[address]
    value = prop.params.get(name)
    return None if value is None else str(value)


def organizer_param(calendar: Calendar, key: InstanceKey, name: str) -> str | None:
    value = main_components(calendar)[key]["ORGANIZER"].params.get(name)
    return None if value is None else str(value)


def with_component(source: str, component: str) -> Calendar:
    """``source`` with one more component (VEVENT text) before END:VCALENDAR."""
    body = text(source).replace("END:VCALENDAR", component.strip() + "\nEND:VCALENDAR")
    return parse_calendar(body)


# --- role ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture, owner, role, attendee", [
    ("organizer-written.ics", ALICE, Role.ORGANIZER, "alice@example.org"),
    ("organizer-written.ics", frozenset({"dave@example.org"}), Role.ATTENDEE,
     "dave@example.org"),  # invited to overrides only
    ("organizer-written.ics", frozenset({"erin@example.org"}), None, None),
    ("attendee-copy.ics", BOB, Role.ATTENDEE, "robert+work@example.org"),
    ("attendee-copy.ics", ALICE, Role.ORGANIZER, "alice@example.org"),
    ("task.ics", frozenset({"carol@example.org"}), Role.ORGANIZER, None),
    ("task.ics", frozenset({"dave@example.org"}), Role.ATTENDEE, "dave@example.org"),
    ("differing-organizers.ics", ALICE, None, None),
    ("differing-organizers.ics", frozenset({"bob@example.org"}), None, "bob@example.org"),
    ("personal.ics", frozenset({"bob@example.org"}), None, "bob@example.org"),
])
def test_role_and_owner_attendee(fixture: str, owner: frozenset[str], role: Role | None,
                                 attendee: str | None) -> None:
    calendar = load(fixture)
    assert scheduling_role(calendar, owner) == role
    assert owner_attendee(calendar, owner) == attendee


def test_an_override_without_organizer_makes_no_scheduling_object() -> None:
    calendar = with_component("differing-organizers.ics", """
BEGIN:VEVENT
UID:handover@example.org
DTSTAMP:20261201T080000Z
RECURRENCE-ID:20270106T090000Z
DTSTART:20270106T090000Z
DTEND:20270106T100000Z
ATTENDEE:mailto:bob@example.org
END:VEVENT""")
    calendar.subcomponents = [c for c in calendar.subcomponents
                              if "carol" not in str(c.get("ORGANIZER", ""))]
    assert len(main_components(calendar)) == 2
    assert scheduling_role(calendar, ALICE) is None


# --- server-set parameters -------------------------------------------------------------


def test_schedule_status_is_the_servers_and_earlier_ones_stay() -> None:
    written, stored = load("organizer-written.ics"), load("organizer-stored.ics")
    before = serialize(written)
    result = with_schedule_status(written, {"carol@example.org": "1.2",
                                            "mailto:Dave@Example.org": "3.7"}, stored)
    found = {(key, address): params(result, key, address, "SCHEDULE-STATUS")
             for key, component in main_components(result).items()
             for address in attendees_of(component)}
    assert found == {
        (None, "alice@example.org"): None,
        (None, "bob@example.org"): "2.0",          # stored master; client's 5.3 gone
        (None, "carol@example.org"): "1.2",        # delivered now
        (AFTERNOON, "alice@example.org"): None,
        (AFTERNOON, "bob@example.org"): "3.7",     # stored override (keyed in UTC there)
        (AFTERNOON, "carol@example.org"): "1.2",
        (AFTERNOON, "dave@example.org"): "3.7",    # delivered now; client's 1.0 gone
        (LONG, "alice@example.org"): None,
        (LONG, "bob@example.org"): "2.0",          # not stored: the stored master's
        (LONG, "dave@example.org"): "3.7",
    }
    assert params(result, None, "carol@example.org", "SCHEDULE-FORCE-SEND") is None
    assert organizer_param(result, None, "SCHEDULE-STATUS") is None
    assert params(result, None, "bob@example.org", "PARTSTAT") == "NEEDS-ACTION"
    assert serialize(written) == before  # input untouched


def test_schedule_status_without_previous_sets_only_delivered_ones() -> None:
    result = with_schedule_status(load("organizer-written.ics"), {"bob@example.org": "1.1"},
                                  None)
    assert params(result, None, "bob@example.org", "SCHEDULE-STATUS") == "1.1"
    assert params(result, AFTERNOON, "bob@example.org", "SCHEDULE-STATUS") == "1.1"
    assert params(result, AFTERNOON, "dave@example.org", "SCHEDULE-STATUS") is None
    assert params(result, None, "carol@example.org", "SCHEDULE-STATUS") is None


def test_organizer_schedule_status_on_an_attendee_copy() -> None:
    copy = load("attendee-copy.ics")
    result = with_organizer_schedule_status(copy, "1.2")
    assert organizer_param(result, None, "SCHEDULE-STATUS") == "1.2"
    assert organizer_param(result, None, "SCHEDULE-FORCE-SEND") is None
    assert organizer_param(result, REVIEW_2, "SCHEDULE-STATUS") == "1.2"
    cleared = with_organizer_schedule_status(copy, None)
    assert organizer_param(cleared, None, "SCHEDULE-STATUS") is None
    assert organizer_param(cleared, None, "SCHEDULE-FORCE-SEND") is None
    assert organizer_param(cleared, None, "CN") == "Alice"
    assert organizer_param(copy, None, "SCHEDULE-FORCE-SEND") == "REPLY"


def test_strip_schedule_parameters() -> None:
    result = strip_schedule_parameters(load("organizer-stored.ics"))
    ics = serialize(result)
    assert "SCHEDULE-STATUS" not in ics and "SCHEDULE-FORCE-SEND" not in ics
    assert params(result, AFTERNOON, "dave@example.org", "RSVP") == "TRUE"
    assert params(result, None, "bob@example.org", "PARTSTAT") == "ACCEPTED"
    stripped = serialize(strip_schedule_parameters(load("attendee-copy.ics")))
    assert "SCHEDULE-" not in stripped


# --- participation ---------------------------------------------------------------------


def test_partstats_of() -> None:
    assert partstats_of(load("organizer-stored.ics"), "MAILTO:Bob@Example.org") == {
        None: "ACCEPTED", AFTERNOON: "ACCEPTED"}
    assert partstats_of(load("organizer-written.ics"), "dave@example.org") == {
        AFTERNOON: "NEEDS-ACTION", LONG: "NEEDS-ACTION"}
    assert partstats_of(load("attendee-copy.ics"), "robert+work@example.org") == {
        None: "ACCEPTED", REVIEW_2: "DECLINED"}
    assert partstats_of(load("task.ics"), "dave@example.org") == {None: "IN-PROCESS"}
    assert partstats_of(load("personal.ics"), "erin@example.org") == {}


def test_with_partstats_refreshes_one_attendee() -> None:
    copy = load("attendee-copy.ics")
    result = with_partstats(copy, "carol@example.org",
                            {None: "ACCEPTED", REVIEW_2: "TENTATIVE",
                             "20270119T140000Z": "DECLINED"})  # no override: not invented
    assert partstats_of(result, "carol@example.org") == {None: "ACCEPTED",
                                                         REVIEW_2: "TENTATIVE"}
    assert set(main_components(result)) == {None, REVIEW_2}
    assert params(result, None, "carol@example.org", "RSVP") is None
    assert params(result, None, "robert+work@example.org", "PARTSTAT") == "ACCEPTED"
    assert partstats_of(copy, "carol@example.org") == {None: "NEEDS-ACTION",
                                                       REVIEW_2: "NEEDS-ACTION"}


def test_with_partstats_drops_schedule_status_and_keeps_rsvp_while_unanswered() -> None:
    stored = load("organizer-stored.ics")
    result = with_partstats(stored, "dave@example.org", {AFTERNOON: "NEEDS-ACTION"})
    assert params(result, AFTERNOON, "dave@example.org", "SCHEDULE-STATUS") is None
    assert params(result, AFTERNOON, "dave@example.org", "RSVP") == "TRUE"
    result = with_partstats(stored, "bob@example.org", {None: "DECLINED"})
    assert partstats_of(result, "bob@example.org") == {None: "DECLINED",
                                                       AFTERNOON: "ACCEPTED"}
    assert params(result, None, "bob@example.org", "SCHEDULE-STATUS") is None
    assert params(result, AFTERNOON, "bob@example.org", "SCHEDULE-STATUS") == "3.7"


def test_merge_keeps_the_answers_the_server_recorded() -> None:
    written, stored = load("organizer-written.ics"), load("organizer-stored.ics")
    before = serialize(written)
    result = merge_partstats(written, stored, ALICE)
    assert partstats_of(result, "bob@example.org") == {
        None: "ACCEPTED", AFTERNOON: "ACCEPTED", LONG: "NEEDS-ACTION"}  # LONG: not stored
    assert partstats_of(result, "carol@example.org") == {
        None: "NEEDS-ACTION", AFTERNOON: "ACCEPTED"}
    assert params(result, None, "bob@example.org", "SCHEDULE-STATUS") == "2.0"
    assert params(result, None, "bob@example.org", "RSVP") is None
    assert params(result, None, "carol@example.org", "RSVP") == "TRUE"  # still unanswered
    assert params(result, AFTERNOON, "carol@example.org", "RSVP") is None
    assert params(result, AFTERNOON, "dave@example.org", "SCHEDULE-STATUS") == "1.1"
    assert params(result, LONG, "bob@example.org", "RSVP") == "TRUE"
    assert main_components(result)[None]["SUMMARY"] == "Weekly planning"
    assert serialize(written) == before


def test_merge_leaves_the_keep_set_as_written() -> None:
    written = load("organizer-written.ics")
    result = merge_partstats(written, load("organizer-stored.ics"),
                             frozenset({"bob@example.org"}))
    assert partstats_of(result, "bob@example.org") == {
        None: "NEEDS-ACTION", AFTERNOON: "NEEDS-ACTION", LONG: "NEEDS-ACTION"}
    assert params(result, None, "bob@example.org", "SCHEDULE-STATUS") == "5.3"
    assert partstats_of(result, "carol@example.org") == {
        None: "NEEDS-ACTION", AFTERNOON: "ACCEPTED"}


def test_merge_skips_instances_the_organizer_rescheduled() -> None:
    moved = text("organizer-written.ics").replace(
        "DTSTART;TZID=Europe/Berlin:20270104T100000",
        "DTSTART;TZID=Europe/Berlin:20270104T120000").replace(
        "DTEND;TZID=Europe/Berlin:20270104T110000",
        "DTEND;TZID=Europe/Berlin:20270104T130000")
    result = merge_partstats(parse_calendar(moved), load("organizer-stored.ics"), ALICE)
    assert partstats_of(result, "bob@example.org") == {
        None: "NEEDS-ACTION", AFTERNOON: "ACCEPTED", LONG: "NEEDS-ACTION"}
    assert params(result, None, "bob@example.org", "SCHEDULE-STATUS") == "5.3"
    assert params(result, None, "bob@example.org", "RSVP") == "TRUE"


# --- Schedule-Tag ----------------------------------------------------------------------


def test_partstat_and_bookkeeping_changes_are_not_consequential() -> None:
    old, new = load("attendee-copy.ics"), load("attendee-copy-partstat.ics")
    assert partstats_of(new, "carol@example.org") == {None: "ACCEPTED",
                                                      REVIEW_2: "ACCEPTED"}
    assert is_consequential(old, new) is False
    assert is_consequential(old, old) is False


def test_alarm_only_change_is_not_consequential() -> None:
    silent = text("attendee-copy.ics")
    start, end = silent.index("BEGIN:VALARM"), silent.index("END:VALARM") + len("END:VALARM\n")
    assert is_consequential(load("attendee-copy.ics"),
                            parse_calendar(silent[:start] + silent[end:])) is False


@pytest.mark.parametrize("old, change", [
    ("SUMMARY:Design review\nORGANIZER;CN=Alice;", "SUMMARY:Design critique\nORGANIZER;CN=Alice;"),
    ("ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@example.org\nBEGIN:VALARM",
     "BEGIN:VALARM"),  # Carol taken off the master
    ("ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@example.org\nBEGIN:VALARM",
     "ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;ROLE=OPT-PARTICIPANT:mailto:carol@example.org"
     "\nBEGIN:VALARM"),
], ids=["summary", "attendee-removed", "role"])
def test_meeting_changes_are_consequential(old: str, change: str) -> None:
    source = text("attendee-copy.ics")
    assert old in source
    assert is_consequential(load("attendee-copy.ics"),
                            parse_calendar(source.replace(old, change, 1))) is True


def test_a_new_override_is_consequential() -> None:
    override = with_component("attendee-copy.ics", """
BEGIN:VEVENT
UID:design-review@example.org
DTSTAMP:20261210T080000Z
SEQUENCE:2
RECURRENCE-ID;TZID=Europe/Berlin:20270119T150000
DTSTART;TZID=Europe/Berlin:20270119T150000
DTEND;TZID=Europe/Berlin:20270119T160000
SUMMARY:Design review
ORGANIZER;CN=Alice:mailto:alice@example.org
ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.org
ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:robert+work@example.org
ATTENDEE;CN=Carol;PARTSTAT=ACCEPTED:mailto:carol@example.org
END:VEVENT""")
    assert set(main_components(override)) == {None, REVIEW_2, "20270119T140000Z"}
    assert is_consequential(load("attendee-copy.ics"), override) is True


def test_a_new_object_is_consequential() -> None:
    assert is_consequential(None, load("attendee-copy.ics")) is True
