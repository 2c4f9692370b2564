"""Room booking policies: vectors for ``core/booking.py``."""

from __future__ import annotations

import pytest
from icalendar import Calendar

from radicale_tracks.core.booking import (
    BookingDecision,
    BookingMode,
    BookingPolicy,
    BookingPolicyError,
    booked_copy,
    decide_booking,
)
from radicale_tracks.core.itip import PartStat

H = 3600
DAY = 86400
NOW = 1_800_000_000 - 1_800_000_000 % DAY   # a midnight UTC


def weekly(count: int, start: int = NOW + DAY + 10 * H) -> list[tuple[int, int]]:
    return [(start + n * 7 * DAY, start + n * 7 * DAY + H) for n in range(count)]


def test_if_free_accepts_free_time_and_declines_a_single_conflict() -> None:
    policy = BookingPolicy()
    meeting = weekly(1)
    assert decide_booking(policy, meeting, [], NOW).partstat is PartStat.ACCEPTED
    touching = [(meeting[0][1], meeting[0][1] + H)]   # ends where the other starts
    assert decide_booking(policy, meeting, touching, NOW).partstat is PartStat.ACCEPTED
    overlapping = [(meeting[0][0] + 1800, meeting[0][1] + 1800)]
    decision = decide_booking(policy, meeting, overlapping, NOW)
    assert decision.partstat is PartStat.DECLINED and "busy at" in decision.reason


def test_series_conflicts_within_both_limits_are_declined_one_by_one() -> None:
    series = weekly(10)
    busy = [series[2], series[5]]
    lenient = BookingPolicy(max_conflicts=2, max_conflict_percent=20)
    decision = decide_booking(lenient, series, busy, NOW, recurring=True)
    assert decision.partstat is PartStat.ACCEPTED
    assert decision.declined == (series[2][0], series[5][0])
    assert "2 of 10" in decision.reason
    strict_count = BookingPolicy(max_conflicts=1)
    assert decide_booking(strict_count, series, busy, NOW, recurring=True
                          ).partstat is PartStat.DECLINED
    strict_share = BookingPolicy(max_conflict_percent=10)
    assert decide_booking(strict_share, series, busy, NOW, recurring=True
                          ).partstat is PartStat.DECLINED
    # no limit set: no conflict is tolerated
    assert decide_booking(BookingPolicy(), series, busy, NOW, recurring=True
                          ).partstat is PartStat.DECLINED


def test_long_busy_period_covering_several_occurrences() -> None:
    series = weekly(4)
    vacation = [(series[1][0] - DAY, series[2][1] + DAY)]
    decision = decide_booking(BookingPolicy(max_conflicts=2), series, vacation, NOW,
                              recurring=True)
    assert decision.declined == (series[1][0], series[2][0])


def test_limits_come_before_the_mode() -> None:
    always = BookingPolicy(mode=BookingMode.ALWAYS, max_duration=60 * 60, window_days=30)
    long = decide_booking(always, [(NOW + H, NOW + 3 * H)], [], NOW)
    assert long.partstat is PartStat.DECLINED and "120 minutes" in long.reason
    far = decide_booking(always, [(NOW + 40 * DAY, NOW + 40 * DAY + H)], [], NOW)
    assert far.partstat is PartStat.DECLINED and "30 days" in far.reason
    endless = decide_booking(always, weekly(4), [], NOW, complete=False, recurring=True)
    assert endless.partstat is PartStat.DECLINED and "no end" in endless.reason
    assert decide_booking(always, weekly(4), weekly(4), NOW, recurring=True
                          ).partstat is PartStat.ACCEPTED


def test_manual_waits_and_the_past_is_declined() -> None:
    manual = BookingPolicy(mode=BookingMode.MANUAL)
    assert decide_booking(manual, weekly(1), [], NOW).partstat is PartStat.NEEDS_ACTION
    past = decide_booking(BookingPolicy(), [(NOW - 2 * H, NOW - H)], [], NOW)
    assert past.partstat is PartStat.DECLINED and "past" in past.reason


@pytest.mark.parametrize("fields", [{"max_conflicts": -1}, {"max_conflict_percent": 101},
                                    {"max_duration": 0}, {"window_days": 0}])
def test_bad_policies_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(BookingPolicyError):
        BookingPolicy(**fields)  # type: ignore[arg-type]


SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//EN\r
BEGIN:VEVENT\r
UID:weekly@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270104T100000\r
DTEND;TZID=Europe/Berlin:20270104T110000\r
RRULE:FREQ=WEEKLY;COUNT=3\r
SUMMARY:Weekly\r
ORGANIZER:mailto:alice@example.org\r
ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:atlas@example.org\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_booked_copy_declines_an_occurrence_with_a_transparent_override() -> None:
    second = 1799053200 + 7 * DAY   # 2027-01-11 10:00 Berlin = 09:00 UTC
    decision = BookingDecision(PartStat.ACCEPTED, "ok", declined=(second,))
    copy = booked_copy(Calendar.from_ical(SERIES), "atlas@example.org", decision)
    events = copy.walk("VEVENT")
    assert len(events) == 2
    master, override = events
    assert master["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert override["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert str(override["TRANSP"]) == "TRANSPARENT"
    assert override["RECURRENCE-ID"].dt.isoformat() == "2027-01-11T10:00:00+01:00"
    assert "RRULE" not in override
