"""Hostile recurrence rules cost bounded work (issue 17, items 1 and 5).

A 512-byte VTIMEZONE whose rule is ``FREQ=SECONDLY`` from 1601 hangs vobject while it
reads the object (vanilla Radicale too); a VAVAILABILITY with ``FREQ=SECONDLY`` or a rule
no date matches made every search walk for seconds. The checks are structural: the
zone's rules counted on its text (``core/zone_limits``), rule periods and instances
counted during an expansion, a rule's first instance looked for within 800 years of
periods. End to end, the requests run in a thread joined with a generous timeout, so a
regression fails instead of hanging — no assertion about time.
"""

from __future__ import annotations

import datetime
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from calendars import BERLIN, OUTLOOK_BERLIN
from databases import fresh_database
from helpers import run_cli
from inbound_mta import Inbound
from inprocess import InProcess
from radicale_tracks.core.availability import (
    AvailabilityError,
    available_periods,
    parse_availability,
    unavailable_periods,
)
from radicale_tracks.core.imip import parse_mail
from radicale_tracks.core.rule_bounds import cycle_start
from radicale_tracks.core.timezones import define_timezones_in_text, vtimezone
from radicale_tracks.core.zone_limits import (
    UnboundedTimezones,
    ZoneLimits,
    bounded_zones_in_text,
    changes_per_year,
    rule_parts,
    zone_faults,
)
from radicale_tracks.index.schema import items, occurrences

LIMITS = ZoneLimits()
UTC = datetime.UTC
FIXTURES = Path(__file__).parent / "fixtures"


def zone(tzid: str, *parts: tuple[str, str]) -> str:
    """A VTIMEZONE named ``tzid`` with (DTSTART, RRULE) parts, STANDARD and DAYLIGHT in
    turn; an empty RRULE leaves the part without one."""
    lines = ["BEGIN:VTIMEZONE", "TZID:" + tzid]
    for number, (start, rule) in enumerate(parts):
        kind = "STANDARD" if number % 2 == 0 else "DAYLIGHT"
        lines += ["BEGIN:" + kind, "DTSTART:" + start,
                  "TZOFFSETFROM:+0200" if kind == "STANDARD" else "TZOFFSETFROM:+0100",
                  "TZOFFSETTO:+0100" if kind == "STANDARD" else "TZOFFSETTO:+0200"]
        lines += ["RRULE:" + rule] if rule else []
        lines += ["END:" + kind]
    return "\r\n".join(lines + ["END:VTIMEZONE"]) + "\r\n"


def hostile(tzid: str) -> str:
    """The issue's zone: STANDARD and DAYLIGHT every second since 1601."""
    return zone(tzid, ("16010101T000000", "FREQ=SECONDLY"),
                ("16010101T000000", "FREQ=SECONDLY;INTERVAL=2"))


