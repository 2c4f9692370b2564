"""The scheduling signature of a component, and what changed between two versions.

What matters for scheduling is every property except bookkeeping (DTSTAMP, SEQUENCE,
LAST-MODIFIED, alarms, SCHEDULE-STATUS, client X- properties), with values made
canonical: addresses normalised, DATE-TIMEs as UTC instants, EXDATE/RDATE as sets. Equal
signatures mean "nothing to schedule" (the Xandikos/sabre approach); the names of the
properties that differ say what changed, and RFC 5545 §3.8.7.4's list says whether it is
significant.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

from icalendar import Component, vBroken

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import DATE_PROPERTIES, as_list, as_text, date_value, recurrence_key
from radicale_tracks.core.period_values import period_bounds

Signature: TypeAlias = tuple[tuple[str, tuple[str, ...]], ...]
"""Property name → sorted canonical values, sorted by name; see :func:`component_signature`."""

#: A change of one of these is a "significant" change (sabre/vobject's list: the ones that
#: warrant a SEQUENCE increment and a new answer from attendees, RFC 5545 §3.8.7.4).
SIGNIFICANT_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE", "EXDATE",
                          "STATUS")

#: Properties that change without anything happening for the attendees.
BOOKKEEPING_PROPERTIES = ("DTSTAMP", "LAST-MODIFIED", "CREATED", "SEQUENCE", "PRODID")
#: Client bookkeeping properties, by prefix (Thunderbird, libical, Apple).
BOOKKEEPING_PREFIXES = ("X-MOZ-", "X-LIC-", "X-APPLE-")
#: Subcomponents that are personal to each copy, never scheduled.
BOOKKEEPING_COMPONENTS = ("VALARM",)
#: Parameters of ORGANIZER/ATTENDEE that the server or client sets per delivery
#: (RFC 6638 §7.2 SCHEDULE-FORCE-SEND, §7.3 SCHEDULE-STATUS) or per request (RSVP).
BOOKKEEPING_PARAMETERS = ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "RSVP")
_ADDRESS_PARAMETERS = ("DELEGATED-TO", "DELEGATED-FROM", "SENT-BY", "MEMBER")
_ENUM_PARAMETERS = ("PARTSTAT", "ROLE", "CUTYPE", "SCHEDULE-AGENT", "VALUE")


def is_bookkeeping(name: str) -> bool:
    """True for properties whose change alone schedules nothing."""
    name = name.upper()
    return name in BOOKKEEPING_PROPERTIES or name.startswith(BOOKKEEPING_PREFIXES)


def _canonical_parameters(prop: Any, ignore: Sequence[str]) -> str:
    params = getattr(prop, "params", None) or {}
    items = []
    for key, value in params.items():
        key = str(key).upper()
        if key in ignore:
            continue
        values = value if isinstance(value, list) else [value]
        texts = [str(v) for v in values]
        if key in _ADDRESS_PARAMETERS:
            texts = sorted(normalize_address(t) for t in texts)
        elif key in _ENUM_PARAMETERS:
            texts = [t.upper() for t in texts]
        items.append("%s=%s" % (key, ",".join(texts)))
    return ";".join(sorted(items))


def _canonical_values(component: Component, name: str, prop: Any) -> list[str]:
    if name in ("ATTENDEE", "ORGANIZER"):
        return ["%s;%s" % (normalize_address(str(prop)),
                           _canonical_parameters(prop, BOOKKEEPING_PARAMETERS))]
    if name in ("EXDATE", "RDATE"):
        values = []
        for item in ([prop] if isinstance(prop, vBroken) else getattr(prop, "dts", [prop])):
            dt = date_value(item)
            bounds = period_bounds(getattr(item, "dt", None))
            if dt is not None:
                values.append(recurrence_key(dt))
            elif bounds is not None:  # a PERIOD: its start and its own end both count
                values.append("%s/%s" % (recurrence_key(bounds[0]), recurrence_key(bounds[1])))
            else:
                values.append(as_text(item))
        return values
    if name in DATE_PROPERTIES:
        dt = date_value(prop)
        if dt is not None:
            return [recurrence_key(dt)]
    return [str(component.content_line(name, prop))]


def component_signature(component: Component) -> Signature:
    """What matters for scheduling: every property but bookkeeping, values canonical.

    Addresses are normalised, DATE-TIMEs compared as UTC instants, EXDATE/RDATE as sets,
    ATTENDEE/ORGANIZER without SCHEDULE-STATUS, SCHEDULE-FORCE-SEND and RSVP, and
    VALARM subcomponents left out. Equal signatures mean "nothing to schedule".
    """
    entries: dict[str, list[str]] = {}
    for raw_name, value in component.items():
        name = str(raw_name).upper()
        if is_bookkeeping(name):
            continue
        for prop in as_list(value):
            entries.setdefault(name, []).extend(_canonical_values(component, name, prop))
    for sub in component.subcomponents:
        name = str(sub.name).upper()
        if name not in BOOKKEEPING_COMPONENTS:
            entries.setdefault(name, []).append(as_text(sub))
    return tuple(sorted((name, tuple(sorted(values))) for name, values in entries.items()))


def changed_properties(old: Component, new: Component,
                       ignore: Iterable[str] = ()) -> tuple[str, ...]:
    """Sorted names of the non-bookkeeping properties that differ between two components."""
    skip = {name.upper() for name in ignore}
    before, after = dict(component_signature(old)), dict(component_signature(new))
    return tuple(sorted(name for name in set(before) | set(after)
                        if name not in skip and before.get(name) != after.get(name)))


def is_significant(changes: Iterable[str]) -> bool:
    """True when one of :data:`SIGNIFICANT_PROPERTIES` is among ``changes``."""
    return any(name in SIGNIFICANT_PROPERTIES for name in changes)
