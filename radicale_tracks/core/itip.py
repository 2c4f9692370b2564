"""iTIP vocabulary, validation and the message value object (RFC 5546, RFC 6638 §7).

This module owns what every other part of scheduling shares:

* the RFC vocabulary: :class:`Method` (RFC 5546 §1.4, §3.2–§3.5) and :class:`PartStat`
  (RFC 5545 §3.2.12);
* :func:`parse_calendar` (validation per method is ``core/validation.py``);
* instance keys: a RECURRENCE-ID normalised so that ``20260105T090000Z`` and
  ``TZID=Europe/Berlin:20260105T100000`` name the same instance (RFC 5545 §3.8.4.4);
* readers of components (organizer, attendees, SEQUENCE, DTSTAMP, EXDATE…) and the
  property classes the signature of ``core/signature.py`` is made of;
* :class:`ItipMessage`, the serialised message handed to delivery, and
  :func:`build_message`, the one place a METHOD/PRODID/VTIMEZONE envelope is built.

Pure: no I/O, no clock (callers pass ``now``), no logging. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias, cast

from icalendar import Calendar, Component, vBroken, vCalAddress, vDDDTypes

from radicale_tracks.core.addresses import normalize_address, read_address
from radicale_tracks.core.period_values import period_bounds
from radicale_tracks.errors import TracksError

PRODID = "-//radicale-tracks//iTIP//EN"


class Method(StrEnum):
    """RFC 5546 §1.4 iTIP methods, valued with their RFC spelling."""

    PUBLISH = "PUBLISH"
    REQUEST = "REQUEST"
    REPLY = "REPLY"
    ADD = "ADD"
    CANCEL = "CANCEL"
    REFRESH = "REFRESH"
    COUNTER = "COUNTER"
    DECLINECOUNTER = "DECLINECOUNTER"


class PartStat(StrEnum):
    """RFC 5545 §3.2.12 participation status of an attendee of a VEVENT."""

    NEEDS_ACTION = "NEEDS-ACTION"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    TENTATIVE = "TENTATIVE"
    DELEGATED = "DELEGATED"


class ItipError(TracksError):
    """An iTIP object breaks a rule of RFC 5546 / RFC 5545; ``rule`` names the section."""

    def __init__(self, rule: str, method: str | None = None, uid: str | None = None) -> None:
        context = []
        if method:
            context.append("METHOD:%s" % method)
        if uid:
            context.append("UID:%s" % uid)
        super().__init__(rule + (" (%s)" % ", ".join(context) if context else ""))
        self.rule = rule
        self.method = method
        self.uid = uid


InstanceKey: TypeAlias = str | None
"""None is the master (or the whole object); else the RECURRENCE-ID as
``YYYYMMDDTHHMMSSZ`` (UTC), ``YYYYMMDDTHHMMSS`` (floating) or ``YYYYMMDD`` (date)."""


#: Components that are scheduled (RFC 6638 scheduling object resources: VEVENT, VTODO).
SCHEDULED_COMPONENTS = ("VEVENT", "VTODO")

#: An ATTENDEE parameter of ours: this attendee's invitations list no other attendee (a
#: customer booked on behalf, who may not see the team; docs/web.md).
HIDE_ATTENDEES = "X-TRACKS-HIDE-ATTENDEES"

#: Parameters stripped from outgoing messages (they only make sense inside a store).
PRIVATE_PARAMETERS = ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", HIDE_ATTENDEES)

_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "EXRULE")
DATE_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "DTSTAMP")


@dataclass(frozen=True)
class ItipMessage:
    """One iTIP message for one recipient: a value, ignorant of mail and HTTP."""

    method: Method
    recipient: str
    sender: str
    uid: str
    sequence: int
    instances: tuple[InstanceKey, ...]
    significant: bool
    changes: tuple[str, ...]
    ics: str

    def calendar(self) -> Calendar:
        """The message parsed again (a fresh object on every call)."""
        return parse_calendar(self.ics)


# --- parsing ---------------------------------------------------------------------------


def parse_calendar(data: str | bytes) -> Calendar:
    """Parse one VCALENDAR; garbage raises :class:`ItipError` naming RFC 5545."""
    # bytes, never str: icalendar probes a one-line str as a file path.
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        parsed = Calendar.from_ical(raw)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ItipError("RFC 5545: not a valid iCalendar object: %s" % error) from error
    if not isinstance(parsed, Calendar) or str(parsed.name).upper() != "VCALENDAR":
        raise ItipError("RFC 5545: not a valid iCalendar object: expected VCALENDAR, found %s"
                        % getattr(parsed, "name", "nothing"))
    return parsed


def copy_component(component: Component) -> Component:
    """A deep copy of one component with its subcomponents."""
    return component.copy(recursive=True)


# --- small readers ---------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """icalendar stores a repeated property as a list; give every property as one."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def uid_of(component: Component) -> str:
    """The UID, or the empty string."""
    return str(component.get("UID", ""))


