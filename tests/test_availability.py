"""Working hours and RFC 7953 availability: parsing, generation and expansion.

Expected periods are written out as UTC instants (the vectors), or computed with
zoneinfo alone (:func:`complement`), never with the module under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from radicale_tracks.core.availability import (
    Availability,
    AvailabilityError,
    available_periods,
    parse_availability,
    unavailable_periods,
)
from radicale_tracks.core.working_hours import (
    WorkingHours,
    availability_calendar,
    parse_working_hours,
)

UTC = UTC
STAMP = datetime(2026, 1, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
UNAVAILABLE = "BUSY-UNAVAILABLE"


def z(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0,
          minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def complement(first_day: date, days: int, working: set[int], start: time, end: time,
               zone: str, kind: str = UNAVAILABLE) -> list[tuple[datetime, datetime, str]]:
    """Busy periods of a window of whole local days, from zoneinfo alone."""
    tz = ZoneInfo(zone)
    low = datetime.combine(first_day, time(), tzinfo=tz).astimezone(UTC)
    high = datetime.combine(first_day + timedelta(days=days), time(), tzinfo=tz).astimezone(UTC)
    result, cursor = [], low
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() in working:
            begin = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            finish = datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
            if cursor < begin:
                result.append((cursor, begin, kind))
            cursor = finish
    if cursor < high:
        result.append((cursor, high, kind))
    return result


def calendar(*body: str, head: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//availability//EN"]
    lines += [line.strip() for line in head.splitlines() if line.strip()]
    for part in body:
        lines += [line.strip() for line in part.splitlines() if line.strip()]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def block(*available: str, props: str = "") -> str:
    return "\n".join(["BEGIN:VAVAILABILITY", "UID:block", "DTSTAMP:20260101T000000Z",
                      props, *available, "END:VAVAILABILITY"])


def avail(props: str, uid: str = "slot") -> str:
    return "\n".join(["BEGIN:AVAILABLE", "UID:" + uid, "DTSTAMP:20260101T000000Z", props,
                      "END:AVAILABLE"])


WEEKDAYS_BERLIN = avail("""
    DTSTART;TZID=Europe/Berlin:20260105T090000
    DTEND;TZID=Europe/Berlin:20260105T170000
    RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR""")


def generated(text: str, zone: str) -> Availability:
    return parse_availability(availability_calendar(parse_working_hours(text, zone),
                                                    "hours-1", STAMP))


# --- parse_working_hours ---------------------------------------------------------------


@pytest.mark.parametrize("text, days, start, end", [
    ("Mon-Fri 09:00-17:00", {0, 1, 2, 3, 4}, time(9), time(17)),
    ("Mon,Wed,Fri 08:30-12:00", {0, 2, 4}, time(8, 30), time(12)),
    ("Sun-Thu 08:00-16:00", {6, 0, 1, 2, 3}, time(8), time(16)),
    ("  mon - fri  9:00 - 17:30 ", {0, 1, 2, 3, 4}, time(9), time(17, 30)),
    ("Monday, Thursday-Saturday 07:00\u201315:00", {0, 3, 4, 5}, time(7), time(15)),
    ("MO,TU 00:00-23:59", {0, 1}, time(0), time(23, 59)),
    ("Sat-Fri 10:00-11:00", set(range(7)), time(10), time(11)),
])
def test_parse_working_hours(text: str, days: set[int], start: time, end: time) -> None:
    hours = parse_working_hours(text, "Europe/Berlin")
    assert hours == WorkingHours(frozenset(days), start, end, "Europe/Berlin")


def test_working_hours_zone_may_be_windows_name() -> None:
    hours = parse_working_hours("Mon-Fri 09:00-17:00", "W. Europe Standard Time")
    assert hours.zone == "Europe/Berlin"
    assert hours == parse_working_hours("Mon-Fri 09:00-17:00", "Europe/Berlin")


@pytest.mark.parametrize("text, zone, message", [
    ("Mox-Fri 09:00-17:00", "Europe/Berlin", "unknown day 'Mox'"),
    ("Mon,Funday 09:00-17:00", "Europe/Berlin", "unknown day 'Funday'"),
    ("Mon-Fri 17:00-09:00", "Europe/Berlin", "end 09:00 is not after start 17:00"),
    ("Mon-Fri 09:00-09:00", "Europe/Berlin", "not after start"),
    ("Mon-Fri 09:00-24:00", "Europe/Berlin", "invalid time '24:00'"),
    ("Mon-Fri 09:60-17:00", "Europe/Berlin", "invalid time '09:60'"),
    ("09:00-17:00", "Europe/Berlin", "expected days and times"),
    ("Mon-Fri", "Europe/Berlin", "expected days and times"),
    ("Mon-Wed-Fri 09:00-17:00", "Europe/Berlin", "cannot read the days"),
    ("Mon,,Fri 09:00-17:00", "Europe/Berlin", "cannot read the days"),
    ("Mon-Fri 09:00-17:00", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
])
def test_parse_working_hours_errors(text: str, zone: str, message: str) -> None:
    with pytest.raises(AvailabilityError, match=message.replace("(", r"\(")):
        parse_working_hours(text, zone)


def test_working_hours_checked_when_built() -> None:
    assert isinstance(AvailabilityError("x"), ValueError)
    with pytest.raises(AvailabilityError, match="no working day"):
        WorkingHours(frozenset(), time(9), time(17), "UTC")
    with pytest.raises(AvailabilityError, match="day 7 is not"):
        WorkingHours(frozenset({7}), time(9), time(17), "UTC")
    with pytest.raises(AvailabilityError, match="wall-clock"):
        WorkingHours(frozenset({1}), time(9, tzinfo=UTC), time(17), "UTC")


@pytest.mark.parametrize("text, described", [
    ("Mon-Fri 09:00-17:00", "Mon-Fri 09:00-17:00"),
    ("Sun-Thu 08:00-16:00", "Sun-Thu 08:00-16:00"),
    ("Fri,Mon,Wed 08:30-12:00", "Mon,Wed,Fri 08:30-12:00"),
    ("Mon,Tue,Sat 08:30-12:00", "Mon,Tue,Sat 08:30-12:00"),
    ("Sat-Fri 08:30-12:00", "Mon-Sun 08:30-12:00"),
])
def test_describe_reads_back(text: str, described: str) -> None:
    hours = parse_working_hours(text, "UTC")
    assert hours.describe() == described
    assert parse_working_hours(described, "UTC") == hours


# --- availability_calendar ---------------------------------------------------------------


def test_generated_calendar_text() -> None:
    hours = parse_working_hours("Mon-Fri 09:00-17:00", "Europe/Berlin")
    text = availability_calendar(hours, "hours-1", STAMP)
    assert text == availability_calendar(hours, "hours-1", STAMP)
    assert "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2:] == ["END:VCALENDAR", ""]
    assert "PRODID:-//radicale-tracks//availability//EN" in lines
    assert "VERSION:2.0" in lines
    assert "TZID:Europe/Berlin" in lines
    vavailability = lines[lines.index("BEGIN:VAVAILABILITY"):lines.index("BEGIN:AVAILABLE")]
    assert "UID:hours-1" in vavailability and "DTSTAMP:20260101T120000Z" in vavailability
    assert not [line for line in vavailability
                if line.startswith(("DTSTART", "DTEND", "DURATION", "BUSYTYPE"))]
    assert lines.count("BEGIN:AVAILABLE") == 1
    assert "DTSTART;TZID=Europe/Berlin:20000103T090000" in lines
    assert "DTEND;TZID=Europe/Berlin:20000103T170000" in lines
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" in lines


def test_generated_calendar_sun_thu_starts_on_a_working_day() -> None:
    hours = parse_working_hours("Sun-Thu 08:00-16:00", "Asia/Jerusalem")
    lines = availability_calendar(hours, "h", STAMP).split("\r\n")
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,SU" in lines
    assert "DTSTART;TZID=Asia/Jerusalem:20000103T080000" in lines  # a Monday


def test_generated_calendar_in_utc_needs_no_vtimezone() -> None:
    hours = parse_working_hours("Tue 10:00-12:00", "UTC")
    text = availability_calendar(hours, "h", STAMP)
    assert "VTIMEZONE" not in text and "DTSTART:20000104T100000Z" in text
    periods = unavailable_periods(parse_availability(text), z(2026, 1, 5), z(2026, 1, 12))
    assert periods == [(z(2026, 1, 5), z(2026, 1, 6, 10), UNAVAILABLE),
                       (z(2026, 1, 6, 12), z(2026, 1, 12), UNAVAILABLE)]


def test_round_trip_berlin_week() -> None:
    availability = generated("Mon-Fri 09:00-17:00", "Europe/Berlin")
    periods = unavailable_periods(availability, local("Europe/Berlin", 2026, 1, 12),
                                  local("Europe/Berlin", 2026, 1, 19))
    assert periods == [
        (z(2026, 1, 11, 23), z(2026, 1, 12, 8), UNAVAILABLE),
        (z(2026, 1, 12, 16), z(2026, 1, 13, 8), UNAVAILABLE),
        (z(2026, 1, 13, 16), z(2026, 1, 14, 8), UNAVAILABLE),
        (z(2026, 1, 14, 16), z(2026, 1, 15, 8), UNAVAILABLE),
        (z(2026, 1, 15, 16), z(2026, 1, 16, 8), UNAVAILABLE),
        (z(2026, 1, 16, 16), z(2026, 1, 18, 23), UNAVAILABLE),
    ]
    assert available_periods(availability, local("Europe/Berlin", 2026, 1, 12),
                             local("Europe/Berlin", 2026, 1, 19)) == [
        (z(2026, 1, day, 8), z(2026, 1, day, 16)) for day in range(12, 17)]


def test_round_trip_across_spring_forward() -> None:
    availability = generated("Mon-Fri 09:00-17:00", "Europe/Berlin")
    periods = unavailable_periods(availability, local("Europe/Berlin", 2026, 3, 26),
                                  local("Europe/Berlin", 2026, 4, 1))
    assert periods == [
        (z(2026, 3, 25, 23), z(2026, 3, 26, 8), UNAVAILABLE),
        (z(2026, 3, 26, 16), z(2026, 3, 27, 8), UNAVAILABLE),
        (z(2026, 3, 27, 16), z(2026, 3, 30, 7), UNAVAILABLE),  # 09:00 CEST from Monday
        (z(2026, 3, 30, 15), z(2026, 3, 31, 7), UNAVAILABLE),
        (z(2026, 3, 31, 15), z(2026, 3, 31, 22), UNAVAILABLE),
    ]


def test_round_trip_across_fall_back() -> None:
    availability = generated("Mon-Fri 09:00-17:00", "Europe/Berlin")
    periods = unavailable_periods(availability, local("Europe/Berlin", 2026, 10, 22),
                                  local("Europe/Berlin", 2026, 10, 28))
    assert periods == [
        (z(2026, 10, 21, 22), z(2026, 10, 22, 7), UNAVAILABLE),
        (z(2026, 10, 22, 15), z(2026, 10, 23, 7), UNAVAILABLE),
        (z(2026, 10, 23, 15), z(2026, 10, 26, 8), UNAVAILABLE),  # 09:00 CET from Monday
        (z(2026, 10, 26, 16), z(2026, 10, 27, 8), UNAVAILABLE),
        (z(2026, 10, 27, 16), z(2026, 10, 27, 23), UNAVAILABLE),
    ]


@pytest.mark.parametrize("text, zone, iana, first_day, working, start, end", [
    ("Mon-Fri 09:00-17:00", "Asia/Kolkata", "Asia/Kolkata", date(2026, 6, 1),
     {0, 1, 2, 3, 4}, time(9), time(17)),
    ("Mon-Fri 09:00-17:00", "Eastern Standard Time", "America/New_York", date(2026, 3, 5),
     {0, 1, 2, 3, 4}, time(9), time(17)),
    ("Sun-Thu 08:00-16:00", "Asia/Jerusalem", "Asia/Jerusalem", date(2026, 1, 10),
     {6, 0, 1, 2, 3}, time(8), time(16)),
    ("Mon,Wed,Fri 08:30-12:00", "Europe/Berlin", "Europe/Berlin", date(2026, 10, 19),
     {0, 2, 4}, time(8, 30), time(12)),
])
def test_round_trip_zones(text: str, zone: str, iana: str, first_day: date,
                          working: set[int], start: time, end: time) -> None:
    availability = generated(text, zone)
    tz = ZoneInfo(iana)
    low = datetime.combine(first_day, time(), tzinfo=tz)
    high = datetime.combine(first_day + timedelta(days=14), time(), tzinfo=tz)
    assert unavailable_periods(availability, low, high) == complement(
        first_day, 14, working, start, end, iana)


def test_round_trip_kolkata_vector() -> None:
    periods = unavailable_periods(generated("Mon-Fri 09:00-17:00", "Asia/Kolkata"),
                                  z(2026, 6, 1), z(2026, 6, 2))
    assert periods == [(z(2026, 6, 1), z(2026, 6, 1, 3, 30), UNAVAILABLE),
                       (z(2026, 6, 1, 11, 30), z(2026, 6, 2), UNAVAILABLE)]


# --- parse_availability: an Apple-style property -----------------------------------------

NEW_YORK_VTIMEZONE = """
    BEGIN:VTIMEZONE
    TZID:{tzid}
    BEGIN:DAYLIGHT
    TZOFFSETFROM:-0500
    RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
    DTSTART:20070311T020000
    TZNAME:EDT
    TZOFFSETTO:-0400
    END:DAYLIGHT
    BEGIN:STANDARD
    TZOFFSETFROM:-0400
    RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
    DTSTART:20071104T020000
    TZNAME:EST
    TZOFFSETTO:-0500
    END:STANDARD
    END:VTIMEZONE
