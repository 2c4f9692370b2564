"""Deterministic generated calendars for equivalence tests and benchmarks.

The mix covers what the index must get right: UTC, zoned, floating and all-day times,
DTEND and DURATION, TRANSP, STATUS, finite and infinite series, EXDATE, moved and
cancelled instances. ``recurring_share`` of the objects are series.
"""

from __future__ import annotations

import datetime
import os
import random
from dataclasses import dataclass

#: Outlook's own VTIMEZONE for Berlin: a Windows name, rules from 1601
OUTLOOK_BERLIN = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


@dataclass(frozen=True)
class CalendarObject:
    href: str
    uid: str
    text: str


def this_monday(now: datetime.datetime | None = None) -> datetime.datetime:
    now = now or datetime.datetime.now(datetime.UTC)
    monday = (now - datetime.timedelta(days=now.weekday())).date()
    return datetime.datetime.combine(monday, datetime.time(), datetime.UTC)


def _utc(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def _local(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _wrap(body: str, timezone: bool = False) -> str:
    text = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//radicale-tracks//tests//EN\n"
            + (BERLIN if timezone else "") + body + "END:VCALENDAR\n")
    return text.replace("\n", "\r\n")


def _event(uid: str, lines: list[str], summary: str) -> str:
    return "BEGIN:VEVENT\nUID:%s\nDTSTAMP:20260101T000000Z\nSUMMARY:%s\n%sEND:VEVENT\n" % (
        uid, summary, "".join(line + "\n" for line in lines))


def generate(count: int, seed: int = 1, anchor: datetime.datetime | None = None,
             span_days: int = 365, recurring_share: float = 0.10,
             prefix: str = "ev") -> list[CalendarObject]:
    """``count`` objects spread over ``span_days`` centred on ``anchor`` (a Monday)."""
    rng = random.Random(seed)
    anchor = anchor or this_monday()
    first = anchor - datetime.timedelta(days=span_days // 2)
    objects = []
    recurring_count = round(count * recurring_share)
    for number in range(count):
        uid = "%s-%05d@tracks.test" % (prefix, number)
        day = first + datetime.timedelta(days=rng.randrange(span_days))
        start = day + datetime.timedelta(hours=rng.randrange(7, 19),
                                         minutes=rng.choice((0, 15, 30, 45)))
        minutes = rng.choice((15, 30, 45, 60, 90, 120))
        end = start + datetime.timedelta(minutes=minutes)
        if number < recurring_count:
            body, zoned = _recurring(uid, number, start, end, rng)
        else:
            body, zoned = _single(uid, number, start, end, rng)
        objects.append(CalendarObject("%s.ics" % uid.split("@")[0], uid, _wrap(body, zoned)))
    rng.shuffle(objects)
    return objects


def _single(uid: str, number: int, start: datetime.datetime, end: datetime.datetime,
            rng: random.Random) -> tuple[str, bool]:
    kind = rng.random()
    summary = "Meeting %d" % number
    extra: list[str] = []
    roll = rng.random()
    if roll < 0.05:
        extra.append("TRANSP:TRANSPARENT")
    elif roll < 0.08:
        extra.append("STATUS:TENTATIVE")
    elif roll < 0.11:
        extra.append("STATUS:CANCELLED")
    elif roll < 0.40:
        extra.append("STATUS:CONFIRMED")
    if kind < 0.60:
        lines = ["DTSTART:" + _utc(start), "DTEND:" + _utc(end)]
        return _event(uid, lines + extra, summary), False
    if kind < 0.72:
        lines = ["DTSTART;TZID=Europe/Berlin:" + _local(start),
                 "DTEND;TZID=Europe/Berlin:" + _local(end)]
        return _event(uid, lines + extra, summary), True
    if kind < 0.80:
        days = rng.choice((1, 1, 1, 2, 3))
        lines = ["DTSTART;VALUE=DATE:" + start.strftime("%Y%m%d"),
                 "DTEND;VALUE=DATE:" + (start + datetime.timedelta(days=days)).strftime("%Y%m%d")]
        return _event(uid, lines + extra, summary), False
    if kind < 0.84:
        lines = ["DTSTART:" + _local(start), "DTEND:" + _local(end)]
        return _event(uid, lines + extra, summary), False
    if kind < 0.92:
        lines = ["DTSTART:" + _utc(start), "DURATION:PT%dM" % ((end - start).seconds // 60)]
        return _event(uid, lines + extra, summary), False
    lines = ["DTSTART:" + _utc(start), "DTEND:" + _utc(end),
             "ORGANIZER:mailto:alice@example.org",
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
             "ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT:MAILTO:Bob@Example.org"]
    return _event(uid, lines + extra, summary), False


def _recurring(uid: str, number: int, start: datetime.datetime, end: datetime.datetime,
               rng: random.Random) -> tuple[str, bool]:
    summary = "Series %d" % number
    shape = number % 5
    dtstart = ["DTSTART:" + _utc(start), "DTEND:" + _utc(end)]
    if shape == 0:
        return _event(uid, dtstart + ["RRULE:FREQ=WEEKLY;COUNT=%d" % rng.randrange(4, 30)],
                      summary), False
    if shape == 1:
        until = start + datetime.timedelta(days=rng.randrange(10, 90))
        return _event(uid, dtstart + ["RRULE:FREQ=DAILY;UNTIL=" + _utc(until)],
                      summary), False
    if shape == 2:
        skipped = start + datetime.timedelta(weeks=2)
        return _event(uid, dtstart + ["RRULE:FREQ=WEEKLY", "EXDATE:" + _utc(skipped)],
                      summary), False
    if shape == 3:
        zoned = ["DTSTART;TZID=Europe/Berlin:" + _local(start),
                 "DTEND;TZID=Europe/Berlin:" + _local(end),
                 "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=40"]
        return _event(uid, zoned, summary), True
    moved = start + datetime.timedelta(weeks=4)
    cancelled = start + datetime.timedelta(weeks=8)
    main = _event(uid, dtstart + ["RRULE:FREQ=WEEKLY;INTERVAL=1"], summary)
    override = _event(uid, [
        "RECURRENCE-ID:" + _utc(moved),
        "DTSTART:" + _utc(moved + datetime.timedelta(hours=3)),
        "DTEND:" + _utc(end + datetime.timedelta(weeks=4, hours=3))], summary + " moved")
    cancel = _event(uid, [
        "RECURRENCE-ID:" + _utc(cancelled), "STATUS:CANCELLED",
        "DTSTART:" + _utc(cancelled), "DTEND:" + _utc(end + datetime.timedelta(weeks=8))],
        summary + " cancelled")
    return main + override + cancel, False


def todo(uid: str, due: datetime.datetime) -> CalendarObject:
    body = "BEGIN:VTODO\nUID:%s\nDTSTAMP:20260101T000000Z\nSUMMARY:Todo\nDUE:%s\nEND:VTODO\n" % (
        uid, _utc(due))
    return CalendarObject("%s.ics" % uid.split("@")[0], uid, _wrap(body))


def write_collection(folder: os.PathLike[str] | str, objects: list[CalendarObject],
                     displayname: str = "Calendar") -> None:
    """Lay a calendar out on disk the way Radicale stores it (files behind its back)."""
    import json

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".Radicale.props"), "w") as f:
        json.dump({"tag": "VCALENDAR", "D:displayname": displayname}, f)
    for obj in objects:
        with open(os.path.join(folder, obj.href), "w", newline="") as f:
            f.write(obj.text)
