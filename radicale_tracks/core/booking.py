"""A room's or resource's booking policy, and its answer to one invitation.

Rooms answer invitations themselves (RFC 6638 §3.2 delivery, answered like a person's
REPLY), so the policy is a pure function of the meeting's occurrences, the room's busy
time and the clock: the same invitation arriving by CalDAV or by mail gets the same
answer. The rules follow what admins know from Exchange resource mailboxes:

- ``always`` accepts whatever fits the duration and window limits;
- ``if-free`` accepts when no occurrence conflicts; a recurring series may be accepted
  with a few conflicting occurrences (at most ``max_conflicts`` and at most
  ``max_conflict_percent`` of the series, each limit applying when set) — those
  occurrences are declined one by one, so the room is never double-booked;
- ``manual`` leaves the answer (NEEDS-ACTION) to the room's delegates.

Limits decline before the mode is considered: an occurrence longer than
``max_duration`` or a meeting (or series) reaching beyond ``window_days`` from now.

Pure: instants are POSIX seconds (UTC); the caller expands occurrences and passes ``now``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from icalendar import Calendar, Component

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import (
    PartStat,
    as_list,
    date_value,
    derive_instance,
    first,
    instance_key,
    main_components,
    recurrence_id_for,
    recurrence_key,
    set_property,
)
from radicale_tracks.core.scheduling import with_partstats


class BookingMode(StrEnum):
    ALWAYS = "always"
    IF_FREE = "if-free"
    MANUAL = "manual"


class BookingPolicyError(ValueError):
    """A policy option an admin wrote that cannot be used; the message names it."""


@dataclass(frozen=True)
class BookingPolicy:
    mode: BookingMode = BookingMode.IF_FREE
    max_conflicts: int | None = None          # occurrences of a series that may conflict
    max_conflict_percent: int | None = None   # … as a share of the series, 0-100
    max_duration: int | None = None           # seconds, per occurrence
    window_days: int | None = None            # how far ahead the room may be booked

    def __post_init__(self) -> None:
        for name in ("max_conflicts", "max_conflict_percent", "max_duration",
                     "window_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise BookingPolicyError("%s must not be negative, got %d" % (name, value))
        if self.max_conflict_percent is not None and self.max_conflict_percent > 100:
            raise BookingPolicyError("max_conflict_percent must be at most 100, got %d"
                                     % self.max_conflict_percent)
        if self.max_duration == 0 or self.window_days == 0:
            raise BookingPolicyError("max_duration and window_days must be positive")

    def describe(self) -> str:
        """One line for ``rooms list`` and logs."""
        parts = [self.mode.value]
        if self.max_conflicts is not None:
            parts.append("≤%d conflicts" % self.max_conflicts)
        if self.max_conflict_percent is not None:
            parts.append("≤%d%% conflicts" % self.max_conflict_percent)
        if self.max_duration is not None:
            parts.append("≤%d min" % (self.max_duration // 60))
        if self.window_days is not None:
            parts.append("≤%d days ahead" % self.window_days)
        return ", ".join(parts)


@dataclass(frozen=True)
class BookingDecision:
    """The room's answer: a PARTSTAT for the meeting, why, and — for an accepted series
    with tolerated conflicts — the starts of the occurrences it declines."""

    partstat: PartStat
    reason: str
    declined: tuple[int, ...] = ()


def decide_booking(policy: BookingPolicy, occurrences: Sequence[tuple[int, int]],
                   busy: Sequence[tuple[int, int]], now: int, *, complete: bool = True,
                   recurring: bool = False) -> BookingDecision:
    """The answer of a room with ``policy`` to a meeting.

    ``occurrences`` are the meeting's (start, end) from ``now`` on, as far as the caller
    expanded them; ``complete`` is False when the series goes on beyond that expansion
    (an endless RRULE). ``busy`` is the room's busy time without this meeting.
    """
    upcoming = sorted((s, e) for s, e in occurrences if e > now)
    if not upcoming:
        return BookingDecision(PartStat.DECLINED, "the meeting is in the past")
    if policy.max_duration is not None:
        for start, end in upcoming:
            if end - start > policy.max_duration:
                return BookingDecision(PartStat.DECLINED, (
                    "%s lasts %d minutes; this room is booked for at most %d minutes"
                    % (_when(start), (end - start) // 60, policy.max_duration // 60)))
    if policy.window_days is not None:
        horizon = now + policy.window_days * 86400
        beyond = [s for s, _ in upcoming if s >= horizon]
        if beyond or not complete:
            what = ("the series goes on" if (recurring or not complete) and (
                len(upcoming) > 1 or not complete) else "the meeting is")
            first = _when(beyond[0]) if beyond else "with no end"
            return BookingDecision(PartStat.DECLINED, (
                "%s beyond the booking window of %d days (%s)"
                % (what, policy.window_days, first)))
    if policy.mode is BookingMode.MANUAL:
        return BookingDecision(PartStat.NEEDS_ACTION, "awaits a decision by the room's "
                                                      "delegates")
    if policy.mode is BookingMode.ALWAYS:
        return BookingDecision(PartStat.ACCEPTED, "this room accepts every booking")
    conflicting = _conflicting(upcoming, busy)
    if not conflicting:
        return BookingDecision(PartStat.ACCEPTED, "the room is free")
    if not (recurring or len(upcoming) > 1):
        return BookingDecision(PartStat.DECLINED, "the room is busy at %s"
                               % _when(conflicting[0]))
    share = 100 * len(conflicting) / len(upcoming)
    limits = [limit for limit in (policy.max_conflicts, policy.max_conflict_percent)
              if limit is not None]
    within = bool(limits) and (
        (policy.max_conflicts is None or len(conflicting) <= policy.max_conflicts)
        and (policy.max_conflict_percent is None or share <= policy.max_conflict_percent))
    counted = "%d of %d occurrences conflict (%s)" % (
        len(conflicting), len(upcoming), ", ".join(_when(s) for s in conflicting[:5])
        + (", …" if len(conflicting) > 5 else ""))
    if not within or len(conflicting) == len(upcoming):
        return BookingDecision(PartStat.DECLINED, "the room is busy: " + counted)
    return BookingDecision(PartStat.ACCEPTED, "accepted except where the room is busy: "
                           + counted, declined=tuple(conflicting))


def _conflicting(occurrences: Sequence[tuple[int, int]],
                 busy: Sequence[tuple[int, int]]) -> list[int]:
    """Starts of the occurrences overlapping busy time.

    Busy periods sorted by start with a running maximum of their ends: among the periods
    starting before an occurrence ends, one overlaps it exactly when the largest end is
    after the occurrence's start — one bisection per occurrence.
    """
    periods = sorted((s, e) for s, e in busy if e > s)
    starts = [s for s, _ in periods]
    reach: list[int] = []
    for _, end in periods:
        reach.append(max(end, reach[-1]) if reach else end)
    found: list[int] = []
    for start, end in occurrences:
        before = bisect_left(starts, end)
        if before and reach[before - 1] > start:
            found.append(start)
    return found


def _when(start: int) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M UTC")


def booked_copy(calendar: Calendar, room_address: str, decision: BookingDecision
                ) -> Calendar:
    """The room's copy of a meeting carrying its answer.

    The room's PARTSTAT is set on the master and every override; each occurrence
    declined within a tolerated conflict gets an override (RFC 5545 §3.8.4.4) that the
    room declines and that is TRANSPARENT, so the room's busy time holds only what it
    accepted and the REPLY computed from this copy names those occurrences.
    """
    keys = [instance_key(c) for c in main_components(calendar).values()]
    result = with_partstats(calendar, room_address, {key: decision.partstat.value
                                                     for key in keys})
    if not decision.declined:
        return result
    components = main_components(result)
    master = components.get(None)
    if master is None:
        return result
    for start in decision.declined:
        key = _instance_key_at(master, start)
        override = components.get(key)
        if override is None:
            override = derive_instance(master, recurrence_id_for(key, master))
            result.add_component(override)
        set_property(override, "TRANSP", "TRANSPARENT")
        for prop in as_list(override.get("ATTENDEE")):
            if normalize_address(str(prop)) == normalize_address(room_address):
                prop.params["PARTSTAT"] = PartStat.DECLINED.value
                prop.params.pop("RSVP", None)
    return result


def _instance_key_at(master: Component, start: int) -> str:
    """The instance key of the occurrence starting at ``start`` (UTC seconds), in the
    form the master's DTSTART implies — floating times read as UTC, as the index does."""
    instant = datetime.fromtimestamp(start, UTC)
    value = date_value(first(master.get("DTSTART")))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return recurrence_key(instant.replace(tzinfo=None))
        return recurrence_key(instant)
    return recurrence_key(instant.date())
