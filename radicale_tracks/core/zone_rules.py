"""A VTIMEZONE from zoneinfo written as yearly rules, the form every reader understands.

icalendar's ``Timezone.from_tzinfo`` lists each transition in an ``RDATE``. That is valid
RFC 5545, but Radicale reads time zones through vobject and dateutil's ``tzical``, which
ignore ``RDATE`` in a VTIMEZONE: an event at 11:00 ``Europe/Berlin`` in June was read as
10:00 UTC by Radicale's own reports, the index and free-busy, while clients read 09:00.
So the transitions are regrouped here into runs that follow one yearly rule
(``FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU`` at the same wall-clock time, as Apple, Google and
Thunderbird write them); a transition that fits no run becomes a component of its own
with just its DTSTART. The last run of a zone that still changes its clocks stays open
(no UNTIL), so dates after the generated range keep the current rule.

Pure: zoneinfo data in, a component out.
"""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from icalendar import Component, Timezone, TimezoneDaylight, TimezoneStandard

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ZERO, _DAY, _MINUTE = timedelta(0), timedelta(days=1), timedelta(minutes=1)


@dataclass(frozen=True)
class Transition:
    """One change of offset, at a wall-clock time of the offset it leaves."""

    local: datetime  # naive, in the offset before the change (RFC 5545 §3.6.5)
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    def kind(self) -> tuple[timedelta, timedelta, str, bool, int, Any]:
        """What must stay the same for transitions to share one yearly rule."""
        return (self.offset_from, self.offset_to, self.name, self.daylight,
                self.local.month, self.local.time())


def weekday_rules(day: date) -> set[int]:
    """The BYDAY ordinals that name ``day`` in its month: its week, and -1 if it is last."""
    ordinals = {(day.day - 1) // 7 + 1}
    if day.day + 7 > month_calendar.monthrange(day.year, day.month)[1]:
        ordinals.add(-1)
    return ordinals


def zone_transitions(zone: tzinfo, first: date, last: date) -> list[Transition]:
    """The zone's offset at ``first`` and every change up to ``last``, from zoneinfo.

    Offsets are sampled daily and each change found to the minute by bisection: about
    25 000 look-ups for 1970–2037, done once per zone and range (the caller caches).
    """
    def state(moment: datetime) -> tuple[timedelta, str, bool]:
        local = moment.astimezone(zone)
        return (local.utcoffset() or _ZERO, local.tzname() or "", bool(local.dst()))

    moment = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC)
    before = state(moment)
    found = [Transition((moment + before[0]).replace(tzinfo=None), before[0], before[0],
                        before[1], before[2])]
    while moment < end:
        following = moment + _DAY
        after = state(following)
        if after != before:
            low, high = moment, following
            while high - low > _MINUTE:
                middle = low + (high - low) / 2
                if state(middle) == before:
                    low = middle
                else:
                    high = middle
            instant = high.replace(second=0, microsecond=0)
            found.append(Transition((instant + before[0]).replace(tzinfo=None), before[0],
                                    after[0], after[1], after[2]))
            before = after
        moment = following
    return found


def _runs(transitions: list[Transition]) -> list[tuple[list[Transition], int | None]]:
    """Transitions grouped into yearly runs; each run with its BYDAY ordinal (None: alone)."""
    open_runs: dict[Any, tuple[list[Transition], set[int]]] = {}
    finished: list[tuple[list[Transition], int | None]] = []

    def close(key: Any) -> None:
        members, ordinals = open_runs.pop(key)
        finished.append((members, _ordinal(ordinals) if len(members) > 1 else None))

    for transition in transitions:
        key = transition.kind()
        ordinals = weekday_rules(transition.local.date())
        if key in open_runs:
            members, known = open_runs[key]
            last = members[-1].local
            same_day = last.weekday() == transition.local.weekday()
            if (transition.local.year == last.year + 1 and same_day
                    and known & ordinals):
                members.append(transition)
                open_runs[key] = (members, known & ordinals)
                continue
            close(key)
        open_runs[key] = ([transition], ordinals)
    for key in list(open_runs):
        close(key)
    return sorted(finished, key=lambda run: run[0][0].local - run[0][0].offset_from)


def _ordinal(ordinals: set[int]) -> int:
    """Prefer "last" (-1SU) to "fourth" where both fit, as the zones' own rules say."""
    return -1 if -1 in ordinals else min(ordinals)


def yearly_vtimezone(name: str, zone: tzinfo, first: date, last: date) -> Timezone:
    """A VTIMEZONE named ``name`` for ``zone`` from ``first`` to ``last``, as yearly rules.

    A run whose last transition falls in the last two years of the range is the zone's
    current rule and gets no UNTIL.
    """
    result = Timezone()
    result.add("TZID", name)
    transitions = zone_transitions(zone, first, last)
    latest = {t.daylight: t for t in transitions}  # the last of each kind
    last_year = last.year
    for members, ordinal in _runs(transitions):
        earliest, latest_member = members[0], members[-1]
        part: Component = TimezoneDaylight() if earliest.daylight else TimezoneStandard()
        if earliest.name:
            part.add("TZNAME", earliest.name)
        part.add("TZOFFSETFROM", earliest.offset_from)
        part.add("TZOFFSETTO", earliest.offset_to)
        part.add("DTSTART", earliest.local)
        if ordinal is not None:
            rule: dict[str, Any] = {"FREQ": "YEARLY", "BYMONTH": earliest.local.month,
                                    "BYDAY": "%d%s" % (ordinal,
                                                       _WEEKDAYS[earliest.local.weekday()])}
            current = (latest_member is latest[latest_member.daylight]
                       and latest_member.local.year >= last_year - 2)
            if not current:
                # a day past the last one: dateutil (Radicale's reader) compares UNTIL
                # with the wall-clock DTSTART; the next one is a year away for everyone
                rule["UNTIL"] = (latest_member.local - latest_member.offset_from
                                 + _DAY).replace(tzinfo=UTC)
            part.add("RRULE", rule)
        result.add_component(part)
    return result
