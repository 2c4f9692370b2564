"""Finding a time that works: the slot finder behind "find a time" (like Microsoft Graph's
``findMeetingTimes``).

Design, and why:

* Candidate starts are wall-clock times in the organizer's zone (09:00, 09:30 …), not
  multiples of the grid in UTC: people read "half past" in their own zone, and in zones
  such as Asia/Kolkata (+05:30) a UTC grid would put every slot at a quarter past. The
  grid restarts at each local midnight, so any grid from 5 to 60 minutes works, and the
  daylight-saving days come out as a person expects: the spring-forward gap has no slots,
  the repeated autumn hour has both of its instants. Times are walked per local day and
  converted with :mod:`zoneinfo`, never second by second.
* Everything is decided on the grid at once rather than per candidate and per period:
  each calendar's periods become, by two bisections each, the range of candidates whose
  checked interval they overlap, painted into one byte per candidate (the worst status
  wins). Candidates are then combined column-wise by C-level ``zip``/``any``/``sum``.
  The work is O(periods · log candidates + calendars · candidates), however long or
  overlapping the periods are; the window (62 days) and grid (5 minutes) bound the grid.
* Statuses, conflict lists and room choices are only worked out for the slots returned.
* Rooms of pools are shared out as a bipartite matching: a slot is fit exactly when every
  pool can get its own free room, even when pools share rooms; each pool still gets the
  room its assignment rule prefers unless another pool needs that very room.
* Ranking and the confidence figure follow ``findMeetingTimes`` (free 100, unknown 49,
  otherwise 0, averaged) so clients that know Graph read the numbers the same way.

The earliest start is the caller's ``current_time`` plus the notice: this module reads no
clock, does no I/O and draws no randomness. All instants are POSIX seconds (UTC), all
intervals half-open; inputs are never mutated.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radicale_tracks.core.timezones import iana_zone

#: Bounds on one query's work: at most 62 days × 288 five-minute slots ≈ 18 000 candidates.
MAX_WINDOW_SECONDS: Final = 62 * 86_400
MAX_DURATION_SECONDS: Final = 86_400
MIN_GRID_MINUTES: Final = 5
MAX_GRID_MINUTES: Final = 60
MAX_PARTICIPANTS: Final = 200
MAX_ROOMS: Final = 500

#: Windows outside these years are refused: conversions beyond them overflow ``datetime``.
EARLIEST_INSTANT: Final = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
LATEST_INSTANT: Final = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp())

REASON_NO_CANDIDATES: Final = "no-candidates"
REASON_ORGANIZER_UNAVAILABLE: Final = "organizer-unavailable"
REASON_OUTSIDE_WORKING_HOURS: Final = "outside-working-hours"
REASON_ROOMS_UNAVAILABLE: Final = "rooms-unavailable"
REASON_ATTENDEES_UNAVAILABLE: Final = "attendees-unavailable"

_REASON_TEXTS: Final = {
    REASON_NO_CANDIDATES: "There is no start time on the grid between the earliest allowed "
                          "start and the end of the window that leaves room for the meeting.",
    REASON_ORGANIZER_UNAVAILABLE: "The organizer is not free at any time in the window.",
    REASON_OUTSIDE_WORKING_HOURS: "Every time in the window is outside the working hours "
                                  "of at least one required attendee.",
    REASON_ROOMS_UNAVAILABLE: "The required attendees are free at some times, but no "
                              "room is free then.",
    REASON_ATTENDEES_UNAVAILABLE: "There is no time in the window when all required "
                                  "attendees are free.",
}

ASSIGNMENT_PRIORITY: Final = "priority"
ASSIGNMENT_LONGEST_IDLE: Final = "longest-idle"
ASSIGNMENT_ROUND_ROBIN: Final = "round-robin"
ASSIGNMENTS: Final = (ASSIGNMENT_PRIORITY, ASSIGNMENT_LONGEST_IDLE, ASSIGNMENT_ROUND_ROBIN)

#: ``findMeetingTimes`` scores: a free attendee is certain, an unknown one a coin toss
#: leaning to "no", anyone else rules the time out.
FREE_SCORE: Final = 100
UNKNOWN_SCORE: Final = 49

ParticipantStatus = Literal["free", "tentative", "unavailable", "busy", "unknown"]
RoomStatus = Literal["free", "busy", "none-free"]

# Status codes painted per candidate; a higher code is worse and wins.
_FREE: Final = 0
_TENTATIVE: Final = 1
_UNAVAILABLE: Final = 2
_BUSY: Final = 3
_UNLISTED: Final = -1  # an FBTYPE spelt other than the table's
_STATUS_OF_CODE: Final[tuple[ParticipantStatus, ...]] = (
    "free", "tentative", "unavailable", "busy")

# bytes.translate tables turning a row of codes into 0/1 flags, so columns can be summed.
_IS_FREE: Final = bytes([1] + [0] * 255)
_IS_NOT_FREE: Final = bytes([0] + [1] * 255)
_IS_UNAVAILABLE: Final = bytes(1 if code == _UNAVAILABLE else 0 for code in range(256))
_IS_BUSY_OR_TENTATIVE: Final = bytes(1 if code in (_BUSY, _TENTATIVE) else 0
                                     for code in range(256))

_ONE_DAY: Final = timedelta(days=1)
_ONE_SECOND: Final = timedelta(seconds=1)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


class SlotQueryError(ValueError):
    """A query the finder refuses; the message names the field and the limit."""


@dataclass(frozen=True)
class Busy:
    """A period someone or something is taken; ``fbtype`` is RFC 5545 §3.2.9 FBTYPE.

    Time outside working hours arrives as ``BUSY-UNAVAILABLE`` (RFC 7953 availability,
    converted by the caller). ``FREE`` periods block nothing; an FBTYPE we do not know
    counts as ``BUSY``, as §3.2.9 requires; empty periods (end ≤ start) block nothing.
    """

    start: int
    end: int
    fbtype: str = "BUSY"
    summary: str = ""


@dataclass(frozen=True)
class Participant:
    """Someone to meet; ``busy=None`` when their calendar is not ours to read."""

    address: str
    required: bool = True
    busy: tuple[Busy, ...] | None = ()
    is_organizer: bool = False


@dataclass(frozen=True)
class Room:
    """A bookable room; rooms keep no working hours, so any non-FREE period blocks it."""

    address: str
    name: str = ""
    busy: tuple[Busy, ...] = ()
    capacity: int | None = None
    priority: int = 0


@dataclass(frozen=True)
class Pool:
    """Interchangeable rooms of which a meeting needs one.

    ``assignment`` spreads bookings: ``priority`` (lowest number, then address),
    ``longest-idle`` (the room whose last booking before the slot ended earliest) or
    ``round-robin`` (the next room by address after ``last_assigned``).
    """

    name: str
    rooms: tuple[Room, ...]
    assignment: str = ASSIGNMENT_PRIORITY
    last_assigned: str | None = None


@dataclass(frozen=True, kw_only=True)
class SlotQuery:
    """What to find a time for; keyword-only, as sixteen positional fields invite mistakes.

    ``current_time`` is the caller's "now" (the earliest start is ``current_time +
    minimum_notice``); it is not called ``now`` because the core reads no clock and its
    layering test refuses any ``.now``. Buffers widen the interval checked for everyone,
    so travel or set-up time is free too. ``zone`` is an IANA or Windows zone name; the
    grid is laid in its wall-clock time. ``rooms`` are each required; ``pools`` each
    give one room.
    """

    participants: tuple[Participant, ...]
    rooms: tuple[Room, ...] = ()
    pools: tuple[Pool, ...] = ()
    duration: int
    window_start: int
    window_end: int
    grid_minutes: int = 30
    zone: str = "UTC"
    buffer_before: int = 0
    buffer_after: int = 0
    minimum_notice: int = 0
    current_time: int
    working_hours: bool = True
    show_conflicts: bool = False
    max_results: int = 20


@dataclass(frozen=True)
class ParticipantAvailability:
    """One participant in one slot; ``conflicts`` are the periods that make them not free."""

    address: str
    required: bool
    is_organizer: bool
    status: ParticipantStatus
    conflicts: tuple[Busy, ...]


@dataclass(frozen=True)
class RoomAssignment:
    """An explicit room (``pool`` None) or the room a pool gave (``address`` None if none)."""

    pool: str | None
    address: str | None
    status: RoomStatus
    conflicts: tuple[Busy, ...]


@dataclass(frozen=True)
class Slot:
    """A proposed meeting time [start, end) and how everyone stands in it."""

    start: int
    end: int
    fit: bool
    confidence: float
    participants: tuple[ParticipantAvailability, ...]
    rooms: tuple[RoomAssignment, ...]


@dataclass(frozen=True)
class SlotResult:
    """The slots, best first; ``reason`` (a ``REASON_*``) says why none is fit."""

    slots: tuple[Slot, ...]
    reason: str | None
    candidates: int


def reason_text(reason: str) -> str:
    """A sentence for a ``REASON_*`` constant, for people rather than programs."""
    return _REASON_TEXTS.get(reason, "No time in the window works for everyone.")


def find_slots(query: SlotQuery) -> SlotResult:
    """The best meeting times for ``query``; raises :class:`SlotQueryError` if invalid."""
    zone = _validated_zone(query)
    grid = _Grid(
        starts=_candidate_starts(zone, max(query.window_start,
                                           query.current_time + query.minimum_notice),
                                 query.window_end - query.duration, query.grid_minutes),
        duration=query.duration, buffer_before=query.buffer_before,
        buffer_after=query.buffer_after)
    board = _Board.judge(_Calendars.paint(query, grid))
    chosen = _ranked(board, query)
    return SlotResult(slots=_slots(board, chosen), reason=_reason(board),
                      candidates=len(grid.starts))


# --- validation -------------------------------------------------------------------------

def _validated_zone(query: SlotQuery) -> tzinfo:
    """Refuses queries that are wrong or too costly, before any work is done."""
    _check_numbers(query)
    _check_counts(query)
    zone = _zone(query.zone)
    if zone is None:
        raise SlotQueryError("zone %r is neither an IANA nor a Windows time zone name"
                             % query.zone)
    return zone


def _check_numbers(query: SlotQuery) -> None:
    if not MIN_GRID_MINUTES <= query.grid_minutes <= MAX_GRID_MINUTES:
        raise SlotQueryError("grid_minutes must be between %d and %d, not %d"
                             % (MIN_GRID_MINUTES, MAX_GRID_MINUTES, query.grid_minutes))
    if not 0 < query.duration <= MAX_DURATION_SECONDS:
        raise SlotQueryError("duration must be more than 0 and at most %d seconds, not %d"
                             % (MAX_DURATION_SECONDS, query.duration))
    if query.window_end <= query.window_start:
        raise SlotQueryError("window_end must be after window_start")
    if query.window_end - query.window_start > MAX_WINDOW_SECONDS:
        raise SlotQueryError("the window must be at most %d days long"
                             % (MAX_WINDOW_SECONDS // 86_400))
    if query.window_start < EARLIEST_INSTANT or query.window_end > LATEST_INSTANT:
        raise SlotQueryError("the window must lie between the years 1900 and 9999")
    for name, seconds in (("buffer_before", query.buffer_before),
                          ("buffer_after", query.buffer_after),
                          ("minimum_notice", query.minimum_notice)):
        if seconds < 0:
            raise SlotQueryError("%s must not be negative" % name)
    if query.max_results < 1:
        raise SlotQueryError("max_results must be at least 1")


def _check_counts(query: SlotQuery) -> None:
    if not query.participants and not query.rooms and not query.pools:
        raise SlotQueryError("a query needs at least one participant, room or pool")
    if len(query.participants) > MAX_PARTICIPANTS:
        raise SlotQueryError("at most %d participants, not %d"
                             % (MAX_PARTICIPANTS, len(query.participants)))
    room_count = len(query.rooms) + sum(len(pool.rooms) for pool in query.pools)
    if room_count > MAX_ROOMS:
        raise SlotQueryError("at most %d rooms in all, not %d" % (MAX_ROOMS, room_count))
    for pool in query.pools:
        if not pool.rooms:
            raise SlotQueryError("pool %r has no rooms" % pool.name)
        if pool.assignment not in ASSIGNMENTS:
            raise SlotQueryError("pool %r: assignment %r is not one of %s"
                                 % (pool.name, pool.assignment, ", ".join(ASSIGNMENTS)))


def _zone(name: str) -> tzinfo | None:
    """IANA names first: a Windows name can never be one, so the order costs nothing."""
    for candidate in (name, iana_zone(name)):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return None


# --- candidate starts -------------------------------------------------------------------

def _candidate_starts(zone: tzinfo, first: int, last: int, grid_minutes: int) -> list[int]:
    """Instants in [first, last] whose wall time is on the grid, each once, ascending.

    A day of margin each side, filtered afterwards: a repeated hour can carry an instant
    back onto the previous local date (Brazil used to fall back from 00:00 to 23:00).
    """
    if first > last:
        return []
    found: set[int] = set()
    day = _local_date(first, zone) - _ONE_DAY
    last_day = _local_date(last, zone) + _ONE_DAY
    while day <= last_day:
        found.update(instant for instant in _grid_instants(day, zone, grid_minutes)
                     if first <= instant <= last)
        day += _ONE_DAY
    return sorted(found)


def _local_date(instant: int, zone: tzinfo) -> date:
    return datetime.fromtimestamp(instant, zone).date()


def _grid_instants(day: date, zone: tzinfo, grid_minutes: int) -> Iterator[int]:
    """Both readings of a repeated wall time, none of a skipped one.

    Where fold=0 and fold=1 agree on the offset the wall time exists once; where they
    differ it is either repeated (both readings round-trip) or skipped (neither does).
    Naive datetimes and ``zone.utcoffset``: the cheapest exact conversion zoneinfo has.
    """
    midnight = (day.toordinal() - _EPOCH_ORDINAL) * 86_400
    year, month, day_of_month = day.year, day.month, day.day
    for minute in range(0, 24 * 60, grid_minutes):
        hour, minute_of_hour = divmod(minute, 60)
        as_utc = midnight + minute * 60
        earlier = zone.utcoffset(datetime(year, month, day_of_month, hour, minute_of_hour))
        later = zone.utcoffset(datetime(year, month, day_of_month, hour, minute_of_hour,
                                        fold=1))
        if earlier == later:
            yield as_utc - _seconds(earlier)
            continue
        for offset in (earlier, later):
            instant = as_utc - _seconds(offset)
            local = datetime.fromtimestamp(instant, zone)
            if (local.hour, local.minute, local.date()) == (hour, minute_of_hour, day):
                yield instant


def _seconds(offset: timedelta | None) -> int:
    return 0 if offset is None else offset // _ONE_SECOND


# --- calendars painted onto the grid ----------------------------------------------------

@dataclass(frozen=True)
class _Grid:
    """The candidate starts and what widens each into the interval checked.

    A period [s, e) overlaps the checked interval [t - before, t + duration + after) iff
    s - duration - after < t < e + before: two bisections find the candidates it covers,
    however long the period.
    """

    starts: list[int]
    duration: int
    buffer_before: int
    buffer_after: int


@dataclass(frozen=True)
class _Timeline:
    """One calendar on the grid: a status code per candidate, and which periods cover which
    candidates (kept to list conflicts later without searching the periods again)."""

    codes: bytearray
    blocks: tuple[tuple[int, int, Busy], ...]

    def conflicts_at(self, chosen: Sequence[int]) -> dict[int, tuple[Busy, ...]]:
        """The periods over each chosen candidate; ``chosen`` ascending."""
        found: dict[int, list[Busy]] = {}
        for low, high, period in self.blocks:
            at = bisect_left(chosen, low)
            while at < len(chosen) and chosen[at] < high:
                found.setdefault(chosen[at], []).append(period)
                at += 1
        return {index: tuple(sorted(periods, key=_chronological))
                for index, periods in found.items()}


def _chronological(period: Busy) -> tuple[int, int, str, str]:
    return period.start, period.end, period.fbtype, period.summary


def _timeline(busy: Sequence[Busy], grid: _Grid, codes_of: Mapping[str, int | None]
              ) -> _Timeline:
    """Painted least severe first, so where periods overlap the worst status stays.

    The hottest loop of the finder (every period of every calendar), hence the locals.
    """
    starts = grid.starts
    reach_back = grid.duration + grid.buffer_after
    reach_on = grid.buffer_before
    layers: list[list[tuple[int, int, Busy]]] = [[] for _ in range(_BUSY + 1)]
    for period in busy:
        code = codes_of.get(period.fbtype, _UNLISTED)
        if code == _UNLISTED:
            code = codes_of.get(period.fbtype.upper(), _BUSY)
        if code is None or period.end <= period.start:
            continue
        low = bisect_right(starts, period.start - reach_back)
        high = bisect_left(starts, period.end + reach_on)
        if low < high:
            layers[code].append((low, high, period))
    codes = bytearray(len(starts))
    for code, layer in enumerate(layers):
        paint = bytes((code,)) * len(starts)
        for low, high, _ in layer:
            codes[low:high] = paint[low:high]
    return _Timeline(codes, tuple(block for layer in layers for block in layer))


def _participant_codes(working_hours: bool) -> dict[str, int | None]:
    """FBTYPE → status code (None: blocks nothing); unavailable time only counts while
    working hours are honoured. FBTYPEs not listed count as busy (RFC 5545 §3.2.9)."""
    return {"FREE": None, "BUSY": _BUSY, "BUSY-TENTATIVE": _TENTATIVE,
            "BUSY-UNAVAILABLE": _UNAVAILABLE if working_hours else None}


#: Rooms keep no working hours: anything but FREE makes them busy.
_ROOM_CODES: Final[dict[str, int | None]] = {"FREE": None}


def _any_column(rows: Sequence[bytes | bytearray], width: int) -> list[bool]:
    """Per candidate, whether any row has a non-zero byte there."""
    if not rows:
        return [False] * width
    return list(map(any, zip(*rows, strict=True)))


def _sum_column(rows: Sequence[bytes | bytearray], width: int) -> list[int]:
    if not rows:
        return [0] * width
    return list(map(sum, zip(*rows, strict=True)))


# --- pools ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _PoolPlan:
    """A pool reduced to the rooms it may give: big enough, not already named explicitly,
    each address once."""

    pool: Pool
    rooms: tuple[Room, ...]

    def preferred(self, start: int, last_ends: dict[str, list[int]]) -> list[Room]:
        """The pool's rooms in the order its assignment rule would hand them out."""
        if self.pool.assignment == ASSIGNMENT_LONGEST_IDLE:
            return sorted(self.rooms, key=lambda room: (
                _last_end_before(last_ends[room.address], start), room.priority, room.address))
        if self.pool.assignment == ASSIGNMENT_ROUND_ROBIN:
            by_address = sorted(self.rooms, key=lambda room: room.address)
            addresses = [room.address for room in by_address]
            after = (addresses.index(self.pool.last_assigned) + 1
                     if self.pool.last_assigned in addresses else 0)
            return by_address[after:] + by_address[:after]
        return sorted(self.rooms, key=lambda room: (room.priority, room.address))


