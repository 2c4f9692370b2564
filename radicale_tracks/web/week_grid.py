"""The wizard's "Available times" as a week: days across, times of day down.

The slot finder answers a list of slots; an agent reads a week better as a table —
Monday to Sunday in the agent's zone, one row per start time, each offered slot a
radio in its cell. This module turns one week's ``SlotList`` into that table (plain
values the template renders): the cells' radio values (start and who is busy, as the
booking reads them back), an accessible name per cell saying day, time and who is busy
(times only: the finder never hands out what the busy time is), the day a phone shows
on its own, and the weeks before and after.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass

from radicale_tracks.core.slot_report import utc_text
from radicale_tracks.core.slots import Busy, Slot
from radicale_tracks.web.services import SlotList

DAYS = 7
#: how a status reads after a name ("bob busy", "Atlas booked")
STATUS_WORDS = {"busy": "busy", "tentative": "tentatively busy",
                "unavailable": "outside working hours"}


@dataclass(frozen=True)
class Cell:
    """One offered slot: its radio value, what sighted people read in the cell, and the
    radio's accessible name (the whole day and time, then free or who is busy)."""

    value: str
    time: str              # "09:00"
    note: str              # "Atlas", "free", "bob busy"
    label: str             # "Monday 21 December, 09:00–10:00, free, Atlas"
    fit: bool


@dataclass(frozen=True)
class Day:
    date: datetime.date
    name: str              # "Monday 21 December 2026"
    weekday: str           # "Mon"
    number: int            # 21
    past: bool
    slots: int


@dataclass(frozen=True)
class Row:
    time: str
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class Busyness:
    """Who was busy in the week's conflicts, and when (times only)."""

    who: str
    address: str
    periods: tuple[str, ...]


@dataclass(frozen=True)
class WeekGrid:
    days: tuple[Day, ...]
    rows: tuple[Row, ...]
    shown: int                          # the day a phone shows (index into days)
    previous: datetime.date | None      # None: this week holds today, nothing earlier
    next: datetime.date
    busy: tuple[Busyness, ...]
    title: str                          # "7 – 13 December 2026"

    @property
    def empty(self) -> bool:
        return not self.rows