"""

APPLE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Apple Inc.//macOS 14.4//EN\r
CALSCALE:GREGORIAN\r
""" + "\r\n".join(line.strip() for line in NEW_YORK_VTIMEZONE.format(
    tzid="America/New_York").splitlines() if line.strip()) + """\r
BEGIN:VAVAILABILITY\r
UID:6F5C1A3E-2B1D-4C3A-9E8F-0A1B2C3D4E5F\r
DTSTAMP:20260101T120000Z\r
SUMMARY:Work\r
DTSTART;TZID=America/New_York:20260105T000000\r
DTEND;TZID=America/New_York:20260131T000000\r
X-APPLE-STRUCTURED-EVENT-TYPE:availability\r
BEGIN:AVAILABLE\r
UID:A1E6F6D2-1C0B-4D54-8A55-5E0F2B6B7C01\r
DTSTAMP:20260101T120000Z\r
SUMMARY:Mornings\r
DTSTART;TZID=America/New_York:20260105T090000\r
DTEND;TZID=America/New_York:20260105T120000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR\r
EXDATE;TZID=America/New_York:20260114T090000\r
X-APPLE-EWS-BUSYSTATUS:FREE\r
END:AVAILABLE\r
BEGIN:AVAILABLE\r
UID:B7D3C2A1-5E4F-4A3B-8C2D-1E0F9A8B7C02\r
DTSTAMP:20260101T120000Z\r
SUMMARY:Afternoons\r
DTSTART;TZID=America/New_York:20260106T130000\r
DTEND;TZID=America/New_York:20260106T170000\r
RRULE:FREQ=WEEKLY;BYDAY=TU,TH\r
END:AVAILABLE\r
END:VAVAILABILITY\r
END:VCALENDAR\r
"""


