"""Vectors: what one calendar object contributes to the index (no server, no database)."""

from __future__ import annotations

import datetime

import pytest
import vobject
from radicale import item as radicale_item

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.busy import FbType, fbtype_for_event
from radicale_tracks.index.extract import (
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    Expansion,
    Occurrence,
    extract_entry,
)

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.UTC)
EXPANSION = Expansion.around(NOW, past_days=30, horizon_days=60, max_occurrences=500)


def ts(text: str) -> int:
    return int(datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.UTC).timestamp())


def entry_of(body: str, expansion: Expansion = EXPANSION):  # type: ignore[no-untyped-def]
    text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n%sEND:VCALENDAR\r\n" % (
        body.replace("\n", "\r\n"))
    item = radicale_item.Item(collection_path="alice/calendar",
                              vobject_item=vobject.readOne(text))
    return extract_entry(item, expansion)


def event(*lines: str, uid: str = "u1") -> str:
    return "BEGIN:VEVENT\nUID:%s\nDTSTAMP:20260101T000000Z\n%s\nEND:VEVENT\n" % (
        uid, "\n".join(lines))


SINGLE_CASES = {
    "utc": (event("DTSTART:20261124T100000Z", "DTEND:20261124T110000Z"),
            [Occurrence(ts("20261124T100000Z"), ts("20261124T110000Z"), "BUSY")]),
    "zoned-duration": (event("DTSTART;TZID=Europe/Berlin:20261124T100000",
                             "DURATION:PT30M"),
                       [Occurrence(ts("20261124T090000Z"), ts("20261124T093000Z"), "BUSY")]),
    "all-day-is-utc-midnight": (event("DTSTART;VALUE=DATE:20261124"),
                                [Occurrence(ts("20261124T000000Z"), ts("20261125T000000Z"),
                                            "BUSY")]),
    "floating-is-utc": (event("DTSTART:20261124T100000", "DTEND:20261124T103000"),
                        [Occurrence(ts("20261124T100000Z"), ts("20261124T103000Z"),
                                    "BUSY")]),
    "instant-is-one-second": (event("DTSTART:20261124T100000Z"),
                              [Occurrence(ts("20261124T100000Z"), ts("20261124T100001Z"),
                                          "BUSY")]),
    "transparent": (event("DTSTART:20261124T100000Z", "DTEND:20261124T110000Z",
                          "TRANSP:TRANSPARENT"),
                    [Occurrence(ts("20261124T100000Z"), ts("20261124T110000Z"), None)]),
    "tentative": (event("DTSTART:20261124T100000Z", "DTEND:20261124T110000Z",
                        "STATUS:TENTATIVE"),
                  [Occurrence(ts("20261124T100000Z"), ts("20261124T110000Z"),
                              "BUSY-TENTATIVE")]),
    "cancelled": (event("DTSTART:20261124T100000Z", "DTEND:20261124T110000Z",
                        "STATUS:CANCELLED"),
                  [Occurrence(ts("20261124T100000Z"), ts("20261124T110000Z"), "FREE")]),
}


@pytest.mark.parametrize("case", SINGLE_CASES)
def test_single_event_occurrence(case: str) -> None:
    body, expected = SINGLE_CASES[case]
    entry = entry_of(body)
    assert list(entry.occurrences) == expected
    assert not entry.recurring
    assert (entry.covered_from, entry.covered_until) == (TIMESTAMP_MIN, TIMESTAMP_MAX)


def test_series_with_exdate_and_overrides() -> None:
    entry = entry_of(
        event("DTSTART:20261102T090000Z", "DTEND:20261102T100000Z",
              "RRULE:FREQ=WEEKLY;COUNT=5", "EXDATE:20261109T090000Z")
        + event("RECURRENCE-ID:20261116T090000Z", "DTSTART:20261116T140000Z",
                "DTEND:20261116T150000Z")
        + event("RECURRENCE-ID:20261123T090000Z", "DTSTART:20261123T090000Z",
                "DTEND:20261123T100000Z", "STATUS:CANCELLED"))
    assert entry.recurring
    assert sorted(entry.occurrences, key=lambda o: o.start) == [
        Occurrence(ts("20261102T090000Z"), ts("20261102T100000Z"), "BUSY"),
        Occurrence(ts("20261116T140000Z"), ts("20261116T150000Z"), "BUSY"),
        Occurrence(ts("20261123T090000Z"), ts("20261123T100000Z"), "FREE"),
        Occurrence(ts("20261130T090000Z"), ts("20261130T100000Z"), "BUSY"),
    ]
    assert entry.covered_until == TIMESTAMP_MAX


