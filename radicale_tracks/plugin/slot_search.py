"""The slot finder on this server's calendars: whose busy time, from the index.

For one requester (the organizer) and a :class:`SlotRequest`: the organizer and every
attendee who is a user here contribute their busy time (``plugin/availability.py``:
counted calendars and working hours); people elsewhere — and users whose free-busy the
requester may not see (``freebusy_visibility = self``) — are "unknown"; rooms and the
rooms of pools contribute their calendars. Then ``core/slots.find_slots`` decides.
Shared by the JSON API (``web/services.py``) and ``radicale-tracks slots``.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from radicale_tracks.core.freebusy import Estimate
from radicale_tracks.core.slot_request import SlotRequest, SlotRequestError
from radicale_tracks.core.slots import (
    ASSIGNMENT_ROUND_ROBIN,
    Busy,
    Participant,
    Pool,
    Room,
    SlotQuery,
    SlotResult,
    find_slots,
)
from radicale_tracks.plugin.availability import people_busy
from radicale_tracks.rooms.directory import Room as RoomRecord
from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms

if TYPE_CHECKING:
    from radicale_tracks.plugin.storage import Storage


@dataclass(frozen=True)
class OwnTime:
    """A meeting being moved: its spans (POSIX seconds) and who is on it (addresses of
    its organizer, attendees who did not decline and rooms). Only their busy time at
    such a span is that meeting; anyone else's at the same time is another meeting."""

    spans: tuple[tuple[int, int], ...]
    addresses: frozenset[str]


@dataclass(frozen=True)
class SlotSearch:
    result: SlotResult
    names: dict[str, str]     # room address → name
    #: address → busy time counted without being worked out (an event that cannot be
    #: expanded: ``plugin/busy_expansion.py``), for the answer to say so
    estimates: dict[str, list[Estimate]] = field(default_factory=dict)


def search_slots(storage: Storage, requester: str, request: SlotRequest,
                 current_time: datetime.datetime, max_occurrence: int = 0,
                 ignore: OwnTime | None = None) -> SlotSearch:
    """Run ``request`` for ``requester``; call under the storage's read lock.

    ``ignore``: a meeting being moved — the busy period of each one on it at exactly
    its span is that meeting itself (one per span: a second event at the very same
    time still counts), so it never conflicts with its own new time. Busy time is read
    over its spans too: read only over the window, a period overlapping the window's
    edge would be cut short and no longer be the meeting's span."""
    start = request.start - datetime.timedelta(seconds=request.buffer_before)
    end = request.end + datetime.timedelta(seconds=request.buffer_after)
    busy_start, busy_end = start, end
    for span_start, span_end in ignore.spans if ignore is not None else ():
        busy_start = min(busy_start, datetime.datetime.fromtimestamp(span_start, datetime.UTC))
        busy_end = max(busy_end, datetime.datetime.fromtimestamp(span_end, datetime.UTC))
    with storage.database.connect() as connection:
        directory = RoomDirectory.load(connection, configured_rooms(storage.settings))

    organizer_addresses = storage.book.addresses_of(requester)
    people: list[tuple[str, bool, str | None]] = []   # address, required, local user
    for address, required in request.attendees:
        if address in organizer_addresses:
            continue
        if directory.by_address(address) is not None:
            raise SlotRequestError("%s is a room: ask for it under rooms" % address)
        recipient = storage.scheduler.classify("mailto:" + address)
        visible = storage.settings.freebusy_visibility != "self"
        local = recipient.kind == "local" and recipient.user and visible
        people.append((address, required, recipient.user if local else None))
    room_records = []
    for address in request.rooms:
        record = directory.by_address(address)
        if record is None:
            raise SlotRequestError("no room %s (see 'radicale-tracks rooms list')" % address)
        room_records.append(record)
    pool_members = []
    for name in request.pools:
        members = directory.pool(name)
        if not members:
            raise SlotRequestError("no pool %s (pools: %s)" % (
                name, ", ".join(sorted(directory.pools())) or "none yet"))
        pool_members.append((name, members))

    # everyone's busy time in one pass over the index: per-person queries were most of
    # a team search's time
    humans = ([requester] if request.include_organizer else []) + [
        user for _, _, user in people if user]
    rooms_asked = [r.principal for r in room_records] + [
        r.principal for _, members in pool_members for r in members]
    estimated: dict[str, list[Estimate]] = {}
    busy = people_busy(storage, humans + rooms_asked, busy_start, busy_end, max_occurrence,
                       working_hours=set(humans) if request.working_hours else (),
                       estimates=estimated)

    def busy_of(user: str, addresses: Collection[str]) -> tuple[Busy, ...]:
        periods = [(s, e, kind.upper() or "BUSY") for s, e, kind in busy[user]
                   if kind.upper() != "FREE"]
        own = ignore.spans if ignore is not None and not ignore.addresses.isdisjoint(
            addresses) else ()
        for span in own:
            found = next((p for p in periods if (p[0], p[1]) == span
                          and p[2] != "BUSY-UNAVAILABLE"), None)
            if found is not None:
                periods.remove(found)
        return tuple(Busy(s, e, kind) for s, e, kind in periods)

    participants: list[Participant] = []
    if request.include_organizer:
        participants.append(Participant(
            address=min(organizer_addresses), required=True, is_organizer=True,
            busy=busy_of(requester, organizer_addresses)))
    participants.extend(
        Participant(address=address, required=required,
                    busy=busy_of(user, {address}) if user else None)
        for address, required, user in people)

    def room(record: RoomRecord) -> Room:
        return Room(address=record.address, name=record.name,
                    busy=busy_of(record.principal, {record.address}),
                    capacity=record.capacity,
                    priority=record.priority)

    rooms = [room(record) for record in room_records]
    pools = []
    for name, members in pool_members:
        last = (_last_booked(storage, members)
                if request.assignment == ASSIGNMENT_ROUND_ROBIN else None)
        pools.append(Pool(name=name, rooms=tuple(room(r) for r in members),
                          assignment=request.assignment, last_assigned=last))
    query = SlotQuery(
        participants=tuple(participants), rooms=tuple(rooms), pools=tuple(pools),
        duration=request.duration, window_start=int(request.start.timestamp()),
        window_end=int(request.end.timestamp()),
        current_time=int(current_time.timestamp()), grid_minutes=request.grid_minutes,
        zone=request.zone, buffer_before=request.buffer_before,
        buffer_after=request.buffer_after, minimum_notice=request.minimum_notice,
        working_hours=request.working_hours, show_conflicts=request.show_conflicts,
        max_results=request.max_results)
    names = {r.address: r.name for r in directory.rooms}
    addresses = {user: address for address, _, user in people if user}
    if request.include_organizer:
        addresses[requester] = min(organizer_addresses)
    addresses.update({r.principal: r.address for r in room_records})
    addresses.update({r.principal: r.address for _, members in pool_members for r in members})
    return SlotSearch(find_slots(query), names, {
        addresses.get(user, user): found for user, found in estimated.items()})


def _last_booked(storage: Storage, members: list[RoomRecord]) -> str | None:
    """The room of a pool that took the latest booking: round robin goes on after it."""
    latest: dict[str, int] = {}
    paths = {c.path: record.address for record in members
             for c in storage.scheduling_calendars.calendars_of(record.principal)}
    for path, changed in storage.index.latest_changes(list(paths)).items():
        address = paths[path]
        latest[address] = max(latest.get(address, 0), changed)
    return max(latest, key=lambda a: (latest[a], a)) if latest else None