def recurrence_key(value: date | datetime) -> str:
    """Normalise a RECURRENCE-ID/EXDATE/RDATE value to an :data:`InstanceKey` string."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def date_value(prop: Any) -> date | datetime | None:
    """The DATE or DATE-TIME of a property, or None (absent, broken or another type)."""
    if prop is None or isinstance(prop, vBroken):
        return None
    value = getattr(prop, "dt", None)
    return value if isinstance(value, (date, datetime)) else None


def instance_key(component: Component) -> InstanceKey:
    """None for the master; else the normalised RECURRENCE-ID (RFC 5545 §3.8.4.4)."""
    prop = first(component.get("RECURRENCE-ID"))
    if prop is None:
        return None
    value = date_value(prop)
    return recurrence_key(value) if value is not None else as_text(prop)


def first(value: Any) -> Any:
    """The first of a repeated property, the property itself, or None."""
    values = as_list(value)
    return values[0] if values else None


def instance_order(key: InstanceKey) -> tuple[bool, str]:
    """Sort key: the master first, then instances in time order."""
    return (key is not None, key or "")


def sorted_instances(keys: Iterable[InstanceKey]) -> tuple[InstanceKey, ...]:
    """Instance keys, the master first, then by RECURRENCE-ID."""
    return tuple(sorted(set(keys), key=instance_order))


def main_components(calendar: Calendar) -> dict[InstanceKey, Component]:
    """The VEVENT/VTODO components of the object's UID, keyed by instance, master first.

    The UID and type are those of the first VEVENT/VTODO; components of another UID or
    type are not part of the object. Empty when there is no VEVENT/VTODO.
    """
    return _object_components(calendar, SCHEDULED_COMPONENTS)


def master_of(calendar: Calendar) -> Component | None:
    """The component without RECURRENCE-ID, else the first instance; None when empty."""
    return next(iter(main_components(calendar).values()), None)


def _object_components(calendar: Calendar, names: Sequence[str]
                       ) -> dict[InstanceKey, Component]:
    found = [c for c in calendar.subcomponents if str(c.name).upper() in names]
    if not found:
        return {}
    kind, uid = str(found[0].name).upper(), uid_of(found[0])
    result: dict[InstanceKey, Component] = {}
    for component in found:
        if str(component.name).upper() == kind and uid_of(component) == uid:
            result.setdefault(instance_key(component), component)
    return {key: result[key] for key in sorted_instances(result)}


def organizer_of(component: Component) -> str | None:
    """The normalised ORGANIZER address, or None."""
    prop = first(component.get("ORGANIZER"))
    if prop is None:
        return None
    address = normalize_address(str(prop))
    return address or None


def attendees_of(component: Component) -> dict[str, vCalAddress]:
    """Normalised address → ATTENDEE property (the first one when listed twice)."""
    result: dict[str, vCalAddress] = {}
    for prop in as_list(component.get("ATTENDEE")):
        address = normalize_address(str(prop))
        if address:
            result.setdefault(address, prop)
    return result


@dataclass(frozen=True)
class Unaddressable:
    """An ATTENDEE nobody can be reached at: the value as written, its CN, and why."""

    written: str
    name: str | None
    reason: str

    def describe(self) -> str:
        """``Bob ("mailto:bob smith@x.org"): there is a space inside the address``."""
        who = self.name or "an attendee"
        return "%s (%s): %s" % (who, '"%s"' % self.written if self.written
                                else "no address", self.reason)


def unaddressable_attendees(calendar: Calendar) -> list[Unaddressable]:
    """The ATTENDEEs whose value is no usable address (empty, broken, a guess), once
    each over all instances: they are left out of :func:`attendees_of`, so whoever
    schedules must say so (SCHEDULE-STATUS 3.7, a sentence to the organizer)."""
    found: dict[tuple[str, str | None], Unaddressable] = {}
    for component in main_components(calendar).values():
        for prop in as_list(component.get("ATTENDEE")):
            reading = read_address(str(prop))
            if reading.usable:
                continue
            cn = getattr(prop, "params", {}).get("CN")
            name = str(cn).strip() if cn and str(cn).strip() else None
            key = (str(prop).strip(), name)
            found.setdefault(key, Unaddressable(key[0], name, reading.problem))
    return list(found.values())


def all_attendees(calendar: Calendar) -> list[str]:
    """Every attendee address of the object, over all its instances, first seen first."""
    found: dict[str, None] = {}
    for component in main_components(calendar).values():
        found.update(dict.fromkeys(attendees_of(component)))
    return list(found)


def sequence_of(component: Component) -> int:
    """SEQUENCE as an int; 0 when absent or unreadable (RFC 5545 §3.8.7.4 default)."""
    value = component.get("SEQUENCE")
    if value is None:
        return 0
    try:
        return int(str(first(value)))
    except ValueError:
        return 0


def dtstamp_of(component: Component) -> datetime | None:
    """DTSTAMP as an aware UTC datetime, or None."""
    value = date_value(first(component.get("DTSTAMP")))
    if isinstance(value, datetime):
        return utc(value)
    return None


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def status_of(component: Component | None) -> str:
    """STATUS upper-cased, or the empty string."""
    if component is None:
        return ""
    return str(component.get("STATUS", "")).strip().upper()


def parameter(prop: Any, name: str) -> str:
    """A parameter of a property, upper-cased, or the empty string."""
    params = getattr(prop, "params", None)
    if not params:
        return ""
    return str(params.get(name, "")).strip().upper()


def partstat_of(prop: Any) -> str:
    """PARTSTAT of an ATTENDEE, NEEDS-ACTION by default (RFC 5545 §3.2.12)."""
    return parameter(prop, "PARTSTAT") or PartStat.NEEDS_ACTION.value


def hides_attendees(prop: Any) -> bool:
    """Whether this attendee's messages carry no other attendee (``HIDE_ATTENDEES``)."""
    return parameter(prop, HIDE_ATTENDEES) == "TRUE"


