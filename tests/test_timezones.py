"""Windows and Exchange time-zone names → IANA; calendars rewritten to IANA TZIDs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calendars import OUTLOOK_BERLIN
from radicale_tracks.core.itip import parse_calendar, serialize
from radicale_tracks.core.timezones import _DISPLAY_NAMES, iana_zone, normalize_timezones

UTC = UTC


@pytest.mark.parametrize(("tzid", "expected"), [
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("India Standard Time", "Asia/Kolkata"),
    ("w. europe standard time", "Europe/Berlin"),
    ("W. Europe Daylight Time", "Europe/Berlin"),
    ('"W. Europe Standard Time"', "Europe/Berlin"),
    ("S.A. Pacific Standard Time", "America/Bogota"),
    ("tzone://Microsoft/Utc", "Etc/UTC"),
    ("(GMT-05.00) Eastern Time (US & Canada)", "America/New_York"),
    ("(GMT-05:00) Eastern Time (US and Canada)", "America/New_York"),
    ("Eastern Time (US & Canada)", "America/New_York"),
    ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
    ("(GMT+01.00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
    ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", "Asia/Kolkata"),
    ("(UTC+05:00) Ekaterinburg (RTZ 4)", "Asia/Yekaterinburg"),
    ("(UTC) Coordinated Universal Time", "Etc/UTC"),
    ("Europe/Berlin", "Europe/Berlin"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("Asia/Calcutta", "Asia/Calcutta"),
    ("UTC", "UTC"),
    ("europe/berlin", "Europe/Berlin"),
    ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin"),
    ("/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires",
     "America/Argentina/Buenos_Aires"),
    ("/Europe/Berlin", "Europe/Berlin"),
    ("GMT +0100 (Standard) / GMT +0200 (Daylight)", None),
    ("Customized Time Zone", None),
    ("", None),
    ("Europe", None),
    ("localtime", None),
    ("../../etc/passwd", None),
    ("/mozilla.org/20050126_1/Nowhere/Special", None),
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None)
def test_iana_zone(tzid: str, expected: str | None) -> None:
    assert iana_zone(tzid) == expected


@pytest.mark.parametrize("tzid", [
    "FLE Standard Time",
    "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius",
    "(GMT+02:00) Helsinki, Kiev, Riga, Sofia, Tallinn, Vilnius",
])
def test_kyiv_is_named_as_the_installed_tzdata_names_it(tzid: str) -> None:
    zone = iana_zone(tzid)
    assert zone in ("Europe/Kyiv", "Europe/Kiev")
    ZoneInfo(zone)


@pytest.mark.parametrize("name", sorted(WINDOWS_TO_OLSON))
def test_every_windows_standard_name_maps_to_a_loadable_zone(name: str) -> None:
    zone = iana_zone(name)
    assert zone is not None
    ZoneInfo(zone)


@pytest.mark.parametrize("name", sorted(_DISPLAY_NAMES))
def test_every_windows_display_name_maps_to_a_loadable_zone(name: str) -> None:
    zone = iana_zone(name)
    assert zone is not None
    ZoneInfo(zone)
    assert iana_zone(name.partition(") ")[2]) == zone, "without its offset prefix"


@pytest.mark.parametrize(("display", "standard"), [
    ("(UTC-08:00) Pacific Time (US & Canada)", "Pacific Standard Time"),
    ("(UTC+00:00) Dublin, Edinburgh, Lisbon, London", "GMT Standard Time"),
    ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Romance Standard Time"),
    ("(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", "FLE Standard Time"),
    ("(UTC+05:45) Kathmandu", "Nepal Standard Time"),
    ("(UTC+10:00) Canberra, Melbourne, Sydney", "AUS Eastern Standard Time"),
])
def test_display_names_agree_with_the_registry_keys(display: str, standard: str) -> None:
    assert iana_zone(display) == iana_zone(standard)


# --- calendars ---------------------------------------------------------------------------

OUTLOOK_ZONE = OUTLOOK_BERLIN

CUSTOM_ZONE = """BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:STANDARD
END:VTIMEZONE
"""


def outlook_calendar(start: str, zones: str = OUTLOOK_ZONE,
                     tzid: str = "W. Europe Standard Time", extra: str = "") -> Calendar:
    """An Outlook-style weekly meeting at ``start`` (local time in ``tzid``)."""
    param = '"%s"' % tzid if any(c in tzid for c in ":;,") else tzid
    return parse_calendar(f"""BEGIN:VCALENDAR
