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

* a content line folded without its leading space (RFC 5545 §3.1): CDO breaks an
  ATTENDEE before its ``:``, other writers lose the space of a fold, so an address is
  cut short (``bob@exa`` + ``mple.org``) or emptied (``ATTENDEE;CN=Bob:`` + a line
  ``mailto:bob@…``). A line that cannot start a property, or a ``mailto:`` line after
  an ATTENDEE/ORGANIZER with an empty value, can only be the rest of the line before:
  joined (:func:`repair_folding`, on the text, before it is parsed);
* ORGANIZER/ATTENDEE values that ``core/addresses.read_address`` repairs (doubled
  ``mailto:``, brackets, stray spaces): rewritten as ``mailto:<address>``; the ones it
  cannot read are left as written and reported (``core/itip.unaddressable_attendees``).

Lenient on purpose (no repair needed): an empty CLASS, unknown X- parameters, ``\\N``
escapes, quoted enumerated parameters. Pure; inputs are mutated only where the function
says so (the caller works on its own parsed copy).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final

from icalendar import Calendar, Component, vBroken, vCalAddress

from radicale_tracks.core.addresses import as_uri, read_address
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


#: how a content line starts: a property name, then its parameters or its value
_CONTENT_START: Final = re.compile(r"^[A-Za-z0-9_-]+[;:]")  # "_": vendors write it
_ADDRESS_PROPERTY: Final = re.compile(r"(?i)^(ATTENDEE|ORGANIZER)[;:]")


def _value_of(line: str) -> str | None:
    """The value of an unfolded content line (after the first ``:`` outside quotes)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[index + 1:]
    return None


def repair_folding(text: str) -> tuple[str, list[str]]:
    """``text`` with folds that lost their leading space joined again; what was joined.

    See the module: only lines that have no other reading are joined. Text without
    such lines is returned unchanged.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    logical: list[list[str]] = []
    repairs: list[str] = []
    for line in physical:
        current = logical[-1] if logical and logical[-1][0] else None
        if line[:1] in (" ", "\t") and logical:
            logical[-1].append(line)
            continue
        if current is not None and line and not _CONTENT_START.match(line):
            joined = True
        else:
            unfolded = "".join([current[0], *(p[1:] for p in current[1:])]) if current else ""
            joined = bool(current and line[:7].lower() == "mailto:"
                          and _ADDRESS_PROPERTY.match(unfolded)
                          and not (_value_of(unfolded) or "").strip())
        if joined and current is not None:
            current.append(" " + line)
            repairs.append("a line of %s had lost its folding space: %r joined to it" % (
                re.split(r"[;:]", current[0], maxsplit=1)[0].upper(), line[:60]))
        else:
            logical.append([line])
    if not repairs:
        return text, []
    return newline.join(part for lines in logical for part in lines), repairs


def repair_addresses(calendar: Calendar) -> list[str]:
    """Rewrite ORGANIZER and ATTENDEE values that ``read_address`` reads as a mail
    address written otherwise (``mailto:mailto:bob@…``, ``<Bob@…>``) as
    ``mailto:<address>``, parameters kept; what was rewritten. Values it cannot read are
    left alone (``core/itip.unaddressable_attendees`` names them)."""
    repairs: list[str] = []
    for component in calendar.walk():
        if str(component.name).upper() in ("VCALENDAR", "VTIMEZONE", "VALARM"):
            continue
        for name in ("ORGANIZER", "ATTENDEE"):
            values = component.get(name)
            if values is None:
                continue
            rewritten = []
            for prop in as_list(values):
                reading = read_address(str(prop))
                if not reading.is_mail or str(prop).lower() == as_uri(reading.address):
                    rewritten.append(prop)
                    continue
                fixed = vCalAddress(as_uri(reading.address))
                params = getattr(prop, "params", None)
                if params is not None:
                    fixed.params = params
                rewritten.append(fixed)
                repairs.append("%s %r read as %s%s" % (
                    name, str(prop), reading.address,
                    " (%s)" % ", ".join(reading.repairs) if reading.repairs else ""))
            component[name] = rewritten if isinstance(values, list) else rewritten[0]
    return repairs


def drop_unaddressable_attendees(component: Component) -> int:
    """Remove the ATTENDEEs without a usable address from a copy we store (a track's,
    a user's here); how many. Whoever schedules names them first
    (``core/itip.unaddressable_attendees``)."""
    attendees = as_list(component.get("ATTENDEE"))
    kept = [a for a in attendees if read_address(str(a)).usable]
    if len(kept) == len(attendees):
        return 0
    component.pop("ATTENDEE")
    for attendee in kept:
        component.add("ATTENDEE", attendee)
    return len(attendees) - len(kept)
