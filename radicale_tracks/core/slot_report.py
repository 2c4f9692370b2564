"""The slot finder's answer for programs (JSON) and for people (a table).

Times are shown in the requester's zone with their UTC offset, so a slot on a
daylight-saving day reads right. Conflicts name whose busy time they are and its type,
never what the event is: free-busy is all another person's calendar shares.

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from radicale_tracks.core.freebusy import Estimate
from radicale_tracks.core.slots import Busy, SlotResult, reason_text

Estimates = Mapping[str, Sequence[Estimate]]
"""Address → busy time counted without being worked out (an event that repeats too often
to expand): the answer says whose and when, never which event."""


def report_json(result: SlotResult, zone_name: str, names: Mapping[str, str],
                estimates: Estimates | None = None) -> dict[str, Any]:
    """A JSON-ready dict; ``names`` are display names of rooms by address."""
    zone = ZoneInfo(zone_name)
    slots = []
    for slot in result.slots:
        slots.append({
            "start": _local(slot.start, zone), "end": _local(slot.end, zone),
            "start_utc": utc_text(slot.start), "end_utc": utc_text(slot.end),
            "fit": slot.fit, "confidence": slot.confidence,
            "attendees": [{
                "address": p.address, "required": p.required, "organizer": p.is_organizer,
                "status": p.status, "conflicts": [_conflict(b, zone) for b in p.conflicts]}
                for p in slot.participants],
            "rooms": [{
                "pool": r.pool, "address": r.address,
                "name": names.get(r.address or "", r.address),
                "status": r.status, "conflicts": [_conflict(b, zone) for b in r.conflicts]}
                for r in slot.rooms]})
    return {"zone": zone_name, "candidates": result.candidates, "slots": slots,
            "reason": result.reason,
            "reason_text": reason_text(result.reason) if result.reason else None,
            "estimated": [{"address": address, "start": _local(e.start, zone),
                           "end": _local(e.end, zone), "reason": e.describe()}
                          for address, found in sorted((estimates or {}).items())
                          for e in found]}



def report_table(result: SlotResult, zone_name: str, names: Mapping[str, str],
                 show_conflicts: bool, estimates: Estimates | None = None) -> str:
    """A readable table, one line per slot (and one per conflict when asked)."""
    zone = ZoneInfo(zone_name)
    lines = ["%d start times considered (%s)" % (result.candidates, zone_name)]
    for address, found in sorted((estimates or {}).items()):
        for estimate in found:
            lines.append("Estimated: %s busy %s to %s. %s" % (
                address, _local(estimate.start, zone), _local(estimate.end, zone),
                estimate.describe()))
    if result.reason:
        lines.append("No time works: %s" % reason_text(result.reason))
    if not result.slots:
        return "\n".join(lines) + "\n"
    lines.append("%-3s %-26s %-5s %5s  %-28s %s" % ("#", "when", "", "conf.", "room",
                                                   "attendees"))
    for number, slot in enumerate(result.slots, 1):
        start = datetime.fromtimestamp(slot.start, zone)
        end = datetime.fromtimestamp(slot.end, zone)
        when = "%s %s-%s" % (start.strftime("%a %Y-%m-%d"), start.strftime("%H:%M"),
                             end.strftime("%H:%M"))
        rooms = ", ".join(
            names.get(r.address, r.address) if r.address else "(no room of %s)" % r.pool
            for r in slot.rooms) or "-"
        people = ", ".join("%s %s" % (p.address, _mark(p.status, p.required))
                           for p in slot.participants)
        lines.append("%-3d %-26s %-5s %5.0f  %-28s %s" % (
            number, when, "ok" if slot.fit else "CONFL", slot.confidence, rooms[:28],
            people))
        if show_conflicts:
            for person in slot.participants:
                for busy in person.conflicts:
                    lines.append("      %s: %s" % (person.address, _conflict_text(busy, zone)))
            for room in slot.rooms:
                for busy in room.conflicts:
                    lines.append("      %s: %s" % (room.address or room.pool,
                                                   _conflict_text(busy, zone)))
    return "\n".join(lines) + "\n"


def _mark(status: str, required: bool) -> str:
    shown = {"free": "free", "unknown": "unknown", "busy": "BUSY", "tentative": "TENTATIVE",
             "unavailable": "OUT-OF-HOURS"}.get(status, status)
    return "(%s%s)" % (shown, "" if required else ", optional")


def _conflict(busy: Busy, zone: ZoneInfo) -> dict[str, str]:
    return {"start": _local(busy.start, zone), "end": _local(busy.end, zone),
            "type": busy.fbtype}


def _conflict_text(busy: Busy, zone: ZoneInfo) -> str:
    start = datetime.fromtimestamp(busy.start, zone)
    end = datetime.fromtimestamp(busy.end, zone)
    kind = {"BUSY-UNAVAILABLE": "outside working hours",
            "BUSY-TENTATIVE": "tentative"}.get(busy.fbtype, "busy")
    return "%s %s %s - %s %s" % (kind, start.strftime("%a %Y-%m-%d"),
                                 start.strftime("%H:%M"), end.strftime("%a %H:%M"),
                                 start.strftime("%Z"))


def _local(instant: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(instant, zone).isoformat()


def utc_text(instant: int) -> str:
    """``2026-11-23T09:00:00Z``: an instant as the APIs write it."""
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