METHOD:REQUEST
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
{zones}BEGIN:VEVENT
ORGANIZER;CN=Olivia:mailto:olivia@example.com
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org
RRULE:FREQ=WEEKLY;COUNT=10;INTERVAL=1;BYDAY=MO;WKST=MO
EXDATE;TZID={param}:{start[:8]}T090000
UID:040000008200E00074C5B7101A82E00800000000
SUMMARY:Weekly
DTSTART;TZID={param}:{start}
DTEND;TZID="{tzid}":{start[:9]}100000
DTSTAMP:20261201T120000Z
SEQUENCE:0
{extra}END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n"))


def timezone_ids(calendar: Calendar) -> list[str]:
    return [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")]


def event(calendar: Calendar) -> Calendar:
    return calendar.walk("VEVENT")[0]


@pytest.mark.parametrize(("start", "utc"), [
    ("20270104T090000", datetime(2027, 1, 4, 8, 0, tzinfo=UTC)),
    ("20270705T090000", datetime(2027, 7, 5, 7, 0, tzinfo=UTC)),
], ids=["winter", "summer"])
def test_outlook_zone_becomes_europe_berlin(start: str, utc: datetime) -> None:
    original = outlook_calendar(start)
    text_before = serialize(original)
    assert event(original).decoded("DTSTART") == utc

    normalized = normalize_timezones(original)

    assert serialize(original) == text_before, "the input is not mutated"
    assert timezone_ids(normalized) == ["Europe/Berlin"]
    vevent = event(normalized)
    assert vevent["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert vevent["DTEND"].params["TZID"] == "Europe/Berlin"
    assert vevent["EXDATE"].params["TZID"] == "Europe/Berlin"
    assert vevent.decoded("DTSTART") == utc
    assert vevent.decoded("DTSTART").astimezone(UTC) == utc
    assert vevent["DTSTART"].dt.replace(tzinfo=None) == datetime(
        int(start[:4]), int(start[4:6]), int(start[6:8]), 9, 0), "wall clock kept"
    assert [d.dt for d in vevent["EXDATE"].dts] == [utc]
    assert vevent["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=10;INTERVAL=1;BYDAY=MO;WKST=MO"
    text = serialize(normalized)
    assert "W. Europe Standard Time" not in text
    assert f"DTSTART;TZID=Europe/Berlin:{start}" in text
    reparsed = event(parse_calendar(text))
    assert reparsed.decoded("DTSTART") == utc
    assert reparsed.decoded("DTEND") == utc.replace(hour=utc.hour + 1)


def test_two_windows_names_of_one_zone_share_one_vtimezone() -> None:
    extra = "X-MS-OLK-ORIGINALSTART;TZID=\"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, " \
            "Stockholm, Vienna\":20270104T090000\n"
    normalized = normalize_timezones(outlook_calendar("20270104T090000", extra=extra))
    assert timezone_ids(normalized) == ["Europe/Berlin"]
    assert event(normalized)["X-MS-OLK-ORIGINALSTART"].params["TZID"] == "Europe/Berlin"
    assert "X-MS-OLK-ORIGINALSTART;TZID=Europe/Berlin:20270104T090000" in serialize(normalized)


def test_an_existing_iana_vtimezone_is_kept_not_duplicated() -> None:
    extra = "RDATE;TZID=Europe/Berlin:20270406T090000\n"
    berlin = "BEGIN:VTIMEZONE\nTZID:Europe/Berlin\nX-MINE:yes\nBEGIN:STANDARD\n" \
             "DTSTART:19701025T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n" \
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\nBEGIN:DAYLIGHT\n" \
             "DTSTART:19700329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n" \
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE\n"
    normalized = normalize_timezones(
        outlook_calendar("20270104T090000", zones=berlin + OUTLOOK_ZONE, extra=extra))
    assert timezone_ids(normalized) == ["Europe/Berlin"]
    assert normalized.walk("VTIMEZONE")[0]["X-MINE"] == "yes"


def test_a_missing_vtimezone_is_added_before_the_events() -> None:
    normalized = normalize_timezones(outlook_calendar("20270104T090000", zones=""))
    assert [str(c.name) for c in normalized.subcomponents] == ["VTIMEZONE", "VEVENT"]
    assert timezone_ids(normalized) == ["Europe/Berlin"]
    assert event(normalized).decoded("DTSTART") == datetime(2027, 1, 4, 8, tzinfo=UTC)


def test_a_zone_mapped_to_utc_is_written_in_utc() -> None:
    normalized = normalize_timezones(
        outlook_calendar("20270104T090000", zones="", tzid="tzone://Microsoft/Utc"))
    text = serialize(normalized)
    assert "DTSTART:20270104T090000Z" in text
    assert "TZID" not in text
    assert normalized.walk("VTIMEZONE") == []


def test_mozilla_prefixed_tzid_is_shortened() -> None:
    tzid = "/mozilla.org/20050126_1/Europe/Berlin"
    zone = OUTLOOK_ZONE.replace("W. Europe Standard Time", tzid)
    normalized = normalize_timezones(outlook_calendar("20270705T090000", zone, tzid))
    assert timezone_ids(normalized) == ["Europe/Berlin"]
    assert event(normalized).decoded("DTSTART") == datetime(2027, 7, 5, 7, tzinfo=UTC)


def test_an_unmappable_zone_keeps_its_vtimezone() -> None:
    original = outlook_calendar("20270104T090000", zones=CUSTOM_ZONE,
                                tzid="Customized Time Zone")
    normalized = normalize_timezones(original)
    assert normalized == original
    assert normalized is not original
    assert timezone_ids(normalized) == ["Customized Time Zone"]
    assert event(normalized).decoded("DTSTART") == datetime(2027, 1, 4, 6, tzinfo=UTC)


def test_mapped_and_unmapped_zones_side_by_side() -> None:
    extra = "RDATE;TZID=Customized Time Zone:20270406T090000\n"
    normalized = normalize_timezones(
        outlook_calendar("20270104T090000", zones=OUTLOOK_ZONE + CUSTOM_ZONE, extra=extra))
    assert timezone_ids(normalized) == ["Europe/Berlin", "Customized Time Zone"]
    assert event(normalized)["RDATE"].params["TZID"] == "Customized Time Zone"


def test_a_calendar_without_tzids_comes_back_equal() -> None:
    original = parse_calendar(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\n"
        "UID:u1\nDTSTAMP:20261201T120000Z\nDTSTART:20270104T080000Z\n"
        "DTEND:20270104T090000Z\nEND:VEVENT\nEND:VCALENDAR\n")
    normalized = normalize_timezones(original)
    assert normalized == original
    assert normalized is not original
    assert serialize(normalized) == serialize(original)


def test_a_date_with_a_windows_tzid_stays_a_date() -> None:
    text = serialize(outlook_calendar("20270104T090000")).replace(
        "DTSTART;TZID=W. Europe Standard Time:20270104T090000",
        "DTSTART;VALUE=DATE;TZID=W. Europe Standard Time:20270104")
    normalized = normalize_timezones(parse_calendar(text))
    assert "DTSTART;VALUE=DATE:20270104" in serialize(normalized)
