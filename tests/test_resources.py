"""Rooms and resources among a meeting's attendees: vectors for ``core/resources.py``."""

from __future__ import annotations

from icalendar import Calendar

from radicale_tracks.core.resources import resources_of


def meeting(*attendees: str, override: str = "") -> Calendar:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:r@example.org", "DTSTAMP:20270101T000000Z",
             "DTSTART:20270104T100000Z", "DTEND:20270104T110000Z",
             "RRULE:FREQ=WEEKLY;COUNT=3", "ORGANIZER:mailto:alice@example.org",
             *("ATTENDEE" + _suffix(a) for a in attendees), "END:VEVENT"]
    if override:
        lines += ["BEGIN:VEVENT", "UID:r@example.org", "DTSTAMP:20270101T000000Z",
                  "RECURRENCE-ID:20270111T100000Z", "DTSTART:20270111T120000Z",
                  "DTEND:20270111T130000Z", "ORGANIZER:mailto:alice@example.org",
                  "ATTENDEE" + _suffix(override), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return Calendar.from_ical("\r\n".join(lines) + "\r\n")


def _suffix(attendee: str) -> str:
    """``CUTYPE=ROOM:mailto:x`` → ``;CUTYPE=ROOM:mailto:x``; ``mailto:x`` → ``:mailto:x``."""
    return (":" if attendee.lower().startswith("mailto:") else ";") + attendee


def test_cutype_room_and_resource_in_any_case_are_resources() -> None:
    calendar = meeting("CUTYPE=ROOM:mailto:Atlas@Example.org",
                       "CUTYPE=resource:MAILTO:beamer@gmail.test",
                       "CUTYPE=INDIVIDUAL:mailto:bob@example.org",
                       "CUTYPE=GROUP:mailto:team@example.org",
                       "PARTSTAT=NEEDS-ACTION:mailto:dana@external.test")
    assert resources_of(calendar) == {"atlas@example.org", "beamer@gmail.test"}


def test_a_known_room_is_one_whatever_its_cutype() -> None:
    calendar = meeting("mailto:atlas@example.org", "CUTYPE=INDIVIDUAL:mailto:orion@example.org",
                       "mailto:bob@example.org")
    known = {"atlas@example.org", "orion@example.org", "lyra@example.org"}
    # lyra is known but not invited: only attendees are answered for
    assert resources_of(calendar, known) == {"atlas@example.org", "orion@example.org"}


def test_a_room_only_in_an_override_counts_and_nothing_is_no_resource() -> None:
    calendar = meeting("mailto:bob@example.org",
                       override="CUTYPE=ROOM:mailto:hall@gmail.test")
    assert resources_of(calendar) == {"hall@gmail.test"}
    assert resources_of(None, {"atlas@example.org"}) == frozenset()
