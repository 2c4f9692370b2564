"""The slot finder: explicit vectors, then properties against a brute-force finder.

The brute force in this file shares no code with the finder: it walks the window minute
by minute, reads each instant's wall time with ``datetime.fromtimestamp`` and checks
every period of every calendar against every candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radicale_tracks.core.slots import (
    MAX_PARTICIPANTS,
    MAX_ROOMS,
    REASON_ATTENDEES_UNAVAILABLE,
    REASON_NO_CANDIDATES,
    REASON_ORGANIZER_UNAVAILABLE,
    REASON_OUTSIDE_WORKING_HOURS,
    REASON_ROOMS_UNAVAILABLE,
    Busy,
    Participant,
    Pool,
    Room,
    RoomAssignment,
    Slot,
    SlotQuery,
    SlotQueryError,
    SlotResult,
    find_slots,
    reason_text,
)

MINUTE, HOUR, DAY = 60, 3600, 86_400
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          fold: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, fold=fold,
                        tzinfo=ZoneInfo(zone)).timestamp())


MONDAY = utc(2026, 6, 1)          # a Monday, far from any DST change
NINE, NOON = MONDAY + 9 * HOUR, MONDAY + 12 * HOUR


def query(participants: Iterable[Participant] = (), **fields: object) -> SlotQuery:
    """A morning's search in UTC with a one-hour meeting unless told otherwise."""
    defaults: dict[str, object] = dict(duration=HOUR, window_start=NINE, window_end=NOON,
                                       current_time=MONDAY)
    defaults.update(fields)
    return SlotQuery(participants=tuple(participants), **defaults)  # type: ignore[arg-type]


def person(address: str = "a@example.com", *busy: Busy, **fields: object) -> Participant:
    return Participant(address, busy=tuple(busy), **fields)  # type: ignore[arg-type]


def starts(result: SlotResult) -> list[int]:
    return [slot.start for slot in result.slots]


def fit_starts(result: SlotResult) -> list[int]:
    return [slot.start for slot in result.slots if slot.fit]


# --- candidates and the basic rule ------------------------------------------------------

def test_free_and_busy_morning() -> None:
    meeting = Busy(NINE + HOUR, NINE + 2 * HOUR, summary="standup")
    result = find_slots(query([person("a@example.com", meeting), person("b@example.com")]))
    # 09:00 ends as the meeting starts and 11:00 starts as it ends: touching is no clash.
    assert starts(result) == [NINE, NINE + 2 * HOUR]
    assert result.reason is None and result.candidates == 5
    slot = result.slots[0]
    assert (slot.end, slot.fit, slot.confidence) == (NINE + HOUR, True, 100.0)
    assert [p.status for p in slot.participants] == ["free", "free"]


def test_buffers_widen_the_checked_interval_for_everyone() -> None:
    meeting = Busy(NINE + HOUR, NINE + 2 * HOUR)
    before = find_slots(query([person("a@example.com", meeting)], buffer_before=15 * MINUTE))
    assert starts(before) == [NINE]
    after = find_slots(query([person("a@example.com", meeting)], buffer_after=15 * MINUTE))
    assert starts(after) == [NINE + 2 * HOUR]
    room = Room("room@example.com", busy=(meeting,))
    assert starts(find_slots(query(rooms=(room,), buffer_after=1))) == [NINE + 2 * HOUR]


def test_window_end_bounds_the_meeting_not_its_start() -> None:
    result = find_slots(query([person()], window_end=NINE + 90 * MINUTE))
    assert starts(result) == [NINE, NINE + 30 * MINUTE]


def test_minimum_notice_on_the_spring_forward_day() -> None:
    # 00:30 UTC is 01:30 CET; two hours' notice is 02:30 UTC, 04:30 CEST.
    day = dict(window_start=local("Europe/Berlin", 2026, 3, 29),
               window_end=local("Europe/Berlin", 2026, 3, 30), zone="Europe/Berlin")
    result = find_slots(query([person()], current_time=utc(2026, 3, 29, 0, 30),
                              minimum_notice=2 * HOUR, duration=30 * MINUTE, **day))
    assert min(starts(result)) == utc(2026, 3, 29, 2, 30)
    # Notice ending at 01:15 UTC (03:15 CEST, just after the gap): first slot 03:30 CEST.
    result = find_slots(query([person()], current_time=utc(2026, 3, 29, 1, 15),
                              duration=30 * MINUTE, **day))
    assert min(starts(result)) == utc(2026, 3, 29, 1, 30)


