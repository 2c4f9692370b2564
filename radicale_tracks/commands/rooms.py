"""``radicale-tracks rooms add|list|remove``: rooms and resources for admins.

``add`` stores the room and creates its principal's calendar under Radicale's storage
lock, so invitations find it at once; running it again with the same address replaces
the room's settings. ``remove`` forgets the room — its calendar and bookings stay on disk
(nothing an admin did not ask to delete is lost) and the address then behaves like any
address at the domain without a room.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from radicale_tracks.rooms.directory import (
    ROOM_KINDS,
    Room,
    RoomDirectory,
    RoomError,
    configured_rooms,
    remove_room,
    room_from_fields,
    store_room,
    stored_rooms,
)

EXIT_FAILED = 1


def add_commands(commands: Any) -> None:
    rooms = commands.add_parser("rooms", help="rooms and resources, their pools and "
                                              "booking policies")
    sub = rooms.add_subparsers(dest="rooms_command", required=True)
    add = sub.add_parser("add", help="add a room (or replace one added before)")
    add.add_argument("address", help="the room's address at this server's domain, e.g. "
                                     "atlas@example.org (its principal is 'atlas')")
    add.add_argument("--name", default="", help="shown to people, e.g. 'Atlas (3rd floor)'")
    add.add_argument("--kind", default="ROOM", choices=ROOM_KINDS,
                     help="calendar-user-type (default ROOM)")
    add.add_argument("--capacity", default="", help="seats")
    add.add_argument("--pool", action="append", default=[],
                     help="a pool the room belongs to (repeatable)")
    add.add_argument("--priority", default="",
                     help="order within its pools, lowest first (default 0)")
    add.add_argument("--policy", default="if-free", choices=("always", "if-free", "manual"),
                     help="how invitations are answered (default if-free)")
    add.add_argument("--max-conflicts", default="",
                     help="occurrences of a series that may conflict (declined one by one)")
    add.add_argument("--max-conflict-percent", default="",
                     help="share of a series that may conflict, 0-100")
    add.add_argument("--max-duration", default="", help="longest booking, in minutes")
    add.add_argument("--window-days", default="", help="how far ahead it may be booked")
    add.add_argument("--delegate", action="append", default=[],
                     help="a user who manages the room's calendar and answers 'manual' "
                          "requests (repeatable)")
    add.set_defaults(handler=_add)
    listing = sub.add_parser("list", help="every room, by pool")
    listing.set_defaults(handler=_list)
    remove = sub.add_parser("remove", help="forget a room (its calendar stays on disk)")
    remove.add_argument("address")
    remove.set_defaults(handler=_remove)


def _add(args: argparse.Namespace) -> int:
    from radicale_tracks.plugin.backends import open_storage

    storage, settings = open_storage(args.config)
    fields = {"name": args.name, "kind": args.kind, "capacity": args.capacity,
              "pools": ",".join(args.pool), "priority": args.priority,
              "policy": args.policy, "max_conflicts": args.max_conflicts,
              "max_conflict_percent": args.max_conflict_percent,
              "max_duration": args.max_duration, "window_days": args.window_days,
              "delegates": ",".join(args.delegate)}
    try:
        room = room_from_fields(args.address, settings.domain, fields)
    except RoomError as e:
        print("radicale-tracks rooms add: %s" % e, file=sys.stderr)
        return EXIT_FAILED
    if any(r.address == room.address for r in configured_rooms(settings)):
        print("radicale-tracks rooms add: %s is defined in the config file ([storage] "
              "rooms); change it there" % room.address, file=sys.stderr)
        return EXIT_FAILED
    clash = _user_clash(storage, room)
    if clash:
        print("radicale-tracks rooms add: %s" % clash, file=sys.stderr)
        return EXIT_FAILED
    with storage.database.begin() as connection:
        store_room(connection, room, int(time.time()))

    def made() -> str:
        with storage.acquire_lock("w", room.principal):
            return storage.scheduling_calendars.default_calendar(room.principal)

    calendar = storage.restartable(made)
    print("room %s (%s) added: calendar /%s/, policy %s%s" % (
        room.address, room.name, calendar, room.policy.describe(),
        ", pools " + ", ".join(room.pools) if room.pools else ""))
    return 0


def _user_clash(storage: Any, room: Room) -> str | None:
    """A person's principal is never turned into a room: their calendar would start
    answering invitations by itself."""
    from radicale_tracks.plugin.schedule_boxes import is_schedule_box

    if not storage.exists("/%s/" % room.principal):
        return None
    with storage.database.connect() as connection:
        if any(r.principal == room.principal for r in stored_rooms(connection)):
            return None
    for calendar in storage.collections_in("/%s/" % room.principal):
        name = calendar.path.rsplit("/", 1)[-1]
        if not name.startswith(".") and not is_schedule_box(name):
            return ("%s already has calendars of a user (/%s/); choose another address"
                    % (room.principal, room.principal))
    return None


def _list(args: argparse.Namespace) -> int:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.db.engine import create_database_engine, ensure_schema

    _configuration, settings = load_settings(args.config)
    engine = create_database_engine(settings.database_url)
    ensure_schema(engine)
    with engine.connect() as connection:
        directory = RoomDirectory.load(connection, configured_rooms(settings))
    if not directory.rooms:
        print("no rooms yet; add one with 'radicale-tracks rooms add ADDRESS'")
        return 0
    print("%-32s %-24s %-8s %5s %-20s %s" % ("address", "name", "kind", "seats", "pools",
                                            "policy"))
    for room in directory.rooms:
        print("%-32s %-24s %-8s %5s %-20s %s%s" % (
            room.address, room.name[:24], room.kind,
            room.capacity if room.capacity is not None else "-",
            ",".join(room.pools) or "-", room.policy.describe(),
            "  [config]" if room.source == "config" else ""))
    for pool, members in sorted(directory.pools().items()):
        ordered = sorted(members, key=lambda r: (r.priority, r.address))
        print("pool %s: %s" % (pool, ", ".join(r.principal for r in ordered)))
    return 0


def _remove(args: argparse.Namespace) -> int:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.db.engine import create_database_engine, ensure_schema

    _configuration, settings = load_settings(args.config)
    if any(r.address == args.address.strip().lower() for r in configured_rooms(settings)):
        print("radicale-tracks rooms remove: %s is defined in the config file ([storage] "
              "rooms); remove it there" % args.address, file=sys.stderr)
        return EXIT_FAILED
    engine = create_database_engine(settings.database_url)
    ensure_schema(engine)
    with engine.begin() as connection:
        removed = remove_room(connection, args.address)
    if not removed:
        print("radicale-tracks rooms remove: no room %s (see 'rooms list')" % args.address,
              file=sys.stderr)
        return EXIT_FAILED
    print("room %s removed; its calendar and bookings stay on disk" % args.address)
    return 0