def test_infinite_series_is_expanded_over_the_horizon_only() -> None:
    entry = entry_of(event("DTSTART:20200106T090000Z", "DTEND:20200106T100000Z",
                           "RRULE:FREQ=WEEKLY"))
    starts = [o.start for o in entry.occurrences]
    assert min(starts) >= EXPANSION.past_limit - 3600
    assert max(starts) < EXPANSION.future_limit
    assert len(starts) in (12, 13, 14)  # ~90 days of Mondays
    assert entry.covered_from == EXPANSION.past_limit
    assert EXPANSION.future_limit <= entry.covered_until < EXPANSION.future_limit + 7 * 86400
    assert entry.range_end == TIMESTAMP_MAX  # Radicale's own bounds stay open


def test_occurrence_cap_bounds_the_work_and_the_coverage() -> None:
    tight = Expansion(EXPANSION.past_limit, EXPANSION.future_limit, max_occurrences=50)
    entry = entry_of(event("DTSTART:20261101T000000Z", "DURATION:PT1M",
                           "RRULE:FREQ=MINUTELY"), tight)
    assert len(entry.occurrences) == 50
    assert entry.covered_until == entry.occurrences[-1].start + 60
    assert not entry.covers(ts("20261110T000000Z"), ts("20261111T000000Z"))


def test_todo_and_people() -> None:
    entry = entry_of(
        "BEGIN:VTODO\nUID:t\nDTSTAMP:20260101T000000Z\nDUE:20261124T100000Z\n"
        "ORGANIZER:MAILTO:Alice@Example.ORG\n"
        "ATTENDEE;PARTSTAT=accepted;ROLE=CHAIR:mailto:Bob%2Bx@example.org\nEND:VTODO\n")
    assert entry.component == "VTODO"
    assert entry.organizer == "alice@example.org"
    assert [(a.address, a.partstat, a.role) for a in entry.attendees] == [
        ("bob+x@example.org", "ACCEPTED", "CHAIR")]
    assert entry.occurrences and all(o.fbtype is None for o in entry.occurrences)


def test_object_radicale_cannot_enumerate_is_left_to_the_fallback() -> None:
    entry = entry_of(event("DTSTART:20261124T100000Z", "DTEND:20261124T110000Z", uid="a")
                     + event("DTSTART:20261125T100000Z", "DTEND:20261125T110000Z", uid="a"))
    assert entry.occurrences == ()
    assert not entry.covers(ts("20261124T000000Z"), ts("20261126T000000Z"))


def test_freebusy_object_periods_keep_their_fbtype() -> None:
    entry = entry_of(
        "BEGIN:VFREEBUSY\nUID:f\nDTSTAMP:20260101T000000Z\n"
        "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261124T080000Z/PT1H,20261124T120000Z/20261124T130000Z\n"
        "END:VFREEBUSY\n")
    assert [(o.start, o.end, o.fbtype) for o in entry.occurrences] == [
        (ts("20261124T080000Z"), ts("20261124T090000Z"), "BUSY-UNAVAILABLE"),
        (ts("20261124T120000Z"), ts("20261124T130000Z"), "BUSY-UNAVAILABLE")]


@pytest.mark.parametrize(("transp", "status", "expected"), [
    ("", "", FbType.BUSY), ("OPAQUE", "CONFIRMED", FbType.BUSY),
    ("TRANSPARENT", "", None), ("", "TENTATIVE", FbType.BUSY_TENTATIVE),
    ("", "CANCELLED", FbType.FREE), ("", "x-custom", FbType.BUSY)])
def test_fbtype_rule(transp: str, status: str, expected: FbType | None) -> None:
    assert fbtype_for_event(transp, status) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("mailto:Bob@Example.org", "bob@example.org"),
    ("MAILTO:assistant%2BAbC@example.org", "assistant+abc@example.org"),
    ("  bob@example.org ", "bob@example.org"),
    ("urn:uuid:ABC", "urn:uuid:abc")])
def test_address_normalisation(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected
