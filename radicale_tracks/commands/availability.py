"""``radicale-tracks slots …`` and ``radicale-tracks availability set|show|clear``.

``slots`` asks the same question as the JSON API (``POST /.web/api/slots``), for a
user named with ``--as``, and prints a table (or the API's JSON with ``--json``).
``availability`` manages a user's working hours — the ``calendar-availability``
property clients such as Apple Calendar set over CalDAV.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

EXIT_FAILED = 1


def add_commands(commands: Any) -> None:
    slots = commands.add_parser(
        "slots", help="find times that work for people, rooms and pools")
    slots.add_argument("--as", dest="requester", required=True,
                       help="the organizer (a user here), whose busy time counts too")
    slots.add_argument("--attendee", action="append", default=[],
                       help="a required attendee's address (repeatable)")
    slots.add_argument("--optional", action="append", default=[],
                       help="an optional attendee's address (repeatable)")
    slots.add_argument("--room", action="append", default=[], help="a room (repeatable)")
    slots.add_argument("--pool", action="append", default=[],
                       help="any one room of this pool (repeatable)")
    slots.add_argument("--assignment", default="priority",
                       choices=("priority", "longest-idle", "round-robin"),
                       help="which free room of a pool (default priority)")
    slots.add_argument("--duration", type=int, required=True, help="minutes")
    slots.add_argument("--week", choices=("this", "next"), help="the search window")
    slots.add_argument("--from", dest="start", help="window start: ISO date or date-time")
    slots.add_argument("--to", dest="end", help="window end (default: a week after start)")
    slots.add_argument("--zone", help="the organizer's time zone (default: theirs, or the "
                                      "server's default_time_zone)")
    slots.add_argument("--grid", type=int, default=30, help="minutes, 5-60 (default 30)")
    slots.add_argument("--buffer-before", type=int, default=0, help="minutes")
    slots.add_argument("--buffer-after", type=int, default=0, help="minutes")
    slots.add_argument("--notice", type=int, default=0, help="minimum notice, minutes")
    slots.add_argument("--any-hours", action="store_true",
                       help="ignore working hours")
    slots.add_argument("--show-conflicts", action="store_true",
                       help="also list times with conflicts, and whose they are")
    slots.add_argument("--max", type=int, default=10, help="slots shown (default 10)")
    slots.add_argument("--json", action="store_true", help="the API's JSON answer")
    slots.set_defaults(handler=_slots)

    availability = commands.add_parser(
        "availability", help="users' working hours (RFC 7953 calendar-availability)")
    sub = availability.add_subparsers(dest="availability_command", required=True)
    set_ = sub.add_parser("set", help="set a user's working hours")
    set_.add_argument("user")
    group = set_.add_mutually_exclusive_group(required=True)
    group.add_argument("--hours", action="append",
                       help="e.g. 'Mon-Fri 09:00-17:00'; repeat it for a split day "
                            "('Mon-Fri 09:00-12:00' --hours 'Mon-Fri 13:00-17:00')")
    group.add_argument("--file", help="a VCALENDAR file with VAVAILABILITY components")
    set_.add_argument("--zone", help="time zone of --hours (default: the user's)")
    set_.set_defaults(handler=_availability_set)
    show = sub.add_parser("show", help="a user's working hours as stored (or the default)")
    show.add_argument("user")
    show.set_defaults(handler=_availability_show)
    clear = sub.add_parser("clear", help="back to the server's default working hours")
    clear.add_argument("user")
    clear.set_defaults(handler=_availability_clear)


def _fail(command: str, message: str) -> int:
    print("radicale-tracks %s: %s" % (command, message), file=sys.stderr)
    return EXIT_FAILED


def _slots(args: argparse.Namespace) -> int:
    from radicale_tracks.core.slot_report import report_json, report_table
    from radicale_tracks.core.slot_request import SlotRequestError, slot_request
    from radicale_tracks.core.slots import SlotQueryError
    from radicale_tracks.plugin.availability import user_zone
    from radicale_tracks.plugin.backends import open_storage
    from radicale_tracks.plugin.slot_search import search_slots

    storage, _settings = open_storage(args.config)
    if not storage.scheduling_calendars.user_exists(args.requester):
        return _fail("slots", "no user %r here" % args.requester)
    data: dict[str, Any] = {
        "attendees": args.attendee, "optional": args.optional, "rooms": args.room,
        "pools": args.pool, "assignment": args.assignment, "duration": args.duration,
        "week": args.week, "start": args.start, "end": args.end, "zone": args.zone,
        "grid": args.grid, "buffer_before": args.buffer_before,
        "buffer_after": args.buffer_after, "notice": args.notice,
        "working_hours": not args.any_hours, "show_conflicts": args.show_conflicts,
        "max_results": args.max}
    now = datetime.datetime.now(datetime.UTC)
    try:
        with storage.acquire_lock("r", args.requester):
            request = slot_request({k: v for k, v in data.items() if v is not None}, now,
                                   user_zone(storage, args.requester))
            found = search_slots(storage, args.requester, request, now)
    except (SlotRequestError, SlotQueryError) as e:
        return _fail("slots", str(e))
    if args.json:
        print(json.dumps(report_json(found.result, request.zone, found.names,
                                     found.estimates), indent=1))
    else:
        sys.stdout.write(report_table(found.result, request.zone, found.names,
                                      args.show_conflicts, found.estimates))
    return 0


def _availability_set(args: argparse.Namespace) -> int:
    from radicale_tracks.core.availability import AvailabilityError
    from radicale_tracks.core.working_hours import parse_week
    from radicale_tracks.plugin.availability import (
        own_hours_calendar,
        store_availability,
        user_zone,
    )
    from radicale_tracks.plugin.backends import open_storage

    storage, _settings = open_storage(args.config)
    if not storage.scheduling_calendars.user_exists(args.user):
        return _fail("availability set", "no user %r here" % args.user)
    try:
        if args.file:
            text = Path(args.file).read_text(encoding="utf-8")
        else:
            week = parse_week(args.hours, args.zone or user_zone(storage, args.user))
            text = own_hours_calendar(args.user, week, datetime.datetime.now(datetime.UTC))
        storage.restartable(lambda: store_availability(storage, args.user, text))
    except (AvailabilityError, OSError) as e:
        return _fail("availability set", str(e))
    print("working hours of %s set" % args.user)
    return 0


def _availability_show(args: argparse.Namespace) -> int:
    from radicale_tracks.plugin.availability import default_availability_text, stored_availability
    from radicale_tracks.plugin.backends import open_storage

    storage, _settings = open_storage(args.config)
    with storage.acquire_lock("r", args.user):
        own = stored_availability(storage, args.user)
        text = own or default_availability_text(storage, args.user)
    print("# %s" % ("set by the user" if own else "the server's default working hours"))
    sys.stdout.write(text.replace("\r\n", "\n"))
    return 0


def _availability_clear(args: argparse.Namespace) -> int:
    from radicale_tracks.plugin.availability import store_availability
    from radicale_tracks.plugin.backends import open_storage

    storage, _settings = open_storage(args.config)
    storage.restartable(lambda: store_availability(storage, args.user, None))
    print("working hours of %s: the server's default again" % args.user)
    return 0
