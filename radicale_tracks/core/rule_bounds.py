"""What walking a recurrence rule costs, counted before dateutil walks it (RFC 5545 §3.3.10).

dateutil's ``rrule`` checks UNTIL only against an instance it found: a rule no date
matches (``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30``) walks every period up to the year
9999, and a fine rule (``FREQ=SECONDLY``) walks millions of periods to reach a window.
Both are bounded here by counting, never by timing:

* :func:`walked_periods`: how many periods lie between a start and a date, so a walk
  that would be too long is refused before it starts;
* :func:`ever_recurs`: whether any date matches a rule, by walks of at most 800 years
  (:func:`cycle_start`), of years where the rule's day parts allow
  (:func:`_day_pattern`).

Pure: text and instants in, answers out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from dateutil.rrule import rrulestr

from radicale_tracks.core.zone_limits import rule_parts

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ORDINAL_DAY = re.compile(r"^[+-]?\d")

#: dateutil's last year, and the Gregorian calendar's cycle (see :func:`cycle_start`).
LAST_YEAR = 9999
_CYCLE_YEARS = 400

#: FREQ values whose period is a fixed length of wall-clock time.
FIXED_PERIODS = {"SECONDLY": timedelta(seconds=1), "MINUTELY": timedelta(minutes=1),
                 "HOURLY": timedelta(hours=1), "DAILY": timedelta(days=1),
                 "WEEKLY": timedelta(weeks=1)}

#: The shortest length of every period, to count the periods a walk visits (at most).
_SHORTEST_PERIODS = {**FIXED_PERIODS, "MONTHLY": timedelta(days=28),
                     "YEARLY": timedelta(days=365)}

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def shortest_period(text: str) -> timedelta | None:
    """The shortest length one period of the rule can have (INTERVAL included)."""
    parts = rule_parts(text)
    period = _SHORTEST_PERIODS.get((parts.get("FREQ") or [""])[0])
    if period is None:
        return None
    try:
        return period * max(int((parts.get("INTERVAL") or ["1"])[0]), 1)
    except (ValueError, OverflowError):
        return period


def cycle_start(dtstart: datetime) -> datetime:
    """``dtstart`` moved by whole 400-year Gregorian cycles to between 400 and 800 years
    before the year 9999, where dateutil stops walking.

    The calendar repeats itself exactly every 400 years (146 097 days, a whole number of
    weeks, months and years), so a rule walked from there meets the same dates, weekdays
    and intervals as from DTSTART — and dateutil's walk ends after at most 800 years of
    periods whatever the rule: the bound of :func:`ever_recurs`.
    """
    cycles = (LAST_YEAR - _CYCLE_YEARS - dtstart.year) // _CYCLE_YEARS
    return dtstart.replace(year=dtstart.year + cycles * _CYCLE_YEARS)


def ever_recurs(text: str, dtstart: datetime) -> bool:
    """Whether any date matches the rule (COUNT and UNTIL aside), by walks of at most
    800 years (:func:`cycle_start`): first of years, on the days the rule's BY parts
    allow (:func:`_day_pattern`) — no such day, no instance; then, only for a rule whose
    INTERVAL or BYSETPOS may still miss them, of its own periods. Exact for rules with
    INTERVAL up to 2, which repeat within one cycle; rarer ones with larger intervals
    may be missed."""
    parts = {name: values for name, values in rule_parts(text).items()
             if name not in ("COUNT", "UNTIL")}
    pattern = _day_pattern(parts, dtstart)
    if pattern is not None:
        if not _matches(pattern, dtstart):
            return False
        if "BYSETPOS" not in parts and (parts.get("INTERVAL") or ["1"]) == ["1"]:
            return True
    return _matches(parts, dtstart)


def _matches(parts: dict[str, list[str]], dtstart: datetime) -> bool:
    try:
        rule: Any = rrulestr(_rule_of(parts), dtstart=cycle_start(dtstart))
        return next(iter(rule), None) is not None
    except _PARSE_ERRORS:
        return False


def _rule_of(parts: dict[str, list[str]]) -> str:
    return ";".join("%s=%s" % (name, ",".join(values)) for name, values in parts.items())


def _day_pattern(parts: dict[str, list[str]], dtstart: datetime
                 ) -> dict[str, list[str]] | None:
    """A FREQ=YEARLY rule matching on the same days as ``parts``, or None.

    A rule finer than yearly with INTERVAL 1 and no BYSETPOS matches on the days its BY
    parts allow, whatever its period (INTERVAL and BYSETPOS only ever keep fewer):
    asking a yearly rule with the same day parts (every month named, so BYDAY ordinals
    stay month-relative) walks 800 years in 800 steps instead of 292 000 days. Times of
    day do not matter for whether a day matches.
    """
    freq = (parts.get("FREQ") or [""])[0]
    if freq not in ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY") or (
            "BYWEEKNO" in parts):
        return None
    days = {name: values for name, values in parts.items()
            if name in ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYYEARDAY")}
    if freq != "MONTHLY" and any(_ORDINAL_DAY.match(day) for day in days.get("BYDAY", [])):
        return None   # dateutil reads these its own way outside MONTHLY/YEARLY
    if freq == "WEEKLY" and "BYDAY" not in days:
        days["BYDAY"] = [_WEEKDAYS[dtstart.weekday()]]
    if freq == "MONTHLY" and "BYDAY" not in days and "BYMONTHDAY" not in days and (
            "BYYEARDAY" not in days):
        days["BYMONTHDAY"] = [str(dtstart.day)]
    if not any(name in days for name in ("BYMONTHDAY", "BYDAY", "BYYEARDAY")):
        days["BYMONTHDAY"] = [str(day) for day in range(1, 32)]   # DAILY: every day
    days.setdefault("BYMONTH", [str(month) for month in range(1, 13)])
    return {"FREQ": ["YEARLY"], **days}


def walked_periods(text: str, dtstart: datetime, stop: datetime) -> int:
    """How many periods of the rule lie from ``dtstart`` to ``stop``, at most."""
    period = shortest_period(text)
    if period is None or stop <= dtstart:
        return 0
    return (stop - dtstart) // period