def berlin_day(year: int, month: int, day: int, grid: int) -> SlotResult:
    return find_slots(query(
        [person()], zone="Europe/Berlin", grid_minutes=grid, duration=30 * MINUTE,
        window_start=local("Europe/Berlin", year, month, day),
        window_end=local("Europe/Berlin", year, month, day + 1) + 30 * MINUTE,
        current_time=0, max_results=1000))


def test_berlin_spring_forward_has_no_slots_in_the_gap() -> None:
    found = sorted(starts(berlin_day(2026, 3, 29, 60)))
    assert len(found) == 24            # 00:00 … 23:00 without 02:00, plus next 00:00
    walls = [datetime.fromtimestamp(t, BERLIN).strftime("%H:%M") for t in found]
    assert "02:00" not in walls and walls[:3] == ["00:00", "01:00", "03:00"]
    assert found[2] == utc(2026, 3, 29, 1)
    after_one = [t for t in found if t >= utc(2026, 3, 29, 11)][:4]
    assert after_one == [utc(2026, 3, 29, 11), utc(2026, 3, 29, 12), utc(2026, 3, 29, 13),
                         utc(2026, 3, 29, 14)]       # 13:00 … 16:00 CEST


def test_berlin_fall_back_has_both_repeated_hours() -> None:
    found = sorted(starts(berlin_day(2026, 10, 25, 30)))
    assert len(found) == 50 + 1        # 25 hours of half hours, plus next 00:00
    repeated = [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30),   # 02:00, 02:30 CEST
                utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30)]   # 02:00, 02:30 CET
    assert set(repeated) <= set(found)
    assert len(found) == len(set(found))
    after_one = [t for t in found if t >= utc(2026, 10, 25, 12)][:3]
    assert after_one == [utc(2026, 10, 25, 12), utc(2026, 10, 25, 12, 30),
                         utc(2026, 10, 25, 13)]      # 13:00, 13:30, 14:00 CET


def test_kolkata_slots_sit_on_local_half_hours() -> None:
    result = find_slots(query([person()], zone="Asia/Kolkata", grid_minutes=60,
                              window_start=MONDAY, window_end=MONDAY + DAY))
    assert starts(result)[:2] == [MONDAY + 30 * MINUTE, MONDAY + 90 * MINUTE]
    assert all(t % HOUR == 30 * MINUTE for t in starts(result))


def test_windows_zone_name_is_accepted() -> None:
    window = dict(window_start=utc(2026, 3, 28), window_end=utc(2026, 3, 31),
                  max_results=1000, duration=15 * MINUTE, current_time=0)
    windows = find_slots(query([person()], zone="W. Europe Standard Time", **window))
    iana = find_slots(query([person()], zone="Europe/Berlin", **window))
    assert starts(windows) == starts(iana) and windows.candidates == 3 * 48