def test_apple_style_availability() -> None:
    availability = parse_availability(APPLE)
    assert [block.uid for block in availability.blocks] == [
        "6F5C1A3E-2B1D-4C3A-9E8F-0A1B2C3D4E5F"]
    periods = unavailable_periods(availability, z(2026, 1, 12, 5), z(2026, 1, 17, 5))
    assert periods == [
        (z(2026, 1, 12, 5), z(2026, 1, 12, 14), UNAVAILABLE),
        (z(2026, 1, 12, 17), z(2026, 1, 13, 18), UNAVAILABLE),
        (z(2026, 1, 13, 22), z(2026, 1, 15, 18), UNAVAILABLE),  # Wednesday is excluded
        (z(2026, 1, 15, 22), z(2026, 1, 16, 14), UNAVAILABLE),
        (z(2026, 1, 16, 17), z(2026, 1, 17, 5), UNAVAILABLE),
    ]
    assert available_periods(availability, z(2026, 1, 12, 5), z(2026, 1, 17, 5)) == [
        (z(2026, 1, 12, 14), z(2026, 1, 12, 17)), (z(2026, 1, 13, 18), z(2026, 1, 13, 22)),
        (z(2026, 1, 15, 18), z(2026, 1, 15, 22)), (z(2026, 1, 16, 14), z(2026, 1, 16, 17))]