def _last_end_before(ends: list[int], start: int) -> tuple[int, int]:
    """Sort key: a room never booked before ``start`` has been idle longest of all."""
    count = bisect_right(ends, start)
    return (1, ends[count - 1]) if count else (0, 0)


def _pool_plans(query: SlotQuery) -> tuple[_PoolPlan, ...]:
    explicit = {room.address for room in query.rooms}
    headcount = len(query.participants)
    plans = []
    for pool in query.pools:
        seen: set[str] = set()
        rooms = []
        for room in pool.rooms:
            if room.address in explicit or room.address in seen:
                continue
            seen.add(room.address)
            if room.capacity is None or room.capacity >= headcount:
                rooms.append(room)
        plans.append(_PoolPlan(pool, tuple(rooms)))
    return tuple(plans)


def _share_out(choices: Sequence[Sequence[str]]) -> list[str | None]:
    """One distinct room per pool (Kuhn's augmenting paths), else None for that pool.

    A pool takes its first choice nobody holds; only when every choice is held does it
    ask a holder to move, so a pool loses its preferred room only to make room for another.
    """
    holder_of: dict[str, int] = {}
    for pool_index, preferred in enumerate(choices):
        unheld = next((address for address in preferred if address not in holder_of), None)
        if unheld is not None:
            holder_of[unheld] = pool_index
        else:
            _reroute(pool_index, choices, holder_of, set())
    given: list[str | None] = [None] * len(choices)
    for address, pool_index in holder_of.items():
        given[pool_index] = address
    return given


