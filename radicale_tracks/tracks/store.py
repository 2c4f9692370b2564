"""Reads and writes of the tracks tables, always on a connection the caller provides.

The assistant writes inside the transaction of the storage write that caused it
(``db/session.py``); the admin commands and the rights plugin read on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from radicale_tracks.core.addresses import read_address
from radicale_tracks.tracks.schema import activities, meetings, members, tracks


@dataclass(frozen=True)
class Track:
    id: int
    slug: str
    token: str
    feed_token: str
    title: str
    organizer: str
    organizer_user: str | None
    status: str
    created_at: int
    updated_at: int

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class Member:
    track_id: int
    address: str
    user: str | None
    name: str | None
    role: str
    partstat: str | None
    added_at: int


@dataclass(frozen=True)
class Meeting:
    id: int
    track_id: int
    uid: str
    href: str
    organizer: str
    source_path: str | None
    summary: str
    dtstart: int | None
    sequence: int
    status: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Activity:
    id: int
    at: int
    track_id: int | None
    uid: str | None
    kind: str
    actor: str | None
    summary: str
    detail: str | None


def _build(cls: Any, row: Any) -> Any:
    return cls(**dict(row._mapping))


# -- tracks ------------------------------------------------------------------------

def insert_track(connection: Connection, *, slug: str, token: str, feed_token: str,
                 title: str, organizer: str, organizer_user: str | None,
                 now: int) -> Track:
    connection.execute(insert(tracks).values(
        slug=slug, token=token, feed_token=feed_token, title=title[:512],
        organizer=organizer, organizer_user=organizer_user, status="open",
        created_at=now, updated_at=now))
    found = track_by_slug(connection, slug)
    assert found is not None
    return found


def track_by_id(connection: Connection, track_id: int) -> Track | None:
    row = connection.execute(select(tracks).where(tracks.c.id == track_id)).first()
    return _build(Track, row) if row else None


def track_by_token(connection: Connection, token: str) -> Track | None:
    row = connection.execute(select(tracks).where(tracks.c.token == token)).first()
    return _build(Track, row) if row else None


def track_by_slug(connection: Connection, slug: str) -> Track | None:
    row = connection.execute(select(tracks).where(tracks.c.slug == slug)).first()
    return _build(Track, row) if row else None


def track_by_feed_token(connection: Connection, feed_token: str) -> Track | None:
    row = connection.execute(select(tracks).where(tracks.c.feed_token == feed_token)).first()
    return _build(Track, row) if row else None


def all_tracks(connection: Connection) -> list[Track]:
    return [_build(Track, row) for row in connection.execute(
        select(tracks).order_by(tracks.c.created_at.desc(), tracks.c.id.desc()))]


def set_track_status(connection: Connection, track_id: int, status: str, now: int) -> None:
    connection.execute(update(tracks).where(tracks.c.id == track_id)
                       .values(status=status, updated_at=now))


def touch_track(connection: Connection, track_id: int, now: int) -> None:
    connection.execute(update(tracks).where(tracks.c.id == track_id).values(updated_at=now))


# -- members -----------------------------------------------------------------------

def track_members(connection: Connection, track_id: int) -> list[Member]:
    return [_build(Member, row) for row in connection.execute(
        select(members.c.track_id, members.c.address, members.c.user, members.c.name,
               members.c.role, members.c.partstat, members.c.added_at)
        .where(members.c.track_id == track_id).order_by(members.c.id))]


def upsert_member(connection: Connection, track_id: int, address: str, *,
                  user: str | None, name: str | None, role: str, partstat: str | None,
                  now: int) -> bool:
    """Add or update a member; True when the address is new to the track.

    A member is written to: ``address`` must be a valid e-mail address (normalised).
    """
    if read_address(address).address != address or not read_address(address).is_mail:
        raise ValueError("a track member needs an e-mail address, not %r" % address)
    existing = connection.execute(select(members.c.id).where(and_(
        members.c.track_id == track_id, members.c.address == address))).first()
    if existing is None:
        connection.execute(insert(members).values(
            track_id=track_id, address=address, user=user, name=name, role=role,
            partstat=partstat, added_at=now))
        return True
    values: dict[str, Any] = {"user": user}
    if name:
        values["name"] = name
    if partstat:
        values["partstat"] = partstat
    connection.execute(update(members).where(members.c.id == existing[0]).values(**values))
    return False


def remove_members(connection: Connection, track_id: int, addresses: Iterable[str]) -> None:
    """Forget attendees that are no members (rooms and resources recorded by an older
    version); the organizer's row is never removed."""
    addresses = list(addresses)
    if addresses:
        connection.execute(delete(members).where(
            members.c.track_id == track_id, members.c.address.in_(addresses),
            members.c.role != "organizer"))