def event_calendar(timezone_text: str, tzid: str, uid: str = "zoned-1",
                   method: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN"]
    lines += ["METHOD:" + method] if method else []
    body = "\r\n".join(lines) + "\r\n" + timezone_text
    return body + "\r\n".join([
        "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=%s:20270104T090000" % tzid, "DTEND;TZID=%s:20270104T100000" % tzid,
        "SUMMARY:Planning", "END:VEVENT", "END:VCALENDAR", ""])


# --- the zone check, vector by vector ----------------------------------------------------

GOOGLE_NEW_YORK = zone("America/New_York", ("19701101T020000", "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU"),
                       ("19700308T020000", "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU"))
THUNDERBIRD_BERLIN = zone("Europe/Berlin",
                          ("19701025T030000", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"),
                          ("19700329T020000", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"))
#: Apple writes history as lone components and the current rule open-ended
APPLE_SYDNEY = zone("Australia/Sydney", ("20080406T030000", "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU"),
                    ("20081005T020000", "FREQ=YEARLY;BYMONTH=10;BYDAY=1SU"),
                    ("19710101T000000", ""), ("19711031T020000", ""))
#: Lotus Notes and some Exchange versions put the hour in the rule
LOTUS_BERLIN = zone("GMT +0100 (Standard) / GMT +0200 (Daylight)",
                    ("19501029T020000", "FREQ=YEARLY;BYMINUTE=0;BYHOUR=3;BYDAY=-1SU;BYMONTH=10"),
                    ("19500326T020000", "FREQ=YEARLY;BYMINUTE=0;BYHOUR=2;BYDAY=-1SU;BYMONTH=3"))
#: the older US rule as Outlook wrote it with a day range, from the year 1
DAY_RANGE = zone("Custom", ("00010101T020000",
                            "FREQ=YEARLY;BYMONTH=10;BYMONTHDAY=25,26,27,28,29,30,31;BYDAY=SU"),
                 ("00010101T020000",
                  "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=1,2,3,4,5,6,7;BYDAY=SU"))

LEGITIMATE = {"outlook": OUTLOOK_BERLIN, "apple": BERLIN, "google": GOOGLE_NEW_YORK,
              "thunderbird": THUNDERBIRD_BERLIN, "apple-history": APPLE_SYDNEY,
              "lotus": LOTUS_BERLIN, "day-range-from-year-1": DAY_RANGE}


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_zones_clients_send_pass_unchanged(name: str) -> None:
    text = event_calendar(LEGITIMATE[name], "X")
    assert zone_faults(text, LIMITS) == []
    assert bounded_zones_in_text(text, LIMITS) is None


def test_every_zone_in_the_client_fixtures_passes() -> None:
    found = 0
    for path in sorted(FIXTURES.rglob("*")):
        raw = path.read_bytes() if path.is_file() else b""
        part = parse_mail(raw).calendar() if path.suffix == ".eml" else None
        text = part.text if part is not None else raw.decode("utf-8", "replace")
        if "BEGIN:VTIMEZONE" in text:
            assert zone_faults(text, LIMITS) == [], path.name
            found += 1
    assert found >= 10


@pytest.mark.parametrize("name", ["Africa/Casablanca", "Africa/Cairo", "Asia/Tehran",
                                  "Australia/Lord_Howe", "America/Sao_Paulo",
                                  "Europe/Berlin", "Pacific/Chatham"])
def test_zones_we_generate_pass_over_two_centuries(name: str) -> None:
    generated = vtimezone(name, [datetime.date(1900, 1, 1), datetime.date(2100, 1, 1)])
    assert zone_faults(bytes(generated.to_ical()).decode(), LIMITS) == []


HOSTILE = {
    "secondly-from-1601": (hostile("Evil/Zone"), "recurs secondly"),
    "daily": (zone("Evil/Zone", ("20200101T000000", "FREQ=DAILY")), "recurs daily"),
    "monthly": (zone("Evil/Zone", ("20200101T000000", "FREQ=MONTHLY;BYDAY=1SU")),
                "recurs monthly"),
    "no-frequency": (zone("Evil/Zone", ("20200101T000000", "BYMONTH=3")), "FREQ=(none)"),
    "yearly-every-minute": (zone("Evil/Zone", (
        "20200101T000000", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1;BYHOUR=0,1,2,3,4,5;"
                           "BYMINUTE=0,10,20,30,40,50")), "36 times a year"),
    "yearly-every-sunday": (zone("Evil/Zone", ("20200101T000000", "FREQ=YEARLY;BYDAY=SU")),
                            "60 times a year"),
    "no-dtstart-year": (zone("Evil/Zone", ("TOMORROW", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU")),
                        "no readable DTSTART"),
    "many-components": (zone("Evil/Zone", *[("%04d0101T000000" % (1000 + n % 1000), "")
                                            for n in range(10_001)]), "10001 changes"),
    "many-rdates": (zone("Evil/Zone", ("20200101T000000", "")).replace(
        "END:STANDARD", "RDATE:" + ",".join(["20200101T000000"] * 10_000) + "\r\nEND:STANDARD"),
        "10001 changes"),
    "yearly-rules-from-year-1": (zone("Evil/Zone", *[(
        "00010101T000000", "FREQ=YEARLY;BYMONTH=%d;BYDAY=1SU" % (n % 12 + 1))
        for n in range(5)]), "changes of offset up to 2100"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_zones_are_found_with_a_reason(name: str) -> None:
    text, reason = HOSTILE[name]
    (fault,) = zone_faults(event_calendar(text, "Evil/Zone"), LIMITS)
    assert fault.tzid == "Evil/Zone"
    assert reason in fault.reason, fault.reason
    with pytest.raises(UnboundedTimezones, match='"Evil/Zone" cannot be used'):
        bounded_zones_in_text(event_calendar(text, "Evil/Zone"), LIMITS)


def test_limits_are_the_settings() -> None:
    text = event_calendar(DAY_RANGE, "Custom")   # 1 + 1 changes a year, 2 × 2101 in all
    assert zone_faults(text, ZoneLimits(max_changes_per_year=2)) == []
    (fault,) = zone_faults(text, ZoneLimits(max_changes_per_year=1))
    assert "up to 2 times a year; the limit is 1 (timezone_max_changes_per_year)" in (
        fault.reason)
    (fault,) = zone_faults(text, ZoneLimits(max_transitions=4000))
    assert "4202 changes of offset up to 2100; the limit is 4000" in fault.reason


def test_changes_per_year_is_an_upper_bound_of_the_rule() -> None:
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU")) == 1
    assert changes_per_year(rule_parts("FREQ=YEARLY")) == 1
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=1,2,3,4,5,6,7;"
                                       "BYDAY=SU")) == 1
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=1,8,15,22,29;"
                                       "BYDAY=SU")) == 5
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYDAY=SU")) == 60
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYYEARDAY=1,100;BYHOUR=1,2")) == 4
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO,TU")) == 2
    assert changes_per_year(rule_parts("FREQ=YEARLY;BYDAY=SU;BYSETPOS=-1")) == 1


@pytest.mark.parametrize("tzid, stored", [("Europe/Berlin", "Europe/Berlin"),
                                          ("W. Europe Standard Time", "Europe/Berlin")])
def test_a_hostile_zone_with_a_known_name_is_replaced_from_zoneinfo(tzid: str,
                                                                     stored: str) -> None:
    text = event_calendar(hostile(tzid), tzid)
    bounded = bounded_zones_in_text(text, LIMITS)
    assert bounded is not None and "SECONDLY" not in bounded
    defined = define_timezones_in_text(bounded)
    assert defined is not None and "SECONDLY" not in defined
    assert "TZID:%s" % stored in defined and "DTSTART;TZID=%s:20270104T090000" % stored in (
        defined)
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in defined
    assert zone_faults(defined, LIMITS) == []


def test_folded_lines_and_lower_case_are_read() -> None:
    text = event_calendar(hostile("Evil/Zone"), "Evil/Zone").replace(
        "RRULE:FREQ=SECONDLY;INTERVAL=2", "rrule:FREQ=SECONDLY;\r\n INTERVAL=2").replace(
        "BEGIN:VTIMEZONE", "begin:vtimezone")
    assert len(zone_faults(text, LIMITS)) == 1


# --- availability: what may be set, what an expansion may cost ---------------------------

def availability(rule: str, extra: str = "", timezone_text: str = "",
                 tzid: str = "Europe/Berlin", start: str = "20260105T090000") -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN"]) + "\r\n" + (
        timezone_text) + "\r\n".join([
            "BEGIN:VAVAILABILITY", "UID:hours", "DTSTAMP:20260101T000000Z",
            "BEGIN:AVAILABLE", "UID:slot", "DTSTAMP:20260101T000000Z",
            "DTSTART;TZID=%s:%s" % (tzid, start),
            "DTEND;TZID=%s:%s170000" % (tzid, start[:9]),
            "RRULE:" + rule, *[line for line in extra.splitlines() if line],
            "END:AVAILABLE", "END:VAVAILABILITY", "END:VCALENDAR", ""])


@pytest.mark.parametrize("rule, reason", [
    ("FREQ=SECONDLY", "recurs secondly"),
    ("FREQ=MINUTELY;INTERVAL=15", "recurs minutely"),
    ("FREQ=HOURLY", "recurs hourly"),
    ("FREQ=DAILY;BYHOUR=9,10,11,12,13;BYMINUTE=0,10,20,30,40,50", "starts 30 times a day"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "has no instance"),
    ("FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=20", "has no instance"),
    ("FREQ=WEEKLY;BYDAY=MO;BYMONTH=2;BYMONTHDAY=31", "has no instance"),
    ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "has no instance"),
    ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "has no instance"),       # DTSTART is a Monday
    ("FREQ=MONTHLY;BYMONTH=4", "has no instance"),    # not with DTSTART on the 31st
    ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260101T000000Z", "none before its UNTIL"),
])
def test_availability_nobody_should_set_is_refused_with_the_reason(rule: str,
                                                                    reason: str) -> None:
    start = "20260131T090000" if "BYMONTH=4" in rule and "MONTHLY" in rule else (
        "20260105T090000")
    with pytest.raises(AvailabilityError, match=re.escape(reason)):
        parse_availability(availability(rule, start=start), strict=True)


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=DAILY;COUNT=10",
    "FREQ=MONTHLY;BYDAY=1MO",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=SU",    # once in 28 years: 2032
    "FREQ=DAILY;BYHOUR=9,14",
    "FREQ=DAILY;INTERVAL=2;BYDAY=TU",
    "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1",
])
def test_availability_people_write_is_accepted(rule: str) -> None:
    parsed = parse_availability(availability(rule), strict=True)
    assert parsed.blocks[0].available[0].rrules