def _reroute(pool_index: int, choices: Sequence[Sequence[str]], holder_of: dict[str, int],
             visited: set[str]) -> bool:
    # Depth is bounded by the number of pools, itself bounded by MAX_ROOMS.
    for address in choices[pool_index]:
        if address in visited:
            continue
        visited.add(address)
        holder = holder_of.get(address)
        if holder is None or _reroute(holder, choices, holder_of, visited):
            holder_of[address] = pool_index
            return True
    return False


# --- the board: every candidate at once -------------------------------------------------

@dataclass(frozen=True)
class _Calendars:
    """Every calendar of a query painted onto the grid.

    An address names one room: a room named explicitly and in a pool, or in two pools,
    is painted once, from the first :class:`Room` given for it.
    """

    query: SlotQuery
    grid: _Grid
    people: tuple[_Timeline | None, ...]
    rooms: dict[str, _Timeline]
    plans: tuple[_PoolPlan, ...]

    @staticmethod
    def paint(query: SlotQuery, grid: _Grid) -> _Calendars:
        codes_of = _participant_codes(query.working_hours)
        people = tuple(None if person.busy is None else _timeline(person.busy, grid, codes_of)
                       for person in query.participants)
        rooms: dict[str, _Timeline] = {}
        for room in (*query.rooms, *(room for pool in query.pools for room in pool.rooms)):
            if room.address not in rooms:
                rooms[room.address] = _timeline(room.busy, grid, _ROOM_CODES)
        return _Calendars(query, grid, people, rooms, _pool_plans(query))

    @property
    def width(self) -> int:
        return len(self.grid.starts)

    def required_rows(self, flags: bytes | None = None) -> list[bytes | bytearray]:
        """Code rows of required people whose calendars we know, optionally as 0/1 flags."""
        return [timeline.codes if flags is None else timeline.codes.translate(flags)
                for person, timeline in zip(self.query.participants, self.people, strict=True)
                if person.required and timeline is not None]

    def confidences(self) -> list[float]:
        if not self.people:
            return [float(FREE_SCORE)] * self.width
        not_free_rows = [timeline.codes.translate(_IS_NOT_FREE)
                         for timeline in self.people if timeline is not None]
        unknown_points = UNKNOWN_SCORE * (len(self.people) - len(not_free_rows))
        return [round((FREE_SCORE * (len(not_free_rows) - not_free) + unknown_points)
                      / len(self.people), 2)
                for not_free in _sum_column(not_free_rows, self.width)]

    def rooms_fine(self) -> list[bool]:
        """Per candidate: explicit rooms free and every pool able to give a room.

        Pools that share no room are checked column-wise; pools that share rooms need the
        matching at each candidate, which only a query naming such pools pays for.
        """
        fine = [not taken for taken in _any_column(
            [self.rooms[room.address].codes for room in self.query.rooms], self.width)]
        if self._pools_share_rooms():
            return [ok and None not in self.given_rooms(index, None)
                    for index, ok in enumerate(fine)]
        for plan in self.plans:
            has_free = _any_column([self.rooms[room.address].codes.translate(_IS_FREE)
                                    for room in plan.rooms], self.width)
            fine = [ok and free for ok, free in zip(fine, has_free, strict=True)]
        return fine

    def _pools_share_rooms(self) -> bool:
        addresses = [room.address for plan in self.plans for room in plan.rooms]
        return len(addresses) != len(set(addresses))

    def given_rooms(self, index: int, last_ends: dict[str, list[int]] | None
                    ) -> list[str | None]:
        """The room each pool gives at a candidate; in the rules' order when ``last_ends``
        is given (for reporting), in any order when only whether matters."""
        start = self.grid.starts[index]
        choices = [[room.address
                    for room in (plan.rooms if last_ends is None
                                 else plan.preferred(start, last_ends))
                    if self.rooms[room.address].codes[index] == _FREE]
                   for plan in self.plans]
        return _share_out(choices)

    def last_ends(self) -> dict[str, list[int]]:
        """Sorted ends of the periods of ``longest-idle`` pools' rooms."""
        wanted = {room.address: room for plan in self.plans
                  if plan.pool.assignment == ASSIGNMENT_LONGEST_IDLE for room in plan.rooms}
        return {address: sorted(period.end for period in room.busy
                                if period.end > period.start
                                and period.fbtype.upper() != "FREE")
                for address, room in wanted.items()}


