"""A week of working hours (``core/weekly_hours.py``): read from what a person sends, the
VAVAILABILITY it becomes, and the week read back from any client's availability."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from radicale_tracks.core.availability import parse_availability, unavailable_periods
from radicale_tracks.core.weekly_hours import (
    HoursError,
    WeeklyHours,
    read_week,
    week_calendar,
    week_of,
)
from radicale_tracks.core.working_hours import (
    availability_calendar,
    parse_week,
    parse_working_hours,
)

STAMP = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
SPLIT = {"mon": [("13:00", "17:00"), ("09:00", "12:00")], "fri": [("09:00", "12:00")]}


def test_a_split_week_becomes_one_available_per_range_and_reads_back() -> None:
    week = read_week(SPLIT, "Europe/Berlin")
    assert week.days[0] == ((time(9), time(12)), (time(13), time(17)))
    assert week.describe() == "Mon 09:00-12:00, 13:00-17:00; Fri 09:00-12:00"
    text = week_calendar(week, "working-hours-alice", STAMP)
    lines = text.split("\r\n")
    # one AVAILABLE per distinct range, with the days that have it
    assert lines.count("BEGIN:VAVAILABILITY") == 1 and lines.count("BEGIN:AVAILABLE") == 2
    assert {"UID:working-hours-alice-hours", "UID:working-hours-alice-hours-2"} <= set(lines)
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,FR" in lines and "RRULE:FREQ=WEEKLY;BYDAY=MO" in lines
    assert "SUMMARY:Working hours Mon\\,Fri 09:00-12:00" in lines   # TEXT escapes ","
    assert week_of(parse_availability(text, strict=True), NOW) == week
    # Monday's lunch is unavailable, in Berlin wall-clock time
    busy = unavailable_periods(parse_availability(text), datetime(2026, 3, 2, tzinfo=UTC),
                               datetime(2026, 3, 3, tzinfo=UTC))
    assert (datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC),
            "BUSY-UNAVAILABLE") in busy


def test_the_commands_hours_are_the_same_week() -> None:
    hours = parse_working_hours("Mon-Fri 09:00-17:00", "Europe/Berlin")
    text = availability_calendar(hours, "working-hours-bob", STAMP)
    assert week_calendar(hours.week(), "working-hours-bob", STAMP) == text
    assert week_of(parse_availability(text), NOW) == hours.week()
    split = parse_week(["Mon-Thu 08:00-12:00", "Mon-Thu 12:30-16:00"], "UTC")
    assert split.describe() == "Mon-Thu 08:00-12:00, 12:30-16:00"
    with pytest.raises(HoursError, match="overlaps"):
        parse_week(["Mon 08:00-12:00", "Mon-Tue 11:00-13:00"], "UTC")


@pytest.mark.parametrize("days, zone, field, words", [
    ({"mon": [("17:00", "09:00")]}, "UTC", "days.mon.0.end", "not after the start"),
    ({"mon": [("09:00", "09:00")]}, "UTC", "days.mon.0.end", "not after the start"),
    ({"tue": [("", ""), ("24:00", "25:00")]}, "UTC", "days.tue.1.start", "not a time"),
    ({"tue": [("09:00", "")]}, "UTC", "days.tue.0.end", "The end is missing"),
    ({"wed": [("09:00", "12:00"), ("08:00", "09:30")]}, "UTC", "days.wed.1",
     "08:00-09:30 overlaps 09:00-12:00"),
    ({"thu": [("%02d:00" % h, "%02d:30" % h) for h in range(7)]}, "UTC", "days.thu",
     "7 ranges; at most 6"),
    ({"xyz": []}, "UTC", "days.xyz", "Unknown day"),
    ({}, "UTC", "days", "No working time"),
    ({"mon": [("09:00", "17:00")]}, "Nowhere/Town", "zone", "not a time zone"),
    ({"mon": [("09:00", "17:00")]}, " ", "zone", "Choose a time zone"),
])
def test_bad_weeks_name_their_field(days: dict[str, list[tuple[str, str]]], zone: str,
                                    field: str, words: str) -> None:
    with pytest.raises(HoursError) as refused:
        read_week(days, zone)
    assert refused.value.field == field and words in str(refused.value)


def test_blank_rows_are_ignored_and_adjacent_ranges_allowed() -> None:
    week = read_week({"mon": [("", ""), ("09:00", "12:00"), ("12:00", "13:00")],
                      "sun": [(" ", "")]}, "W. Europe Standard Time")
    assert week.zone == "Europe/Berlin" and len(week.days[0]) == 2 and week.days[6] == ()
    assert read_week({"mon": [("9:00:00", "17:00")]}, "UTC").days[0][0][0] == time(9)


def calendar(*available: str, block: str = "") -> str:
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VAVAILABILITY",
             "UID:b", "DTSTAMP:20260101T000000Z", *block.split("|")]
    for number, props in enumerate(available):
        parts += ["BEGIN:AVAILABLE", "UID:a%d" % number, "DTSTAMP:20260101T000000Z",
                  *props.split("|"), "END:AVAILABLE"]
    return "\r\n".join([p for p in parts if p] + ["END:VAVAILABILITY", "END:VCALENDAR", ""])


WEEKDAYS = ("DTSTART;TZID=America/New_York:20260105T090000|"
            "DTEND;TZID=America/New_York:20260105T170000|RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE")


@pytest.mark.parametrize("text, summary", [
    (calendar(WEEKDAYS), "Mon-Wed 09:00-17:00"),
    (calendar("DTSTART;TZID=Europe/Paris:20260105T080000|DURATION:PT4H|RRULE:FREQ=DAILY"),
     "Mon-Sun 08:00-12:00"),
    (calendar("DTSTART:20260105T080000Z|DTEND:20260105T120000Z|RRULE:FREQ=WEEKLY;BYDAY=SA"),
     "Sat 08:00-12:00"),
    (calendar(WEEKDAYS, block="DTSTART:20260101T000000Z"), "Mon-Wed 09:00-17:00"),
    (calendar(WEEKDAYS + "|X-APPLE-THING:1"), "Mon-Wed 09:00-17:00"),
])
def test_a_clients_weekly_availability_reads_as_a_week(text: str, summary: str) -> None:
    found = week_of(parse_availability(text), NOW)
    assert found is not None and found.describe() == summary


@pytest.mark.parametrize("text", [
    calendar(WEEKDAYS + "|EXDATE;TZID=America/New_York:20260112T090000"),
    calendar(WEEKDAYS, block="DTEND:20261231T000000Z"),
    calendar(WEEKDAYS, block="DTSTART:20270101T000000Z"),
    calendar(WEEKDAYS, block="BUSYTYPE:BUSY"),
    calendar(WEEKDAYS.replace("BYDAY=MO,TU,WE", "BYDAY=MO;COUNT=10")),
    calendar(WEEKDAYS.replace("BYDAY=MO,TU,WE", "BYDAY=1MO")),
    calendar(WEEKDAYS.replace("WEEKLY", "MONTHLY")),
    calendar(WEEKDAYS.replace("20260105T170000", "20260106T010000")),   # past midnight
    calendar(WEEKDAYS.replace("20260105", "20270105")),                 # not begun yet
    calendar(WEEKDAYS, "DTSTART;TZID=Europe/Paris:20260105T180000|"
                       "DTEND;TZID=Europe/Paris:20260105T190000|RRULE:FREQ=WEEKLY;BYDAY=FR"),
    calendar(WEEKDAYS, WEEKDAYS.replace("090000", "100000")),           # overlapping
    calendar(WEEKDAYS) + calendar(WEEKDAYS).replace("UID:b", "UID:c"),  # two blocks
])
def test_availability_that_says_more_than_a_week_is_not_squeezed_into_one(text: str) -> None:
    if text.count("BEGIN:VCALENDAR") == 2:   # two VAVAILABILITYs in one calendar
        first, second = text.split("END:VCALENDAR\r\n")[:2]
        text = first.replace("END:VAVAILABILITY\r\n", "END:VAVAILABILITY\r\n" + second[
            second.index("BEGIN:VAVAILABILITY"):]) + "END:VCALENDAR\r\n"
    assert week_of(parse_availability(text), NOW) is None


def test_a_week_is_checked_when_built() -> None:
    with pytest.raises(HoursError, match="seven days"):
        WeeklyHours(((),), "UTC")
    with pytest.raises(HoursError, match="wall-clock"):
        WeeklyHours((((time(9, tzinfo=UTC), time(10)),),) + ((),) * 6, "UTC")
    assert WeeklyHours(((), (), (), (), (), (), ((time(9), time(10)),)), "UTC").describe() \
        == "Sun 09:00-10:00"