def test_apple_style_availability_is_bounded() -> None:
    availability = parse_availability(APPLE.encode("utf-8"))
    assert unavailable_periods(availability, z(2026, 1, 30), z(2026, 2, 3)) == [
        (z(2026, 1, 30), z(2026, 1, 30, 14), UNAVAILABLE),
        (z(2026, 1, 30, 17), z(2026, 1, 31, 5), UNAVAILABLE),
    ]
    assert unavailable_periods(availability, z(2025, 12, 1), z(2026, 1, 5, 5)) == []
    assert unavailable_periods(availability, z(2026, 1, 2), z(2026, 1, 5, 5, 30)) == [
        (z(2026, 1, 5, 5), z(2026, 1, 5, 5, 30), UNAVAILABLE)]


def test_custom_vtimezone_across_dst() -> None:
    text = calendar(block(avail("""
        DTSTART;TZID=Eastern (custom):20260105T090000
        DTEND;TZID=Eastern (custom):20260105T170000
        RRULE:FREQ=WEEKLY;BYDAY=MO""")), head=NEW_YORK_VTIMEZONE.format(tzid="Eastern (custom)"))
    free = available_periods(parse_availability(text), z(2026, 3, 1), z(2026, 3, 15))
    assert free == [(z(2026, 3, 2, 14), z(2026, 3, 2, 22)), (z(2026, 3, 9, 13), z(2026, 3, 9, 21))]