def test_grid_of_25_minutes_restarts_at_midnight() -> None:
    result = find_slots(query([person()], grid_minutes=25, duration=5 * MINUTE,
                              window_start=MONDAY + 23 * HOUR,
                              window_end=MONDAY + DAY + HOUR))
    walls = [(t - MONDAY) // MINUTE for t in starts(result)]
    assert walls == [23 * 60 + 20, 23 * 60 + 45, 24 * 60, 24 * 60 + 25, 24 * 60 + 50]


def test_grid_of_5_minutes() -> None:
    result = find_slots(query([person()], grid_minutes=5, max_results=100))
    assert starts(result) == list(range(NINE, NOON - HOUR + 1, 5 * MINUTE))


# --- participants -----------------------------------------------------------------------

def test_busy_optional_attendee_lowers_confidence_but_not_fitness() -> None:
    optional = person("b@example.com", Busy(NINE, NINE + HOUR), required=False)
    result = find_slots(query([person(), optional]))
    assert all(slot.fit for slot in result.slots) and result.reason is None
    by_start = {slot.start: slot for slot in result.slots}
    assert by_start[NINE].confidence == 50.0
    assert by_start[NINE + HOUR].confidence == 100.0
    assert result.slots[0].confidence == 100.0      # confident slots rank first
    assert by_start[NINE].participants[1].status == "busy"


def test_unknown_external_participant_scores_49() -> None:
    outsider = Participant("x@elsewhere.example", busy=None)
    alone = find_slots(query([outsider]))
    assert alone.slots[0].confidence == 49.0 and alone.slots[0].fit
    assert alone.slots[0].participants[0].status == "unknown"
    together = find_slots(query([person(), outsider]))
    assert together.slots[0].confidence == 74.5


def test_no_participants_means_full_confidence() -> None:
    result = find_slots(query(rooms=(Room("room@example.com"),)))
    assert result.slots[0].confidence == 100.0


def test_tentative_required_attendee_is_not_fit() -> None:
    maybe = Busy(NINE, NOON - HOUR, "BUSY-TENTATIVE", "maybe")
    result = find_slots(query([person("a@example.com", maybe)], show_conflicts=True))
    by_start = {slot.start: slot for slot in result.slots}
    assert not by_start[NINE].fit and by_start[NINE].confidence == 0.0
    assert by_start[NINE].participants[0].status == "tentative"
    assert by_start[NINE].participants[0].conflicts == (maybe,)
    assert fit_starts(result) == [NOON - HOUR]


def test_unavailable_counts_only_with_working_hours() -> None:
    evening = Busy(MONDAY, NINE + HOUR, "BUSY-UNAVAILABLE")
    honoured = find_slots(query([person("a@example.com", evening)]))
    assert fit_starts(honoured) == [NINE + HOUR, NINE + 90 * MINUTE, NINE + 2 * HOUR]
    ignored = find_slots(query([person("a@example.com", evening)], working_hours=False))
    assert fit_starts(ignored)[0] == NINE
    assert ignored.slots[0].participants[0].status == "free"
    assert ignored.slots[0].participants[0].conflicts == ()


def test_worst_status_wins_and_conflicts_are_listed_in_order() -> None:
    periods = (Busy(NINE + 30 * MINUTE, NINE + HOUR, "BUSY-TENTATIVE", "b"),
               Busy(NINE, NINE + 45 * MINUTE, "BUSY", "a"),
               Busy(MONDAY - 3 * DAY, MONDAY + 3 * DAY, "BUSY-UNAVAILABLE", "leave"),
               Busy(NINE, NINE + HOUR, "FREE"), Busy(NINE, NINE, "BUSY", "empty"))
    result = find_slots(query([person("a@example.com", *periods)], show_conflicts=True))
    first = result.slots[0]
    assert first.start == NINE and first.participants[0].status == "busy"
    assert first.participants[0].conflicts == (periods[2], periods[1], periods[0])
    assert result.reason == REASON_ATTENDEES_UNAVAILABLE


def test_fbtype_spelling_and_unknown_fbtypes() -> None:
    lower = find_slots(query([person("a@example.com",
                                     Busy(NINE, NOON, "busy-tentative"))], show_conflicts=True))
    assert lower.slots[0].participants[0].status == "tentative"
    odd = find_slots(query([person("a@example.com", Busy(NINE, NOON, "X-OUT-OF-OFFICE"))],
                           show_conflicts=True))
    assert odd.slots[0].participants[0].status == "busy"   # RFC 5545 §3.2.9


# --- rooms and pools --------------------------------------------------------------------

def test_explicit_room_busy() -> None:
    booked = Busy(NINE, NINE + 90 * MINUTE, "BUSY-UNAVAILABLE", "closed")
    room = Room("room@example.com", busy=(booked,))
    result = find_slots(query([person()], rooms=(room,), show_conflicts=True))
    assert fit_starts(result) == [NINE + 90 * MINUTE, NINE + 2 * HOUR]
    unfit = [slot for slot in result.slots if not slot.fit]
    assert [slot.start for slot in unfit] == [NINE, NINE + 30 * MINUTE, NINE + HOUR]
    assert unfit[0].rooms[0].status == "busy" and unfit[0].rooms[0].conflicts == (booked,)
    assert result.slots[0].rooms[0].status == "free"


def pool_room(address: str, *busy: Busy, **fields: object) -> Room:
    return Room(address, busy=tuple(busy), **fields)  # type: ignore[arg-type]


def assigned(pool: Pool, **fields: object) -> dict[int, str | None]:
    result = find_slots(query([person()], pools=(pool,), show_conflicts=True, **fields))
    return {slot.start: slot.rooms[0].address for slot in result.slots}


def test_pool_priority() -> None:
    rooms = (pool_room("c@x", priority=1), pool_room("b@x", priority=0),
             pool_room("a@x", Busy(NINE, NINE + HOUR), priority=0))
    by_start = assigned(Pool("small", rooms))
    assert by_start[NINE] == "b@x" and by_start[NINE + HOUR] == "a@x"


def test_pool_longest_idle() -> None:
    rooms = (pool_room("a@x", Busy(NINE - 2 * HOUR, NINE - HOUR)),
             pool_room("b@x", Busy(NINE - 3 * HOUR, NINE - 2 * HOUR)),
             pool_room("c@x", Busy(NINE + 90 * MINUTE, NINE + 2 * HOUR)),
             pool_room("d@x", Busy(NINE - 5 * HOUR, NINE - 4 * HOUR), priority=5))
    by_start = assigned(Pool("p", rooms, "longest-idle"))
    # c@x has no booking ending by 09:00, so it counts as idle forever.
    assert by_start[NINE] == "c@x"
    # At 10:00 c@x is booked; at 11:00 it was last used until 11:00, d@x until 05:00.
    assert by_start[NINE + HOUR] == "d@x" and by_start[NINE + 2 * HOUR] == "d@x"
    never_used = (pool_room("a@x", Busy(NINE - 2 * HOUR, NINE - HOUR)),
                  pool_room("b@x", Busy(NOON, NOON + HOUR)))
    assert assigned(Pool("p", never_used, "longest-idle"))[NINE] == "b@x"
    ties = (pool_room("b@x"), pool_room("c@x", priority=-1), pool_room("a@x"))
    assert assigned(Pool("p", ties, "longest-idle"))[NINE] == "c@x"


def test_pool_round_robin() -> None:
    rooms = (pool_room("c@x"), pool_room("a@x"), pool_room("b@x", Busy(NINE, NINE + HOUR)))
    assert assigned(Pool("p", rooms, "round-robin", "a@x"))[NINE] == "c@x"
    assert assigned(Pool("p", rooms, "round-robin", "a@x"))[NINE + HOUR] == "b@x"
    assert assigned(Pool("p", rooms, "round-robin", "c@x"))[NINE] == "a@x"
    assert assigned(Pool("p", rooms, "round-robin", None))[NINE] == "a@x"
    assert assigned(Pool("p", rooms, "round-robin", "gone@x"))[NINE] == "a@x"


def test_pool_capacity() -> None:
    rooms = (pool_room("a@x", capacity=1), pool_room("b@x", capacity=2, priority=1),
             pool_room("c@x", priority=2))
    two = [person("a@example.com"), person("b@example.com")]
    result = find_slots(query(two, pools=(Pool("p", rooms),)))
    assert result.slots[0].rooms[0].address == "b@x"
    three = [*two, person("c@example.com")]
    result = find_slots(query(three, pools=(Pool("p", rooms),)))
    assert result.slots[0].rooms[0].address == "c@x"
    too_small = find_slots(query(three, pools=(Pool("p", rooms[:2]),), show_conflicts=True))
    assert fit_starts(too_small) == [] and too_small.reason == REASON_ROOMS_UNAVAILABLE
    assert too_small.slots[0].rooms[0] == RoomAssignment("p", None, "none-free", ())


def test_a_room_is_never_given_twice() -> None:
    one, two = pool_room("one@x"), pool_room("two@x", priority=1)
    shared = find_slots(query([person()], pools=(Pool("first", (one, two)),
                                                   Pool("second", (one,)))))
    rooms = shared.slots[0].rooms
    assert [(r.pool, r.address) for r in rooms] == [("first", "two@x"), ("second", "one@x")]
    named = find_slots(query([person()], rooms=(one,), pools=(Pool("p", (one, two)),)))
    assert [r.address for r in named.slots[0].rooms] == ["one@x", "two@x"]
    clash = find_slots(query([person()], pools=(Pool("a", (one,)), Pool("b", (one,))),
                             show_conflicts=True))
    assert fit_starts(clash) == [] and clash.reason == REASON_ROOMS_UNAVAILABLE
    assert sorted(r.status for r in clash.slots[0].rooms) == ["free", "none-free"]


# --- results ----------------------------------------------------------------------------

def test_show_conflicts_puts_unfit_slots_after_fit_ones() -> None:
    lunch = Busy(NINE + HOUR, NINE + 2 * HOUR, summary="lunch")
    optional = person("b@example.com", Busy(NINE, NINE + HOUR), required=False)
    result = find_slots(query([person("a@example.com", lunch), optional],
                              show_conflicts=True))
    assert [(slot.start, slot.fit, slot.confidence) for slot in result.slots] == [
        (NINE + 2 * HOUR, True, 100.0), (NINE, True, 50.0),
        (NINE + HOUR, False, 50.0), (NINE + 90 * MINUTE, False, 50.0),
        (NINE + 30 * MINUTE, False, 0.0)]  # at 09:30 the optional b@ is busy too
    assert result.slots[2].participants[0].conflicts == (lunch,)
    assert result.slots[4].participants[1].conflicts == (Busy(NINE, NINE + HOUR),)
    without = find_slots(query([person("a@example.com", lunch), optional]))
    assert [slot.start for slot in without.slots] == [NINE + 2 * HOUR, NINE]


def test_max_results() -> None:
    result = find_slots(query([person()], max_results=2))
    assert starts(result) == [NINE, NINE + 30 * MINUTE] and result.candidates == 5


def test_reason_no_candidates() -> None:
    late = find_slots(query([person()], current_time=NOON - 30 * MINUTE))
    assert late.slots == () and late.reason == REASON_NO_CANDIDATES
    assert late.candidates == 0
    short = find_slots(query([person()], window_start=NINE + 1, window_end=NINE + 29 * MINUTE,
                             duration=MINUTE))
    assert short.reason == REASON_NO_CANDIDATES


def test_reason_organizer_unavailable() -> None:
    organizer = person("o@example.com", Busy(MONDAY, NOON, "BUSY-TENTATIVE"),
                       is_organizer=True)
    result = find_slots(query([organizer, person()]))
    assert result.slots == () and result.reason == REASON_ORGANIZER_UNAVAILABLE


def test_reason_outside_working_hours() -> None:
    night = person("a@example.com", Busy(MONDAY, NOON + HOUR, "BUSY-UNAVAILABLE"))
    assert find_slots(query([night, person()])).reason == REASON_OUTSIDE_WORKING_HOURS
    # Someone required also busy at 09:00: not only working hours stand in the way.
    mixed = person("b@example.com", Busy(NINE, NINE + HOUR))
    assert find_slots(query([night, mixed])).reason == REASON_ATTENDEES_UNAVAILABLE
    with_room = find_slots(query([night], rooms=(Room("r@x", busy=(Busy(NINE, NOON),)),)))
    assert with_room.reason == REASON_ATTENDEES_UNAVAILABLE
    partly = person("a@example.com", Busy(MONDAY, NINE + HOUR, "BUSY-UNAVAILABLE"),
                    Busy(NINE + HOUR, NOON))
    assert find_slots(query([partly])).reason == REASON_ATTENDEES_UNAVAILABLE


def test_reason_rooms_unavailable() -> None:
    room = Room("room@example.com", busy=(Busy(MONDAY, NOON),))
    result = find_slots(query([person()], rooms=(room,)))
    assert result.reason == REASON_ROOMS_UNAVAILABLE


def test_reason_attendees_unavailable() -> None:
    result = find_slots(query([person("a@example.com", Busy(NINE, NOON))]))
    assert result.reason == REASON_ATTENDEES_UNAVAILABLE


def test_reason_texts_are_sentences() -> None:
    reasons = [REASON_NO_CANDIDATES, REASON_ORGANIZER_UNAVAILABLE,
               REASON_OUTSIDE_WORKING_HOURS, REASON_ROOMS_UNAVAILABLE,
               REASON_ATTENDEES_UNAVAILABLE]
    texts = [reason_text(reason) for reason in reasons]
    assert len(set(texts)) == len(texts)
    assert all(text[0].isupper() and text.endswith(".") for text in texts)


def test_long_and_overlapping_periods() -> None:
    week = Busy(MONDAY - 7 * DAY, NINE + 30 * MINUTE, summary="long")
    inner = Busy(MONDAY - 2 * DAY, MONDAY - DAY, summary="inner")
    short = Busy(NINE + HOUR, NINE + 90 * MINUTE)
    result = find_slots(query([person("a@example.com", week, inner, short)],
                              show_conflicts=True))
    by_start = {slot.start: slot for slot in result.slots}
    assert fit_starts(result) == [NINE + 90 * MINUTE, NINE + 2 * HOUR]
    assert by_start[NINE].participants[0].conflicts == (week,)
    assert by_start[NINE + 30 * MINUTE].participants[0].conflicts == (short,)


@pytest.mark.parametrize(("fields", "message"), [
    (dict(grid_minutes=4), "grid_minutes"),
    (dict(grid_minutes=61), "grid_minutes"),
    (dict(duration=0), "duration"),
    (dict(duration=DAY + 1), "duration"),
    (dict(window_end=NINE), "window_end"),
    (dict(window_end=NINE + 62 * DAY + 1), "62 days"),
    (dict(window_start=-3_000_000_000, window_end=-2_999_000_000), "years"),
    (dict(buffer_before=-1), "buffer_before"),
    (dict(buffer_after=-1), "buffer_after"),
    (dict(minimum_notice=-1), "minimum_notice"),
    (dict(zone="Mars/Olympus_Mons"), "zone"),
    (dict(pools=(Pool("p", (Room("r@x"),), "random"),)), "assignment"),
    (dict(pools=(Pool("empty", ()),)), "no rooms"),
    (dict(max_results=0), "max_results"),
    (dict(participants=tuple(person("p%d@x" % i) for i in range(MAX_PARTICIPANTS + 1))),
     "participants"),
    (dict(rooms=tuple(Room("r%d@x" % i) for i in range(MAX_ROOMS)),
          pools=(Pool("p", (Room("extra@x"),)),)), "rooms"),
    (dict(participants=()), "at least one"),
])
def test_validation(fields: dict[str, object], message: str) -> None:
    base = query([person()])
    with pytest.raises(SlotQueryError, match=message):
        find_slots(replace(base, **fields))  # type: ignore[arg-type]


def test_limits_themselves_are_accepted() -> None:
    result = find_slots(query([person()], grid_minutes=5, duration=DAY,
                              window_start=MONDAY, window_end=MONDAY + 62 * DAY,
                              max_results=1))
    assert result.candidates == 61 * 288 + 1
    assert isinstance(result.slots[0], Slot)


# --- properties against a brute-force finder --------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe",
         "Asia/Kathmandu", "America/Sao_Paulo", "Pacific/Chatham", "America/St_Johns"]
