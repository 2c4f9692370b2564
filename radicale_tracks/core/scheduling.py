"""RFC 6638 rules on stored scheduling objects: whose they are and what the server stamps.

A CalDAV server that schedules (RFC 6638 §3) has to know, for every object written to a
calendar, whether its owner is the organizer or an attendee (§3.1), because that decides
whether the write sends REQUEST/CANCEL or REPLY. It also owns some of the object's
content: SCHEDULE-STATUS is the server's answer to the client (§3.2.9, §7.3), never the
client's to set; and when a client writes over a copy the server changed meanwhile
(an attendee's reply landed), the server's participation changes must survive
(§3.2.10 If-Schedule-Tag-Match, "inconsequential" changes). Schedule-Tags (§3.3) change
only when a copy changes in more than participation, which :func:`is_consequential`
decides.

Addresses passed in are already normalised (:func:`~radicale_tracks.core.addresses.
normalize_address`). Pure: no I/O, no clock. Inputs are never mutated: every function
returning a calendar returns a new one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from icalendar import Calendar, Component

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    PRIVATE_PARAMETERS,
    SCHEDULED_COMPONENTS,
    InstanceKey,
    PartStat,
    as_list,
    attendees_of,
    clean_address,
    copy_component,
    instance_key,
    instance_order,
    main_components,
    organizer_of,
    partstat_of,
    schedule_agent_is_server,
)
from radicale_tracks.core.signature import (
    Signature,
    changed_properties,
    component_signature,
    is_significant,
)
from radicale_tracks.core.track_details import copy_calendar

#: ATTENDEE parameters that only say how an attendee answered (or was asked to):
#: a change of these alone is not a change of the meeting.
PARTICIPATION_PARAMETERS = ("PARTSTAT", "RSVP", *PRIVATE_PARAMETERS)

#: RFC 5546 §3.6 request status of an attendee whose address cannot be used
INVALID_CALENDAR_USER = "3.7"


class Role(StrEnum):
    """What the owner of a calendar is to a scheduling object resource (RFC 6638 §3.1)."""

    ORGANIZER = "organizer"
    ATTENDEE = "attendee"


# --- readers ---------------------------------------------------------------------------


def _components(calendar: Calendar) -> list[Component]:
    """Every VEVENT/VTODO, the master first.

    All of them, not only :func:`main_components`' (one UID): RFC 6638 §3.1 asks for the
    same ORGANIZER in *each* component, and the server's parameters must go from every
    component a client could read them back from.
    """
    found = [c for c in calendar.subcomponents if str(c.name).upper() in SCHEDULED_COMPONENTS]
    return sorted(found, key=lambda c: instance_order(instance_key(c)))


def _params(prop: Any) -> Any:
    """The parameter dict of an address property; None for values without one."""
    return getattr(prop, "params", None)


def scheduling_role(calendar: Calendar, owner_addresses: frozenset[str]) -> Role | None:
    """Whether ``calendar`` is an organizer or attendee scheduling object of the owner.

    RFC 6638 §3.1: ORGANIZER present with the same value in every VEVENT/VTODO; the
    owner's (organizer) or not the owner's with the owner among the ATTENDEEs of some
    component (attendee). Anything else (no ORGANIZER, one missing or differing between
    components, the owner not involved) is an ordinary object: the server schedules
    nothing for it.
    """
    components = _components(calendar)
    organizers = {organizer_of(component) for component in components}
    if len(organizers) != 1:
        return None
    organizer = organizers.pop()
    if organizer is None:
        return None
    if organizer in owner_addresses:
        return Role.ORGANIZER
    if owner_attendee(calendar, owner_addresses) is not None:
        return Role.ATTENDEE
    return None


def owner_attendee(calendar: Calendar, owner_addresses: frozenset[str]) -> str | None:
    """The owner's address as an ATTENDEE (normalised), master first; None if absent.

    An owner with aliases answers with the one the organizer invited, so replies and
    PARTSTAT lookups use that one.
    """
    for component in _components(calendar):
        for address in attendees_of(component):
            if address in owner_addresses:
                return address
    return None


def partstats_of(calendar: Calendar, address: str) -> dict[InstanceKey, str]:
    """PARTSTAT of ``address`` per instance key, where it is an attendee (RFC 5545 §3.2.12)."""
    wanted = normalize_address(address)
    result: dict[InstanceKey, str] = {}
    for key, component in main_components(calendar).items():
        prop = attendees_of(component).get(wanted)
        if prop is not None:
            result[key] = partstat_of(prop)
    return result


# --- server-owned parameters -----------------------------------------------------------


def _strip(component: Component, names: Sequence[str],
           drop: Sequence[str] = PRIVATE_PARAMETERS) -> None:
    for name in names:
        for prop in as_list(component.get(name)):
            params = _params(prop)
            if params is not None:
                for parameter_name in drop:
                    params.pop(parameter_name, None)


def strip_schedule_parameters(calendar: Calendar) -> Calendar:
    """The object without SCHEDULE-STATUS/SCHEDULE-FORCE-SEND on ORGANIZER and ATTENDEEs.

    Both are about one store's deliveries (RFC 6638 §7.2, §7.3); a copy delivered to
    another calendar user must not carry the organizer's.
    """
    result = copy_calendar(calendar)
    for component in _components(result):
        _strip(component, ("ORGANIZER", "ATTENDEE"))
    return result


def with_schedule_status(calendar: Calendar, statuses: Mapping[str, str],
                         previous: Calendar | None) -> Calendar:
    """An organizer's object as stored: SCHEDULE-STATUS set by the server only.

    RFC 6638 §3.2.9/§7.3: clients must not set SCHEDULE-STATUS (and SCHEDULE-FORCE-SEND
    is a one-shot request), so both go from every ORGANIZER/ATTENDEE. Attendees this
    write delivered to get their new status from ``statuses`` (normalised address →
    e.g. ``1.2``); the others keep what ``previous`` said of them (the same instance when
    ``previous`` has it, else its master), since the last delivery still stands.
    An attendee whose value is no usable address (``core/addresses.read_address``) is
    never delivered to: 3.7 (invalid calendar user, RFC 5546 §3.6), unless the client
    schedules it itself (SCHEDULE-AGENT, §7.1).
    """
    wanted = {normalize_address(address): status for address, status in statuses.items()}
    before = main_components(previous) if previous is not None else {}
    result = copy_calendar(calendar)
    for component in _components(result):
        _strip(component, ("ORGANIZER", "ATTENDEE"))
        key = instance_key(component)
        reference = before.get(key, before.get(None))
        known = attendees_of(reference) if reference is not None else {}
        for prop in as_list(component.get("ATTENDEE")):
            params = _params(prop)
            if params is None:
                continue
            address = normalize_address(str(prop))
            if not address and schedule_agent_is_server(prop):
                params["SCHEDULE-STATUS"] = INVALID_CALENDAR_USER
                continue
            if address in wanted:
                params["SCHEDULE-STATUS"] = wanted[address]
                continue
            old = _params(known.get(address))
            if old is not None and old.get("SCHEDULE-STATUS") is not None:
                params["SCHEDULE-STATUS"] = copy.deepcopy(old["SCHEDULE-STATUS"])
    return result


def with_organizer_schedule_status(calendar: Calendar, status: str | None) -> Calendar:
    """An attendee's object as stored: the ORGANIZER's SCHEDULE-STATUS the server's.

    On an attendee's copy, SCHEDULE-STATUS on ORGANIZER tells how the last REPLY went
    (RFC 6638 §7.3); ``None`` leaves none (nothing was sent).
    """
    result = copy_calendar(calendar)
    for component in _components(result):
        _strip(component, ("ORGANIZER",))
        if status is None:
            continue
        for prop in as_list(component.get("ORGANIZER")):
            params = _params(prop)
            if params is not None:
                params["SCHEDULE-STATUS"] = status
    return result


# --- participation ---------------------------------------------------------------------


def _set_partstat(prop: Any, partstat: str) -> None:
    """PARTSTAT as answered; RSVP only while an answer is still expected."""
    params = _params(prop)
    if params is None:
        return
    params["PARTSTAT"] = partstat
    params.pop("SCHEDULE-STATUS", None)
    if partstat.upper() != PartStat.NEEDS_ACTION.value:
        params.pop("RSVP", None)


def with_partstats(calendar: Calendar, address: str,
                   partstats: Mapping[InstanceKey, str]) -> Calendar:
    """The object with ``address``'s PARTSTAT set per instance (after a reply).

    Only components the object has are touched: an instance key without an override
    here is an occurrence of the master, which follows ``partstats[None]`` when given;
    no override is invented for it. SCHEDULE-STATUS on that attendee goes (it described
    a delivery to them, not their answer) and RSVP goes unless the answer is
    NEEDS-ACTION (an answer is then still expected).
    """
    wanted = normalize_address(address)
    result = copy_calendar(calendar)
    for key, component in main_components(result).items():
        if key not in partstats:
            continue
        for prop in as_list(component.get("ATTENDEE")):
            if normalize_address(str(prop)) == wanted:
                _set_partstat(prop, partstats[key])
    return result


def merge_partstats(incoming: Calendar, stored: Calendar, keep: frozenset[str]) -> Calendar:
    """``incoming`` with the server's participation changes of ``stored`` kept.

    RFC 6638 §3.2.10: a client that wrote with If-Schedule-Tag-Match based its copy on a
    version before the server applied replies; those "inconsequential" changes must not
    be lost. For every instance both have, each attendee not in ``keep`` (the ones the
    writer may change, e.g. the owner) takes the stored PARTSTAT, and SCHEDULE-STATUS
    when stored has one; RSVP goes when stored says the attendee answered. An instance
    whose change is significant (time, recurrence, STATUS) is left as written: an
    organizer who rescheduled may have reset PARTSTATs on purpose.
    """
    before = main_components(stored)
    result = copy_calendar(incoming)
    for key, component in main_components(result).items():
        previous = before.get(key)
        if previous is None or is_significant(changed_properties(previous, component)):
            continue
        theirs = attendees_of(previous)
        for prop in as_list(component.get("ATTENDEE")):
            address = normalize_address(str(prop))
            params, old = _params(prop), _params(theirs.get(address))
            if address in keep or params is None or old is None:
                continue
            if old.get("PARTSTAT") is not None:
                params["PARTSTAT"] = copy.deepcopy(old["PARTSTAT"])
            else:
                params.pop("PARTSTAT", None)
            if old.get("SCHEDULE-STATUS") is not None:
                params["SCHEDULE-STATUS"] = copy.deepcopy(old["SCHEDULE-STATUS"])
            if partstat_of(theirs[address]) != PartStat.NEEDS_ACTION.value:
                params.pop("RSVP", None)
    return result


def _meeting_signature(component: Component) -> Signature:
    """The scheduling signature with participation left out."""
    bare = copy_component(component)
    attendees = [clean_address(prop, PARTICIPATION_PARAMETERS)
                 for prop in as_list(bare.get("ATTENDEE"))]
    bare.pop("ATTENDEE", None)
    for prop in attendees:
        bare.add("ATTENDEE", prop)
    return component_signature(bare)


def is_consequential(old: Calendar | None, new: Calendar) -> bool:
    """Whether ``new`` changes an attendee's copy in more than participation.

    RFC 6638 §3.3: the Schedule-Tag of an attendee's copy changes on the organizer's
    consequential updates only, so a client holding the tag can still write after the
    organizer merely recorded someone's answer. Participation is PARTSTAT, RSVP and
    SCHEDULE-STATUS of ATTENDEEs; bookkeeping (DTSTAMP, SEQUENCE, LAST-MODIFIED,
    VALARM…) never counts (:func:`~radicale_tracks.core.signature.component_signature`).
    A new or removed instance counts; a new object (``old`` None) always does.
    """
    if old is None:
        return True
    before, after = main_components(old), main_components(new)
    if set(before) != set(after):
        return True
    return any(_meeting_signature(before[key]) != _meeting_signature(component)
               for key, component in after.items())
