"""The scheduling broker: "old object, new object → iTIP messages" (RFC 5546, RFC 6638 §3.2).

This module owns authoring. Given the stored version of a scheduling object and the one
being written (``None`` for "did not exist" / "deleted"), it computes the messages the
change implies, from one of two perspectives:

* :func:`organizer_messages` — the organizer edits (RFC 6638 §3.2.1, RFC 5546 §3.2.2
  REQUEST, §3.2.5 CANCEL of the whole object or of instances by RECURRENCE-ID);
* :func:`attendee_messages` — an attendee edits their copy (RFC 6638 §3.2.2, RFC 5546
  §3.2.3 REPLY), and :func:`build_reply` for an explicit answer.

RFC 6638 §7.1 SCHEDULE-AGENT (CLIENT/NONE: someone else schedules) and §7.2
SCHEDULE-FORCE-SEND are honoured. Only changes that matter for scheduling produce
messages; see :func:`radicale_tracks.core.signature.component_signature`.

Pure: callers pass ``now``; nothing here sends, stores or logs. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from icalendar import Calendar, Component, vCalAddress

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    InstanceKey,
    ItipError,
    ItipMessage,
    Method,
    PartStat,
    as_list,
    attendees_of,
    build_message,
    clean_address,
    copy_component,
    derive_instance,
    exdate_keys,
    first,
    hides_attendees,
    instance_key,
    instance_order,
    main_components,
    message_text,
    new_component_like,
    organizer_of,
    parameter,
    partstat_of,
    recurrence_id_for,
    schedule_agent_is_server,
    sequence_of,
    set_property,
    sorted_instances,
    status_of,
    uid_of,
    utc,
)
from radicale_tracks.core.signature import changed_properties, is_significant

#: Properties a CANCEL or REPLY component carries besides UID/DTSTAMP/SEQUENCE/addresses
#: (RFC 5546 §3.2.3, §3.2.5: enough for a recipient to recognise the occurrence).
_CANCEL_CONTEXT = ("RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "DUE", "SUMMARY",
                   "LOCATION")
_REPLY_CONTEXT = ("RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "DUE", "SUMMARY")


@dataclass(frozen=True)
class _Version:
    """One version of a scheduling object: its components keyed by instance."""

    calendar: Calendar
    components: dict[InstanceKey, Component]

    @property
    def master(self) -> Component | None:
        return self.components.get(None)

    @property
    def reference(self) -> Component:
        return self.master if self.master is not None else next(iter(self.components.values()))

    @property
    def exdates(self) -> frozenset[str]:
        return exdate_keys(self.master) if self.master is not None else frozenset()

    def instance(self, key: InstanceKey, *rid_sources: Component | None) -> Component | None:
        """The component at ``key``: an override, or the master's occurrence, or None."""
        if key in self.components:
            return self.components[key]
        if key is None or self.master is None or key in self.exdates:
            return None
        return derive_instance(self.master, recurrence_id_for(key, *rid_sources, self.master))


def _version(calendar: Calendar | None) -> _Version | None:
    if calendar is None:
        return None
    components = main_components(calendar)
    return _Version(calendar, components) if components else None


class _People:
    """The attendees of each component, read once per change.

    Every recipient asks about every component ("is she in this instance?"), and reading
    an address is the costly part of that: asked per recipient it made a change for N
    attendees cost N² address readings. Components are kept referenced, so their ``id``
    names them for as long as this lives.
    """

    def __init__(self) -> None:
        self._found: dict[int, tuple[Component, dict[str, vCalAddress]]] = {}

    def of(self, component: Component) -> dict[str, vCalAddress]:
        entry = self._found.get(id(component))
        if entry is None or entry[0] is not component:
            entry = (component, attendees_of(component))
            self._found[id(component)] = entry
        return entry[1]


