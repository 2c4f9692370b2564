"""``RDATE;VALUE=PERIOD`` written as what every reader understands.

RFC 5545 §3.8.5.2 lets an RDATE name an instance as a PERIOD (``start/end`` or
``start/duration``): the instance starts then and lasts that long, whatever the series'
own duration. Lotus Notes writes every instance that way and some gateways write a moved
occurrence that way. vobject — which Radicale uses to store, serve and expand objects —
can neither serialise such a value nor expand it (its ``getrruleset`` skips PERIOD
RDATEs), so an object carrying one could not be stored and its instances would be
missing from every report.

The same meaning in forms everyone reads: each period becomes an RDATE DATE-TIME (its
start, in its own zone), and a period whose length differs from the series' becomes,
in addition, an override (RECURRENCE-ID = its start) that ends where the period ends.
An override the sender already wrote for that instance is kept as it is.

Pure: inputs are never mutated.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from icalendar import Calendar, Component, vDDDTypes

from radicale_tracks.core.itip import (
    date_value,
    derive_instance,
    first,
    instance_key,
    recurrence_dates,
)

_RECURRING = ("VEVENT", "VTODO", "VJOURNAL")


def has_periods(component: Component) -> bool:
    """Whether an RDATE of ``component`` holds a PERIOD value."""
    return any(date.end is not None for date in recurrence_dates(component, "RDATE"))


def periods_as_dates(calendar: Calendar) -> Calendar:
    """``calendar`` with every RDATE PERIOD written as an RDATE DATE-TIME plus, where
    the period's length is not the series', an override ending at the period's end.

    The calendar itself when no RDATE holds a PERIOD value.
    """
    if not any(component.name in _RECURRING and has_periods(component)
               for component in calendar.subcomponents):
        return calendar
    result = copy.deepcopy(calendar)
    rebuilt: list[Component] = []
    for component in result.subcomponents:
        rebuilt.append(component)
        if component.name not in _RECURRING or not has_periods(component):
            continue
        taken = {instance_key(other) for other in result.subcomponents
                 if other.name == component.name and
                 str(other.get("UID", "")) == str(component.get("UID", ""))}
        rebuilt.extend(_rewrite(component, taken))
    result.subcomponents[:] = rebuilt
    return result


def _rewrite(master: Component, taken: set[str | None]) -> list[Component]:
    """Replace the master's RDATEs in place; answer the overrides to add after it."""
    dates = recurrence_dates(master, "RDATE")
    length = _length(master)
    master.pop("RDATE", None)
    overrides: list[Component] = []
    for value in dates:
        master.add("RDATE", value.start)
        if value.end is None or not isinstance(value.start, datetime):
            continue
        if value.end - value.start == length or value.key in taken:
            continue
        override = derive_instance(master, vDDDTypes(value.start))
        for name in ("DTEND", "DUE", "DURATION"):
            override.pop(name, None)
        start = date_value(first(override.get("DTSTART")))
        override.add("DUE" if master.name == "VTODO" else "DTEND", _in_zone_of(
            value.end, start if isinstance(start, datetime) else value.start))
        taken.add(value.key)
        overrides.append(override)
    return overrides


def _length(master: Component) -> timedelta | None:
    """The series' own instance length, when it has one."""
    start = date_value(first(master.get("DTSTART")))
    for name in ("DTEND", "DUE"):
        end = date_value(first(master.get(name)))
        if start is not None and end is not None and type(end) is type(start):
            return end - start
    duration = getattr(first(master.get("DURATION")), "dt", None)
    return duration if isinstance(duration, timedelta) else None


def _in_zone_of(end: datetime, start: datetime) -> datetime:
    """A period's end written in the zone of the instance's start."""
    if end.tzinfo is not None and start.tzinfo is not None:
        return end.astimezone(start.tzinfo)
    return end




def periods_as_dates_in_text(text: str) -> str | None:
    """``text`` with its RDATE PERIODs rewritten (:func:`periods_as_dates`), or None when
    nothing is to change: no ``VALUE=PERIOD`` in it, or no calendar icalendar can read
    (whoever stores it judges it then). Bodies without the marker are never parsed."""
    unfolded = text.upper().replace("\r\n ", "").replace("\n ", "")
    if "VALUE=PERIOD" not in unfolded:
        return None
    try:
        calendar = Calendar.from_ical(text.encode("utf-8"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if not isinstance(calendar, Calendar):
        return None
    written = periods_as_dates(calendar)
    if written is calendar:
        return None
    return bytes(written.to_ical()).decode("utf-8")


__all__ = ["has_periods", "periods_as_dates", "periods_as_dates_in_text"]
