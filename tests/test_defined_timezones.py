"""Objects to be stored get a VTIMEZONE for every TZID (core/timezones.define_timezones).

Outlook and Exchange write ``DTSTART;TZID=W. Europe Standard Time:…`` and, in some paths,
no VTIMEZONE; Radicale's reader (vobject) then takes the time as UTC. The vectors check
the result the way every reader of the stored object sees it: icalendar (scheduling),
Radicale's own item (reports, the index).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icalendar import Calendar
from radicale import item as radicale_item

from calendars import OUTLOOK_BERLIN
from radicale_tracks.core.timezones import (
    UnknownTimezones,
    define_timezones,
    define_timezones_in_text,
    undefined_tzids,
)

UTC = UTC

CUSTOM_ZONE = """BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
"""


def calendar_text(tzid_param: str, timezones: str = "", extra: str = "") -> str:
    """An Outlook-shaped object: DTSTART/DTEND in ``tzid_param`` (as written, quotes
    included), 10:00–11:00 on 12 July 2027."""
    text = ("BEGIN:VCALENDAR\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\n"
            "VERSION:2.0\n" + timezones +
            "BEGIN:VEVENT\nUID:040000008200E00074C5B7101A82E008-tz@example.org\n"
            "DTSTAMP:20270701T120000Z\n"
            "DTSTART;TZID=%s:20270712T100000\nDTEND;TZID=%s:20270712T110000\n"
            "SUMMARY:Planning\n%sEND:VEVENT\nEND:VCALENDAR\n") % (tzid_param, tzid_param,
                                                                extra)
    return text.replace("\n", "\r\n")


def radicale_start(text: str) -> datetime:
    """The start Radicale's reports and the index see (its item's time range)."""
    vobject_item, = radicale_item.read_components(text)
    item = radicale_item.Item(collection_path="alice/calendar", vobject_item=vobject_item)
    item.prepare()
    return datetime.fromtimestamp(item.time_range[0], UTC)


# -- which TZIDs lack a VTIMEZONE ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (calendar_text("Europe/Berlin").replace(";TZID=Europe/Berlin", ""), []),
    (calendar_text("Customized Time Zone", CUSTOM_ZONE), []),
    (calendar_text('"Customized Time Zone"', CUSTOM_ZONE), []),
    (calendar_text("W. Europe Standard Time"), ["W. Europe Standard Time"]),
    (calendar_text('"W. Europe Standard Time"'), ["W. Europe Standard Time"]),
    (calendar_text('"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"'),
     ["(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"]),
    (calendar_text("Europe/Berlin"), ["Europe/Berlin"]),
    (calendar_text("Customized Time Zone", CUSTOM_ZONE,
                   "EXDATE;VALUE=DATE-TIME;TZID=Pacific Standard Time:20270719T100000\n"),
     ["Pacific Standard Time"]),
    # folded inside the parameter, and parameters before and after it
    (calendar_text("Customized Time Zone", CUSTOM_ZONE).replace(
        "DTEND;TZID=Customized Time Zone", 'DTEND;X-A="x;y:z";TZID=Tokyo Stand\r\n ard '
        'Time;X-B=1'), ["Tokyo Standard Time"]),
], ids=["no-tzid", "defined", "defined-quoted", "windows", "windows-quoted",
        "exchange-display", "iana", "exdate", "folded"])
def test_undefined_tzids(text: str, expected: list[str]) -> None:
    assert undefined_tzids(text) == expected


# -- resolved: renamed to IANA, VTIMEZONE generated, instants right -------------------------


@pytest.mark.parametrize(("tzid_param", "zone", "start"), [
    ("W. Europe Standard Time", "Europe/Berlin", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ('"W. Europe Standard Time"', "Europe/Berlin", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ("W. Europe Daylight Time", "Europe/Berlin", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ('"(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"', "Europe/Berlin",
     datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ('"(UTC-05:00) Eastern Time (US & Canada)"', "America/New_York",
     datetime(2027, 7, 12, 14, tzinfo=UTC)),
    ("Pacific Standard Time", "America/Los_Angeles", datetime(2027, 7, 12, 17, tzinfo=UTC)),
    ("India Standard Time", "Asia/Kolkata", datetime(2027, 7, 12, 4, 30, tzinfo=UTC)),
    ("Europe/Berlin", "Europe/Berlin", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ('"Europe/Berlin"', "Europe/Berlin", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin",
     datetime(2027, 7, 12, 8, tzinfo=UTC)),
], ids=["windows", "windows-quoted", "windows-daylight", "exchange-display",
        "exchange-display-us", "pacific", "india", "iana", "iana-quoted", "mozilla"])
def test_resolved_zone_is_stored_with_its_vtimezone(tzid_param: str, zone: str,
                                                     start: datetime) -> None:
    stored = define_timezones_in_text(calendar_text(tzid_param))
    assert stored is not None
    assert undefined_tzids(stored) == []
    calendar = Calendar.from_ical(stored)
    event = calendar.walk("VEVENT")[0]
    assert str(event["DTSTART"].params["TZID"]) == zone
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [zone]
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTSTART").strftime("%H%M") == "1000"  # wall clock kept
    assert radicale_start(stored) == start


def test_utc_names_become_utc_values() -> None:
    stored = define_timezones_in_text(calendar_text("UTC"))
    assert stored is not None
    assert "DTSTART:20270712T100000Z" in stored
    assert "VTIMEZONE" not in stored
    assert radicale_start(stored) == datetime(2027, 7, 12, 10, tzinfo=UTC)


def test_series_exceptions_and_overrides_follow_the_zone() -> None:
    """EXDATE and RECURRENCE-ID in the same Windows zone keep matching the occurrences
    (weekly at 10:00 Berlin; the second is excluded, the third moved)."""
    text = calendar_text("W. Europe Standard Time", extra=(
        "RRULE:FREQ=WEEKLY;COUNT=4\n"
        "EXDATE;TZID=W. Europe Standard Time:20270719T100000\n")).replace(
        "END:VCALENDAR", "BEGIN:VEVENT\nUID:040000008200E00074C5B7101A82E008-tz@example.org\n"
        "DTSTAMP:20270701T120000Z\n"
        "RECURRENCE-ID;TZID=W. Europe Standard Time:20270726T100000\n"
        "DTSTART;TZID=W. Europe Standard Time:20270726T150000\n"
        "DTEND;TZID=W. Europe Standard Time:20270726T160000\nSUMMARY:Planning\n"
        "END:VEVENT\nEND:VCALENDAR".replace("\n", "\r\n"))
    stored = define_timezones_in_text(text)
    assert stored is not None
    calendar = Calendar.from_ical(stored)
    master, override = calendar.walk("VEVENT")
    assert master.decoded("EXDATE").dts[0].dt == datetime(2027, 7, 19, 8, tzinfo=UTC)
    assert override.decoded("RECURRENCE-ID") == datetime(2027, 7, 26, 8, tzinfo=UTC)
    assert override.decoded("DTSTART") == datetime(2027, 7, 26, 13, tzinfo=UTC)
    assert len(calendar.walk("VTIMEZONE")) == 1


# -- left alone ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    calendar_text("Europe/Berlin").replace(";TZID=Europe/Berlin", ""),
    calendar_text("Europe/Berlin").replace(";TZID=Europe/Berlin:20270712T100000",
                                           ":20270712T100000Z"
                                           ).replace(";TZID=Europe/Berlin", ""),
    calendar_text("Customized Time Zone", CUSTOM_ZONE),
    # the sender's own rules for a Windows name are what it means: not renamed
    calendar_text("W. Europe Standard Time", OUTLOOK_BERLIN),
    "not a calendar at all\r\n",
], ids=["floating", "utc", "custom-defined", "windows-defined", "garbage"])
def test_objects_with_every_zone_defined_are_stored_unchanged(text: str) -> None:
    assert define_timezones_in_text(text) is None


def test_a_defined_windows_zone_keeps_its_name_and_rules() -> None:
    calendar = Calendar.from_ical(calendar_text("W. Europe Standard Time", OUTLOOK_BERLIN))
    assert define_timezones(calendar).to_ical() == calendar.to_ical()


# -- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize("tzid", [
    "Customized Time Zone",
    "GMT +0100 (Standard) / GMT +0200 (Daylight)",
    "Nowhere/Special",
])
def test_unknown_zone_without_vtimezone_is_refused_by_name(tzid: str) -> None:
    with pytest.raises(UnknownTimezones) as refused:
        define_timezones_in_text(calendar_text('"%s"' % tzid))
    assert refused.value.tzids == (tzid,)
    assert '"%s"' % tzid in str(refused.value)
    assert "VTIMEZONE" in str(refused.value)


def test_only_the_unknown_zones_are_named() -> None:
    text = calendar_text("W. Europe Standard Time", extra=(
        "EXDATE;TZID=Customized Time Zone:20270719T100000\n"
        "RDATE;TZID=Other Zone:20270720T100000\n"))
    with pytest.raises(UnknownTimezones) as refused:
        define_timezones_in_text(text)
    assert refused.value.tzids == ("Customized Time Zone", "Other Zone")
    assert str(refused.value).startswith(
        'The time zones "Customized Time Zone", "Other Zone" have no VTIMEZONE')


# -- generated VTIMEZONEs are read right by Radicale ----------------------------------------


@pytest.mark.parametrize(("zone", "local", "start"), [
    ("Europe/Berlin", "20270712T100000", datetime(2027, 7, 12, 8, tzinfo=UTC)),
    ("Europe/Berlin", "20270112T100000", datetime(2027, 1, 12, 9, tzinfo=UTC)),
    ("America/New_York", "20301105T100000", datetime(2030, 11, 5, 15, tzinfo=UTC)),
    ("Australia/Sydney", "20270112T100000", datetime(2027, 1, 11, 23, tzinfo=UTC)),
])
def test_generated_vtimezone_gives_radicale_the_right_instants(zone: str, local: str,
                                                                start: datetime) -> None:
    """vobject (Radicale's reader) keeps only the first value of a multi-valued RDATE
    in a VTIMEZONE: the generator writes one RDATE per transition."""
    from radicale_tracks.core.timezones import vtimezone

    text = calendar_text(zone, vtimezone(zone).to_ical().decode("utf-8").replace(
        "\r\n", "\n")).replace("20270712T100000", local)
    assert radicale_start(text) == start