@dataclass(frozen=True)
class _Board:
    """The calendars and the per-candidate verdicts derived from them."""

    calendars: _Calendars
    fit: list[bool]
    confidence: list[float]
    rooms_fine: list[bool]

    @staticmethod
    def judge(calendars: _Calendars) -> _Board:
        blocked = _any_column(calendars.required_rows(), calendars.width)
        rooms_fine = calendars.rooms_fine()
        fit = [not taken and fine for taken, fine in zip(blocked, rooms_fine, strict=True)]
        return _Board(calendars, fit, calendars.confidences(), rooms_fine)


# --- ranking, results, reasons ----------------------------------------------------------

def _ranked(board: _Board, query: SlotQuery) -> list[int]:
    """Candidate indices to return: fit first, then more confident, then earlier."""
    starts = board.calendars.grid.starts
    shown = [index for index, fit in enumerate(board.fit) if fit or query.show_conflicts]
    shown.sort(key=lambda index: (not board.fit[index], -board.confidence[index],
                                  starts[index]))
    return shown[:query.max_results]


def _slots(board: _Board, chosen: list[int]) -> tuple[Slot, ...]:
    calendars = board.calendars
    ascending = sorted(chosen)
    people_conflicts = [{} if timeline is None else timeline.conflicts_at(ascending)
                        for timeline in calendars.people]
    room_conflicts = {room.address: calendars.rooms[room.address].conflicts_at(ascending)
                      for room in calendars.query.rooms}
    last_ends = calendars.last_ends()
    return tuple(
        Slot(start=calendars.grid.starts[index],
             end=calendars.grid.starts[index] + calendars.query.duration,
             fit=board.fit[index], confidence=board.confidence[index],
             participants=_people_at(calendars, index, people_conflicts),
             rooms=_rooms_at(calendars, index, room_conflicts, last_ends))
        for index in chosen)