def is_member_user(connection: Connection, slug: str, user: str,
                   addresses: Iterable[str]) -> bool:
    """Whether a local user is a member of the track ``slug`` (by user or address)."""
    addresses = list(addresses)
    condition = members.c.user == user
    if addresses:
        condition = condition | members.c.address.in_(addresses)
    row = connection.execute(
        select(func.count()).select_from(members.join(tracks, tracks.c.id == members.c.track_id))
        .where(tracks.c.slug == slug, condition)).scalar()
    return bool(row)


def tracks_of_user(connection: Connection, user: str, addresses: Iterable[str]) -> list[Track]:
    addresses = list(addresses)
    condition = members.c.user == user
    if addresses:
        condition = condition | members.c.address.in_(addresses)
    ids = select(members.c.track_id).where(condition)
    return [_build(Track, row) for row in connection.execute(
        select(tracks).where(tracks.c.id.in_(ids)).order_by(tracks.c.created_at.desc()))]


# -- meetings ----------------------------------------------------------------------

def meeting_by_uid(connection: Connection, uid: str, organizer: str | None = None
                   ) -> Meeting | None:
    """The meeting of an organizer's object; the newest one if (oddly) in several tracks."""
    query = select(meetings).where(meetings.c.uid == uid)
    if organizer is not None:
        query = query.where(meetings.c.organizer == organizer)
    row = connection.execute(query.order_by(meetings.c.id.desc())).first()
    return _build(Meeting, row) if row else None


def track_meetings(connection: Connection, track_id: int) -> list[Meeting]:
    return [_build(Meeting, row) for row in connection.execute(
        select(meetings).where(meetings.c.track_id == track_id)
        .order_by(meetings.c.dtstart, meetings.c.id))]


def save_meeting(connection: Connection, track_id: int, uid: str, *, href: str,
                 organizer: str, source_path: str | None, summary: str,
                 dtstart: int | None, sequence: int, status: str, now: int) -> None:
    existing = connection.execute(select(meetings.c.id).where(and_(
        meetings.c.track_id == track_id, meetings.c.uid == uid))).first()
    values = dict(href=href, organizer=organizer, source_path=source_path,
                  summary=summary[:1024], dtstart=dtstart, sequence=sequence, status=status,
                  updated_at=now)
    if existing is None:
        connection.execute(insert(meetings).values(
            track_id=track_id, uid=uid, created_at=now, **values))
    else:
        connection.execute(update(meetings).where(meetings.c.id == existing[0])
                           .values(**values))


# -- activity ----------------------------------------------------------------------

def record_activity(connection: Connection, *, at: int, kind: str, summary: str,
                    track_id: int | None = None, uid: str | None = None,
                    actor: str | None = None, detail: str | None = None) -> None:
    connection.execute(insert(activities).values(
        at=at, track_id=track_id, uid=uid, kind=kind, actor=actor, summary=summary,
        detail=detail))


def recent_activity(connection: Connection, track_id: int | None = None,
                    kinds: Iterable[str] | None = None, limit: int = 50) -> list[Activity]:
    query = select(activities)
    if track_id is not None:
        query = query.where(activities.c.track_id == track_id)
    if kinds is not None:
        query = query.where(activities.c.kind.in_(list(kinds)))
    return [_build(Activity, row) for row in connection.execute(
        query.order_by(activities.c.at.desc(), activities.c.id.desc()).limit(limit))]


def activity_of(connection: Connection, *, track_ids: Iterable[int], actors: Iterable[str],
                kinds: Iterable[str] = (), text: str = "", before: int | None = None,
                limit: int = 50) -> list[Activity]:
    """Activity of the given tracks plus what the given addresses did elsewhere (their
    bookings, refusals), newest first; ``before`` pages by activity id."""
    track_ids, actors, kinds = list(track_ids), list(actors), list(kinds)
    whose = []
    if track_ids:
        whose.append(activities.c.track_id.in_(track_ids))
    if actors:
        whose.append(activities.c.actor.in_(actors))
    if not whose:
        return []
    query = select(activities).where(or_(*whose))
    if kinds:
        query = query.where(activities.c.kind.in_(kinds))
    if text:
        pattern = "%%%s%%" % text.lower().replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_")
        query = query.where(or_(func.lower(activities.c.summary).like(pattern, escape="\\"),
                                func.lower(activities.c.actor).like(pattern, escape="\\")))
    if before is not None:
        query = query.where(activities.c.id < before)
    return [_build(Activity, row) for row in connection.execute(
        query.order_by(activities.c.id.desc()).limit(limit))]


def set_feed_token(connection: Connection, track_id: int, feed_token: str, now: int) -> None:
    connection.execute(update(tracks).where(tracks.c.id == track_id).values(
        feed_token=feed_token, updated_at=now))


def delete_track_rows(connection: Connection, track_id: int) -> None:
    connection.execute(delete(tracks).where(tracks.c.id == track_id))
