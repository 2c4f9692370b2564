"""Which faults of real clients' iCalendar we repair, and which we refuse.

Inbound mail comes from every calendar ever written. A fault is repaired when the
intent is unambiguous, and refused (with the rule named) when guessing could put a
meeting at the wrong time:

* DTEND and DURATION both present (RFC 5545 §3.6.1 forbids it; Thunderbird's own test
  messages do it, with values that disagree): DTEND wins and DURATION goes — how libical
  and Thunderbird read such an event;
* an override (RECURRENCE-ID) that still carries the series' RRULE/RDATE/EXDATE/EXRULE
  (Google Calendar sends them): an override is one occurrence (RFC 5545 §3.8.4.4), so
  they go — kept, they would read as a change of the repetition and a series of its own;
* ``ATTACH`` with a ``file:`` URI points into the sender's disk (or, on a careless
  client, the reader's): dropped;
* a DATE written where DATE-TIME is the default, without ``VALUE=DATE`` (ZideStore,
  old CDO): all-day or midnight is a guess — refused (RFC 5545 §3.3.4, §3.3.5).

* a property icalendar could not read (``vBroken``): dropped when it is bookkeeping
  (CREATED, LAST-MODIFIED, X-…: Apple iCal 5's year-0 CREATED), refused when it carries
  the meeting (DTSTART, RRULE, EXDATE, …: CDO's ``BYDAY=MO, TU``, Google's empty EXDATE).

Lenient on purpose (no repair needed): an empty CLASS, unknown X- parameters, ``\\N``
escapes, quoted enumerated parameters. Pure; inputs are mutated only where the function
says so (the caller works on its own parsed copy).
"""

from __future__ import annotations

from datetime import date, datetime

from icalendar import Calendar, Component, vBroken

from radicale_tracks.core.itip import ItipError, as_list

#: properties whose default value type is DATE-TIME (RFC 5545 §3.8.2, §3.8.5)
_RECURRENCE = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_DATE_TIME_DEFAULT = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE")


def drop_redundant_duration(component: Component) -> bool:
    """Remove DURATION when DTEND (DUE for a VTODO) is present; True when removed."""
    end_name = "DUE" if component.name == "VTODO" else "DTEND"
    if component.get("DURATION") is None or component.get(end_name) is None:
        return False
    del component["DURATION"]
    return True


def drop_override_recurrence(component: Component) -> list[str]:
    """Remove RRULE/RDATE/EXDATE/EXRULE from an override (a component with
    RECURRENCE-ID); the names removed."""
    if component.get("RECURRENCE-ID") is None:
        return []
    removed = [name for name in _RECURRENCE if component.get(name) is not None]
    for name in removed:
        del component[name]
    return removed


def drop_local_attachments(component: Component) -> int:
    """Remove ATTACH values that are ``file:`` URIs; how many were removed."""
    kept, dropped = [], 0
    for prop in as_list(component.get("ATTACH")):
        if str(prop).strip().lower().startswith("file:"):
            dropped += 1
        else:
            kept.append(prop)
    if dropped:
        del component["ATTACH"]
        for prop in kept:
            component.add("ATTACH", prop)
    return dropped


def check_value_types(calendar: Calendar) -> None:
    """Refuse a DATE where DATE-TIME is the default and VALUE=DATE is missing."""
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            continue
        for name in _DATE_TIME_DEFAULT:
            for prop in as_list(component.get(name)):
                values = [getattr(d, "dt", None) for d in getattr(prop, "dts", [])] or [
                    getattr(prop, "dt", None)]
                declared = str(getattr(prop, "params", {}).get("VALUE", "")).upper()
                if declared in ("DATE", "PERIOD"):
                    continue
                if any(isinstance(v, date) and not isinstance(v, datetime)
                       for v in values):
                    raise ItipError("RFC 5545 §3.3.5: %s holds a date without VALUE=DATE; "
                                    "whether the event is all-day is ambiguous" % name)


#: properties that say when and how often a meeting happens, or which version it is
_ESSENTIAL = ("DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE",
              "RECURRENCE-ID", "DTSTAMP", "SEQUENCE", "UID", "ORGANIZER", "ATTENDEE",
              "STATUS")


def drop_or_refuse_broken(calendar: Calendar) -> list[str]:
    """Drop unreadable bookkeeping properties, refuse unreadable essential ones; the
    names of the dropped ones."""
    dropped: list[str] = []
    for component in calendar.walk():
        for name in list(component.keys()):
            values = as_list(component.get(name))
            broken = [v for v in values if isinstance(v, vBroken)]
            if not broken:
                continue
            if str(name).upper() in _ESSENTIAL:
                raise ItipError("RFC 5545: the %s of a %s cannot be read (%s)" % (
                    name, component.name, _why(broken[0])))
            del component[name]
            for value in values:
                if not isinstance(value, vBroken):
                    component.add(name, value)
            dropped.append(str(name))
    return dropped


def _why(value: vBroken) -> str:
    error = value.parse_error
    text = str(error) if error else repr(str(value))
    return text.splitlines()[0][:200] if text else "unreadable"