@dataclass
class _Outbox:
    """Messages being assembled: one per (recipient, method).

    Recipients who see the same thing get the same component objects (``shared``) and
    the same message text (``messages``): the work of a change is linear in its
    attendees, not in attendees × recipients.
    """

    sender: str
    sources: tuple[Calendar | None, ...]
    people: _People = field(default_factory=_People)
    components: dict[tuple[str, Method], dict[InstanceKey, Component]] = field(
        default_factory=dict)
    changes: dict[tuple[str, Method], set[str]] = field(default_factory=dict)
    significant: dict[tuple[str, Method], bool] = field(default_factory=dict)
    _parts: dict[Hashable, Component] = field(default_factory=dict)

    def shared(self, key: Hashable, build: Callable[[], Component]) -> Component:
        """The component built for ``key``, built once."""
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = build()
        return found

    def add(self, recipient: str, method: Method, components: Iterable[Component],
            significant: bool, changes: Iterable[str]) -> None:
        slot = (recipient, method)
        bucket = self.components.setdefault(slot, {})
        for component in components:
            bucket.setdefault(instance_key(component), component)
        self.changes.setdefault(slot, set()).update(changes)
        self.significant[slot] = self.significant.get(slot, False) or significant

    def messages(self) -> list[ItipMessage]:
        result = []
        texts: dict[tuple[Method, tuple[int, ...]], str] = {}
        for recipient, method in sorted(self.components):
            bucket = self.components[(recipient, method)]
            ordered = [bucket[key] for key in sorted(bucket, key=instance_order)]
            same = (method, tuple(id(component) for component in ordered))
            if same not in texts:
                texts[same] = message_text(method, ordered, self.sources)
            result.append(build_message(
                method, recipient, self.sender, ordered, self.sources,
                self.significant[(recipient, method)], self.changes[(recipient, method)],
                text=texts[same]))
        return result


# --- building components ---------------------------------------------------------------


def _outgoing(component: Component, now: datetime,
              excluded: Sequence[Component] = (), only: str | None = None) -> Component:
    """A component as sent: DTSTAMP now, no VALARM, no SCHEDULE-STATUS/-FORCE-SEND.

    ``excluded`` overrides (ones the recipient is not invited to) become EXDATEs of the
    master, so the recipient's copy has no occurrence there. With ``only``, that is the
    one ATTENDEE listed (an attendee who may not see the others, RFC 5546 §2.1.5 lets an
    organizer send each attendee a partial list).
    """
    result = copy_component(component)
    result.subcomponents = [sub for sub in result.subcomponents
                            if str(sub.name).upper() != "VALARM"]
    set_property(result, "DTSTAMP", now)
    for name in ("ORGANIZER", "ATTENDEE"):
        # an ATTENDEE without a usable address is not sent on (the organizer's copy
        # says 3.7): a recipient's calendar would store it broken
        props = [clean_address(prop) for prop in as_list(result.get(name))
                 if name == "ORGANIZER" or (only is None and normalize_address(str(prop)))
                 or (only is not None and normalize_address(str(prop)) == only)]
        result.pop(name, None)
        for prop in props:
            result.add(name, prop)
    for override in excluded:
        result.add("EXDATE", recurrence_id_for(str(instance_key(override)), override).dt)
    return result


def _brief(source: Component, now: datetime, sequence: int,
           attendees: Iterable[vCalAddress], status: str | None,
           context: Sequence[str]) -> Component:
    """A short component for CANCEL/REPLY: identity, time, summary, addresses."""
    result = new_component_like(source)
    result.add("UID", uid_of(source))
    result.add("DTSTAMP", now)
    result.add("SEQUENCE", sequence)
    for name in context:
        prop = first(source.get(name))
        if prop is not None:
            result.add(name, copy.deepcopy(prop))
    organizer = first(source.get("ORGANIZER"))
    if organizer is not None:
        result.add("ORGANIZER", clean_address(organizer))
    for attendee in attendees:
        result.add("ATTENDEE", clean_address(attendee))
    if status is not None:
        result.add("STATUS", status)
    return result


def _cancel(source: Component, now: datetime, sequence: int,
            attendees: Iterable[vCalAddress]) -> Component:
    return _brief(source, now, sequence, attendees, "CANCELLED", _CANCEL_CONTEXT)


def _cancel_for(outbox: _Outbox, source: Component, now: datetime, sequence: int,
                address: str, prop: vCalAddress) -> Component:
    """A CANCEL of ``source`` as ``address`` gets it: listing every attendee of it (and
    them, when they are not among those), or only them when they may not see the others.
    Everyone who sees the same list gets the same component."""
    attendees = outbox.people.of(source)
    own = hides_attendees(prop) or address not in attendees

    def build() -> Component:
        listed = dict(attendees)
        listed.setdefault(address, prop)
        return _cancel(source, now, sequence, _listed(listed, address, prop))

    return outbox.shared(("CANCEL", id(source), sequence, address if own else None), build)


