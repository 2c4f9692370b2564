"""``radicale-tracks tracks list|show``: what the assistant knows, for admins.

``show`` takes a track's id (slug), its address, or a meeting UID; failures of the
assistant (recorded even when no track could be made) appear in both commands.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any

from sqlalchemy import Connection

from radicale_tracks.tracks import store

EXIT_FAILED = 1


def add_commands(commands: Any) -> None:
    tracks = commands.add_parser("tracks", help="the assistant's tracks")
    sub = tracks.add_subparsers(dest="tracks_command", required=True)
    listing = sub.add_parser("list", help="every track, newest first, and recent failures")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one track: members, meetings, activity")
    show.add_argument("track", help="track id, track address, or a meeting's UID")
    show.set_defaults(handler=_show)
    for name, status, text in (
            ("close", "closed", "refuse new meetings sent to the track's address "
                                "(its meetings are still followed)"),
            ("reopen", "open", "accept new meetings at the track's address again")):
        command = sub.add_parser(name, help=text)
        command.add_argument("track", help="track id or track address")
        command.set_defaults(handler=_set_status, status=status)


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M UTC")


def _count(number: int, noun: str) -> str:
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def _connect(args: argparse.Namespace) -> tuple[Any, Any]:
    from radicale_tracks.commands.config import load_settings
    from radicale_tracks.core.addresses import AddressBook
    from radicale_tracks.db.engine import create_database_engine, ensure_schema

    _configuration, settings = load_settings(args.config)
    engine = create_database_engine(settings.database_url)
    ensure_schema(engine)
    book = AddressBook.build(settings.domain, settings.assistant_address, settings.addresses)
    return engine, book


def _list(args: argparse.Namespace) -> int:
    engine, book = _connect(args)
    with engine.connect() as connection:
        found = store.all_tracks(connection)
        for track in found:
            meetings = store.track_meetings(connection, track.id)
            members = store.track_members(connection, track.id)
            print("%s  %-6s  %s  %s  %s  %s  <%s>" % (
                track.slug, track.status, _when(track.created_at),
                _count(len(meetings), "meeting"), _count(len(members), "member"),
                track.title, book.track_address(track.token)))
        if not found:
            print("no tracks yet")
        _print_failures(connection, None)
    return 0


def _print_failures(connection: Connection, track_id: int | None, uid: str | None = None
                    ) -> None:
    failures = [a for a in store.recent_activity(connection, track_id, kinds=("failed",))
                if uid is None or a.uid == uid]
    if failures:
        print("\nassistant failures (newest first):")
        for failure in failures:
            print("  %s  uid=%s by %s: %s" % (_when(failure.at), failure.uid or "-",
                                              failure.actor or "-", failure.summary))


def _find_track(connection: Connection, book: Any, key: str) -> store.Track | None:
    """A track by its id or its address."""
    track = store.track_by_slug(connection, key)
    token = book.track_token(key)
    if track is None and token:
        track = store.track_by_token(connection, token)
    return track


def _set_status(args: argparse.Namespace) -> int:
    engine, book = _connect(args)
    key = args.track.strip()
    with engine.begin() as connection:
        track = _find_track(connection, book, key)
        if track is None:
            print("radicale-tracks: no track or track address %r" % key, file=sys.stderr)
            return EXIT_FAILED
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        store.set_track_status(connection, track.id, args.status, now)
        store.record_activity(connection, at=now, kind=args.status, track_id=track.id,
                              summary="track %s by the admin" % args.status)
    print("track %s (%s) is %s" % (track.slug, track.title, args.status))
    return 0


def _show(args: argparse.Namespace) -> int:
    engine, book = _connect(args)
    key = args.track.strip()
    with engine.connect() as connection:
        track = _find_track(connection, book, key)
        uid_failures = False
        if track is None:
            meeting = store.meeting_by_uid(connection, key)
            if meeting is not None:
                track = store.track_by_id(connection, meeting.track_id)
        if track is None:
            failures = [a for a in store.recent_activity(connection, None, limit=500)
                        if a.uid == key]
            for activity in failures:
                uid_failures = True
                print("%s  %-18s uid=%s by %s: %s" % (
                    _when(activity.at), activity.kind, activity.uid, activity.actor or "-",
                    activity.summary))
                if activity.detail:
                    print("    " + activity.detail.strip().replace("\n", "\n    "))
            if not uid_failures:
                print("radicale-tracks: no track, track address or meeting %r" % key,
                      file=sys.stderr)
                return EXIT_FAILED
            return 0
        print("track    %s (%s)" % (track.title, track.status))
        print("id       %s" % track.slug)
        print("address  %s" % book.track_address(track.token))
        print("organizer %s%s" % (track.organizer, " (user %s)" % track.organizer_user
                                  if track.organizer_user else ""))
        print("created  %s, updated %s" % (_when(track.created_at), _when(track.updated_at)))
        print("\nmembers:")
        for member in store.track_members(connection, track.id):
            print("  %-9s %-13s %s%s" % (member.role, member.partstat or "-",
                                         member.address,
                                         " (user %s)" % member.user if member.user else ""))
        print("\nmeetings:")
        for meeting in store.track_meetings(connection, track.id):
            print("  %s  %-9s seq %d  %s  uid=%s" % (_when(meeting.dtstart), meeting.status,
                                                     meeting.sequence, meeting.summary,
                                                     meeting.uid))
        print("\nactivity (newest first):")
        for activity in store.recent_activity(connection, track.id):
            print("  %s  %-18s %s" % (_when(activity.at), activity.kind, activity.summary))
            if activity.kind == "failed" and activity.detail:
                print("    " + activity.detail.strip().replace("\n", "\n    "))
    return 0
