"""Attendee addresses as real clients break them: lost folds, doubled schemes, empty values.

Fixtures written here, modelled on what Exchange's CDO, Outlook, Lotus Notes, Zimbra and
KDE have been seen to send; read by ``core/leniency.py`` and ``core/itip.py``.
"""

from __future__ import annotations

from icalendar import Calendar

from radicale_tracks.core.itip import (
    all_attendees,
    attendees_of,
    master_of,
    parse_calendar,
    unaddressable_attendees,
)
from radicale_tracks.core.leniency import repair_addresses, repair_folding


def calendar_text(*lines: str) -> str:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:REQUEST",
            "BEGIN:VEVENT", "UID:fold-1", "DTSTAMP:20270101T000000Z",
            "DTSTART:20270301T100000Z", "DTEND:20270301T110000Z", "SUMMARY:Review",
            "ORGANIZER;CN=Olivia:mailto:olivia@gmail.test"]
    return "\r\n".join([*head, *lines, "END:VEVENT", "END:VCALENDAR"]) + "\r\n"


def attendees(text: str) -> list[str]:
    return all_attendees(parse_calendar(text))


# -- broken folding, repaired in the text ----------------------------------------------------

def test_an_exchange_cdo_colon_line_is_joined_to_its_property() -> None:
    # CDO broke the line before the ':' and indented the value by two spaces
    text = calendar_text('ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE;CN="Mike N"', ":",
                         "  MAILTO:Mike.N@notes.test")
    assert attendees(text) == []          # read as it is, the address is lost
    repaired, repairs = repair_folding(text)
    assert attendees(repaired) == ["mike.n@notes.test"]
    assert repairs and "ATTENDEE" in repairs[0]


def test_a_fold_that_lost_its_space_inside_a_value_is_joined() -> None:
    text = calendar_text("ATTENDEE;CN=Bob:mailto:bob@exa", "mple.org",
                         "DESCRIPTION:Let us finalise. Way to go team in the final hom",
                         "estretch!")
    assert attendees(text) == ["bob@exa"]  # read as it is: a wrong, valid-looking address
    repaired, repairs = repair_folding(text)
    assert attendees(repaired) == ["bob@example.org"]
    event = master_of(parse_calendar(repaired))
    assert event is not None and str(event["DESCRIPTION"]).endswith("final homestretch!")
    assert len(repairs) == 2


def test_an_emptied_value_followed_by_its_mailto_line_is_joined() -> None:
    text = calendar_text("ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:", "mailto:bob@example.org",
                         "ATTENDEE;CN=Carol:mailto:carol@example.org")
    assert attendees(text) == ["carol@example.org"]
    repaired, repairs = repair_folding(text)
    assert attendees(repaired) == ["bob@example.org", "carol@example.org"]
    assert len(repairs) == 1


def test_correct_text_is_left_alone() -> None:
    text = calendar_text("ATTENDEE;CN=\"Smith, Bob\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-A",
                         " CTION;RSVP=TRUE:mailto:bob@example.org", "",
                         "ATTENDEE;CN=Carol:", "X-NOTHING-AFTER:empty value above",
                         "X-VENDOR_NAME:underscores are not RFC, but a property still",
                         "COMMENT:a: b")
    assert repair_folding(text) == (text, [])


def test_an_emptied_value_with_nothing_to_join_stays_empty() -> None:
    text = calendar_text("ATTENDEE;CN=Carol;ROLE=REQ-PARTICIPANT:", "LOCATION:Room 1")
    repaired, repairs = repair_folding(text)
    assert repairs == []
    calendar = parse_calendar(repaired)
    assert [(u.name, u.written) for u in unaddressable_attendees(calendar)] == [("Carol", "")]


# -- values, repaired in the calendar ------------------------------------------------------

def test_repairable_values_are_rewritten_and_the_rest_reported() -> None:
    calendar = parse_calendar(calendar_text(
        "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:mailto:bob@example.org",
        "ATTENDEE;CN=Dan:MAILTO:<Dan@Zimbra.TEST>",
        "ATTENDEE;CN=Erin:mailto:erin smith@example.org",
        "ATTENDEE;CN=Room:invalid:nomail",
        "ATTENDEE;CN=Fay:",
        "ATTENDEE:urn:uuid:00000000-0000-0000-0000-000000000000",
        "ATTENDEE;CN=Gus:mailto:gus@example.org"))
    repairs = repair_addresses(calendar)
    event = master_of(calendar)
    assert event is not None
    values = [str(a) for a in event["ATTENDEE"]]
    assert values[:2] == ["mailto:bob@example.org", "mailto:dan@zimbra.test"]
    assert values[2:] == ["mailto:erin smith@example.org", "invalid:nomail", "",
                          "urn:uuid:00000000-0000-0000-0000-000000000000",
                          "mailto:gus@example.org"]   # untouched: not ours to guess
    assert event["ATTENDEE"][0].params["PARTSTAT"] == "NEEDS-ACTION"
    assert len(repairs) == 2 and "doubled mailto" in repairs[0]
    assert list(attendees_of(event)) == [
        "bob@example.org", "dan@zimbra.test",
        "urn:uuid:00000000-0000-0000-0000-000000000000", "gus@example.org"]
    missing = unaddressable_attendees(calendar)
    assert [(u.name, u.written) for u in missing] == [
        ("Erin", "mailto:erin smith@example.org"), ("Room", "invalid:nomail"), ("Fay", "")]
    assert "space" in missing[0].reason and "empty" in missing[2].reason


def test_an_organizer_with_a_doubled_scheme_is_repaired() -> None:
    text = calendar_text("ATTENDEE:mailto:assistant@example.org").replace(
        "mailto:olivia@gmail.test", "MAILTO:mailto:Olivia@Gmail.test")
    calendar = parse_calendar(text)
    repair_addresses(calendar)
    event = master_of(calendar)
    assert event is not None and str(event["ORGANIZER"]) == "mailto:olivia@gmail.test"
    assert event["ORGANIZER"].params["CN"] == "Olivia"


def test_the_same_missing_attendee_in_many_instances_is_named_once() -> None:
    text = calendar_text("RRULE:FREQ=DAILY;COUNT=3", "ATTENDEE;CN=Fay:").replace(
        "END:VEVENT\r\nEND:VCALENDAR",
        "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:fold-1\r\nDTSTAMP:20270101T000000Z\r\n"
        "RECURRENCE-ID:20270302T100000Z\r\nDTSTART:20270302T120000Z\r\n"
        "DTEND:20270302T130000Z\r\nORGANIZER:mailto:olivia@gmail.test\r\n"
        "ATTENDEE;CN=Fay:\r\nEND:VEVENT\r\nEND:VCALENDAR")
    calendar = Calendar.from_ical(text.encode())
    assert [u.name for u in unaddressable_attendees(calendar)] == ["Fay"]


def test_lotus_notes_names_in_cn_are_fine_in_the_value_they_are_not() -> None:
    # Notes puts its hierarchical name into CN (harmless) and sometimes into the value
    calendar = parse_calendar(calendar_text(
        'ATTENDEE;ROLE=CHAIR;CN="CN=Bob Smith/O=Acme";RSVP=TRUE:mailto:Bob_Smith@acme.test',
        'ATTENDEE;CN="Carol Jones/Acme":mailto:Carol Jones/Acme@Acme'))
    repair_addresses(calendar)
    assert all_attendees(calendar) == ["bob_smith@acme.test"]
    [missing] = unaddressable_attendees(calendar)
    assert missing.name == "Carol Jones/Acme" and "Lotus Notes" in missing.reason
    assert "Carol Jones/Acme" in missing.describe()