# --- organizer -------------------------------------------------------------------------


def organizer_messages(old: Calendar | None, new: Calendar | None,
                       organizer_addresses: frozenset[str], now: datetime
                       ) -> list[ItipMessage]:
    """REQUEST/CANCEL messages for an organizer's change from ``old`` to ``new``.

    ``new is None`` means deleted, ``old is None`` created. Nothing when the object is not
    a VEVENT/VTODO, has no ORGANIZER, or its ORGANIZER is not one of
    ``organizer_addresses``; never a message to the organizer. Sorted by
    (recipient, method).
    """
    ours = frozenset(normalize_address(address) for address in organizer_addresses)
    before, after = _version(old), _version(new)
    if before is not None and after is not None and (
            uid_of(before.reference) != uid_of(after.reference)
            or before.reference.name != after.reference.name):
        before = None
    reference = after or before
    if reference is None:
        return []
    organizer = organizer_of(after.reference) if after is not None else None
    if organizer is None and before is not None:
        # Thunderbird drops ORGANIZER with the last attendee: still ours to cancel.
        organizer = organizer_of(before.reference)
    if organizer is None or organizer not in ours:
        return []
    stamp = utc(now)
    outbox = _Outbox(organizer, (new, old))
    if after is None:
        assert before is not None
        _deleted(before, ours, stamp, outbox)
    elif status_of(after.master) == "CANCELLED":
        if before is not None and status_of(before.master) != "CANCELLED":
            _master_cancelled(before, after, ours, stamp, outbox)
    else:
        _updated(before, after, ours, stamp, outbox)
    return outbox.messages()


def _recipients(versions: Iterable[_Version | None], ours: frozenset[str], people: _People
                ) -> dict[str, vCalAddress]:
    """Every attendee of the versions' components (the latest property wins), not ours."""
    found: dict[str, vCalAddress] = {}
    for version in versions:
        if version is None:
            continue
        for component in version.components.values():
            for address, prop in people.of(component).items():
                if address not in ours:
                    found.setdefault(address, prop)
    return found


def _listed(attendees: dict[str, vCalAddress], address: str, prop: vCalAddress
            ) -> list[vCalAddress]:
    """The attendees a message to ``address`` lists: only them when they may not see the
    others (``HIDE_ATTENDEES``)."""
    if hides_attendees(prop):
        return [attendees.get(address, prop)]
    return list(attendees.values())


def _deleted(before: _Version, ours: frozenset[str], now: datetime, outbox: _Outbox) -> None:
    """The object was deleted: CANCEL the whole object, SEQUENCE + 1 (RFC 5546 §3.2.5)."""
    if status_of(before.master) == "CANCELLED":
        return
    for address, prop in _recipients([before], ours, outbox.people).items():
        if not schedule_agent_is_server(prop):
            continue
        if before.master is not None:
            master = before.master
            parts = [_cancel_for(outbox, master, now, sequence_of(master) + 1, address,
                                 prop)]
        else:
            parts = [_cancel_for(outbox, component, now, sequence_of(component) + 1,
                                 address, prop)
                     for component in before.components.values()
                     if address in outbox.people.of(component)]
        outbox.add(address, Method.CANCEL, parts, True, ())


def _master_cancelled(before: _Version, after: _Version, ours: frozenset[str],
                      now: datetime, outbox: _Outbox) -> None:
    """STATUS:CANCELLED on the master: CANCEL the whole object to everyone."""
    master = after.master
    assert master is not None
    for address, prop in _recipients([after, before], ours, outbox.people).items():
        if not schedule_agent_is_server(prop):
            continue
        outbox.add(address, Method.CANCEL,
                   [_cancel_for(outbox, master, now, sequence_of(master), address, prop)],
                   True, ("STATUS",))


@dataclass(frozen=True)
class _Diff:
    """Old and new, instance by instance (overrides and the master; RRULE not expanded)."""

    before: _Version | None
    after: _Version
    old_at: dict[InstanceKey, Component]    # instance → component (override or occurrence)
    new_at: dict[InstanceKey, Component]
    cancelled: dict[InstanceKey, tuple[Component, str]]  # → (CANCEL source, why)
    changed: dict[InstanceKey, tuple[str, ...]]  # → changed property names
    fresh: frozenset[InstanceKey]                # instances without an old counterpart
    people: _People

    def has(self, address: str, key: InstanceKey, *, old: bool = False) -> bool:
        component = (self.old_at if old else self.new_at).get(key)
        return component is not None and address in self.people.of(component)