def test_custom_vtimezones_of_one_name_do_not_mix() -> None:
    def zone(offset: str) -> str:
        return """BEGIN:VTIMEZONE
            TZID:Office
            BEGIN:STANDARD
            DTSTART:19700101T000000
            TZOFFSETFROM:%s
            TZOFFSETTO:%s
            END:STANDARD
            END:VTIMEZONE""" % (offset, offset)

    body = block(avail("""
        DTSTART;TZID=Office:20260105T090000
        DTEND;TZID=Office:20260105T100000"""))
    three = parse_availability(calendar(body, head=zone("+0300")))
    five = parse_availability(calendar(body, head=zone("+0500")))
    assert available_periods(three, z(2026, 1, 5), z(2026, 1, 6)) == [
        (z(2026, 1, 5, 6), z(2026, 1, 5, 7))]
    assert available_periods(five, z(2026, 1, 5), z(2026, 1, 6)) == [
        (z(2026, 1, 5, 4), z(2026, 1, 5, 5))]


def test_windows_tzid_without_vtimezone() -> None:
    text = calendar(block(WEEKDAYS_BERLIN.replace("Europe/Berlin", "W. Europe Standard Time")))
    assert available_periods(parse_availability(text), z(2026, 1, 12), z(2026, 1, 13)) == [
        (z(2026, 1, 12, 8), z(2026, 1, 12, 16))]


# --- recurrence --------------------------------------------------------------------------


def test_recurrence_id_replaces_an_instance() -> None:
    text = calendar(block(WEEKDAYS_BERLIN, avail("""
        RECURRENCE-ID;TZID=Europe/Berlin:20260113T090000
        DTSTART;TZID=Europe/Berlin:20260113T130000
        DTEND;TZID=Europe/Berlin:20260113T180000""")))
    free = available_periods(parse_availability(text), z(2026, 1, 12), z(2026, 1, 15))
    assert free == [(z(2026, 1, 12, 8), z(2026, 1, 12, 16)),
                    (z(2026, 1, 13, 12), z(2026, 1, 13, 17)),
                    (z(2026, 1, 14, 8), z(2026, 1, 14, 16))]


def test_recurrence_id_may_move_an_instance_into_the_window() -> None:
    text = calendar(block(WEEKDAYS_BERLIN, avail("""
        RECURRENCE-ID;TZID=Europe/Berlin:20260109T090000
        DTSTART;TZID=Europe/Berlin:20260110T100000
        DURATION:PT2H""")))
    free = available_periods(parse_availability(text), z(2026, 1, 9), z(2026, 1, 11))
    assert free == [(z(2026, 1, 10, 9), z(2026, 1, 10, 11))]


def test_rdate_period_and_exdate_in_utc() -> None:
    text = calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20260105T090000
        DTEND;TZID=Europe/Berlin:20260105T170000
        RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR
        EXDATE:20260113T080000Z
        RDATE;VALUE=PERIOD:20260117T090000Z/PT3H
        RDATE;TZID=Europe/Berlin:20260118T090000""")))
    free = available_periods(parse_availability(text), z(2026, 1, 12), z(2026, 1, 19))
    assert free == [(z(2026, 1, day, 8), z(2026, 1, day, 16)) for day in (12, 14, 15, 16)] + [
        (z(2026, 1, 17, 9), z(2026, 1, 17, 12)), (z(2026, 1, 18, 8), z(2026, 1, 18, 16))]


def test_until_in_utc_and_count() -> None:
    text = calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20260105T090000
        DTEND;TZID=Europe/Berlin:20260105T100000
        RRULE:FREQ=DAILY;UNTIL=20260107T080000Z""", uid="a"), avail("""
        DTSTART;TZID=Europe/Berlin:20260105T120000
        DTEND;TZID=Europe/Berlin:20260105T130000
        RRULE:FREQ=DAILY;COUNT=2""", uid="b")))
    free = available_periods(parse_availability(text), z(2026, 1, 1), z(2026, 1, 12))
    assert free == [(z(2026, 1, 5, 8), z(2026, 1, 5, 9)), (z(2026, 1, 5, 11), z(2026, 1, 5, 12)),
                    (z(2026, 1, 6, 8), z(2026, 1, 6, 9)), (z(2026, 1, 6, 11), z(2026, 1, 6, 12)),
                    (z(2026, 1, 7, 8), z(2026, 1, 7, 9))]


