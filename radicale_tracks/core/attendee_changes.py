"""An attendee's write of their copy, applied onto the organizer's current version.

RFC 6638 §3.2.2.1 lets an attendee change only their own participation in a meeting:
their PARTSTAT (and RSVP, SCHEDULE-FORCE-SEND=REPLY), their alarms, TRANSP, a task's
PERCENT-COMPLETE/COMPLETED, and the occurrences they decline (an override with their
answer, or an EXDATE, §3.2.2.3). Everything else is the organizer's: the server keeps it
as the organizer last sent it. A client that saves a copy fetched before the organizer's
last change (no If-Match, no If-Schedule-Tag-Match) therefore cannot move the meeting
back, and an attendee cannot retitle it for themselves: the attendee's copy never drifts
from the organizer's. The server stores the merge and answers without ETag (RFC 4791
§5.3.4), so the client fetches what it now holds.

Merging rather than refusing with ``CALDAV:allowed-attendee-scheduling-object-change``
(RFC 6638 §3.2.1 lets a server impose restrictions, it does not oblige it to) is Apple
CalendarServer's choice: a server cannot tell a stale copy from a deliberate edit, and a
refused save of a stale copy would lose the attendee's answer too. The one change no merge
can express is another ORGANIZER (:func:`refused_attendee_change`): the copy would no
longer be the organizer's meeting, so that write is refused.

Pure: no I/O, no clock. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from icalendar import Calendar, Component

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    InstanceKey,
    as_list,
    as_text,
    date_value,
    derive_instance,
    exdate_keys,
    first,
    main_components,
    organizer_of,
    recurrence_id_for,
    recurrence_key,
    recurrence_values,
    uid_of,
)
from radicale_tracks.core.scheduling import Role, scheduling_role
from radicale_tracks.core.signature import BOOKKEEPING_PREFIXES
from radicale_tracks.core.track_details import copy_calendar

#: Parameters of the attendee's own ATTENDEE property that are theirs to set.
OWN_PARAMETERS = ("PARTSTAT", "RSVP", "SCHEDULE-FORCE-SEND")
#: Properties of a component that belong to each attendee's copy (RFC 6638 §3.2.2.1),
#: plus LAST-MODIFIED (when the copy was last changed: the attendee's save).
OWN_PROPERTIES = ("TRANSP", "PERCENT-COMPLETE", "COMPLETED", "LAST-MODIFIED")
#: Of those, the ones a client that leaves them out does not mean to remove.
KEPT_WHEN_ABSENT = ("LAST-MODIFIED",)
#: Subcomponents that belong to each attendee's copy.
OWN_COMPONENTS = ("VALARM",)


def is_attendee_rewrite(stored: Calendar, written: Calendar,
                        owner_addresses: frozenset[str]) -> bool:
    """Whether ``written`` is the owner's write over their attendee copy ``stored``: the
    same object (UID), where the owner is an attendee — what :func:`merge_attendee_change`
    applies to. A write of another UID over the same resource is a new object."""
    before, after = main_components(stored), main_components(written)
    if not before or not after:
        return False
    same = uid_of(next(iter(before.values()))) == uid_of(next(iter(after.values())))
    return same and scheduling_role(stored, owner_addresses) is Role.ATTENDEE


def refused_attendee_change(stored: Calendar, written: Calendar,
                            owner_addresses: frozenset[str]) -> str | None:
    """Why ``written`` is no change an attendee may make to ``stored``; None when it is.

    Everything but another ORGANIZER is merged (:func:`merge_attendee_change`); naming
    another organizer — the owner themselves or someone else — would make the copy
    another meeting under the organizer's UID (RFC 6638 §3.2.2.1: attendees change only
    their participation). The answer is a sentence for the refused client's user.
    """
    if not is_attendee_rewrite(stored, written, owner_addresses):
        return None
    before = _organizers(stored)
    after = _organizers(written)
    if not after or after == before:
        return None
    organizer = ", ".join(sorted(before)) or "its organizer"
    return ("This meeting is organized by %s: only the organizer can change who organizes "
            "it. As an attendee you can change your answer, your alarms and whether the "
            "meeting shows you as busy." % organizer)


def _organizers(calendar: Calendar) -> set[str]:
    return {address for component in main_components(calendar).values()
            if (address := organizer_of(component)) is not None}


def merge_attendee_change(stored: Calendar, written: Calendar,
                          owner_addresses: frozenset[str]) -> Calendar:
    """The organizer's version ``stored`` with the attendee's own changes of ``written``.

    Per instance of ``written`` that the organizer's version has (an override, or an
    occurrence of its master not excluded): the owner's ATTENDEE takes :data:`OWN_PARAMETERS`,
    the component :data:`OWN_PROPERTIES` and VALARMs from ``written``; client X- properties
    (``X-MOZ-``, ``X-APPLE-``, ``X-LIC-``) come from ``written``; other X- properties the
    organizer's version lacks are kept. An override ``written`` adds is derived from the
    stored master, and kept only when the attendee changed something in it. EXDATEs
    ``written`` adds to the master (declined occurrences, §3.2.2.3) are added when they
    name an occurrence of the organizer's version. Everything else — times, recurrence,
    SUMMARY, other attendees, SEQUENCE, DTSTAMP — is ``stored``'s, as are instances
    ``written`` dropped or that no longer exist.
    """
    owner = frozenset(normalize_address(a) for a in owner_addresses)
    result = copy_calendar(stored)
    ours = main_components(result)
    theirs = main_components(written)
    master = ours.get(None)
    declined = _added_exdates(master, theirs.get(None), ours)
    for key, component in theirs.items():
        if key in declined:
            continue
        target = ours.get(key)
        if target is not None:
            _take_own(target, component, owner)
            continue
        if key is None or master is None or not _occurs(master, key):
            continue  # not an instance of the organizer's version: the organizer's wins
        derived = derive_instance(master, recurrence_id_for(key, component, master))
        before = _own_view(derived, owner)
        _take_own(derived, component, owner)
        if _own_view(derived, owner) != before:
            result.add_component(derived)
    if master is not None and declined:
        for key, value in declined.items():
            master.add("EXDATE", value)
            if key in ours:
                result.subcomponents.remove(ours[key])
    return result


# --- one component ---------------------------------------------------------------------


def _take_own(target: Component, source: Component, owner: frozenset[str]) -> None:
    """Copy the attendee's own parts of ``source`` into ``target`` (in place)."""
    _take_own_parameters(target, source, owner)
    for name in OWN_PROPERTIES:
        if name in source or name not in KEPT_WHEN_ABSENT:
            _replace(target, source, name)
    stored_names = {str(name).upper() for name in target.keys()}
    for raw_name in list(source.keys()):
        name = str(raw_name).upper()
        if name.startswith(BOOKKEEPING_PREFIXES) or (
                name.startswith("X-") and name not in stored_names):
            _replace(target, source, name)
    for raw_name in list(target.keys()):
        name = str(raw_name).upper()
        if name.startswith(BOOKKEEPING_PREFIXES) and name not in source:
            target.pop(raw_name)
    kept = [sub for sub in target.subcomponents
            if str(sub.name).upper() not in OWN_COMPONENTS]
    target.subcomponents[:] = kept + [copy.deepcopy(sub) for sub in source.subcomponents
                                      if str(sub.name).upper() in OWN_COMPONENTS]


