"""What one stored object contributes to the index.

Occurrences are enumerated with Radicale's own ``visit_time_ranges`` — the function its
calendar-query and free-busy reports use — so that answers from the index are the
answers vanilla Radicale gives on the same data (RFC 4791 §9.9 time-range semantics,
floating and all-day times taken as UTC, overrides and EXDATE as Radicale reads them).

Expansion is bounded twice: recurring series are expanded only over
``[now - past, now + horizon)``, and at most ``max_occurrences`` occurrences are visited
per object. Whatever is left out is recorded as coverage (``covered_from``,
``covered_until``) so that queries outside it fall back to reading the object.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from radicale.item import filter as radicale_filter

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.busy import fbtype_for_event
from radicale_tracks.core.period_values import period_bounds

TIMESTAMP_MIN: int = radicale_filter.TIMESTAMP_MIN
TIMESTAMP_MAX: int = radicale_filter.TIMESTAMP_MAX
_OCCURRING = ("VEVENT", "VTODO", "VJOURNAL")


@dataclass(frozen=True)
class Occurrence:
    start: int
    end: int
    fbtype: str | None


@dataclass(frozen=True)
class AttendeeEntry:
    address: str
    partstat: str | None
    role: str | None
    recurrence_id: str | None


@dataclass(frozen=True)
class Expansion:
    """Bounds of the recurrence expansion, computed by the caller from its clock."""

    past_limit: int
    future_limit: int
    max_occurrences: int

    @classmethod
    def around(cls, now: datetime.datetime, past_days: int, horizon_days: int,
               max_occurrences: int) -> Expansion:
        return cls(int((now - datetime.timedelta(days=past_days)).timestamp()),
                   int((now + datetime.timedelta(days=horizon_days)).timestamp()),
                   max_occurrences)


@dataclass(frozen=True)
class IndexEntry:
    """Everything the index stores about one object."""

    uid: str
    component: str
    etag: str
    organizer: str | None
    recurring: bool
    range_start: int
    range_end: int
    covered_from: int
    covered_until: int
    text: str = ""
    occurrences: tuple[Occurrence, ...] = field(default=())
    attendees: tuple[AttendeeEntry, ...] = field(default=())

    def covers(self, start: int, end: int) -> bool:
        return self.covered_from <= start and end <= self.covered_until


def extract_entry(item: Any, expansion: Expansion) -> IndexEntry:
    """Index data of a Radicale ``Item`` (parses its text if it was not parsed yet)."""
    component = item.component_name or ""
    try:
        range_start, range_end = item.time_range
    except (ValueError, AttributeError, TypeError, OverflowError):
        range_start, range_end = TIMESTAMP_MIN, TIMESTAMP_MAX
    vobject_item = item.vobject_item
    organizer, attendee_entries = _people(vobject_item, component)
    if component in _OCCURRING:
        recurring, covered_from, covered_until, found = _occurrences(
            vobject_item, component, expansion)
    elif component == "VFREEBUSY":
        recurring, covered_from, covered_until = False, TIMESTAMP_MIN, TIMESTAMP_MAX
        found = _freebusy_periods(vobject_item)
    else:
        recurring, covered_from, covered_until, found = (
            False, TIMESTAMP_MIN, TIMESTAMP_MAX, [])
    return IndexEntry(
        uid=item.uid, component=component, etag=item.etag, organizer=organizer,
        recurring=recurring, range_start=range_start, range_end=range_end,
        covered_from=covered_from, covered_until=covered_until, text=item.serialize(),
        occurrences=tuple(found), attendees=tuple(attendee_entries))


def _timestamp(value: datetime.date) -> int:
    return int(radicale_filter.date_to_datetime(value).timestamp())


def _occurrences(vobject_item: Any, component: str, expansion: Expansion
                 ) -> tuple[bool, int, int, list[Occurrence]]:
    """Visit occurrences like Radicale does, within the expansion bounds."""
    found: list[Occurrence] = []
    recurring = any(_is_recurring(c) for c in _components(vobject_item, component))
    covered_from = expansion.past_limit if recurring else TIMESTAMP_MIN
    covered_until = TIMESTAMP_MAX
    visited = 0
    current: list[Any] = [None]

    def component_fn(child: Any) -> bool:
        current[0] = child
        return True

    def range_fn(start: datetime.datetime, end: datetime.datetime,
                 is_override: bool) -> bool:
        nonlocal visited, covered_until
        start_ts, end_ts = _timestamp(start), _timestamp(end)
        visited += 1
        if visited > expansion.max_occurrences:
            # overrides come before the series: stopping there covers nothing
            covered_until = start_ts if not is_override else TIMESTAMP_MIN
            return True
        if recurring and not is_override and start_ts >= expansion.future_limit:
            covered_until = start_ts
            return True
        if recurring and end_ts <= expansion.past_limit and not is_override:
            return False
        fbtype = None
        if component == "VEVENT":
            child = current[0]
            fbtype_value = fbtype_for_event(_text(child, "transp"), _text(child, "status"))
            fbtype = fbtype_value.value if fbtype_value else None
        found.append(Occurrence(start_ts, end_ts, fbtype))
        return False

    def infinity_fn(_start: datetime.datetime) -> bool:
        return False

    try:
        radicale_filter.visit_time_ranges(
            vobject_item, component, range_fn, infinity_fn,
            component_fn if component == "VEVENT" else None)
    except (ValueError, AttributeError, TypeError, OverflowError):
        # Radicale cannot enumerate it either; leave it to the fallback path
        return recurring, TIMESTAMP_MAX, TIMESTAMP_MIN, []
    for child, start_ts, end_ts in _period_instances(vobject_item, component):
        if end_ts <= expansion.past_limit or start_ts >= expansion.future_limit:
            continue
        fbtype_value = (fbtype_for_event(_text(child, "transp"), _text(child, "status"))
                        if component == "VEVENT" else None)
        found.append(Occurrence(start_ts, end_ts,
                                fbtype_value.value if fbtype_value else None))
    return recurring, covered_from, covered_until, found


def _period_instances(vobject_item: Any, component: str
                      ) -> list[tuple[Any, int, int]]:
    """Instances named by ``RDATE;VALUE=PERIOD`` (RFC 5545 §3.8.5.2), with their own end.

    vobject's expansion — which Radicale's ``visit_time_ranges`` uses — skips them, so an
    object stored with one (written by another tool, or before the inbound repair) would
    miss those instances. Instances an override or an EXDATE replaces are left out.
    """
    children = _components(vobject_item, component)
    replaced = {_timestamp(c.contents["recurrence-id"][0].value) for c in children
                if c.contents.get("recurrence-id")}
    found = []
    for child in children:
        if child.contents.get("recurrence-id"):
            continue
        excluded = {_timestamp(value) for prop in child.contents.get("exdate", [])
                    for value in (prop.value if isinstance(prop.value, list) else [])
                    if isinstance(value, datetime.date)}
        for prop in child.contents.get("rdate", []):
            for value in prop.value if isinstance(prop.value, list) else []:
                bounds = period_bounds(value)
                if bounds is None:
                    continue
                start_ts, end_ts = _timestamp(bounds[0]), _timestamp(bounds[1])
                if start_ts not in replaced and start_ts not in excluded:
                    found.append((child, start_ts, max(end_ts, start_ts)))
    return found


def _freebusy_periods(vobject_item: Any) -> list[Occurrence]:
    found = []
    for vfreebusy in getattr(vobject_item, "vfreebusy_list", []):
        for prop in vfreebusy.contents.get("freebusy", []):
            fbtype = (prop.params.get("FBTYPE") or ["BUSY"])[0].upper()
            for value in prop.value if isinstance(prop.value, list) else []:
                bounds = period_bounds(value)
                if bounds is not None:
                    found.append(Occurrence(_timestamp(bounds[0]), _timestamp(bounds[1]),
                                            fbtype))
    return found


def _components(vobject_item: Any, component: str) -> list[Any]:
    return list(getattr(vobject_item, "%s_list" % component.lower(), []))


def _is_recurring(child: Any) -> bool:
    return bool(child.contents.get("rrule") or child.contents.get("rdate"))


def _text(child: Any, name: str) -> str:
    prop = child.contents.get(name)
    if not prop:
        return ""
    value = prop[0].value
    return value if isinstance(value, str) else str(value)


def _people(vobject_item: Any, component: str) -> tuple[str | None, list[AttendeeEntry]]:
    organizer = None
    found: list[AttendeeEntry] = []
    if component not in _OCCURRING:
        return None, found
    for child in _components(vobject_item, component):
        recurrence_id = None
        if child.contents.get("recurrence-id"):
            recurrence_id = str(child.contents["recurrence-id"][0].value)
        if organizer is None and child.contents.get("organizer"):
            organizer = normalize_address(str(child.contents["organizer"][0].value)) or None
        for prop in child.contents.get("attendee", []):
            address = normalize_address(str(prop.value))
            if not address:
                continue  # no usable address (the organizer's copy says 3.7)
            found.append(AttendeeEntry(
                address=address,
                partstat=_param(prop, "PARTSTAT"),
                role=_param(prop, "ROLE"),
                recurrence_id=recurrence_id))
    return organizer, found


def _param(prop: Any, name: str) -> str | None:
    values = prop.params.get(name)
    return str(values[0]).upper() if values else None