def test_a_stored_rule_without_instance_is_dropped_not_walked_to_9999() -> None:
    parsed = parse_availability(availability("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"))
    assert parsed.blocks[0].available[0].rrules == ()


def test_the_first_instance_search_walks_at_most_800_years() -> None:
    for year in (1, 1601, 2026, 9000, 9598):
        moved = cycle_start(datetime.datetime(year, 3, 1, 9))
        assert 9999 - 800 < moved.year <= 9999 - 400
        assert (moved.year - year) % 400 == 0
        assert moved.weekday() == datetime.datetime(year, 3, 1).weekday() or year < 1583


def test_an_expansion_counts_the_periods_it_would_walk() -> None:
    parsed = parse_availability(availability("FREQ=SECONDLY"))
    window = (datetime.datetime(2026, 12, 7, tzinfo=UTC), datetime.datetime(2026, 12, 14,
                                                                             tzinfo=UTC))
    with pytest.raises(AvailabilityError, match=r"would walk \d+ periods to the window's "
                                                r"end; at most 20000"):
        unavailable_periods(parsed, *window)
    with pytest.raises(AvailabilityError, match="at most 1000"):
        unavailable_periods(parsed, *window, max_iterations=1000)


def test_an_expansion_counts_the_periods_of_a_rule_it_cannot_move() -> None:
    parsed = parse_availability(availability("FREQ=DAILY;COUNT=100000",
                                             start="20000103T090000"))
    window = (datetime.datetime(2026, 1, 12, tzinfo=UTC), datetime.datetime(2026, 1, 13,
                                                                             tzinfo=UTC))
    assert available_periods(parsed, *window) == [
        (datetime.datetime(2026, 1, 12, 8, tzinfo=UTC),
         datetime.datetime(2026, 1, 12, 16, tzinfo=UTC))]
    with pytest.raises(AvailabilityError, match="would walk 9508 periods"):
        available_periods(parsed, *window, max_iterations=5000)