def _own_view(component: Component, owner: frozenset[str]) -> tuple[object, ...]:
    """What an attendee's override can change: a new override that changes none of it
    (only LAST-MODIFIED or client bookkeeping) is not worth keeping."""
    answers = sorted((normalize_address(str(prop)),
                      tuple(str(prop.params.get(name)) for name in OWN_PARAMETERS))
                     for prop in as_list(component.get("ATTENDEE"))
                     if normalize_address(str(prop)) in owner)
    values = tuple(as_text(component[name]) if name in component else ""
                   for name in OWN_PROPERTIES if name not in KEPT_WHEN_ABSENT)
    alarms = tuple(sub.to_ical() for sub in component.subcomponents
                   if str(sub.name).upper() in OWN_COMPONENTS)
    return (tuple(answers), values, alarms)


def _take_own_parameters(target: Component, source: Component,
                         owner: frozenset[str]) -> None:
    wanted = {normalize_address(str(prop)): prop for prop in as_list(source.get("ATTENDEE"))
              if normalize_address(str(prop)) in owner}
    for prop in as_list(target.get("ATTENDEE")):
        written = wanted.get(normalize_address(str(prop)))
        params, theirs = getattr(prop, "params", None), getattr(written, "params", None)
        if params is None or theirs is None:
            continue
        for name in OWN_PARAMETERS:
            if theirs.get(name) is not None:
                params[name] = copy.deepcopy(theirs[name])
            else:
                params.pop(name, None)


def _replace(target: Component, source: Component, name: str) -> None:
    target.pop(name, None)
    if name in source:
        target[name] = copy.deepcopy(source[name])


# --- occurrences -----------------------------------------------------------------------


def _added_exdates(master: Component | None, written: Component | None,
                   ours: dict[InstanceKey, Component]) -> dict[str, Any]:
    """EXDATE values ``written`` adds that name an occurrence of the organizer's master."""
    if master is None or written is None:
        return {}
    excluded = exdate_keys(master)
    found: dict[str, Any] = {}
    for value in recurrence_values(written, "EXDATE"):
        dt = date_value(value)
        if dt is None:
            continue
        key = recurrence_key(dt)
        if key not in excluded and key not in found and (key in ours or _occurs(master, key)):
            found[key] = dt
    return found


def _occurs(master: Component, key: str) -> bool:
    """Whether ``key`` is an occurrence of ``master`` (DTSTART, RRULE, RDATE; EXDATE not)."""
    if key in exdate_keys(master):
        return False
    start = date_value(first(master.get("DTSTART")))
    if start is None:
        return False
    if recurrence_key(start) == key or any(
            recurrence_key(v.dt) == key for v in recurrence_values(master, "RDATE")
            if isinstance(v.dt, (date, datetime))):
        return True
    wanted = _key_datetime(key, start)
    if wanted is None:
        return False
    begin = start if isinstance(start, datetime) else datetime(start.year, start.month,
                                                               start.day)
    for rule in as_list(master.get("RRULE")):
        try:
            expanded: Any = rrulestr(as_text(rule), dtstart=begin)
            hits = expanded.between(wanted - timedelta(seconds=1),
                                    wanted + timedelta(seconds=1), inc=True)
        except (ValueError, TypeError):
            continue
        if hits:
            return True
    return False


def _key_datetime(key: str, start: date | datetime) -> datetime | None:
    """The instance key as a datetime comparable with the expansion of ``start``."""
    try:
        if len(key) == 8:
            return datetime.strptime(key, "%Y%m%d")
        if key.endswith("Z"):
            instant = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if isinstance(start, datetime) and start.tzinfo is not None:
                return instant.astimezone(start.tzinfo)
            return None
        naive = datetime.strptime(key, "%Y%m%dT%H%M%S")
        return naive if isinstance(start, datetime) and start.tzinfo is None else None
    except ValueError:
        return None
