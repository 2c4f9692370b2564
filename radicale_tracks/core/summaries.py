"""Human sentences about a meeting for mails: when it is, and what changed.

Times are shown in the event's own time zone (its DTSTART TZID; UTC for UTC times), the
zone the organizer chose, in English.
"""

from __future__ import annotations

import datetime
from typing import Any

from icalendar import Calendar

from radicale_tracks.core.itip import (RecurrenceDate, attendees_of, main_components, master_of,
                                       recurrence_dates)


def _value(component: Any, name: str) -> Any:
    prop = component.get(name)
    return getattr(prop, "dt", prop)


def _zone_name(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        return "floating time"
    key = getattr(value.tzinfo, "key", None) or getattr(value.tzinfo, "zone", None)
    return str(key or value.tzname() or "UTC")


def format_moment(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return "%s %d %s %d, %s" % (value.strftime("%A"), value.day, value.strftime("%B"),
                                   value.year, value.strftime("%H:%M"))
    if isinstance(value, datetime.date):
        return "%s %d %s %d" % (value.strftime("%A"), value.day, value.strftime("%B"),
                               value.year)
    return str(value)


def end_of(component: Any) -> Any:
    end = _value(component, "DTEND") if "DTEND" in component else _value(component, "DUE")
    if end is None and "DURATION" in component and "DTSTART" in component:
        end = _value(component, "DTSTART") + _value(component, "DURATION")
    return end


def describe_when(component: Any) -> str:
    """``Monday 4 January 2027, 10:00–11:00 (Europe/Berlin)``; all-day and multi-day too."""
    start = _value(component, "DTSTART")
    if start is None:
        return "no time set"
    end = end_of(component)
    recurring = " (repeats)" if "RRULE" in component or "RDATE" in component else ""
    if isinstance(start, datetime.datetime):
        text = format_moment(start)
        if isinstance(end, datetime.datetime):
            end = end.astimezone(start.tzinfo) if start.tzinfo and end.tzinfo else end
            text += "–" + (end.strftime("%H:%M") if end.date() == start.date()
                           else format_moment(end))
        return "%s (%s)%s" % (text, _zone_name(start), recurring)
    text = format_moment(start)
    if isinstance(end, datetime.date) and (end - start).days > 1:
        text += " – " + format_moment(end - datetime.timedelta(days=1))
    return text + " (all day)" + recurring


def describe_instance(recurrence_id: Any) -> str:
    value = getattr(recurrence_id, "dt", recurrence_id)
    return format_moment(value)


def meeting_facts(calendar: Calendar) -> dict[str, str]:
    component = master_of(calendar)
    if component is None:
        return {"summary": "(no title)", "when": "", "location": "", "uid": ""}
    return {
        "summary": str(component.get("SUMMARY", "")) or "(no title)",
        "when": describe_when(component),
        "location": str(component.get("LOCATION", "")),
        "uid": str(component.get("UID", "")),
        "status": str(component.get("STATUS", "")),
    }



def _occurrence_moment(value: RecurrenceDate, zone: Any) -> str:
    """An RDATE/EXDATE value in the series' zone, a PERIOD with its own end."""
    start = value.start
    if isinstance(start, datetime.datetime) and start.tzinfo is not None and zone:
        start = start.astimezone(zone)
    text = format_moment(start)
    end = value.end
    if end is not None and isinstance(start, datetime.datetime):
        end = end.astimezone(start.tzinfo) if start.tzinfo and end.tzinfo else end
        text += "–" + (end.strftime("%H:%M") if end.date() == start.date()
                       else format_moment(end))
    return text


def _own_times(value: RecurrenceDate, override: Any, master: Any) -> RecurrenceDate:
    """An added occurrence's start and end: its override's, its period's, or its start
    with the series' length."""
    start, end = (_value(override, "DTSTART"), end_of(override)) if override is not None \
        else (None, None)
    if isinstance(start, datetime.datetime) and isinstance(end, datetime.datetime):
        return RecurrenceDate(start, end)
    first_start, first_end = _value(master, "DTSTART"), end_of(master)
    if (value.end is None and isinstance(value.start, datetime.datetime) and
            isinstance(first_start, datetime.datetime) and
            isinstance(first_end, datetime.datetime)):
        return RecurrenceDate(value.start, value.start + (first_end - first_start))
    return value


def _occurrence_changes(old: Any, new: Any, components: dict[Any, Any]) -> list[str]:
    """Occurrences added (RDATE) or removed (EXDATE), named by their own times (an
    added occurrence's override, when there is one, says when it really is)."""
    start = _value(new, "DTSTART")
    zone = start.tzinfo if isinstance(start, datetime.datetime) else None
    sentences = []
    for name, label in (("RDATE", "Added"), ("EXDATE", "Removed")):
        before = {d.key for d in recurrence_dates(old, name)}
        fresh = [_own_times(d, components.get(d.key), new) if name == "RDATE" else d
                 for d in recurrence_dates(new, name) if d.key not in before]
        if fresh:
            sentences.append("%s: %s" % (label, "; ".join(
                _occurrence_moment(d, zone) for d in sorted(fresh, key=lambda d: d.key))))
    return sentences


def describe_changes(old: Calendar | None, new: Calendar, changes: tuple[str, ...] | list[str]
                     ) -> list[str]:
    """One sentence per changed property of the master, e.g. ``Time: … → …``."""
    old_master = master_of(old) if old is not None else None
    new_master = master_of(new)
    if old_master is None or new_master is None:
        return []
    sentences: list[str] = []
    if {"DTSTART", "DTEND", "DURATION", "DUE"} & set(changes):
        sentences.append("Time: %s → %s" % (describe_when(old_master),
                                            describe_when(new_master)))
    for name, label in (("SUMMARY", "Title"), ("LOCATION", "Place")):
        if name in changes:
            sentences.append("%s: %s → %s" % (label, old_master.get(name, "(none)"),
                                              new_master.get(name, "(none)")))
    if {"RRULE", "RDATE", "EXDATE"} & set(changes):
        sentences.append("The repetition changed.")
        sentences.extend(_occurrence_changes(old_master, new_master,
                                             main_components(new)))
    if "STATUS" in changes:
        sentences.append("Status: %s → %s" % (old_master.get("STATUS", "CONFIRMED"),
                                              new_master.get("STATUS", "CONFIRMED")))
    if "DESCRIPTION" in changes:
        sentences.append("The description changed.")
    if "ATTENDEE" in changes:
        added = sorted(set(attendees_of(new_master)) - set(attendees_of(old_master)))
        removed = sorted(set(attendees_of(old_master)) - set(attendees_of(new_master)))
        if added:
            sentences.append("Invited: %s" % ", ".join(added))
        if removed:
            sentences.append("No longer invited: %s" % ", ".join(removed))
    if not sentences and changes:
        sentences.append("Changed: %s" % ", ".join(c.lower() for c in changes))
    return sentences