def test_an_expansion_counts_the_instances_it_walks() -> None:
    days = ",".join(str(day) for day in range(1, 29))    # 28 instances a month
    parsed = parse_availability(availability("FREQ=MONTHLY;BYMONTHDAY=" + days,
                                             start="20000101T090000"))
    window = (datetime.datetime(2026, 1, 12, tzinfo=UTC), datetime.datetime(2026, 1, 13,
                                                                             tzinfo=UTC))
    assert len(available_periods(parsed, *window)) == 1
    with pytest.raises(AvailabilityError, match="more than 5000 instances to walk"):
        available_periods(parsed, *window, max_iterations=5000)


def test_availability_zones_are_bounded_too() -> None:
    # a hostile zone of a name we know is never read: zoneinfo's is
    known = parse_availability(availability("FREQ=WEEKLY;BYDAY=MO",
                                            timezone_text=hostile("Europe/Berlin")))
    assert known.blocks[0].available[0].start.zone == ZoneInfo("Europe/Berlin")
    with pytest.raises(AvailabilityError, match='"Evil/Zone" cannot be used: a rule '
                                                'recurs secondly'):
        parse_availability(availability("FREQ=WEEKLY;BYDAY=MO", tzid="Evil/Zone",
                                         timezone_text=hostile("Evil/Zone")))


