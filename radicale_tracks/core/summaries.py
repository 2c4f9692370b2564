"""Human sentences about a meeting for mails: when it is, and what changed.

Times are shown in the event's own time zone (its DTSTART TZID; UTC for UTC times), the
zone the organizer chose, in English.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from icalendar import Calendar

from radicale_tracks.core.itip import InstanceKey, attendees_of, instance_of, master_of


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


def meeting_facts(calendar: Calendar, instance: InstanceKey = None) -> dict[str, str]:
    """Summary, time, place of the meeting — of one occurrence when ``instance`` names
    one (its override, else the master's occurrence there)."""
    component = master_of(calendar) if instance is None else (
        instance_of(calendar, instance) or master_of(calendar))
    if component is None:
        return {"summary": "(no title)", "when": "", "location": "", "uid": ""}
    return {
        "summary": str(component.get("SUMMARY", "")) or "(no title)",
        "when": describe_when(component),
        "location": str(component.get("LOCATION", "")),
        "uid": str(component.get("UID", "")),
        "status": str(component.get("STATUS", "")),
    }



def describe_changes(old: Calendar | None, new: Calendar, changes: tuple[str, ...] | list[str],
                     instance: InstanceKey = None) -> list[str]:
    """One sentence per changed property of the master — or of the occurrence
    ``instance`` (its override against the occurrence it replaced) — e.g. ``Time: … → …``."""
    old_master = instance_of(old, instance) if old is not None else None
    new_master = instance_of(new, instance)
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


def describe_instance_changes(old: Calendar | None, new: Calendar,
                              changed: Mapping[InstanceKey, Sequence[str]]) -> list[str]:
    """The sentences of :func:`describe_changes` for each changed instance (from
    :func:`radicale_tracks.core.broker.changed_instances`): the series first, then each
    occurrence, named by its date when more than one thing changed."""
    several = len(changed) > 1
    sentences: list[str] = []
    for key in sorted(changed, key=lambda k: (k is not None, k or "")):
        found = describe_changes(old, new, list(changed[key]), key)
        if several and key is not None:
            found = ["%s: %s" % (describe_instance_key(new, key), s) for s in found]
        sentences.extend(found)
    return sentences


def describe_instance_key(calendar: Calendar, key: InstanceKey) -> str:
    """The date of the occurrence ``key`` in words (its RECURRENCE-ID, in the zone the
    object gives it)."""
    component = instance_of(calendar, key)
    rid = _value(component, "RECURRENCE-ID") if component is not None else None
    master = master_of(calendar)
    start = _value(master, "DTSTART") if master is not None else None
    if isinstance(rid, datetime.datetime) and isinstance(start, datetime.datetime) and (
            rid.tzinfo is not None and start.tzinfo is not None):
        rid = rid.astimezone(start.tzinfo)  # the series' own zone, as its dates are shown
    return describe_instance(rid if rid is not None else key)
