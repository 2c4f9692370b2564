"""Who the rooms and resources are: the config's ``rooms`` lines plus the rooms added by
command, as one list.

A room is a principal like a user: its address is ``<principal>@<domain>`` (so the
address book needs no alias for it), its calendars live under ``/<principal>/``, and
invitations to it are delivered like a user's — then answered by its policy
(``core/booking.py``). Rooms in the config file are read-only for the commands: the file
is their source, and a command that changed them would be undone at the next start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, select

from radicale_tracks.core.addresses import normalize_address, read_address
from radicale_tracks.core.booking import BookingMode, BookingPolicy, BookingPolicyError
from radicale_tracks.errors import ConfigurationError
from radicale_tracks.rooms.schema import rooms as room_table

if TYPE_CHECKING:
    from radicale_tracks.settings import Settings

ROOM_KINDS = ("ROOM", "RESOURCE")
_PRINCIPAL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_POOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RoomError(ValueError):
    """A room definition that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Room:
    address: str
    principal: str
    name: str
    kind: str = "ROOM"
    capacity: int | None = None
    priority: int = 0
    pools: tuple[str, ...] = ()
    policy: BookingPolicy = BookingPolicy()
    delegates: tuple[str, ...] = ()
    source: str = "command"          # "config" | "command"


def room_from_fields(address: str, domain: str, fields: dict[str, str],
                     source: str = "command") -> Room:
    """A room from ``key=value`` fields (config line or command options)."""
    reading = read_address(address)
    if not reading.is_mail:
        raise RoomError("room address %r: %s" % (address, reading.problem
                                                 or "not an e-mail address"))
    address = reading.address
    local, _, at = address.rpartition("@")
    if not local or at != domain.lower():
        raise RoomError("room address %r must be at this server's domain %s"
                        % (address, domain))
    if not _PRINCIPAL.match(local) or "+" in local:
        raise RoomError("room address %r: the part before @ names the room's principal "
                        "and may hold a-z, 0-9, '.', '_' and '-'" % address)
    known = {"name", "kind", "capacity", "priority", "pools", "policy", "max_conflicts",
             "max_conflict_percent", "max_duration", "window_days", "delegates"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise RoomError("unknown room field(s) %s; known: %s"
                        % (", ".join(unknown), ", ".join(sorted(known))))
    kind = fields.get("kind", "ROOM").strip().upper() or "ROOM"
    if kind not in ROOM_KINDS:
        raise RoomError("kind must be ROOM or RESOURCE, got %r" % kind)
    pools = _names(fields.get("pools", ""))
    for pool in pools:
        if not _POOL.match(pool):
            raise RoomError("pool name %r may hold letters, digits, '.', '_' and '-'"
                            % pool)
    try:
        mode = BookingMode(fields.get("policy", "if-free").strip().lower() or "if-free")
    except ValueError:
        raise RoomError("policy must be one of %s, got %r" % (
            ", ".join(m.value for m in BookingMode), fields.get("policy"))) from None
    try:
        duration = _number(fields, "max_duration")
        policy = BookingPolicy(
            mode=mode, max_conflicts=_number(fields, "max_conflicts"),
            max_conflict_percent=_number(fields, "max_conflict_percent"),
            max_duration=duration * 60 if duration is not None else None,
            window_days=_number(fields, "window_days"))
    except BookingPolicyError as e:
        raise RoomError(str(e)) from None
    capacity = _number(fields, "capacity")
    if capacity == 0:
        raise RoomError("capacity must be positive (leave it out when unknown)")
    return Room(address=address, principal=local, name=fields.get("name", "").strip() or local,
                kind=kind, capacity=capacity, priority=_number(fields, "priority") or 0,
                pools=pools, policy=policy, delegates=_names(fields.get("delegates", "")),
                source=source)


def configured_rooms(settings: Settings) -> tuple[Room, ...]:
    """The rooms of the config's ``rooms`` option. Settings keep the text (they know no
    rooms); everyone who needs the rooms asks here, and the parse is cached."""
    return parse_rooms(settings.rooms, settings.domain)


@functools.lru_cache(maxsize=8)
def parse_rooms(text: str, domain: str) -> tuple[Room, ...]:
    """The ``rooms`` option's lines; a bad line is a configuration error naming it."""
    found: dict[str, Room] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            room = parse_room_line(line, domain)
        except RoomError as e:
            raise ConfigurationError("Invalid value for option 'rooms' in section "
                                     "'storage', line %d: %s" % (number, e)) from None
        if room.address in found:
            raise ConfigurationError("Invalid value for option 'rooms' in section "
                                     "'storage', line %d: %s is listed twice"
                                     % (number, room.address))
        found[room.address] = room
    return tuple(found.values())


def describe_rooms(rooms: Iterable[Room]) -> dict[str, str]:
    """One line per room, as ``radicale-tracks info`` shows them."""
    return {room.address: "%s (%s%s) pools: %s; policy: %s" % (
        room.name, room.kind, ", %d seats" % room.capacity if room.capacity else "",
        ",".join(room.pools) or "-", room.policy.describe()) for room in rooms}


def parse_room_line(line: str, domain: str) -> Room:
    """``atlas@example.org: name=Atlas; capacity=8; pools=3rd-floor,east; policy=if-free``"""
    address, sep, rest = line.partition(":")
    if not sep:
        raise RoomError("expected 'address: field=value; field=value'")
    fields: dict[str, str] = {}
    for part in rest.split(";"):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise RoomError("expected field=value, got %r" % part.strip())
        fields[key.strip().lower().replace("-", "_")] = value.strip()
    return room_from_fields(address.strip(), domain, fields, source="config")


def _names(text: str) -> tuple[str, ...]:
    seen: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return tuple(seen)


def _number(fields: dict[str, str], name: str) -> int | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise RoomError("%s must be a whole number, got %r" % (name, text)) from None
    if value < 0:
        raise RoomError("%s must not be negative, got %d" % (name, value))
    return value


# -- the stored rooms --------------------------------------------------------------------


def stored_rooms(connection: Connection) -> list[Room]:
    rooms = []
    for row in connection.execute(select(room_table).order_by(room_table.c.address)):
        duration = row.max_duration
        rooms.append(Room(
            address=row.address, principal=row.principal, name=row.name, kind=row.kind,
            capacity=row.capacity, priority=row.priority, pools=_names(row.pools),
            policy=BookingPolicy(
                mode=BookingMode(row.policy), max_conflicts=row.max_conflicts,
                max_conflict_percent=row.max_conflict_percent,
                max_duration=duration * 60 if duration is not None else None,
                window_days=row.window_days),
            delegates=_names(row.delegates), source="command"))
    return rooms


def store_room(connection: Connection, room: Room, now: int) -> None:
    """Add or replace a room added by command."""
    policy = room.policy
    connection.execute(delete(room_table).where(room_table.c.address == room.address))
    connection.execute(insert(room_table).values(
        address=room.address, principal=room.principal, name=room.name, kind=room.kind,
        capacity=room.capacity, priority=room.priority, pools=",".join(room.pools),
        policy=policy.mode.value, max_conflicts=policy.max_conflicts,
        max_conflict_percent=policy.max_conflict_percent,
        max_duration=policy.max_duration // 60 if policy.max_duration is not None else None,
        window_days=policy.window_days, delegates=",".join(room.delegates),
        created_at=now))


def remove_room(connection: Connection, address: str) -> bool:
    return connection.execute(delete(room_table).where(
        room_table.c.address == normalize_address(address))).rowcount > 0


class RoomDirectory:
    """The rooms of one server: the config's first (they win a clash), then the stored."""

    def __init__(self, configured: Iterable[Room], stored: Iterable[Room]) -> None:
        found: dict[str, Room] = {}
        for room in configured:
            found[room.address] = room
        for room in stored:
            found.setdefault(room.address, room)
        self.rooms = sorted(found.values(), key=lambda r: r.address)
        self._by_principal = {room.principal: room for room in self.rooms}

    @classmethod
    def load(cls, connection: Connection, configured: Iterable[Room]) -> RoomDirectory:
        return cls(configured, stored_rooms(connection))

    def by_principal(self, principal: str) -> Room | None:
        return self._by_principal.get(principal)

    def by_address(self, address: str) -> Room | None:
        local, _, _ = normalize_address(address).rpartition("@")
        room = self._by_principal.get(local)
        return room if room is not None and room.address == normalize_address(address) else None

    def pool(self, name: str) -> list[Room]:
        return [room for room in self.rooms if name in room.pools]

    def pools(self) -> dict[str, list[Room]]:
        found: dict[str, list[Room]] = {}
        for room in self.rooms:
            for pool in room.pools:
                found.setdefault(pool, []).append(room)
        return found

    def delegated_to(self, user: str) -> list[Room]:
        return [room for room in self.rooms if user in room.delegates]