# --- end to end: a real Radicale in process -----------------------------------------------

def bounded(call: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``call()`` in a thread; a regression that hangs fails here instead of hanging."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "no answer: the work is unbounded again"
    return result[0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcess]:
    with fresh_database(request.param, tmp_path) as url:
        call = InProcess(tmp_path, url)
        for user in ("alice", "bob"):
            assert call("PROPFIND", "/%s/" % user, user, Depth="0")[0] == 207
        assert call("MKCALENDAR", "/alice/work/", "alice")[0] == 201
        yield call


def test_put_of_a_hostile_zone_is_refused_at_once(app: InProcess) -> None:
    status, _, text = bounded(lambda: app("PUT", "/alice/work/evil.ics", "alice",
                                          event_calendar(hostile("Evil/Zone"), "Evil/Zone")))
    assert status == 403, text
    assert "valid-calendar-data" in text and '"Evil/Zone" cannot be used' in text
    assert bounded(lambda: app("GET", "/alice/work/evil.ics", "alice"))[0] == 404
    # a whole calendar PUT goes the same way
    status, _, text = bounded(lambda: app("PUT", "/alice/imported/", "alice",
                                          event_calendar(hostile("Evil/Zone"), "Evil/Zone")))
    assert status == 403, text
    # someone who may not write there learns nothing about the zone
    status, _, text = bounded(lambda: app("PUT", "/alice/work/evil.ics", "bob",
                                          event_calendar(hostile("Evil/Zone"), "Evil/Zone")))
    assert status == 403 and "Evil/Zone" not in text


def test_put_of_a_hostile_zone_with_a_known_name_stores_zoneinfo_rules(app: InProcess
                                                                       ) -> None:
    status, headers, text = bounded(lambda: app(
        "PUT", "/alice/work/berlin.ics", "alice",
        event_calendar(hostile("Europe/Berlin"), "Europe/Berlin")))
    assert status == 201, text
    assert "ETag" not in headers   # what is stored is not what was sent
    status, _, stored = bounded(lambda: app("GET", "/alice/work/berlin.ics", "alice"))
    assert status == 200 and "SECONDLY" not in stored
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in stored


def test_put_of_an_endless_secondly_event_answers(app: InProcess) -> None:
    """Item 4's event (slot search is another fix): its PUT itself stays bounded —
    Radicale's max_vevent_rrule_occurrence does not bound an endless rule, the index's
    index_max_occurrences does."""
    body = event_calendar("", "UTC").replace("DTSTART;TZID=UTC:", "DTSTART:").replace(
        "DTEND;TZID=UTC:20270104T100000", "DTEND:20270104T090001Z\r\nRRULE:FREQ=SECONDLY")
    status, _, text = bounded(lambda: app("PUT", "/alice/work/endless.ics", "alice", body))
    assert status == 201, text
    storage = app.app._storage  # type: ignore[attr-defined]
    with storage.database.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(occurrences.join(
            items, occurrences.c.item_id == items.c.id)).where(
            items.c.href == "endless.ics")).scalar_one()
    assert 0 < rows <= storage.settings.index_max_occurrences