def _diff(before: _Version | None, after: _Version, people: _People | None = None
          ) -> _Diff:
    keys = sorted_instances([None, *(before.components if before else {}),
                             *after.components])
    old_at: dict[InstanceKey, Component] = {}
    new_at: dict[InstanceKey, Component] = {}
    for key in keys:
        sources = (after.components.get(key), before.components.get(key) if before else None,
                   after.master, before.master if before else None)
        current = after.instance(key, *sources)
        previous = before.instance(key, *sources) if before else None
        if current is not None:
            new_at[key] = current
        if previous is not None:
            old_at[key] = previous

    # Instances cancelled by this change (RFC 5546 §3.2.5 with RECURRENCE-ID): an EXDATE
    # added to the master, or an override whose STATUS became CANCELLED.
    cancelled: dict[InstanceKey, tuple[Component, str]] = {}
    if before is not None:
        for key in sorted_instances(after.exdates - before.exdates):
            source = before.instance(key, before.components.get(key), after.master)
            if source is not None and status_of(source) != "CANCELLED":
                cancelled[key] = (source, "EXDATE")
        for key, component in after.components.items():
            previous = old_at.get(key)
            if key is not None and status_of(component) == "CANCELLED" and (
                    previous is not None and status_of(previous) != "CANCELLED"):
                cancelled[key] = (component, "STATUS")

    changed: dict[InstanceKey, tuple[str, ...]] = {}
    fresh: set[InstanceKey] = set()
    for key, current in new_at.items():
        if key in cancelled:
            continue
        previous = old_at.get(key)
        if previous is None:
            fresh.add(key)
            continue
        if key is None and before is not None:
            # Added EXDATEs are instance cancellations, sent as CANCEL; removed ones
            # bring instances back.
            differences = set(changed_properties(previous, current, ignore=("EXDATE",)))
            if before.exdates - after.exdates:
                differences.add("EXDATE")
        else:
            differences = set(changed_properties(previous, current))
        if differences:
            changed[key] = tuple(sorted(differences))
    return _Diff(before, after, old_at, new_at, cancelled, changed, frozenset(fresh),
                 people if people is not None else _People())


def changed_instances(old: Calendar | None, new: Calendar | None
                      ) -> dict[InstanceKey, tuple[str, ...]]:
    """What changed from ``old`` to ``new``, instance by instance: the master (None) and
    each override, an override compared with the occurrence it replaces (the master's
    values there) — the facts the mails and the activity log report. Instances cancelled
    or new are not listed; nothing when either version is missing.
    """
    before, after = _version(old), _version(new)
    if before is None or after is None:
        return {}
    return _diff(before, after).changed


def focused_changes(old: Calendar | None, new: Calendar | None, changes: tuple[str, ...],
                    instances: tuple[InstanceKey, ...]
                    ) -> tuple[tuple[str, ...], tuple[InstanceKey, ...]]:
    """(property names, instances) a mail or activity line should speak of.

    A message's or receipt's own lists name the series when an override was rewritten
    and count everything that differs; :func:`changed_instances` names the occurrence
    that changed (an override against the occurrence it replaces). Only the instances
    of ``instances`` are kept (all when it is empty); without any per-instance change
    the given lists stand.
    """
    per = changed_instances(old, new)
    if instances:
        per = {key: found for key, found in per.items() if key in instances}
    if not per:
        return changes, instances
    return tuple(sorted({name for found in per.values() for name in found})), tuple(per)


def _updated(before: _Version | None, after: _Version, ours: frozenset[str],
             now: datetime, outbox: _Outbox) -> None:
    """Created or modified: REQUESTs for what changed, CANCELs for what was taken away."""
    diff = _diff(before, after, outbox.people)
    for address, prop in _recipients([after, before], ours, outbox.people).items():
        _cancels_for(diff, address, prop, now, outbox)
        _request_for(diff, address, now, outbox)