def _people_at(calendars: _Calendars, index: int,
               conflicts: list[dict[int, tuple[Busy, ...]]]
               ) -> tuple[ParticipantAvailability, ...]:
    return tuple(
        ParticipantAvailability(
            person.address, person.required, person.is_organizer,
            "unknown" if timeline is None else _STATUS_OF_CODE[timeline.codes[index]],
            found.get(index, ()))
        for person, timeline, found in zip(calendars.query.participants, calendars.people,
                                           conflicts, strict=True))


def _rooms_at(calendars: _Calendars, index: int,
              conflicts: dict[str, dict[int, tuple[Busy, ...]]],
              last_ends: dict[str, list[int]]) -> tuple[RoomAssignment, ...]:
    named = [RoomAssignment(None, room.address,
                            "free" if calendars.rooms[room.address].codes[index] == _FREE
                            else "busy",
                            conflicts[room.address].get(index, ()))
             for room in calendars.query.rooms]
    given = calendars.given_rooms(index, last_ends) if calendars.plans else []
    pooled = [RoomAssignment(plan.pool.name, address,
                             "none-free" if address is None else "free", ())
              for plan, address in zip(calendars.plans, given, strict=True)]
    return (*named, *pooled)


def _reason(board: _Board) -> str | None:
    """Why nothing is fit, most specific first; worked out only when nothing is."""
    calendars = board.calendars
    if not calendars.width:
        return REASON_NO_CANDIDATES
    if any(board.fit):
        return None
    if any(person.is_organizer and timeline is not None and all(timeline.codes)
           for person, timeline in zip(calendars.query.participants, calendars.people,
                                       strict=True)):
        return REASON_ORGANIZER_UNAVAILABLE
    away = _any_column(calendars.required_rows(_IS_UNAVAILABLE), calendars.width)
    taken = _any_column(calendars.required_rows(_IS_BUSY_OR_TENTATIVE), calendars.width)
    if all(is_away and not is_taken and fine
           for is_away, is_taken, fine in zip(away, taken, board.rooms_fine, strict=True)):
        return REASON_OUTSIDE_WORKING_HOURS
    if not any(away) and not any(taken):
        return REASON_ROOMS_UNAVAILABLE
    return REASON_ATTENDEES_UNAVAILABLE