def freebusy_request(tzid: str) -> str:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nMETHOD:REQUEST\r\n"
    return head + hostile(tzid) + "\r\n".join([
        "BEGIN:VFREEBUSY", "UID:fb-1", "DTSTAMP:20260101T000000Z",
        "DTSTART;TZID=%s:20270104T000000" % tzid, "DTEND;TZID=%s:20270105T000000" % tzid,
        "ORGANIZER:mailto:alice@example.org", "ATTENDEE:mailto:bob@example.org",
        "END:VFREEBUSY", "END:VCALENDAR", ""])


def test_a_free_busy_request_with_a_hostile_zone(app: InProcess) -> None:
    status, _, text = bounded(lambda: app("POST", "/alice/schedule-outbox/", "alice",
                                          freebusy_request("Evil/Zone")))
    assert status == 400 and '"Evil/Zone" cannot be used' in text, text
    status, _, text = bounded(lambda: app("POST", "/alice/schedule-outbox/", "alice",
                                          freebusy_request("Europe/Berlin")))
    assert status == 200 and "DTSTART:20270103T230000Z" in text, text


def proppatch(value: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:calendar-availability>'
            '%s</C:calendar-availability></D:prop></D:set></D:propertyupdate>'
            % value.replace("&", "&amp;").replace("<", "&lt;"))


@pytest.mark.parametrize("rule, reason", [("FREQ=SECONDLY", "recurs secondly"),
                                          ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                                           "has no instance")])
def test_proppatch_of_hostile_availability_is_refused(app: InProcess, rule: str,
                                                      reason: str) -> None:
    status, _, text = bounded(lambda: app("PROPPATCH", "/alice/schedule-inbox/", "alice",
                                          proppatch(availability(rule))))
    assert status == 403, text
    assert "valid-calendar-data" in text and reason in text
    status, _, text = bounded(lambda: app("PROPPATCH", "/alice/schedule-inbox/", "alice",
                                          proppatch(availability(
                                              "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"))))
    assert status == 207, text


def test_availability_set_refuses_hostile_rules(app: InProcess, tmp_path: Path) -> None:
    path = tmp_path / "hostile.ics"
    path.write_text(availability("FREQ=SECONDLY"))
    done = run_cli(tmp_path / "radicale.conf", "availability", "set", "bob",
                   "--file", str(path))
    assert done.returncode == 1 and "recurs secondly" in done.stderr, done.stderr


#: ``availability_max_bytes`` by default
AVAILABILITY_LIMIT = 65536