def test_duration_instead_of_dtend() -> None:
    with_duration = calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20260105T090000
        DURATION:PT8H
        RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR""")))
    window = (z(2026, 3, 23), z(2026, 4, 4))
    assert unavailable_periods(parse_availability(with_duration), *window) == \
        unavailable_periods(parse_availability(calendar(block(WEEKDAYS_BERLIN))), *window)


def test_date_values_are_whole_days() -> None:
    text = calendar(block(avail("""
        DTSTART;VALUE=DATE:20260112
        DTEND;VALUE=DATE:20260114""")), head="X-WR-TIMEZONE:Europe/Berlin")
    assert available_periods(parse_availability(text), z(2026, 1, 1), z(2026, 2, 1)) == [
        (z(2026, 1, 11, 23), z(2026, 1, 13, 23))]
    without_end = calendar(block(avail("DTSTART;VALUE=DATE:20260112\nRRULE:FREQ=DAILY;COUNT=2"),
                                 props="DTSTART;VALUE=DATE:20260112\nDTEND;VALUE=DATE:20260116"))
    availability = parse_availability(without_end)
    assert unavailable_periods(availability, z(2026, 1, 1), z(2026, 2, 1)) == [
        (z(2026, 1, 14), z(2026, 1, 16), UNAVAILABLE)]


def test_date_with_tzid_is_a_day_in_that_zone() -> None:
    text = calendar(block(avail("DTSTART;VALUE=DATE;TZID=Asia/Kolkata:20260112")))
    assert available_periods(parse_availability(text), z(2026, 1, 1), z(2026, 2, 1)) == [
        (z(2026, 1, 11, 18, 30), z(2026, 1, 12, 18, 30))]


@pytest.mark.parametrize("head, expected", [
    ("", z(2026, 1, 12, 9)),
    ("X-WR-TIMEZONE:Asia/Kolkata", z(2026, 1, 12, 3, 30)),
    (NEW_YORK_VTIMEZONE.format(tzid="America/New_York"), z(2026, 1, 12, 14)),
])
def test_floating_times(head: str, expected: datetime) -> None:
    text = calendar(block(avail("DTSTART:20260112T090000\nDTEND:20260112T100000")), head=head)
    assert available_periods(parse_availability(text), z(2026, 1, 11), z(2026, 1, 13)) == [
        (expected, expected + timedelta(hours=1))]


def test_local_time_in_a_gap_uses_the_offset_before_it() -> None:
    text = calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20260329T023000
        DURATION:PT1H""")))
    assert available_periods(parse_availability(text), z(2026, 3, 28), z(2026, 3, 30)) == [
        (z(2026, 3, 29, 1, 30), z(2026, 3, 29, 2, 30))]


