"""What an agent asks the slot finder, read from JSON (the API) or the command line.

One reader for both, so that "30 minutes next week with bob and any room of 3rd-floor,
Europe/Berlin" means the same over HTTP and in a shell, and every refusal names the
field. Times in the request are read in the requester's zone: a date is that day's
local midnight, ``week: next`` is next Monday 00:00 local to the Monday after.
The result (``core/slots.py``) is rendered by ``core/slot_report.py``.

Pure: the caller passes the current time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from radicale_tracks.core.addresses import read_address
from radicale_tracks.core.slots import (
    ASSIGNMENT_PRIORITY,
    ASSIGNMENTS,
    MAX_GRID_MINUTES,
    MAX_WINDOW_SECONDS,
    MIN_GRID_MINUTES,
)
from radicale_tracks.core.timezones import iana_zone

DEFAULT_WINDOW_DAYS = 7
MAX_RESULTS = 200


class SlotRequestError(ValueError):
    """A request the slot finder cannot answer; the message names the field."""


@dataclass(frozen=True)
class SlotRequest:
    attendees: tuple[tuple[str, bool], ...]   # (normalised address, required)
    rooms: tuple[str, ...]                    # room addresses
    pools: tuple[str, ...]                    # pool names
    assignment: str
    duration: int                             # seconds
    start: datetime                           # aware
    end: datetime                             # aware
    zone: str                                 # IANA
    grid_minutes: int = 30
    buffer_before: int = 0                    # seconds
    buffer_after: int = 0
    minimum_notice: int = 0
    working_hours: bool = True
    show_conflicts: bool = False
    max_results: int = 20
    include_organizer: bool = True


def slot_request(data: Mapping[str, Any], current_time: datetime, default_zone: str
                 ) -> SlotRequest:
    """Read a request (JSON object or the command line's equivalent)."""
    known = {"attendees", "optional", "rooms", "pools", "assignment", "duration", "start",
             "end", "week", "zone", "grid", "buffer_before", "buffer_after", "notice",
             "working_hours", "show_conflicts", "max_results", "include_organizer"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SlotRequestError("unknown field(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(sorted(known))))
    zone_name = _zone_name(data.get("zone") or default_zone)
    zone = ZoneInfo(zone_name)
    attendees: dict[str, bool] = {}
    for entry in _list(data, "attendees"):
        address, required = _attendee(entry)
        attendees[address] = attendees.get(address, False) or required
    for entry in _list(data, "optional"):
        address, _required = _attendee(entry)
        attendees.setdefault(address, False)
    rooms = tuple(dict.fromkeys(_address(str(r), "rooms") for r in _list(data, "rooms")))
    pools = tuple(dict.fromkeys(str(p).strip() for p in _list(data, "pools") if str(p).strip()))
    assignment = str(data.get("assignment") or ASSIGNMENT_PRIORITY).strip().lower()
    if assignment not in ASSIGNMENTS:
        raise SlotRequestError("assignment must be one of %s, got %r"
                               % (", ".join(ASSIGNMENTS), assignment))
    duration = _number(data, "duration", None)
    if duration <= 0 or duration > 24 * 60:
        raise SlotRequestError("duration must be 1 to 1440 minutes, got %d" % duration)
    start, end = _window(data, current_time, zone)
    grid = _number(data, "grid", 30)
    if not MIN_GRID_MINUTES <= grid <= MAX_GRID_MINUTES:
        raise SlotRequestError("grid must be %d to %d minutes, got %d"
                               % (MIN_GRID_MINUTES, MAX_GRID_MINUTES, grid))
    max_results = _number(data, "max_results", 20)
    if not 1 <= max_results <= MAX_RESULTS:
        raise SlotRequestError("max_results must be 1 to %d, got %d" % (MAX_RESULTS,
                                                                         max_results))
    return SlotRequest(
        attendees=tuple(attendees.items()), rooms=rooms, pools=pools, assignment=assignment,
        duration=duration * 60, start=start, end=end, zone=zone_name, grid_minutes=grid,
        buffer_before=_number(data, "buffer_before", 0) * 60,
        buffer_after=_number(data, "buffer_after", 0) * 60,
        minimum_notice=_number(data, "notice", 0) * 60,
        working_hours=_flag(data, "working_hours", True),
        show_conflicts=_flag(data, "show_conflicts", False), max_results=max_results,
        include_organizer=_flag(data, "include_organizer", True))


def _zone_name(value: Any) -> str:
    zone = iana_zone(str(value))
    if zone is None:
        raise SlotRequestError("zone %r is no known time zone (IANA such as Europe/Berlin, "
                               "or a Windows name)" % value)
    return zone


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list):
        raise SlotRequestError("%s must be a list" % name)
    return value


def _attendee(entry: Any) -> tuple[str, bool]:
    if isinstance(entry, str):
        return _address(entry, "attendees"), True
    if isinstance(entry, dict) and isinstance(entry.get("address"), str):
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise SlotRequestError("attendees: 'required' must be true or false")
        return _address(entry["address"], "attendees"), required
    raise SlotRequestError("attendees: each is an address or {\"address\": …, "
                           "\"required\": false}, got %r" % (entry,))


def _address(text: str, field: str) -> str:
    reading = read_address(text)
    if not reading.is_mail:
        raise SlotRequestError("%s: %r is not a calendar user address%s" % (
            field, text, ": " + reading.problem if reading.problem else ""))
    return reading.address


def _number(data: Mapping[str, Any], name: str, default: int | None) -> int:
    value = data.get(name)
    if value is None:
        if default is None:
            raise SlotRequestError("%s is required (minutes)" % name)
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SlotRequestError("%s must be a whole number, got %r" % (name, value))
    try:
        number = int(value)
    except ValueError:
        raise SlotRequestError("%s must be a whole number, got %r" % (name, value)) from None
    if number < 0:
        raise SlotRequestError("%s must not be negative, got %d" % (name, number))
    return number


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise SlotRequestError("%s must be true or false, got %r" % (name, value))
    return value


def _window(data: Mapping[str, Any], current_time: datetime, zone: tzinfo
            ) -> tuple[datetime, datetime]:
    week = data.get("week")
    if week is not None:
        if data.get("start") is not None or data.get("end") is not None:
            raise SlotRequestError("give either week or start/end, not both")
        today = current_time.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday())
        offsets = {"this": 0, "next": 7}
        if str(week).lower() not in offsets:
            raise SlotRequestError("week must be 'this' or 'next', got %r" % week)
        first = monday + timedelta(days=offsets[str(week).lower()])
        return _midnight(first, zone), _midnight(first + timedelta(days=7), zone)
    start = _instant(data.get("start"), "start", zone) if data.get("start") else current_time
    end = (_instant(data["end"], "end", zone) if data.get("end")
           else start + timedelta(days=DEFAULT_WINDOW_DAYS))
    if end <= start:
        raise SlotRequestError("end must be after start")
    if (end - start).total_seconds() > MAX_WINDOW_SECONDS:
        raise SlotRequestError("the window may span at most %d days"
                               % (MAX_WINDOW_SECONDS // 86400))
    return start, end


def _instant(value: Any, name: str, zone: tzinfo) -> datetime:
    text = str(value).strip()
    try:
        if len(text) == 10:
            return _midnight(date.fromisoformat(text), zone)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SlotRequestError("%s must be an ISO date or date-time, got %r"
                               % (name, value)) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