def long_availability(size: int) -> str:
    """Working hours people write, one AVAILABLE with a DESCRIPTION of ``size`` bytes."""
    return availability("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                        extra="DESCRIPTION:" + "d" * size)


def test_proppatch_of_availability_above_its_size_limit_is_refused(
        app: InProcess, tmp_path: Path) -> None:
    """A 5 MB calendar-availability (under max_content_length) would be stored, read
    back for every slot search with alice and be a key of the parse cache: refused
    before it is parsed, 403 ``valid-calendar-data`` naming the setting."""
    props = tmp_path / "collections" / "collection-root" / "alice" / "schedule-inbox" / (
        ".Radicale.props")
    status, _, text = app("PROPPATCH", "/alice/schedule-inbox/", "alice",
                          proppatch(long_availability(5_000_000)))
    assert status == 403, text
    assert "valid-calendar-data" in text and "availability_max_bytes" in text, text
    assert "calendar-availability" not in (props.read_text() if props.exists() else "")
    # just under the limit it is stored
    fits = long_availability(AVAILABILITY_LIMIT - 1000)
    assert len(fits.encode()) <= AVAILABILITY_LIMIT
    status, _, text = app("PROPPATCH", "/alice/schedule-inbox/", "alice", proppatch(fits))
    assert status == 207, text


def test_availability_set_refuses_availability_above_its_size_limit(
        app: InProcess, tmp_path: Path) -> None:
    path = tmp_path / "long.ics"
    path.write_text(long_availability(AVAILABILITY_LIMIT))
    done = run_cli(tmp_path / "radicale.conf", "availability", "set", "bob",
                   "--file", str(path))
    assert done.returncode == 1 and "availability_max_bytes" in done.stderr, done.stderr


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_stored_availability_above_its_size_limit_is_not_parsed(
        app: InProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One stored before the limit (or by hand) is not parsed (nor kept as a key of the
    parse cache): the default hours answer and the log says why."""
    props = tmp_path / "collections" / "collection-root" / "bob" / "schedule-inbox" / (
        ".Radicale.props")
    meta = json.loads(props.read_text())
    meta["C:calendar-availability"] = long_availability(AVAILABILITY_LIMIT)
    props.write_text(json.dumps(meta))
    status, _, text = app("POST", "/.web/api/slots", "alice", json.dumps({
        "attendees": ["bob@example.org"], "duration": 30, "week": "next",
        "zone": "Europe/Berlin"}), content_type="application/json")
    assert status == 200 and json.loads(text)["slots"], text
    # refused by its size before anything parsed it (it would parse: it is valid)
    assert "Availability of bob unreadable" in caplog.text
    assert "availability_max_bytes" in caplog.text


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_stored_hostile_availability_does_not_fail_a_slot_search(
        app: InProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # written behind the server's back, as before these checks existed
    assert app("PROPFIND", "/bob/", "bob", Depth="1")[0] == 207
    props = tmp_path / "collections" / "collection-root" / "bob" / "schedule-inbox" / (
        ".Radicale.props")
    meta = json.loads(props.read_text())
    meta["C:calendar-availability"] = availability("FREQ=SECONDLY", start="20260105T090000")
    props.write_text(json.dumps(meta))
    status, _, text = bounded(lambda: app(
        "POST", "/.web/api/slots", "alice", json.dumps({
            "attendees": ["bob@example.org"], "duration": 30, "week": "next",
            "zone": "Europe/Berlin"}), content_type="application/json"))
    assert status == 200, text
    assert json.loads(text)["slots"]   # bob's default hours answered
    assert "Availability of bob not used, default hours instead" in caplog.text
    assert "would walk" in caplog.text


# --- end to end: mail through deliver ---------------------------------------------------

def mail_with_zone(timezone_text: str, tzid: str) -> tuple[bytes, str]:
    uid = "zoned-%s@gmail.test" % uuid.uuid4().hex
    text = event_calendar(timezone_text, tzid, uid=uid, method="REQUEST").replace(
        "SUMMARY:Planning", "SUMMARY:Planning\r\nORGANIZER:mailto:olivia@gmail.test\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:assistant@example.org")
    message = EmailMessage()
    message["From"] = "olivia@gmail.test"
    message["To"] = "assistant@example.org"
    message["Subject"] = "Invitation: Planning"
    message["Message-ID"] = "<%s>" % uid
    message.set_content("You are invited.")
    message.add_attachment(text.encode(), maintype="text", subtype="calendar",
                           params={"method": "REQUEST"}, disposition="inline")
    return message.as_bytes(policy=email.policy.SMTP), uid


def test_deliver_bounces_a_hostile_zone_and_keeps_the_mail(inbound: Inbound  # noqa: F811
                                                           ) -> None:
    raw, uid = mail_with_zone(hostile("Evil/Zone"), "Evil/Zone")
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 65, done.stderr
    assert b'"Evil/Zone" cannot be used' in done.stderr and b"Traceback" not in done.stderr
    held = inbound.cli("quarantine", "list").stdout
    row_id = next(line.split()[0] for line in held.splitlines() if "Evil/Zone" in line)
    assert uid in inbound.cli("quarantine", "show", row_id).stdout


def test_deliver_replaces_a_hostile_zone_of_a_known_name(inbound: Inbound  # noqa: F811
                                                         ) -> None:
    raw, uid = mail_with_zone(hostile("Europe/Berlin"), "Europe/Berlin")
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert uid in inbound.track_of(uid)["detail"]