def schedule_agent_is_server(prop: Any) -> bool:
    """False when SCHEDULE-AGENT is CLIENT or NONE (RFC 6638 §7.1)."""
    return parameter(prop, "SCHEDULE-AGENT") not in ("CLIENT", "NONE")


def exdate_keys(component: Component) -> frozenset[str]:
    """Instance keys excluded by EXDATE."""
    return frozenset(recurrence_key(dt) for dt in _date_values(component, "EXDATE"))


@dataclass(frozen=True)
class RecurrenceDate:
    """One value of RDATE/EXDATE: the instance's start, and for a PERIOD value
    (RFC 5545 §3.3.9: ``start/end`` or ``start/duration``) the instance's own end.

    icalendar and vobject hand a PERIOD back as a ``(start, end or duration)`` tuple;
    every reader of these properties goes through :func:`recurrence_dates` so none
    meets a tuple where it expects a date.
    """

    start: date | datetime
    end: datetime | None = None

    @property
    def key(self) -> str:
        return recurrence_key(self.start)


def recurrence_dates(component: Component, name: str) -> list[RecurrenceDate]:
    """Every value of a list-valued date property (RDATE, EXDATE), PERIOD ones with
    their own end; broken or unreadable values are left out."""
    result = []
    for prop in as_list(component.get(name)):
        for item in ([] if isinstance(prop, vBroken) else getattr(prop, "dts", [prop])):
            value = getattr(item, "dt", None)
            bounds = period_bounds(value)
            if bounds is not None:
                result.append(RecurrenceDate(bounds[0], bounds[1]))
            elif isinstance(value, (date, datetime)):
                result.append(RecurrenceDate(value))
    return result


