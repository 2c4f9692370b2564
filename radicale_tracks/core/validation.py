"""Validation of incoming iTIP objects against RFC 5546 §3, rule by rule.

:func:`validate` checks the restriction tables of RFC 5546 §3.2 (VEVENT), §3.3
(VFREEBUSY), §3.4 (VTODO) and §3.5 (VJOURNAL) for each method, plus the RFC 5545 rules
that matter for scheduling (§3.6.1 DTEND xor DURATION, §3.6.2 DUE xor DURATION,
§3.8.7.4 SEQUENCE, §3.8.4.4 RECURRENCE-ID). An :class:`ItipError` names the rule broken.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from icalendar import Calendar, Component

from radicale_tracks.core.itip import (
    DATE_PROPERTIES,
    SCHEDULED_COMPONENTS,
    InstanceKey,
    ItipError,
    Method,
    as_list,
    as_text,
    date_value,
    first,
    instance_key,
    uid_of,
)

_SECTIONS: dict[str, dict[Method, str]] = {
    "VEVENT": {method: "§3.2.%d" % (index + 1) for index, method in enumerate(Method)},
    "VTODO": {method: "§3.4.%d" % (index + 1) for index, method in enumerate(Method)},
    "VJOURNAL": {Method.PUBLISH: "§3.5.1", Method.ADD: "§3.5.2", Method.CANCEL: "§3.5.3"},
    "VFREEBUSY": {Method.PUBLISH: "§3.3.1", Method.REQUEST: "§3.3.2", Method.REPLY: "§3.3.3"},
}

# Required properties per component and method (RFC 5546 §3.2–§3.5 tables, "1" and "1+").
# ORGANIZER is not required of a REPLY (outlook.com omits it) nor of a PUBLISH (feeds).
_BASE = ("DTSTAMP", "UID")
_REQUIRED: dict[str, dict[Method, tuple[str, ...]]] = {
    "VEVENT": {
        Method.PUBLISH: (*_BASE, "DTSTART"),
        Method.REQUEST: (*_BASE, "ORGANIZER", "DTSTART"),
        Method.REPLY: _BASE,
        Method.ADD: (*_BASE, "ORGANIZER", "DTSTART"),
        Method.CANCEL: (*_BASE, "ORGANIZER"),
        Method.REFRESH: (*_BASE, "ORGANIZER"),
        Method.COUNTER: (*_BASE, "ORGANIZER", "DTSTART"),
        Method.DECLINECOUNTER: (*_BASE, "ORGANIZER"),
    },
    "VTODO": {
        Method.PUBLISH: _BASE,
        Method.REQUEST: (*_BASE, "ORGANIZER"),
        Method.REPLY: _BASE,
        Method.ADD: (*_BASE, "ORGANIZER"),
        Method.CANCEL: (*_BASE, "ORGANIZER"),
        Method.REFRESH: (*_BASE, "ORGANIZER"),
        Method.COUNTER: (*_BASE, "ORGANIZER"),
        Method.DECLINECOUNTER: (*_BASE, "ORGANIZER"),
    },
    "VJOURNAL": {
        Method.PUBLISH: (*_BASE, "DTSTART"),
        Method.ADD: (*_BASE, "ORGANIZER", "DTSTART"),
        Method.CANCEL: (*_BASE, "ORGANIZER"),
    },
    "VFREEBUSY": {
        Method.PUBLISH: ("DTSTAMP", "DTSTART", "DTEND"),
        Method.REQUEST: (*_BASE, "ORGANIZER", "DTSTART", "DTEND"),
        Method.REPLY: (*_BASE, "DTSTART", "DTEND"),
    },
}

# (minimum, maximum) number of ATTENDEE properties; absent = no constraint.
_ATTENDEES: dict[Method, tuple[int, int | None]] = {
    Method.REQUEST: (1, None),
    Method.REPLY: (1, 1),
    Method.ADD: (1, None),
    Method.REFRESH: (1, 1),
    Method.COUNTER: (1, None),
    Method.DECLINECOUNTER: (1, None),
}



def _a(word: str) -> str:
    """``a REQUEST``, ``an ADD``: the rule sentences read as English."""
    return ("an %s" if word in ("ADD", "ATTENDEE", "ORGANIZER") else "a %s") % word


def validate(calendar: Calendar) -> Method:
    """Check an iTIP object and return its METHOD; raise :class:`ItipError` naming the rule.

    Checks METHOD (RFC 5546 §1.4), one component type and one UID (§3: "all components
    MUST have the same UID"; a PUBLISH may carry several objects), the required
    properties and ATTENDEE counts of §3.2 (VEVENT), §3.3 (VFREEBUSY), §3.4 (VTODO) and
    §3.5 (VJOURNAL), and RFC 5545 DTEND/DUE xor DURATION, SEQUENCE and date values.
    """
    raw_method = calendar.get("METHOD")
    if raw_method is None or not str(first(raw_method)).strip():
        raise ItipError("RFC 5546 §1.4: an iTIP message must have a METHOD property")
    text = str(first(raw_method)).strip().upper()
    try:
        method = Method(text)
    except ValueError:
        raise ItipError("RFC 5546 §1.4: unknown METHOD %s" % text, method=text) from None

    found = [c for c in calendar.subcomponents
             if str(c.name).upper() in ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")]
    if not found:
        raise ItipError("RFC 5546 §3: an iTIP message must contain a VEVENT, VTODO, VJOURNAL "
                        "or VFREEBUSY component", method=method)
    kinds = sorted({str(c.name).upper() for c in found})
    if len(kinds) > 1:
        raise ItipError("RFC 5546 §3: an iTIP message carries one component type, found %s"
                        % " and ".join(kinds), method=method, uid=uid_of(found[0]))
    kind = kinds[0]
    sections = _SECTIONS[kind]
    if method not in sections:
        raise ItipError("RFC 5546 §3.%d: %s is not defined for %s" % (
            {"VJOURNAL": 5, "VFREEBUSY": 3}[kind], method.value, kind), method=method)
    section = "RFC 5546 %s" % sections[method]
    uids = sorted({uid_of(c) for c in found})
    if len(uids) > 1 and method is not Method.PUBLISH:
        raise ItipError("%s: all components of %s must have the same UID, found %s" % (
            section, _a(method.value), ", ".join(uids)), method=method)

    seen: set[tuple[str, InstanceKey]] = set()
    for component in found:
        _validate_component(component, kind, method, section)
        key = (uid_of(component), instance_key(component))
        if kind != "VFREEBUSY" and key in seen:
            raise ItipError("RFC 5545 §3.8.4.4: two components share UID and RECURRENCE-ID %s"
                            % (key[1] or "(master)"), method=method, uid=key[0])
        seen.add(key)
    return method


def _validate_component(component: Component, kind: str, method: Method,
                        section: str) -> None:
    uid = uid_of(component) or None
    what = "%s %s" % (_a(method.value), kind)
    for name in _REQUIRED[kind][method]:
        if component.get(name) is None or (name == "UID" and not uid):
            raise ItipError("%s: %s must have %s" % (section, what, _a(name)),
                            method=method, uid=uid)
    for name in DATE_PROPERTIES:
        prop = first(component.get(name))
        if prop is not None and date_value(prop) is None:
            raise ItipError("RFC 5545 §3.3.4: %s must be a DATE or DATE-TIME value" % name,
                            method=method, uid=uid)
    if kind in SCHEDULED_COMPONENTS:
        organizers = as_list(component.get("ORGANIZER"))
        if len(organizers) > 1:
            raise ItipError("%s: %s must have at most one ORGANIZER" % (section, what),
                            method=method, uid=uid)
    if kind in SCHEDULED_COMPONENTS or kind == "VFREEBUSY":
        limits = _ATTENDEES.get(method)
        count = len(as_list(component.get("ATTENDEE")))
        if limits is not None:
            low, high = limits
            if count < low:
                raise ItipError("%s: %s must have %s" % (
                    section, what, "an ATTENDEE" if high == 1 else "at least one ATTENDEE"),
                    method=method, uid=uid)
            if high is not None and count > high:
                raise ItipError("%s: %s must have exactly one ATTENDEE, found %d" % (
                    section, what, count), method=method, uid=uid)
    if component.get("DURATION") is not None:
        for end, rule in (("DTEND", "RFC 5545 §3.6.1"), ("DUE", "RFC 5545 §3.6.2")):
            if component.get(end) is not None:
                raise ItipError("%s: %s and DURATION must not both occur in a %s" % (
                    rule, end, kind), method=method, uid=uid)
    raw_sequence = component.get("SEQUENCE")
    if raw_sequence is not None:
        try:
            sequence = int(str(first(raw_sequence)))
        except ValueError:
            sequence = -1
        if sequence < 0 or any(str(name).upper() == "SEQUENCE" for name, _ in component.errors):
            raise ItipError("RFC 5545 §3.8.7.4: SEQUENCE must be a non-negative integer, "
                            "found %s" % as_text(first(raw_sequence)), method=method, uid=uid)