def _cancels_for(diff: _Diff, address: str, prop: vCalAddress, now: datetime,
                 outbox: _Outbox) -> None:
    """CANCEL: taken off the object or off instances, or instances cancelled."""
    sequence = sequence_of(diff.after.reference)
    people = diff.people
    old_prop = _attendee_in(diff.before, address, people) if diff.before else None
    removed = [key for key in diff.old_at if key not in diff.cancelled
               and diff.has(address, key, old=True) and not diff.has(address, key)]
    if removed and old_prop is not None and schedule_agent_is_server(old_prop):
        if None in removed:  # off the master: the whole object, no RECURRENCE-ID
            outbox.add(address, Method.CANCEL,
                       [_cancel(diff.old_at[None], now, sequence, [old_prop])],
                       True, ("ATTENDEE",))
            return
        outbox.add(address, Method.CANCEL,
                   [_cancel(diff.old_at[key], now, sequence,
                            [people.of(diff.old_at[key])[address]]) for key in removed],
                   True, ("ATTENDEE",))
    new_prop = _attendee_in(diff.after, address, people)
    agent = new_prop if new_prop is not None else old_prop
    if agent is None or not schedule_agent_is_server(agent):
        return
    for key, (source, reason) in diff.cancelled.items():
        if diff.has(address, key, old=True) or address in people.of(source):
            outbox.add(address, Method.CANCEL,
                       [_cancel_for(outbox, source, now, sequence_of(source)
                                    if reason == "STATUS" else sequence, address, prop)],
                       True, (reason,))


def _request_for(diff: _Diff, address: str, now: datetime, outbox: _Outbox) -> None:
    """REQUEST: the components the attendee is in, when one changed for them (or forced)."""
    after, people = diff.after, diff.people
    new_prop = _attendee_in(after, address, people)
    if new_prop is None or not schedule_agent_is_server(new_prop):
        return
    mine = [key for key, component in after.components.items()
            if address in people.of(component)]
    invited = [key for key in diff.new_at if diff.has(address, key)]
    hits = [key for key in invited if key in diff.changed or key in diff.fresh
            or not diff.has(address, key, old=True)]
    forced = any(parameter(people.of(after.components[key])[address],
                           "SCHEDULE-FORCE-SEND") == "REQUEST" for key in mine)
    if not mine or not (hits or forced):
        return
    changes = {name for key in hits for name in diff.changed.get(key, ())}
    significant = (diff.before is None or is_significant(changes)
                   or any(key in diff.fresh or not diff.has(address, key, old=True)
                          for key in hits))
    excluded = [component for key, component in after.components.items()
                if key is not None and key not in mine]
    only = address if hides_attendees(new_prop) else None
    parts = [_outgoing_for(outbox, after.components[key], now,
                           excluded if key is None else (), only) for key in mine]
    outbox.add(address, Method.REQUEST, parts, significant,
               changes if diff.before is not None else ())


def _outgoing_for(outbox: _Outbox, component: Component, now: datetime,
                  excluded: Sequence[Component], only: str | None) -> Component:
    """:func:`_outgoing`, once for everyone who is sent the same."""
    return outbox.shared(
        ("REQUEST", id(component), tuple(id(c) for c in excluded), only),
        lambda: _outgoing(component, now, excluded, only))


def _attendee_in(version: _Version, address: str, people: _People) -> vCalAddress | None:
    """The attendee's property in the master, else in the first override listing them."""
    for component in version.components.values():
        prop = people.of(component).get(address)
        if prop is not None:
            return prop
    return None


# --- attendee --------------------------------------------------------------------------


def _reply_component(source: Component, attendee: vCalAddress, partstat: str,
                     now: datetime, comment: str | None) -> Component:
    """One REPLY component: the organizer's identity of the instance, one ATTENDEE."""
    answer = clean_address(attendee, ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "RSVP"))
    answer.params["PARTSTAT"] = partstat
    result = _brief(source, now, sequence_of(source), [answer], None, _REPLY_CONTEXT)
    if comment:
        result.add("COMMENT", comment)
    return result