def week_start(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


def week_grid(found: SlotList, first: datetime.date, today: datetime.date, *,
              domain: str, shown: datetime.date | None = None, chosen: str = ""
              ) -> WeekGrid:
    """The week from ``first`` (a Monday) of ``found``, in ``found.zone``.

    ``shown`` is the day a phone asked to see; else the chosen slot's day, else the
    first day from today with a slot. ``domain`` shortens this server's addresses to
    their user names in what the cells say (the radio values keep the addresses)."""
    zone = zoneinfo.ZoneInfo(found.zone)
    dates = [first + datetime.timedelta(days=n) for n in range(DAYS)]
    cells: dict[tuple[int, str, int], Cell] = {}
    busy: dict[str, tuple[str, set[tuple[int, str]]]] = {}
    for slot in sorted(found.result.slots, key=lambda s: s.start):
        start = datetime.datetime.fromtimestamp(slot.start, zone)
        column = (start.date() - first).days
        if not 0 <= column < DAYS:
            continue
        people = _busy_people(slot, found, domain)
        if not slot.fit and people and all(p[2] == "unavailable" for p in people):
            continue  # only outside someone's working hours: noise among conflicts
        time = start.strftime("%H:%M")
        repeat = sum(1 for key in cells if key[:2] == (column, time))  # a DST fall-back hour
        cells[(column, time, repeat)] = _cell(slot, found, zone, people)
        for who, address, _, conflicts in people:
            kept = busy.setdefault(address, (who, set()))
            kept[1].update((b.start, _period(b, zone)) for b in conflicts)
    keys = sorted({(time, repeat) for _, time, repeat in cells})
    rows = tuple(Row(time, tuple(cells.get((column, time, repeat)) for column in range(DAYS)))
                 for time, repeat in keys)
    days = tuple(Day(date=d, name="%s %d %s" % (d.strftime("%A"), d.day, d.strftime("%B %Y")),
                     weekday=d.strftime("%a"), number=d.day, past=d < today,
                     slots=sum(1 for key in cells if key[0] == n))
                 for n, d in enumerate(dates))
    return WeekGrid(
        days=days, rows=rows, shown=_shown(days, cells, shown, chosen),
        previous=None if first <= week_start(today) else first - datetime.timedelta(days=DAYS),
        next=first + datetime.timedelta(days=DAYS),
        busy=tuple(Busyness(who, address, tuple(text for _, text in sorted(periods)))
                   for address, (who, periods) in sorted(busy.items())),
        title=_week_title(dates[0], dates[-1]))


def _busy_people(slot: Slot, found: SlotList, domain: str
                 ) -> list[tuple[str, str, str, tuple[Busy, ...]]]:
    """(short name, address, status, busy periods) of everyone not free in ``slot``:
    people, then rooms (a pool with no free room by the pool's name)."""
    busy = [(_short(p.address, found, domain), p.address, str(p.status), p.conflicts)
            for p in slot.participants if p.status not in ("free", "unknown")]
    for room in slot.rooms:
        if room.status != "free":
            address = room.address or room.pool or ""
            busy.append((found.names.get(address) or address, address, str(room.status),
                         room.conflicts))
    return [b for b in busy if b[1]]


def _cell(slot: Slot, found: SlotList, zone: zoneinfo.ZoneInfo,
          people: list[tuple[str, str, str, tuple[Busy, ...]]]) -> Cell:
    start = datetime.datetime.fromtimestamp(slot.start, zone)
    end = datetime.datetime.fromtimestamp(slot.end, zone)
    rooms = [found.names.get(r.address, r.address) if r.address
             else "no room of %s free" % r.pool for r in slot.rooms]
    when = "%s %d %s, %s–%s" % (start.strftime("%A"), start.day, start.strftime("%B"),
                               start.strftime("%H:%M"), end.strftime("%H:%M"))
    if people and not slot.fit:
        said = "; ".join(_who_is_busy(who, status, conflicts, zone, start.date())
                         for who, _, status, conflicts in people)
        label = "%s, conflict: %s" % (when, said)
        note = "%s %s" % (", ".join(who for who, *_ in people),
                          "busy" if len(people) > 1 else STATUS_WORDS.get(people[0][2],
                                                                          people[0][2]))
    else:
        label = "%s, free" % when
        note = ", ".join(rooms) or "free"
    if rooms:
        label += ", %s" % ", ".join(rooms)
    value = "%s|%s" % (utc_text(slot.start), ",".join(address for _, address, *_ in people))
    return Cell(value=value, time=start.strftime("%H:%M"), note=note, label=label,
                fit=slot.fit)


def _who_is_busy(who: str, status: str, conflicts: tuple[Busy, ...],
                 zone: zoneinfo.ZoneInfo, day: datetime.date) -> str:
    """"bob busy 10:00–11:00": the name, the status, the busy times (nothing else)."""
    words = "%s %s" % (who, STATUS_WORDS.get(status, status))
    if not conflicts:
        return words
    return "%s %s" % (words, ", ".join(_period(b, zone, day) for b in conflicts))


def _shown(days: tuple[Day, ...], cells: dict[tuple[int, str, int], Cell],
           asked: datetime.date | None, chosen: str) -> int:
    dates = [d.date for d in days]
    if asked in dates:
        return dates.index(asked)
    for (column, _, _), cell in cells.items():
        if chosen and cell.value == chosen:
            return column
    ahead = [n for n, d in enumerate(days) if not d.past]
    with_slots = [n for n in ahead if days[n].slots]
    return (with_slots or ahead or [0])[0]


def _short(address: str, found: SlotList, domain: str) -> str:
    """A user of this server by their name (``bob``), anyone else by their address."""
    if address in found.names:
        return found.names[address]
    local, _, host = address.partition("@")
    return local if host.lower() == domain.lower() and local else address


def _period(busy: Busy, zone: zoneinfo.ZoneInfo, day: datetime.date | None = None) -> str:
    """A busy period's times; the day is left out when it is ``day``."""
    first = datetime.datetime.fromtimestamp(busy.start, zone)
    last = datetime.datetime.fromtimestamp(busy.end, zone)
    if first.date() == last.date():
        if first.date() == day:
            return "%s–%s" % (first.strftime("%H:%M"), last.strftime("%H:%M"))
        return "%s %s–%s" % (first.strftime("%a %d %b"), first.strftime("%H:%M"),
                             last.strftime("%H:%M"))
    return "%s – %s" % (first.strftime("%a %d %b %H:%M"), last.strftime("%a %d %b %H:%M"))


def _week_title(first: datetime.date, last: datetime.date) -> str:
    if first.month == last.month:
        return "%d – %d %s" % (first.day, last.day, last.strftime("%B %Y"))
    if first.year == last.year:
        return "%d %s – %d %s" % (first.day, first.strftime("%B"), last.day,
                                  last.strftime("%B %Y"))
    return "%d %s – %d %s" % (first.day, first.strftime("%B %Y"), last.day,
                              last.strftime("%B %Y"))
