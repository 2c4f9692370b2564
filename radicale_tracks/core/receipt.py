"""Receiving iTIP: "message, stored object → receipt" (RFC 5546 §2.1.5, §3.2; RFC 6638).

This module owns what happens to a stored scheduling object when an iTIP message for it
arrives, by mail or from a local organizer/attendee:

* REQUEST (RFC 5546 §3.2.2): create the object, replace it (a master REQUEST replaces
  the master and the overrides it carries), or update one instance (RECURRENCE-ID);
* CANCEL (§3.2.5): cancel the whole object or single instances (STATUS:CANCELLED);
* REPLY (§3.2.3): set the replying attendee's PARTSTAT in the organizer's copy.

Ordering follows RFC 5546 §2.1.5: a component is newer when its SEQUENCE is higher, or
equal with a later DTSTAMP; anything else (older, or a retry with the same SEQUENCE and
DTSTAMP) is stale. A REPLY is stale only when its SEQUENCE is lower than the stored
instance's. Other methods are the caller's business and come back IGNORED.

That ordering is for messages from elsewhere (mail), which can arrive late, twice or out
of order. A message this server made from a local user's write (``authoritative``) is
ordered by the writes themselves, not by the clock: they are serialised by the storage's
write lock and delivered under it, so at the stored SEQUENCE each is newer than what the
copy holds — even when its DTSTAMP (whole seconds) equals the stored one, as for three
PUTs within one second that keep SEQUENCE. Judging it by DTSTAMP would drop the second of
them as a retry and leave the copy out of step for good. Still STALE: a lower SEQUENCE
(an offline client's older version written back; the engine sends none) and a true
no-op (the very version the copy holds: same stamps, same content). A REQUEST for another
organizer's meeting is the caller's to refuse, as for mail. A REPLY is ordered by
SEQUENCE only, either way.

The comparison is only right when the stored copy carries the *organizer's* SEQUENCE
and DTSTAMP per instance — not the moment we (or an attendee's client) wrote it: a later
CANCEL or update that keeps SEQUENCE (Evolution; Google and Outlook for minor edits)
would look older and be lost. Whoever stores a copy derived from a message the server
re-authored (the assistant's track copies) restores them with
:func:`keep_organizer_stamps`. Overrides are stored without RRULE/RDATE/EXDATE (Google
sends the series' RRULE on an override): an override is one occurrence.

Pure: the answer is a :class:`Receipt` (an outcome, the object to store or None, and a
reason); nothing is stored, sent or logged. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from icalendar import Calendar, Component

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    InstanceKey,
    Method,
    as_list,
    attendees_of,
    copy_component,
    derive_instance,
    dtstamp_of,
    exdate_keys,
    first,
    main_components,
    partstat_of,
    sequence_of,
    set_property,
    sorted_instances,
    uid_of,
)
from radicale_tracks.core.leniency import drop_override_recurrence
from radicale_tracks.core.signature import (
    SIGNIFICANT_PROPERTIES,
    changed_properties,
    is_significant,
)
from radicale_tracks.core.validation import validate


class Outcome(StrEnum):
    """What applying a message did."""

    CREATED = "created"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    INSTANCE_CANCELLED = "instance-cancelled"
    REPLY_APPLIED = "reply-applied"
    STALE = "stale"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Receipt:
    """The result of :func:`apply_message`.

    ``calendar`` is the object to store (no METHOD), or None when nothing is to be stored
    (STALE, IGNORED). ``reason`` is a sentence for logs and request-status.
    """

    outcome: Outcome
    calendar: Calendar | None
    reason: str
    instances: tuple[InstanceKey, ...]
    significant: bool
    changes: tuple[str, ...]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def apply_message(message: Calendar, existing: Calendar | None, *,
                  authoritative: bool = False) -> Receipt:
    """Apply an iTIP ``message`` to the ``existing`` stored object (None: there is none).

    ``authoritative``: the message is this server's delivery of a local user's write,
    newer than the stored object by the order of the writes (see the module's
    docstring); otherwise RFC 5546 ordering. Validates first
    (:class:`~radicale_tracks.core.itip.ItipError` propagates).
    """
    method = validate(message)
    incoming = main_components(message)
    touched = tuple(incoming)
    if method not in (Method.REQUEST, Method.CANCEL, Method.REPLY) or not incoming:
        return _ignored("method %s is handled by the caller" % method.value, touched)
    stored = main_components(existing) if existing is not None else {}
    if stored:
        mine, theirs = next(iter(stored.values())), next(iter(incoming.values()))
        if uid_of(mine) != uid_of(theirs):
            return _ignored("UID %s does not match the stored UID %s" % (
                uid_of(theirs), uid_of(mine)), touched)
        if str(mine.name).upper() != str(theirs.name).upper():
            return _ignored("a %s message does not apply to a stored %s" % (
                theirs.name, mine.name), touched)
    if method is Method.REQUEST:
        return _request(message, {key: _as_stored(component)
                                   for key, component in incoming.items()},
                        existing, stored, authoritative)
    if existing is None or not stored:
        return _ignored("nothing to cancel" if method is Method.CANCEL
                        else "no stored object to apply the REPLY to", touched)
    if method is Method.CANCEL:
        return _cancel(message, incoming, existing, stored, authoritative)
    return _reply(message, incoming, existing, stored)


def _ignored(reason: str, touched: Iterable[InstanceKey]) -> Receipt:
    return Receipt(Outcome.IGNORED, None, reason, tuple(touched), False, ())


def _stale(reasons: list[str], touched: Iterable[InstanceKey]) -> Receipt:
    return Receipt(Outcome.STALE, None, "; ".join(reasons), tuple(touched), False, ())


# --- ordering --------------------------------------------------------------------------


def _stored_for(stored: Mapping[InstanceKey, Component], key: InstanceKey
                ) -> Component | None:
    """The stored component a message component is ordered against (override, else master)."""
    if key in stored:
        return stored[key]
    return stored.get(None) if key is not None else None


#: What only the organizer changes: a copy differing here from a message with the same
#: SEQUENCE and DTSTAMP holds another version (two writes within one second), not the
#: same one (a retry). Copies add their own PARTSTAT, alarms, track details, so the rest
#: cannot tell.
_ORGANIZER_CONTENT = SIGNIFICANT_PROPERTIES + ("SUMMARY", "LOCATION")


def _staleness(incoming: Component, stored: Component | None,
               previous: Component | None = None,
               content: tuple[str, ...] | None = _ORGANIZER_CONTENT,
               authoritative: bool = False) -> str | None:
    """Why ``incoming`` is not newer than ``stored`` (RFC 5546 §2.1.5), or None.

    Equal SEQUENCE and DTSTAMP is the same message again — unless the organizer's
    ``content`` (None: every property) differs from ``previous`` (the stored instance;
    default ``stored``): DTSTAMP has whole seconds, and two versions stamped within one
    are not a retry. ``authoritative``: only that retry is stale, whatever the stamps
    say otherwise at an equal SEQUENCE (the module's docstring says why); a lower
    SEQUENCE is still an older version written back.
    """
    if stored is None:
        return None
    new_sequence, old_sequence = sequence_of(incoming), sequence_of(stored)
    if new_sequence != old_sequence:
        if new_sequence < old_sequence:
            return "SEQUENCE %d is older than stored SEQUENCE %d" % (new_sequence, old_sequence)
        return None
    if authoritative:
        return _no_op(incoming, stored, previous, content)
    new_stamp = dtstamp_of(incoming) or _EPOCH
    old_stamp = dtstamp_of(stored) or _EPOCH
    if new_stamp == old_stamp and _differs(incoming, stored, previous, content):
        return None
    if new_stamp == old_stamp:
        return "duplicate: SEQUENCE %d and DTSTAMP %s equal the stored ones" % (
            new_sequence, _stamp(new_stamp))
    if new_stamp < old_stamp:
        return "DTSTAMP %s is older than stored DTSTAMP %s at SEQUENCE %d" % (
            _stamp(new_stamp), _stamp(old_stamp), new_sequence)
    return None


def _differs(incoming: Component, stored: Component, previous: Component | None,
             content: tuple[str, ...] | None) -> bool:
    """Whether ``incoming`` changes ``content`` (None: any property) of ``previous``."""
    found = changed_properties(stored if previous is None else previous, incoming)
    return bool(found if content is None else set(found) & set(content))


def _no_op(incoming: Component, stored: Component, previous: Component | None,
           content: tuple[str, ...] | None) -> str | None:
    """Why an authoritative ``incoming`` of the stored SEQUENCE changes nothing (the
    version the copy holds), or None."""
    if (dtstamp_of(incoming) != dtstamp_of(stored)
            or _differs(incoming, stored, previous, content)):
        return None
    return "no change: the copy holds this version (SEQUENCE %d, DTSTAMP %s)" % (
        sequence_of(incoming), _stamp(dtstamp_of(incoming) or _EPOCH))


def _stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def _label(key: InstanceKey) -> str:
    return "RECURRENCE-ID %s" % key if key is not None else "the master"


def keep_organizer_stamps(calendar: Calendar, organizer_version: Calendar | None
                          ) -> Calendar:
    """``calendar`` with each instance's SEQUENCE and DTSTAMP taken from
    ``organizer_version`` (its override there, else its master's), so that the next
    message of the organizer is ordered against what the organizer sent, not against the
    moment a copy was written. Instances the organizer's version does not have keep
    theirs. A new object; the inputs are not changed.
    """
    result = Calendar.from_ical(calendar.to_ical())
    if organizer_version is None:
        return result
    theirs = main_components(organizer_version)
    for key, component in main_components(result).items():
        source = theirs[key] if key in theirs else theirs.get(None)
        if source is None:
            continue
        set_property(component, "SEQUENCE", sequence_of(source))
        stamp = first(source.get("DTSTAMP"))
        if stamp is not None:
            set_property(component, "DTSTAMP", copy.deepcopy(stamp))
    return result


def organizer_stamps_differ(calendar: Calendar, organizer_version: Calendar) -> bool:
    """Whether :func:`keep_organizer_stamps` would change ``calendar``."""
    theirs = main_components(organizer_version)
    for key, component in main_components(calendar).items():
        source = theirs[key] if key in theirs else theirs.get(None)
        if source is None:
            continue
        if sequence_of(component) != sequence_of(source) or (
                first(source.get("DTSTAMP")) is not None
                and dtstamp_of(component) != dtstamp_of(source)):
            return True
    return False


def without_override_recurrence(calendar: Calendar) -> Calendar:
    """``calendar`` with its overrides stored as one occurrence each (no RRULE/RDATE/
    EXDATE, :func:`~radicale_tracks.core.leniency.drop_override_recurrence`); the same
    object when there is nothing to repair."""
    if not any(component.get("RECURRENCE-ID") is not None and any(
            component.get(name) is not None for name in ("RRULE", "RDATE", "EXDATE",
                                                         "EXRULE"))
               for component in main_components(calendar).values()):
        return calendar
    result = Calendar.from_ical(calendar.to_ical())
    for component in main_components(result).values():
        drop_override_recurrence(component)
    return result


# --- assembling the stored object ------------------------------------------------------


def _as_stored(component: Component) -> Component:
    """A copy of a message component as it is stored: an override without the series'
    recurrence rules (a client fault, see :mod:`radicale_tracks.core.leniency`)."""
    result = copy_component(component)
    drop_override_recurrence(result)
    return result


def _assemble(base: Calendar, components: Mapping[InstanceKey, Component],
              timezone_sources: Iterable[Calendar | None]) -> Calendar:
    """A new VCALENDAR: ``base``'s properties without METHOD, VTIMEZONEs, components."""
    result = Calendar()
    for name, value in base.items():
        if str(name).upper() != "METHOD":
            result[name] = copy.deepcopy(value)
    seen: set[str] = set()
    for source in timezone_sources:
        for sub in source.subcomponents if source is not None else ():
            tzid = str(sub.get("TZID", ""))
            if str(sub.name).upper() == "VTIMEZONE" and tzid not in seen:
                seen.add(tzid)
                result.add_component(copy_component(sub))
    for key in sorted_instances(components):
        result.add_component(components[key])
    return result


def _with_alarms(component: Component, previous: Component | None) -> Component:
    """A copy of ``component`` keeping the stored copy's VALARMs when it brings none."""
    result = copy_component(component)
    has_alarm = any(str(sub.name).upper() == "VALARM" for sub in result.subcomponents)
    if previous is not None and not has_alarm:
        result.subcomponents.extend(copy_component(sub) for sub in previous.subcomponents
                                    if str(sub.name).upper() == "VALARM")
    return result


def _before(stored: Mapping[InstanceKey, Component], key: InstanceKey,
            component: Component) -> Component | None:
    """The stored version of an instance: its override, or the master's occurrence."""
    if key in stored:
        return stored[key]
    master = stored.get(None)
    rid = first(component.get("RECURRENCE-ID"))
    if key is None or master is None or rid is None or key in exdate_keys(master):
        return None
    return derive_instance(master, rid)


# --- methods ---------------------------------------------------------------------------


def _request(message: Calendar, incoming: Mapping[InstanceKey, Component],
             existing: Calendar | None, stored: Mapping[InstanceKey, Component],
             authoritative: bool) -> Receipt:
    fresh: dict[InstanceKey, Component] = {}
    reasons: list[str] = []
    for key, component in incoming.items():
        reason = _staleness(component, _stored_for(stored, key),
                            _before(stored, key, component),
                            None if authoritative else _ORGANIZER_CONTENT, authoritative)
        if reason is None:
            fresh[key] = component
        else:
            reasons.append("%s: %s" % (_label(key), reason) if len(incoming) > 1 else reason)
    if not fresh:
        return _stale(reasons, incoming)
    if existing is None or not stored:
        created = {key: copy_component(component) for key, component in incoming.items()}
        return Receipt(Outcome.CREATED, _assemble(message, created, (message,)),
                       "new object %s" % uid_of(next(iter(incoming.values()))),
                       tuple(incoming), True, ())

    result: dict[InstanceKey, Component] = {}
    touched: list[InstanceKey] = list(fresh)
    changes: set[str] = set()
    significant = False
    new_master = fresh.get(None)
    if new_master is not None:
        # A master REQUEST replaces the master and the overrides it carries; stored
        # overrides it does not carry survive unless the series moved past them.
        excluded = exdate_keys(new_master)
        for key, component in stored.items():
            if key is None or key in fresh:
                continue
            if key in excluded or sequence_of(component) < sequence_of(new_master):
                touched.append(key)
                significant = True
                rid = first(component.get("RECURRENCE-ID"))
                if key not in excluded and rid is not None:
                    changes.update(changed_properties(component,
                                                      derive_instance(new_master, rid)))
                else:
                    changes.add("EXDATE")
                continue
            result[key] = copy_component(component)
    else:
        result = {key: copy_component(component) for key, component in stored.items()}
    for key, component in fresh.items():
        previous = _before(stored, key, component)
        result[key] = _with_alarms(component, stored.get(key, stored.get(None)))
        if previous is None:
            significant = True
            continue
        found = changed_properties(previous, component)
        changes.update(found)
        significant = significant or is_significant(found)
    reason = "updated %s" % ", ".join(_label(key) for key in sorted_instances(fresh))
    if reasons:
        reason += "; kept stored %s" % "; ".join(reasons)
    return Receipt(Outcome.UPDATED, _assemble(existing, result, (message, existing)), reason,
                   sorted_instances(touched), significant, tuple(sorted(changes)))


def _cancelled(component: Component, message_component: Component) -> Component:
    """A copy with STATUS:CANCELLED and the message's SEQUENCE and DTSTAMP."""
    result = copy_component(component)
    set_property(result, "STATUS", "CANCELLED")
    set_property(result, "SEQUENCE", sequence_of(message_component))
    stamp = first(message_component.get("DTSTAMP"))
    if stamp is not None:
        set_property(result, "DTSTAMP", copy.deepcopy(stamp))
    return result


def _cancel(message: Calendar, incoming: Mapping[InstanceKey, Component],
            existing: Calendar, stored: Mapping[InstanceKey, Component],
            authoritative: bool) -> Receipt:
    whole = incoming.get(None)
    if whole is not None:
        reason = _staleness(whole, stored.get(None) or next(iter(stored.values())),
                            content=("STATUS",), authoritative=authoritative)
        if reason is not None:
            return _stale([reason], incoming)
        result = {key: _cancelled(component, whole) for key, component in stored.items()}
        return Receipt(Outcome.CANCELLED, _assemble(existing, result, (existing, message)),
                       "object %s cancelled" % uid_of(whole), (None,), True, ("STATUS",))

    result = {key: copy_component(component) for key, component in stored.items()}
    applied: list[InstanceKey] = []
    missing: list[str] = []
    stale: list[str] = []
    for key, component in incoming.items():
        target = _before(stored, key, component)
        reference = _stored_for(stored, key)
        if target is None or reference is None:
            missing.append("%s is not in the stored object" % _label(key))
            continue
        reason = _staleness(component, reference, target, content=("STATUS",),
                            authoritative=authoritative)
        if reason is not None:
            stale.append("%s: %s" % (_label(key), reason))
            continue
        result[key] = _cancelled(target, component)
        applied.append(key)
    if not applied:
        if stale:
            return _stale(stale, incoming)
        return _ignored("nothing to cancel: %s" % "; ".join(missing), incoming)
    return Receipt(Outcome.INSTANCE_CANCELLED, _assemble(existing, result, (existing, message)),
                   "cancelled %s" % ", ".join(_label(key) for key in applied),
                   sorted_instances(applied), True, ("STATUS",))


def _reply(message: Calendar, incoming: Mapping[InstanceKey, Component],
           existing: Calendar, stored: Mapping[InstanceKey, Component]) -> Receipt:
    result = {key: copy_component(component) for key, component in stored.items()}
    applied: list[InstanceKey] = []
    stale: list[str] = []
    unknown: list[str] = []
    changed = False
    answers: list[str] = []
    for key, component in incoming.items():
        answer = first(component.get("ATTENDEE"))
        address = normalize_address(str(answer))
        target = _before(stored, key, component)
        if target is None or address not in attendees_of(target):
            unknown.append("%s is not an attendee of %s of %s" % (
                address, _label(key), uid_of(component)))
            continue
        if sequence_of(component) < sequence_of(target):
            stale.append("REPLY SEQUENCE %d is older than stored SEQUENCE %d" % (
                sequence_of(component), sequence_of(target)))
            continue
        updated = copy_component(target)
        attendees = []
        for prop in as_list(updated.get("ATTENDEE")):
            if normalize_address(str(prop)) == address:
                prop = copy.deepcopy(prop)
                before = partstat_of(prop)
                prop.params["PARTSTAT"] = partstat_of(answer)
                prop.params.pop("SCHEDULE-STATUS", None)
                for name in ("DELEGATED-TO", "DELEGATED-FROM"):
                    if answer.params.get(name):
                        prop.params[name] = answer.params[name]
                changed = changed or before != partstat_of(answer)
            attendees.append(prop)
        updated.pop("ATTENDEE", None)
        for prop in attendees:
            updated.add("ATTENDEE", prop)
        result[key] = updated
        applied.append(key)
        answers.append("%s %s for %s" % (address, partstat_of(answer), _label(key)))
    if not applied:
        if stale:
            return _stale(stale, incoming)
        return _ignored("; ".join(unknown), incoming)
    return Receipt(Outcome.REPLY_APPLIED, _assemble(existing, result, (existing, message)),
                   "; ".join(answers), sorted_instances(applied), False,
                   ("ATTENDEE",) if changed else ())