def build_reply(calendar: Calendar, attendee: str, partstat: PartStat, now: datetime,
                instances: Iterable[InstanceKey] | None = None,
                comment: str | None = None) -> ItipMessage:
    """A REPLY from ``attendee`` to the organizer of ``calendar`` (RFC 5546 §3.2.3).

    One component per instance (default: every component listing the attendee; an
    instance without an override is the master's occurrence), each with the organizer's
    UID, SEQUENCE and RECURRENCE-ID, DTSTAMP ``now`` and the one ATTENDEE with
    ``partstat``. Raises :class:`ItipError` when the attendee is not invited.
    """
    address = normalize_address(attendee)
    version = _version(calendar)
    if version is None:
        raise ItipError("RFC 5546 §3.2.3: a REPLY answers a VEVENT or VTODO; none found",
                        method=Method.REPLY)
    uid = uid_of(version.reference)
    organizer = organizer_of(version.reference)
    if organizer is None:
        raise ItipError("RFC 5546 §3.2.3: a REPLY goes to the ORGANIZER; the object has none",
                        method=Method.REPLY, uid=uid)
    if instances is None:
        wanted = [key for key, component in version.components.items()
                  if address in attendees_of(component)]
    else:
        wanted = list(sorted_instances(instances))
    parts = []
    for key in wanted:
        source = version.instance(key)
        if source is None and key is not None and version.master is not None:
            source = derive_instance(version.master, recurrence_id_for(key, version.master))
        prop = attendees_of(source).get(address) if source is not None else None
        if source is None or prop is None:
            raise ItipError("RFC 5546 §3.2.3: a REPLY must come from an ATTENDEE of the "
                            "instance; %s is not one of %s" % (address, key or "the master"),
                            method=Method.REPLY, uid=uid)
        parts.append(_reply_component(source, prop, PartStat(partstat).value, utc(now),
                                      comment))
    if not parts:
        raise ItipError("RFC 5546 §3.2.3: a REPLY must come from an ATTENDEE; %s is not one"
                        % address, method=Method.REPLY, uid=uid)
    return build_message(Method.REPLY, organizer, address, parts, (calendar,), True,
                         ("ATTENDEE",))


def attendee_messages(old: Calendar | None, new: Calendar | None, attendee_address: str,
                      now: datetime) -> list[ItipMessage]:
    """The REPLY an attendee's change from ``old`` to ``new`` implies (RFC 6638 §3.2.2).

    A REPLY to the organizer carries every instance whose PARTSTAT changed (a new
    override with another PARTSTAT included), every instance the attendee excluded with
    EXDATE (DECLINED), or every instance when the copy was deleted (DECLINED). Nothing
    when the organizer is the attendee, is absent, or schedules by itself
    (SCHEDULE-AGENT=CLIENT/NONE on ORGANIZER, RFC 6638 §7.1).
    """
    address = normalize_address(attendee_address)
    before, after = _version(old), _version(new)
    reference = after or before
    if reference is None:
        return []
    organizer_prop = first(reference.reference.get("ORGANIZER"))
    organizer = organizer_of(reference.reference)
    if organizer is None or organizer == address or not schedule_agent_is_server(
            organizer_prop):
        return []
    stamp = utc(now)
    answers: list[tuple[Component, vCalAddress, str]] = []
    declined = PartStat.DECLINED.value
    if after is None:
        assert before is not None
        for component in before.components.values():
            prop = attendees_of(component).get(address)
            if prop is not None and partstat_of(prop) != declined and (
                    status_of(component) != "CANCELLED"):
                answers.append((component, prop, declined))
    else:
        added_exdates = after.exdates - before.exdates if before else frozenset()
        keys = sorted_instances([None, *(before.components if before else {}),
                                 *after.components, *added_exdates])
        for key in keys:
            sources = (after.components.get(key),
                       before.components.get(key) if before else None,
                       after.master, before.master if before else None)
            previous = before.instance(key, *sources) if before else None
            old_prop = attendees_of(previous).get(address) if previous is not None else None
            if key in added_exdates:
                if previous is not None and old_prop is not None and (
                        partstat_of(old_prop) != declined):
                    answers.append((previous, old_prop, declined))
                continue
            current = after.instance(key, *sources)
            new_prop = attendees_of(current).get(address) if current is not None else None
            if current is None or new_prop is None:
                continue
            was = partstat_of(old_prop) if old_prop is not None else (
                PartStat.NEEDS_ACTION.value)
            forced = parameter(new_prop, "SCHEDULE-FORCE-SEND") == "REPLY"
            if partstat_of(new_prop) != was or forced:
                answers.append((current, new_prop, partstat_of(new_prop)))
    if not answers:
        return []
    parts = [_reply_component(source, prop, partstat, stamp, None)
             for source, prop, partstat in answers]
    return [build_message(Method.REPLY, organizer, address, parts, (new, old), True,
                          ("ATTENDEE",))]
