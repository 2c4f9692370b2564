"""Human sentences about a meeting for mails and pages: when it is, and what changed.

People read these, so they say what a person would: "Monday 18 January 2027,
10:00–11:00 (Europe/Berlin)", "Moved from Monday 18 January 10:00 to Tuesday 19 January
14:00.", "Bob was added." — never a property name or an iCalendar date.

Times are shown in the zone asked for (the recipient's, when the caller knows it) or
else in the event's own zone (its DTSTART TZID; UTC for UTC times). A change to one
occurrence is described for that occurrence (its RECURRENCE-ID): the callers say which
instance and which properties changed, these functions compare that occurrence before
and after and put the difference in words.

Pure: no I/O, no clock; English.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, vRecur

from radicale_tracks.core.itip import (
    InstanceKey,
    RecurrenceDate,
    as_list,
    attendees_of,
    derive_instance,
    exdate_keys,
    main_components,
    master_of,
    partstat_of,
    recurrence_dates,
    recurrence_id_for,
    recurrence_key,
    status_of,
)

#: How far a series is walked to find its first occurrence that takes place.
MAX_WALK = 1000

_TIME_PROPERTIES = frozenset({"DTSTART", "DTEND", "DURATION", "DUE"})
_REPEAT_PROPERTIES = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE"})

#: Other properties, in words ("Also changed: the link to join.").
_OTHER_WORDS = {
    "URL": "the link", "CONFERENCE": "the link to join", "ATTACH": "the attachments",
    "CATEGORIES": "the categories", "CLASS": "who may see it",
    "TRANSP": "whether it blocks time", "PRIORITY": "the priority",
    "RESOURCES": "the resources", "COMMENT": "the comment", "GEO": "the place on the map",
    "CONTACT": "the contact", "PERCENT-COMPLETE": "the progress",
    "COMPLETED": "the completion", "VALARM": "the reminders",
}

_PARTSTAT_WORDS = {"ACCEPTED": "accepted", "DECLINED": "declined",
                   "TENTATIVE": "accepted tentatively", "DELEGATED": "delegated",
                   "NEEDS-ACTION": "has not answered yet"}

_FREQ_WORDS = {"SECONDLY": ("second", "seconds"), "MINUTELY": ("minute", "minutes"),
               "HOURLY": ("hour", "hours"), "DAILY": ("day", "days"),
               "WEEKLY": ("week", "weeks"), "MONTHLY": ("month", "months"),
               "YEARLY": ("year", "years")}
_DAY_WORDS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
              "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}


# --- values and zones --------------------------------------------------------------------


def _value(component: Any, name: str) -> Any:
    found = as_list(component.get(name))
    prop = found[0] if found else None
    return getattr(prop, "dt", prop)


def _zone(name: str | None) -> datetime.tzinfo | None:
    """An IANA zone by name, or None (unknown names fall back to the event's zone)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone_name(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        return "floating time"
    key = getattr(value.tzinfo, "key", None) or getattr(value.tzinfo, "zone", None)
    if key is None and value.utcoffset() == datetime.timedelta(0):
        return "UTC"
    return str(key or value.tzname() or "UTC")


def _in_zone(value: Any, zone: str | None) -> Any:
    """A DATE-TIME with a zone shown in ``zone`` (dates and floating times stay)."""
    target = _zone(zone)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None and target:
        return value.astimezone(target)
    return value


def _instant(value: Any) -> datetime.datetime:
    """A sort key in UTC for dates, floating and zoned times."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day,
                                 tzinfo=datetime.UTC)
    return datetime.datetime.max.replace(tzinfo=datetime.UTC)


def _day(value: datetime.date, year: bool = True) -> str:
    text = "%s %d %s" % (value.strftime("%A"), value.day, value.strftime("%B"))
    return text + (" %d" % value.year if year else "")


def format_moment(value: Any) -> str:
    """``Monday 18 January 2027, 10:00`` (a time) or ``Monday 18 January 2027`` (a date)."""
    if isinstance(value, datetime.datetime):
        return "%s, %s" % (_day(value), value.strftime("%H:%M"))
    if isinstance(value, datetime.date):
        return _day(value)
    return str(value)


def _short(value: Any, year: bool) -> str:
    """``Monday 18 January 10:00`` for sentences about a move."""
    if isinstance(value, datetime.datetime):
        return "%s %s" % (_day(value, year), value.strftime("%H:%M"))
    if isinstance(value, datetime.date):
        return _day(value, year)
    return str(value)


# --- when ------------------------------------------------------------------------------


def end_of(component: Any) -> Any:
    end = _value(component, "DTEND") if "DTEND" in component else _value(component, "DUE")
    if end is None and "DURATION" in component and "DTSTART" in component:
        end = _value(component, "DTSTART") + _value(component, "DURATION")
    return end


def describe_span(start: Any, end: Any, zone: str | None = None) -> str:
    """``Monday 4 January 2027, 10:00–11:00 (Europe/Berlin)``; all-day and multi-day too."""
    if start is None:
        return "no time set"
    if isinstance(start, datetime.datetime):
        start = _in_zone(start, zone)
        text = format_moment(start)
        if isinstance(end, datetime.datetime):
            if start.tzinfo is not None and end.tzinfo is not None:
                end = end.astimezone(start.tzinfo)
            text += ("–" + end.strftime("%H:%M") if end.date() == start.date()
                     else " – " + format_moment(end))
        return "%s (%s)" % (text, _zone_name(start))
    text = format_moment(start)
    if isinstance(end, datetime.date) and (end - start).days > 1:
        text += " – " + format_moment(end - datetime.timedelta(days=1))
    return text + " (all day)"


def describe_repetition(component: Any) -> str:
    """``every week on Monday, 10 times``; empty when the component does not repeat."""
    rule = component.get("RRULE")
    if not isinstance(rule, vRecur):
        return "on more dates" if "RDATE" in component else ""
    parts = {str(key).upper(): as_list(value) for key, value in rule.items()}
    freq = str((parts.get("FREQ") or ["WEEKLY"])[0]).upper()
    one, many = _FREQ_WORDS.get(freq, ("time", "times"))
    interval = int(str((parts.get("INTERVAL") or [1])[0]) or 1)
    text = "every %s" % one if interval == 1 else "every %d %s" % (interval, many)
    days = [_DAY_WORDS.get(str(day)[-2:].upper()) for day in parts.get("BYDAY", [])]
    if days and all(days):
        text += " on " + _join([d for d in days if d])
    if parts.get("COUNT"):
        text += ", %s times" % parts["COUNT"][0]
    elif parts.get("UNTIL"):
        until = parts["UNTIL"][0]
        until = until.date() if isinstance(until, datetime.datetime) else until
        text += ", until %s" % format_moment(until)
    return text


def describe_when(component: Any, zone: str | None = None) -> str:
    """When the component takes place, and how it repeats (a series)."""
    text = describe_span(_value(component, "DTSTART"), end_of(component), zone)
    repeats = describe_repetition(component)
    return "%s, repeats %s" % (text, repeats) if repeats else text


# --- occurrences -----------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a meeting as it takes place (an override's time when moved)."""

    key: InstanceKey
    start: Any
    end: Any
    component: Component


def occurrence(calendar: Calendar | None, key: InstanceKey) -> Component | None:
    """The component of one instance: its override, else the master's occurrence at
    ``key`` (None: the master itself; None when there is no such instance)."""
    if calendar is None:
        return None
    components = main_components(calendar)
    if key in components:
        return components[key]
    master = components.get(None)
    if key is None or master is None:
        return master if key is None else None
    try:
        return derive_instance(master, recurrence_id_for(key, master))
    except (ValueError, TypeError):
        return None


def _rule_starts(master: Component, start: Any) -> Iterator[Any]:
    """The RRULE's starts, on wall-clock time in DTSTART's zone, then placed on it."""
    rule = master.get("RRULE")
    if not isinstance(rule, vRecur):
        return
    zone = start.tzinfo if isinstance(start, datetime.datetime) else None
    wall = start.replace(tzinfo=None) if isinstance(start, datetime.datetime) else (
        datetime.datetime(start.year, start.month, start.day))
    parts = {str(key).upper(): value for key, value in rule.items()}
    untils = as_list(parts.get("UNTIL"))
    if untils:
        until = untils[0]
        if isinstance(until, datetime.datetime):
            parts["UNTIL"] = [(until.astimezone(zone) if zone and until.tzinfo else until
                               ).replace(tzinfo=None)]
        elif isinstance(until, datetime.date):
            parts["UNTIL"] = [datetime.datetime.combine(until, datetime.time.max
                                                        ).replace(microsecond=0)]
    try:
        recur: Any = vRecur(parts)
        rule_set: Any = rrulestr(recur.to_ical().decode("ascii"), dtstart=wall)
        for index, found in enumerate(rule_set):
            if index >= MAX_WALK:
                return
            yield (found.replace(tzinfo=zone) if isinstance(start, datetime.datetime)
                   else found.date())
    except (ValueError, TypeError, OverflowError, KeyError):
        return


def _rdate_starts(master: Component) -> list[Any]:
    return [value.start for value in recurrence_dates(master, "RDATE")]


def first_occurrence(calendar: Calendar) -> Occurrence | None:
    """The first occurrence that takes place: the series' first start that no EXDATE
    and no cancelled override removes, or an override moved earlier; None when every
    one is cancelled. Bounded (:data:`MAX_WALK`)."""
    components = main_components(calendar)
    master = components.get(None)
    candidates: list[Occurrence] = []
    overrides = {key: c for key, c in components.items() if key is not None}
    excluded = exdate_keys(master) if master is not None else frozenset()
    for key, component in overrides.items():
        if status_of(component) != "CANCELLED" and key not in excluded:
            candidates.append(Occurrence(key, _value(component, "DTSTART"),
                                         end_of(component), component))
    start = _value(master, "DTSTART") if master is not None else None
    if master is not None and status_of(master) != "CANCELLED" and isinstance(
            start, (datetime.date, datetime.datetime)):
        end = end_of(master)
        length = (end - start) if end is not None else None
        if "RRULE" not in master and "RDATE" not in master:
            candidates.append(Occurrence(None, start, end, master))
        else:
            taken = excluded | set(overrides)
            # DTSTART is the first instance (RFC 5545 §3.8.5.3)
            series = itertools.chain([start], _rule_starts(master, start))
            for value in series:
                if recurrence_key(value) not in taken:
                    candidates.append(Occurrence(recurrence_key(value), value,
                                                 value + length if length else None,
                                                 master))
                    break
            for value in _rdate_starts(master):
                if recurrence_key(value) not in taken:
                    candidates.append(Occurrence(recurrence_key(value), value,
                                                 value + length if length else None,
                                                 master))
    if not candidates:
        return None
    return min(candidates, key=lambda o: _instant(o.start))


def describe_instance(recurrence_id: Any, calendar: Calendar | None = None,
                      zone: str | None = None) -> str:
    """The date and time of one occurrence in words, named by its RECURRENCE-ID (an
    instance key such as ``20270118T090000Z``, a date or a property).

    With the calendar the occurrence's own time span is shown (an override's, when it
    was moved); without it, the moment the key names.
    """
    value = getattr(recurrence_id, "dt", recurrence_id)
    key: InstanceKey = recurrence_key(value) if isinstance(
        value, (datetime.date, datetime.datetime)) else (str(value) if value else None)
    component = occurrence(calendar, key) if key is not None else None
    if component is not None:
        return describe_span(_value(component, "DTSTART"), end_of(component), zone)
    if isinstance(value, str):
        try:
            value = recurrence_id_for(value).dt
        except ValueError:
            return str(value)
    if isinstance(value, datetime.datetime):
        return describe_span(value, None, zone)
    return format_moment(value)


def meeting_facts(calendar: Calendar, zone: str | None = None,
                  instance: InstanceKey = None) -> dict[str, str]:
    """Title, when (the first occurrence that takes place, how it repeats), place — or,
    for ``instance``, that one occurrence's own (a mail about one occurrence shows it,
    not the series' first date)."""
    if instance is not None:
        found = occurrence(calendar, instance)
        if found is not None:
            return {
                "summary": str(found.get("SUMMARY", "")) or "(no title)",
                "when": describe_instance(instance, calendar, zone),
                "location": str(found.get("LOCATION", "")),
                "uid": str(found.get("UID", "")),
                "status": str(found.get("STATUS", "")),
            }
    component = master_of(calendar)
    if component is None:
        return {"summary": "(no title)", "when": "", "location": "", "uid": "",
                "status": ""}
    first = first_occurrence(calendar) if status_of(component) != "CANCELLED" else None
    when = describe_when(component, zone)
    if first is not None:
        when = describe_span(first.start, first.end, zone)
        repeats = describe_repetition(component) if "RECURRENCE-ID" not in component else ""
        when += ", repeats %s" % repeats if repeats else ""
    return {
        "summary": str(component.get("SUMMARY", "")) or "(no title)",
        "when": when,
        "location": str(component.get("LOCATION", "")),
        "uid": str(component.get("UID", "")),
        "status": str(component.get("STATUS", "")),
    }


# --- what changed ----------------------------------------------------------------------


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return "%s and %s" % (", ".join(items[:-1]), items[-1])


def _person(address: str, prop: Any) -> str:
    name = getattr(prop, "params", {}).get("CN")
    return str(name) if name else address


def _time_sentence(before: Component, after: Component, zone: str | None) -> str | None:
    old_start, new_start = _value(before, "DTSTART"), _value(after, "DTSTART")
    old_end, new_end = end_of(before), end_of(after)
    shown_zone = zone
    if shown_zone is None and isinstance(new_start, datetime.datetime):
        shown_zone = getattr(new_start.tzinfo, "key", None)
    old_start, new_start = _in_zone(old_start, shown_zone), _in_zone(new_start, shown_zone)
    old_end, new_end = _in_zone(old_end, shown_zone), _in_zone(new_end, shown_zone)
    if _instant(old_start) != _instant(new_start) or type(old_start) is not type(new_start):
        year = (getattr(old_start, "year", None) != getattr(new_start, "year", None))
        text = "Moved from %s to %s" % (_short(old_start, year), _short(new_start, year))
        if (old_end is not None and new_end is not None
                and (old_end - old_start) != (new_end - new_start)):
            if isinstance(new_end, datetime.datetime):
                text += ", now until %s" % (new_end.strftime("%H:%M")
                                            if new_end.date() == new_start.date()
                                            else _short(new_end, year))
            elif isinstance(new_end, datetime.date):
                text += ", now until %s" % _short(new_end - datetime.timedelta(days=1),
                                                  year)
        return text + "."
    if old_end is not None and new_end is not None and _instant(old_end) != _instant(new_end):
        if isinstance(new_end, datetime.datetime) and isinstance(old_end, datetime.datetime):
            same_day = new_end.date() == old_end.date() == _instant(new_start).date()
            return "Now ends at %s instead of %s." % (
                new_end.strftime("%H:%M") if same_day else _short(new_end, False),
                old_end.strftime("%H:%M") if same_day else _short(old_end, False))
        return "Now until %s instead of %s." % (
            _short(new_end - datetime.timedelta(days=1), False),
            _short(old_end - datetime.timedelta(days=1), False))
    if new_end is None and old_end is not None:
        return "It no longer has an end time."
    return None


def _attendee_sentences(before: Component, after: Component) -> list[str]:
    old, new = attendees_of(before), attendees_of(after)
    added = [_person(a, new[a]) for a in new if a not in old]
    removed = [_person(a, old[a]) for a in old if a not in new]
    sentences = []
    if added:
        sentences.append("%s %s added." % (_join(added), "was" if len(added) == 1
                                           else "were"))
    if removed:
        sentences.append("%s %s no longer invited." % (
            _join(removed), "is" if len(removed) == 1 else "are"))
    for address, prop in new.items():
        if address in old and partstat_of(old[address]) != partstat_of(prop):
            sentences.append("%s %s." % (_person(address, prop), _PARTSTAT_WORDS.get(
                partstat_of(prop), "changed their answer")))
    return sentences


def _dates(component: Component, name: str) -> dict[str, RecurrenceDate]:
    """RDATE/EXDATE values by instance key, a PERIOD with its own end."""
    return {value.key: value for value in recurrence_dates(component, name)}


def _repeat_sentences(before: Component, after: Component, zone: str | None,
                      calendar: Calendar | None = None) -> list[str]:
    start = _value(after, "DTSTART")
    if zone is None and isinstance(start, datetime.datetime):
        zone = getattr(start.tzinfo, "key", None)  # the event's zone, not the value's
    sentences = []
    old_rule, new_rule = describe_repetition(before), describe_repetition(after)
    if "RRULE" in before or "RRULE" in after:
        if old_rule and not new_rule:
            sentences.append("It no longer repeats.")
        elif new_rule and new_rule != old_rule:
            sentences.append("It now repeats %s." % new_rule)
    old_ex, new_ex = _dates(before, "EXDATE"), _dates(after, "EXDATE")
    for key in sorted(set(new_ex) - set(old_ex)):
        sentences.append("No meeting on %s." % describe_instance(new_ex[key].start, None,
                                                                 zone))
    for key in sorted(set(old_ex) - set(new_ex)):
        sentences.append("The meeting on %s takes place again." % describe_instance(
            old_ex[key].start, None, zone))
    old_r, new_r = _dates(before, "RDATE"), _dates(after, "RDATE")
    for key in sorted(set(new_r) - set(old_r)):
        # at its own times: its period's, else its override's or the series' length
        added = new_r[key]
        when = (describe_span(added.start, added.end, zone) if added.end is not None
                else describe_instance(added.start, calendar, zone))
        sentences.append("An extra meeting on %s." % when)
    for key in sorted(set(old_r) - set(new_r)):
        sentences.append("No extra meeting on %s any more." % describe_instance(
            old_r[key].start, None, zone))
    return sentences


def describe_changes(old: Calendar | None, new: Calendar,
                     changes: Sequence[str] | Iterable[str],
                     instance: InstanceKey = None, zone: str | None = None) -> list[str]:
    """One sentence per change of ``instance`` (None: the series or the single event),
    for the property names in ``changes``: the occurrence before and after is compared
    and what differs is put in words, times in ``zone`` (else the event's)."""
    names = {str(name).upper() for name in changes}
    before, after = occurrence(old, instance), occurrence(new, instance)
    if before is None or after is None or not names:
        return []
    sentences: list[str] = []
    if names & _TIME_PROPERTIES:
        moved = _time_sentence(before, after, zone)
        if moved:
            sentences.append(moved)
    if "SUMMARY" in names and str(before.get("SUMMARY", "")) != str(after.get("SUMMARY", "")):
        title = str(after.get("SUMMARY", "")) or "(no title)"
        was = str(before.get("SUMMARY", ""))
        sentences.append("New title: %s%s." % (title, " (was: %s)" % was if was else ""))
    if "LOCATION" in names:
        place, was = str(after.get("LOCATION", "")), str(before.get("LOCATION", ""))
        if place and place != was:
            sentences.append("The location is now %s%s." % (
                place, " (was: %s)" % was if was else ""))
        elif was and not place:
            sentences.append("The location %s was removed." % was)
    if "STATUS" in names and status_of(before) != status_of(after):
        sentences.append({"CANCELLED": "The meeting is cancelled.",
                          "TENTATIVE": "The meeting is now tentative.",
                          "CONFIRMED": "The meeting is confirmed."}.get(
            status_of(after), "The meeting's status changed."))
    if "DESCRIPTION" in names:
        sentences.append("The description changed.")
    if "ATTENDEE" in names:
        sentences.extend(_attendee_sentences(before, after))
    if "ORGANIZER" in names:
        new_organizer = as_list(after.get("ORGANIZER"))
        if new_organizer:
            sentences.append("The organizer is now %s." % _person(
                str(new_organizer[0]).split(":", 1)[-1], new_organizer[0]))
    if instance is None and names & _REPEAT_PROPERTIES:
        sentences.extend(_repeat_sentences(before, after, zone, new))
    known = (_TIME_PROPERTIES | _REPEAT_PROPERTIES
             | {"SUMMARY", "LOCATION", "STATUS", "DESCRIPTION", "ATTENDEE", "ORGANIZER",
                "RECURRENCE-ID", "UID"})
    others = sorted({_OTHER_WORDS.get(name, "") for name in names - known})
    if others:
        words = [w for w in others if w]
        if words:
            sentences.append("Also changed: %s." % _join(words))
        elif not sentences:
            sentences.append("Some details changed.")
    return sentences


def describe_answer(who: str, partstats: Iterable[str]) -> str:
    """``bob@example.org accepted`` (one answer), or each answer joined."""
    words = [_PARTSTAT_WORDS.get(str(p).upper(), "answered") for p in sorted(set(partstats))]
    return "%s %s" % (who, _join(words) or "answered")


def describe_update(old: Calendar | None, new: Calendar, changes: Sequence[str],
                    instances: Sequence[InstanceKey], zone: str | None = None
                    ) -> tuple[str, list[str]]:
    """(the occurrence(s) concerned in words, or "" for the series; the sentences).

    ``instances`` are the RECURRENCE-IDs a message or receipt touched: the series (None
    among them) is described as a whole; else each occurrence, by its own date.
    """
    keys = list(instances) or [None]
    if None in keys:
        return "", describe_changes(old, new, changes, None, zone)
    if len(keys) == 1:
        return (describe_instance(keys[0], old or new, zone),
                describe_changes(old, new, changes, keys[0], zone))
    sentences: list[str] = []
    for key in keys:
        when = describe_instance(key, old or new, zone)
        sentences.extend("%s: %s" % (when, s) for s in
                         describe_changes(old, new, changes, key, zone))
    return _join([describe_instance(k, old or new, zone) for k in keys]), sentences