# Days with a DST change somewhere in ZONES, and a quiet one.
ANCHORS = [utc(2026, 3, 8), utc(2026, 3, 29), utc(2026, 4, 5), utc(2026, 10, 4),
           utc(2026, 10, 25), utc(2026, 11, 1), utc(2026, 6, 15), utc(2018, 11, 4),
           utc(2019, 2, 16)]
FBTYPES = ["BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE", "FREE", "busy", "X-ODD"]
ROOM_ADDRESSES = ["r1@x", "r2@x", "r3@x", "r4@x"]


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def counted_for_person(period: Busy, working_hours: bool) -> bool:
    kind = period.fbtype.upper()
    return period.end > period.start and kind != "FREE" and (
        working_hours or kind != "BUSY-UNAVAILABLE")


def person_status(busy: tuple[Busy, ...] | None, start: int, end: int,
                  working_hours: bool) -> tuple[str, list[Busy]]:
    if busy is None:
        return "unknown", []
    hits = [p for p in busy if counted_for_person(p, working_hours)
            and overlaps(p.start, p.end, start, end)]
    kinds = {p.fbtype.upper() for p in hits}
    if kinds - {"BUSY-UNAVAILABLE", "BUSY-TENTATIVE"}:
        return "busy", hits
    if "BUSY-UNAVAILABLE" in kinds:
        return "unavailable", hits
    if kinds:
        return "tentative", hits
    return "free", hits


