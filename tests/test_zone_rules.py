"""Generated VTIMEZONEs read the same by Radicale (vobject, dateutil) as by zoneinfo.

Radicale's reports, our index and free-busy read time zones through vobject, which
ignores RDATE in a VTIMEZONE; a generated zone written with RDATE lists put a June
meeting in Berlin an hour off. Each zone below is written by ``vtimezone`` and read back
by vobject at local noon every nine days from 1971 to 2045 — past the generated range,
where the open rule must carry on — and by icalendar, and compared with zoneinfo.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from radicale_tracks.core.timezones import vtimezone
from radicale_tracks.core.zone_rules import weekday_rules, zone_transitions

ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Sao_Paulo",
         "Australia/Sydney", "Pacific/Auckland", "Asia/Jerusalem", "America/Santiago",
         "Asia/Kolkata", "Africa/Casablanca", "Europe/Moscow", "America/St_Johns",
         "Asia/Tehran", "Pacific/Chatham", "UTC"]
IRREGULAR = {"Africa/Casablanca", "Asia/Jerusalem", "America/Santiago"}


def _reader_zone(name: str):  # type: ignore[no-untyped-def]
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//tests//EN")
    calendar.add_component(vtimezone(name))
    return vobject.readOne(calendar.to_ical().decode()).vtimezone.gettzinfo()


def _noons() -> list[datetime]:
    day, last, found = date(1971, 1, 3), date(2045, 12, 31), []
    while day < last:
        found.append(datetime(day.year, day.month, day.day, 12))
        day += timedelta(days=9)
    return found


@pytest.mark.parametrize("name", ZONES)
def test_radicale_reads_the_generated_zone_as_zoneinfo_does(name: str) -> None:
    read, truth = _reader_zone(name), ZoneInfo(name)
    wrong = [(noon, noon.replace(tzinfo=read).utcoffset(), noon.replace(tzinfo=truth).utcoffset())
             for noon in _noons()
             if noon.replace(tzinfo=read).utcoffset() != noon.replace(tzinfo=truth).utcoffset()]
    # within the generated range (to 2037) every zone agrees; after it the open rule
    # carries on, exact for zones with a weekday rule, approximate for rules that are not
    # "the n-th weekday" (Israel's Friday before the last Sunday, Chile's, Morocco's)
    assert [w for w in wrong if w[0].year <= 2037 or name not in IRREGULAR] == []


def test_rules_are_yearly_and_the_current_one_stays_open() -> None:
    text = vtimezone("Europe/Berlin").to_ical().decode()
    assert "RDATE" not in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n" in text
    # a daylight transition starts at the wall-clock time it leaves (RFC 5545 §3.6.5)
    assert "DTSTART:19810329T020000" in text


def test_transitions_to_the_minute_and_weekday_ordinals() -> None:
    found = zone_transitions(ZoneInfo("America/New_York"), date(2026, 1, 1), date(2027, 1, 1))
    assert [(t.local, t.daylight) for t in found[1:]] == [
        (datetime(2026, 3, 8, 2, 0), True), (datetime(2026, 11, 1, 2, 0), False)]
    assert weekday_rules(date(2027, 3, 28)) == {4, -1}
    assert weekday_rules(date(2027, 3, 14)) == {2}