def recurrence_values(component: Component, name: str) -> list[vDDDTypes]:
    """The single start values of a list-valued date property (EXDATE, RDATE), with
    params (a PERIOD value contributes its start as a DATE-TIME)."""
    result = []
    for prop in as_list(component.get(name)):
        params = dict(getattr(prop, "params", {}) or {})
        kept = {k: v for k, v in params.items()
                if k.upper() == "TZID" or (k.upper() == "VALUE" and str(v).upper() == "DATE")}
        for item in ([] if isinstance(prop, vBroken) else getattr(prop, "dts", [])):
            dt = date_value(item)
            bounds = period_bounds(getattr(item, "dt", None))
            if dt is None and bounds is not None:
                dt = bounds[0]
            if dt is not None:
                result.append(vDDDTypes(dt, params=dict(kept)))
    return result


def _date_values(component: Component, name: str) -> list[date | datetime]:
    return [dt for dt in (value.dt for value in recurrence_values(component, name))
            if isinstance(dt, (date, datetime))]


def recurrence_id_for(key: str, *sources: Component | None) -> vDDDTypes:
    """A RECURRENCE-ID value for ``key``, in the form the sources use when they name it.

    Looks at overrides' RECURRENCE-ID and the masters' EXDATE/RDATE; otherwise builds the
    value from the key itself (UTC, floating or date).
    """
    for source in sources:
        if source is None:
            continue
        prop = first(source.get("RECURRENCE-ID"))
        if prop is not None and instance_key(source) == key:
            return cast(vDDDTypes, copy.deepcopy(prop))
        for name in ("EXDATE", "RDATE"):
            for value in recurrence_values(source, name):
                if isinstance(value.dt, (date, datetime)) and recurrence_key(value.dt) == key:
                    return value
    if len(key) == 8:
        return vDDDTypes(datetime.strptime(key, "%Y%m%d").date())
    if not key.endswith("Z"):
        return vDDDTypes(datetime.strptime(key, "%Y%m%dT%H%M%S"))
    instant = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    for source in sources:  # in the zone of the series, as clients write it
        start = date_value(first(source.get("DTSTART"))) if source else None
        if isinstance(start, datetime) and start.tzinfo is not None:
            return vDDDTypes(instant.astimezone(start.tzinfo))
    return vDDDTypes(instant)


def derive_instance(master: Component, recurrence_id: vDDDTypes) -> Component:
    """The master's occurrence at ``recurrence_id`` as an override (RFC 5545 §3.8.4.4).

    A copy of the master without RRULE/RDATE/EXDATE/EXRULE, with RECURRENCE-ID set,
    DTSTART at the recurrence id (in the master's time zone) and DTEND/DUE keeping the
    master's duration.
    """
    instance = copy_component(master)
    for name in (*_RECURRENCE_PROPERTIES, "RECURRENCE-ID"):
        instance.pop(name, None)
    start = date_value(recurrence_id)
    if start is None:
        raise ItipError("RFC 5545 §3.8.4.4: RECURRENCE-ID must be a DATE or DATE-TIME value")
    master_start = date_value(first(master.get("DTSTART")))
    if isinstance(master_start, datetime) and isinstance(start, datetime):
        if master_start.tzinfo is not None and start.tzinfo is not None:
            start = start.astimezone(master_start.tzinfo)
    if isinstance(master_start, (date, datetime)):
        instance.pop("DTSTART", None)
        instance.add("DTSTART", start)
        for name in ("DTEND", "DUE"):
            end = date_value(first(master.get(name)))
            if isinstance(end, (date, datetime)) and type(end) is type(master_start):
                duration: timedelta = end - master_start
                instance.pop(name, None)
                instance.add(name, start + duration)
    instance.add("RECURRENCE-ID", copy.deepcopy(recurrence_id))
    return instance