def room_free(room: Room, start: int, end: int) -> bool:
    return not any(p.end > p.start and p.fbtype.upper() != "FREE"
                   and overlaps(p.start, p.end, start, end) for p in room.busy)


def brute_candidates(q: SlotQuery) -> list[int]:
    zone = ZoneInfo(q.zone)
    first = max(q.window_start, q.current_time + q.minimum_notice)
    instant = -(-first // MINUTE) * MINUTE
    found = []
    while instant <= q.window_end - q.duration:
        wall = datetime.fromtimestamp(instant, zone)
        if wall.second == 0 and (wall.hour * 60 + wall.minute) % q.grid_minutes == 0:
            found.append(instant)
        instant += MINUTE
    return found


def checked(q: SlotQuery, start: int) -> tuple[int, int]:
    return start - q.buffer_before, start + q.duration + q.buffer_after


def brute_fit(q: SlotQuery, start: int) -> bool:
    low, high = checked(q, start)
    for participant in q.participants:
        if participant.required and participant.busy is not None:
            if person_status(participant.busy, low, high, q.working_hours)[0] != "free":
                return False
    if not all(room_free(room, low, high) for room in q.rooms):
        return False
    named = {room.address for room in q.rooms}
    people = len(q.participants)
    choices = [{room.address for room in pool.rooms
                if room.address not in named and room_free(room, low, high)
                and (room.capacity is None or room.capacity >= people)}
               for pool in q.pools]
    return any(len(set(pick)) == len(pick) for pick in itertools.product(*choices))


@st.composite
def busy_lists(draw: st.DrawFn, around: int) -> tuple[Busy, ...]:
    periods = []
    for _ in range(draw(st.integers(0, 6))):
        start = around + draw(st.integers(-DAY // 4, 2 * DAY)) // (5 * MINUTE) * (
            5 * MINUTE) + draw(st.sampled_from([0, 0, 0, 1, -1]))
        length = draw(st.sampled_from([0, 5 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, DAY,
                                       2 * DAY + 7]))
        periods.append(Busy(start, start + length, draw(st.sampled_from(FBTYPES)),
                            draw(st.sampled_from(["", "x"]))))
    return tuple(periods)


@st.composite
def slot_queries(draw: st.DrawFn) -> SlotQuery:
    window_start = draw(st.sampled_from(ANCHORS)) + draw(st.integers(-DAY, DAY))
    window_end = window_start + draw(st.sampled_from([HOUR, 6 * HOUR, DAY, 2 * DAY])) \
        + draw(st.integers(-HOUR + 1, HOUR))
    participants = tuple(
        Participant("p%d@x" % index, required=draw(st.booleans()),
                    busy=None if draw(st.integers(0, 5)) == 0
                    else draw(busy_lists(window_start)),
                    is_organizer=index == 0 and draw(st.booleans()))
        for index in range(draw(st.integers(0, 4))))
    rooms_by_address = {
        address: Room(address, busy=draw(busy_lists(window_start)),
                      capacity=draw(st.sampled_from([None, None, 1, 3, 5])),
                      priority=draw(st.integers(0, 2)))
        for address in ROOM_ADDRESSES}
    named = tuple(rooms_by_address[a] for a in draw(
        st.lists(st.sampled_from(ROOM_ADDRESSES), max_size=2, unique=True)))
    pools = tuple(
        Pool("pool%d" % index,
             tuple(rooms_by_address[a] for a in draw(
                 st.lists(st.sampled_from(ROOM_ADDRESSES), min_size=1, max_size=3,
                          unique=True))),
             draw(st.sampled_from(["priority", "longest-idle", "round-robin"])),
             draw(st.sampled_from([None, "r2@x", "r4@x"])))
        for index in range(draw(st.integers(0, 2))))
    if not participants and not named and not pools:
        participants = (Participant("solo@x"),)
    return SlotQuery(
        participants=participants, rooms=named, pools=pools,
        duration=draw(st.sampled_from([5 * MINUTE, 30 * MINUTE, HOUR, 90 * MINUTE, 4 * HOUR,
                                       25 * MINUTE + 1])),
        window_start=window_start, window_end=window_end,
        current_time=window_start + draw(st.sampled_from([-DAY, 0, HOUR + 1, 3 * DAY])),
        grid_minutes=draw(st.sampled_from([5, 7, 15, 25, 30, 45, 60])),
        zone=draw(st.sampled_from(ZONES)),
        buffer_before=draw(st.sampled_from([0, 0, 10 * MINUTE, 1])),
        buffer_after=draw(st.sampled_from([0, 0, 15 * MINUTE])),
        minimum_notice=draw(st.sampled_from([0, 0, 2 * HOUR])),
        working_hours=draw(st.booleans()), show_conflicts=draw(st.booleans()),
        max_results=10**6)


PROPERTIES = settings(max_examples=200, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(slot_queries())
def test_fit_slots_are_exactly_the_brute_force_ones(q: SlotQuery) -> None:
    result = find_slots(q)
    candidates = brute_candidates(q)
    assert result.candidates == len(candidates)
    expected_fit = {start for start in candidates if brute_fit(q, start)}
    assert set(fit_starts(result)) == expected_fit
    assert len(fit_starts(result)) == len(expected_fit)
    if q.show_conflicts:
        assert sorted(starts(result)) == candidates
    assert (result.reason is None) == bool(expected_fit)
    if not candidates:
        assert result.reason == REASON_NO_CANDIDATES


@PROPERTIES
@given(slot_queries())
def test_fit_slots_clash_with_nothing_required(q: SlotQuery) -> None:
    for slot in find_slots(q).slots:
        if not slot.fit:
            continue
        low, high = checked(q, slot.start)
        for participant in q.participants:
            if participant.required and participant.busy is not None:
                assert not any(counted_for_person(p, q.working_hours)
                               and overlaps(p.start, p.end, low, high)
                               for p in participant.busy)
        rooms = {room.address: room for room in q.rooms}
        rooms.update((room.address, room) for pool in q.pools for room in pool.rooms)
        for given_room in slot.rooms:
            assert given_room.address is not None and given_room.status == "free"
            assert room_free(rooms[given_room.address], low, high)


@PROPERTIES
@given(slot_queries())
def test_ranking_statuses_and_confidence(q: SlotQuery) -> None:
    result = find_slots(q)
    keys = [(not slot.fit, -slot.confidence, slot.start) for slot in result.slots]
    assert keys == sorted(keys)
    for slot in result.slots:
        assert slot.end == slot.start + q.duration
        low, high = checked(q, slot.start)
        scores = []
        for participant, seen in zip(q.participants, slot.participants, strict=True):
            status, hits = person_status(participant.busy, low, high, q.working_hours)
            assert (seen.address, seen.required, seen.is_organizer) == (
                participant.address, participant.required, participant.is_organizer)
            assert seen.status == status
            assert sorted(seen.conflicts, key=repr) == sorted(hits, key=repr)
            scores.append({"free": 100, "unknown": 49}.get(status, 0))
        expected = round(sum(scores) / len(scores), 2) if scores else 100.0
        assert slot.confidence == pytest.approx(expected)


@PROPERTIES
@given(slot_queries())
def test_pool_rooms_are_free_eligible_and_distinct(q: SlotQuery) -> None:
    named = {room.address for room in q.rooms}
    for slot in find_slots(q).slots:
        low, high = checked(q, slot.start)
        explicit = slot.rooms[:len(q.rooms)]
        pooled = slot.rooms[len(q.rooms):]
        assert [r.address for r in explicit] == [room.address for room in q.rooms]
        assert [r.pool for r in pooled] == [pool.name for pool in q.pools]
        given_addresses = [r.address for r in pooled if r.address is not None]
        assert len(set(given_addresses)) == len(given_addresses)
        assert not set(given_addresses) & named
        for pool, given_room in zip(q.pools, pooled, strict=True):
            if given_room.address is None:
                assert given_room.status == "none-free" and not slot.fit
                continue
            room = next(r for r in pool.rooms if r.address == given_room.address)
            assert room_free(room, low, high)
            assert room.capacity is None or room.capacity >= len(q.participants)