def test_rule_without_instances_leaves_dtstart() -> None:
    text = calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20260105T090000
        DTEND;TZID=Europe/Berlin:20260105T100000
        RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30""")))
    availability = parse_availability(text)
    assert availability.blocks[0].available[0].rrules == ()
    assert available_periods(availability, z(2026, 1, 1), z(2027, 1, 1)) == [
        (z(2026, 1, 5, 8), z(2026, 1, 5, 9))]


# --- priorities and busy types -----------------------------------------------------------


def test_higher_priority_vacation_frees_a_week() -> None:
    vacation = block(avail("""
        DTSTART;TZID=Europe/Berlin:20260112T000000
        DTEND;TZID=Europe/Berlin:20260119T000000""", uid="vacation"), props="""
        PRIORITY:1
        DTSTART;TZID=Europe/Berlin:20260112T000000
        DTEND;TZID=Europe/Berlin:20260119T000000""")
    availability = parse_availability(calendar(block(WEEKDAYS_BERLIN), vacation))
    periods = unavailable_periods(availability, z(2026, 1, 8), z(2026, 1, 21))
    assert periods == [(z(2026, 1, 8), z(2026, 1, 8, 8), UNAVAILABLE),
                       (z(2026, 1, 8, 16), z(2026, 1, 9, 8), UNAVAILABLE),
                       (z(2026, 1, 9, 16), z(2026, 1, 11, 23), UNAVAILABLE),
                       (z(2026, 1, 18, 23), z(2026, 1, 19, 8), UNAVAILABLE),
                       (z(2026, 1, 19, 16), z(2026, 1, 20, 8), UNAVAILABLE),
                       (z(2026, 1, 20, 16), z(2026, 1, 21), UNAVAILABLE)]
    assert not unavailable_periods(availability, z(2026, 1, 11, 23), z(2026, 1, 18, 23))


def test_higher_priority_block_without_available_is_busy_all_week() -> None:
    closed = block(props="""
        PRIORITY:1
        BUSYTYPE:BUSY
        DTSTART;TZID=Europe/Berlin:20260112T000000
        DTEND;TZID=Europe/Berlin:20260119T000000""")
    availability = parse_availability(calendar(block(WEEKDAYS_BERLIN), closed))
    periods = unavailable_periods(availability, z(2026, 1, 9), z(2026, 1, 20))
    assert periods == [(z(2026, 1, 9), z(2026, 1, 9, 8), UNAVAILABLE),
                       (z(2026, 1, 9, 16), z(2026, 1, 11, 23), UNAVAILABLE),
                       (z(2026, 1, 11, 23), z(2026, 1, 18, 23), "BUSY"),
                       (z(2026, 1, 18, 23), z(2026, 1, 19, 8), UNAVAILABLE),
                       (z(2026, 1, 19, 16), z(2026, 1, 20), UNAVAILABLE)]


@pytest.mark.parametrize("low, high, winner", [("9", "", "9"), ("2", "1", "1"),
                                                ("0", "9", "9"), ("", "5", "5")])
def test_priority_order(low: str, high: str, winner: str) -> None:
    def closed(priority: str, kind: str) -> str:
        return block(props="BUSYTYPE:%s%s" % (kind, "\nPRIORITY:" + priority if priority else ""))

    text = calendar(closed(low, "BUSY"), closed(high, "BUSY-TENTATIVE"))
    kind = "BUSY" if winner == low else "BUSY-TENTATIVE"
    assert unavailable_periods(parse_availability(text), z(2026, 1, 1), z(2026, 1, 2)) == [
        (z(2026, 1, 1), z(2026, 1, 2), kind)]


def test_equal_priorities_combine() -> None:
    mornings = block(avail("""
        DTSTART;TZID=Europe/Berlin:20260112T090000
        DTEND;TZID=Europe/Berlin:20260112T120000""", uid="a"))
    afternoons = block(avail("""
        DTSTART;TZID=Europe/Berlin:20260112T110000
        DTEND;TZID=Europe/Berlin:20260112T170000""", uid="b"), props="BUSYTYPE:BUSY-TENTATIVE")
    periods = unavailable_periods(parse_availability(calendar(mornings, afternoons)),
                                  z(2026, 1, 12), z(2026, 1, 13))
    assert periods == [(z(2026, 1, 12), z(2026, 1, 12, 8), "BUSY-TENTATIVE"),
                       (z(2026, 1, 12), z(2026, 1, 12, 8), UNAVAILABLE),
                       (z(2026, 1, 12, 16), z(2026, 1, 13), "BUSY-TENTATIVE"),
                       (z(2026, 1, 12, 16), z(2026, 1, 13), UNAVAILABLE)]


def test_busy_tentative_kept() -> None:
    text = calendar(block(WEEKDAYS_BERLIN, props="BUSYTYPE:BUSY-TENTATIVE"))
    periods = unavailable_periods(parse_availability(text), z(2026, 1, 12), z(2026, 1, 13))
    assert periods == [(z(2026, 1, 12), z(2026, 1, 12, 8), "BUSY-TENTATIVE"),
                       (z(2026, 1, 12, 16), z(2026, 1, 13), "BUSY-TENTATIVE")]


def test_unknown_busytype_is_busy_and_priority_garbage_is_undefined() -> None:
    text = calendar(block(props="BUSYTYPE:X-ON-LEAVE\nPRIORITY:12"),
                    block(props="PRIORITY:9\nDTSTART:20260101T060000Z"))
    availability = parse_availability(text)
    assert [b.priority for b in availability.blocks] == [0, 9]
    assert unavailable_periods(availability, z(2026, 1, 1), z(2026, 1, 2)) == [
        (z(2026, 1, 1), z(2026, 1, 1, 6), "BUSY"),
        (z(2026, 1, 1, 6), z(2026, 1, 2), UNAVAILABLE)]


def test_empty_window() -> None:
    availability = parse_availability(calendar(block(WEEKDAYS_BERLIN)))
    assert unavailable_periods(availability, z(2026, 1, 12), z(2026, 1, 12)) == []
    assert available_periods(availability, z(2026, 1, 13), z(2026, 1, 12)) == []


# --- errors and limits -------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("not a calendar", "RFC 5545"),
    (calendar("BEGIN:VEVENT\nUID:e\nDTSTART:20260101T090000Z\nEND:VEVENT"),
     r"RFC 7953 §3\.1: the calendar has no VAVAILABILITY"),
    (calendar(block(avail("DTEND:20260101T090000Z"))),
     r"RFC 7953 §3\.1: AVAILABLE 'slot' has no DTSTART"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nDTEND:20260101T090000Z"))),
     "DTEND of AVAILABLE 'slot' is not after its DTSTART"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nDTEND:20260101T080000Z"))),
     "not after its DTSTART"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nDURATION:-PT1H"))),
     "DURATION of AVAILABLE 'slot' is not positive"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nDTEND:20260101T100000Z\n"
                          "DURATION:PT1H"))), "both DTEND and DURATION"),
    (calendar(block(props="DTSTART:20260102T000000Z\nDTEND:20260101T000000Z")),
     r"RFC 7953 §3\.1: the end of VAVAILABILITY 'block' is not after its DTSTART"),
    (calendar(block(props="DURATION:P1D")), "DURATION without DTSTART"),
    (calendar(block(props="BUSYTYPE:FREE")), r"RFC 7953 §3\.2: BUSYTYPE"),
    (calendar(block(avail("DTSTART;TZID=Mars/Olympus_Mons:20260101T090000"))),
     r"RFC 7953 §3\.1: TZID 'Mars/Olympus_Mons' is defined by no VTIMEZONE"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nDTEND;TZID=Nowhere:20260101T100000"))),
     "TZID 'Nowhere'"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;BYSETPOS=0"))),
     r"RFC 5545 §3\.3\.10: RRULE of AVAILABLE 'slot' cannot be read"),
    (calendar(block(avail("DTSTART:20260101T090000Z\nEXRULE:FREQ=DAILY"))), "EXRULE"),
    (calendar(block(avail("DTSTART:20260101T090000Z\n"
                          "RECURRENCE-ID;RANGE=THISANDFUTURE:20260101T090000Z"))),
     "THISANDFUTURE"),
    (calendar(block(avail("DTSTART:20260101T090000Z\n"
                          "RDATE;VALUE=PERIOD:20260102T090000Z/20260102T080000Z"))),
     "RDATE period"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(AvailabilityError, match=message):
        parse_availability(text)


def test_component_limit() -> None:
    text = calendar(block(WEEKDAYS_BERLIN, WEEKDAYS_BERLIN.replace("UID:slot", "UID:other")))
    assert len(parse_availability(text, max_components=3).blocks) == 1
    with pytest.raises(AvailabilityError, match="3 VAVAILABILITY/AVAILABLE components, more "
                                                "than the 2"):
        parse_availability(text, max_components=2)


def test_instance_cap_inside_the_window() -> None:
    text = calendar(block(avail("""
        DTSTART:20260101T000000Z
        DURATION:PT30M
        RRULE:FREQ=HOURLY""")))
    availability = parse_availability(text)
    assert len(available_periods(availability, z(2026, 1, 5), z(2026, 1, 6),
                                 max_instances=24)) == 24
    with pytest.raises(AvailabilityError, match=r"RFC 7953 §4: AVAILABLE 'slot' has more than "
                                                r"24 instances in the window"):
        unavailable_periods(availability, z(2026, 1, 5), z(2026, 1, 6, 1), max_instances=24)


def test_instances_before_the_window_are_not_counted() -> None:
    availability = generated("Mon-Fri 09:00-17:00", "Europe/Berlin")  # starts in 2000
    assert len(available_periods(availability, z(2036, 1, 7), z(2036, 1, 14),
                                 max_instances=5)) == 5
    counted = parse_availability(calendar(block(avail("""
        DTSTART;TZID=Europe/Berlin:20000103T090000
        DTEND;TZID=Europe/Berlin:20000103T170000
        RRULE:FREQ=DAILY;COUNT=1000000"""))))
    assert available_periods(counted, z(2026, 1, 12), z(2026, 1, 13), max_instances=1) == [
        (z(2026, 1, 12, 8), z(2026, 1, 12, 16))]