def as_text(prop: Any) -> str:
    value = prop.to_ical() if hasattr(prop, "to_ical") else prop
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# --- building messages -----------------------------------------------------------------


def clean_address(prop: Any, drop: Sequence[str] = PRIVATE_PARAMETERS) -> Any:
    """A copy of an ORGANIZER/ATTENDEE property without the ``drop`` parameters."""
    result = copy.deepcopy(prop)
    params = getattr(result, "params", None)
    if params is not None:
        for name in drop:
            params.pop(name, None)
    return result


def set_property(component: Component, name: str, value: Any) -> None:
    """Replace every ``name`` property of ``component`` by one with ``value``."""
    component.pop(name, None)
    component.add(name, value)


def timezone_ids(components: Iterable[Component]) -> set[str]:
    """TZIDs referenced by the properties of ``components`` and their subcomponents."""
    found: set[str] = set()
    for component in components:
        for sub in component.walk():
            for _, value in sub.items():
                for prop in as_list(value):
                    params = getattr(prop, "params", None)
                    if params and params.get("TZID"):
                        found.add(str(params.get("TZID")))
    return found


def timezones_for(components: Sequence[Component], sources: Iterable[Calendar | None]
                  ) -> list[Component]:
    """Copies of the VTIMEZONEs (from the first source that has each) that are used."""
    wanted = timezone_ids(components)
    result: dict[str, Component] = {}
    for source in sources:
        if source is None:
            continue
        for sub in source.subcomponents:
            tzid = str(sub.get("TZID", ""))
            if str(sub.name).upper() == "VTIMEZONE" and tzid in wanted and tzid not in result:
                result[tzid] = copy_component(sub)
    return [result[tzid] for tzid in sorted(result)]


def serialize(calendar: Calendar) -> str:
    """RFC 5545 text with CRLF line ends and folding."""
    return bytes(calendar.to_ical()).decode("utf-8")


def message_text(method: Method, components: Sequence[Component],
                 sources: Iterable[Calendar | None]) -> str:
    """The iTIP VCALENDAR of ``components`` as text: METHOD, PRODID, VERSION and the
    VTIMEZONEs the components use, taken from ``sources``."""
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", method.value)
    for tz in timezones_for(components, sources):
        calendar.add_component(tz)
    for component in components:
        calendar.add_component(component)
    return serialize(calendar)


def build_message(method: Method, recipient: str, sender: str,
                  components: Sequence[Component], sources: Iterable[Calendar | None],
                  significant: bool, changes: Iterable[str],
                  text: str | None = None) -> ItipMessage:
    """Wrap ``components`` (already prepared, owned by the caller) in an iTIP VCALENDAR.

    Adds METHOD, PRODID, VERSION and the VTIMEZONEs the components use, taken from
    ``sources``. The first component without RECURRENCE-ID gives ``sequence``. ``text``
    is :func:`message_text` of the same components when the caller already has it: many
    recipients of one change get the same object, written once.
    """
    keys = [instance_key(component) for component in components]
    master = next((c for c in components if instance_key(c) is None), components[0])
    return ItipMessage(
        method=method, recipient=normalize_address(recipient),
        sender=normalize_address(sender), uid=uid_of(components[0]),
        sequence=sequence_of(master), instances=sorted_instances(keys),
        significant=significant, changes=tuple(sorted(set(changes))),
        ics=text if text is not None else message_text(method, components, sources))


def new_component_like(component: Component) -> Component:
    """An empty component of the same class and name (VEVENT → VEVENT)."""
    result = type(component)()
    if not getattr(result, "name", None):
        # a class variable of icalendar's Component, set on the instance on purpose
        setattr(result, "name", component.name)  # noqa: B010
    return result
