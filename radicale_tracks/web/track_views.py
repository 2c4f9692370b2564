"""What the pages and the API show of meetings and tracks: the Meetings page (the
meetings with their times, and the activity), My tracks, a track's page, its feed link
revoked — read-only views of the tracks' and bookings' rows and the track calendars,
for the logged-in user (``Services`` is them plus the booking and slot services)."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from radicale import storage as radicale_storage

from radicale_tracks.bookings.store import booking_by_uid
from radicale_tracks.core.itip import attendees_of, master_of, partstat_of
from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms
from radicale_tracks.tracks import store as track_store

if TYPE_CHECKING:
    from radicale_tracks.plugin.storage import Storage

#: what a person reads of a failure: the error itself is for the admin (``tracks show``)
FAILED_SUMMARY = ("This change could not be processed; the administrator has been told "
                  "and can see the details with radicale-tracks tracks show.")


class NotAllowed(Exception):
    """The logged-in user may not see or do this (answered 403 / 404)."""


class TrackViews:
    """The meetings and tracks part of ``web/services.Services``."""

    storage: Storage
    clock: Callable[[], datetime.datetime]

    def address_of(self, user: str) -> str:
        return "%s@%s" % (user.lower(), self.storage.settings.domain)

    def meetings(self, user: str, *, kinds: Iterable[str] = (), text: str = "",
                 track: str | None = None, before: int | None = None, limit: int = 50
                 ) -> list[dict[str, Any]]:
        """The activity of the user's tracks and of their own bookings, newest first."""
        addresses = self.storage.book.addresses_of(user)
        with self.storage.database.connect() as connection:
            tracks = {t.id: t for t in track_store.tracks_of_user(connection, user, addresses)}
            track_ids = list(tracks)
            if track is not None:
                track_ids = [t.id for t in tracks.values() if t.slug == track]
            rows = track_store.activity_of(
                connection, track_ids=track_ids, actors=() if track else addresses,
                kinds=tuple(kinds), text=text, before=before, limit=limit)
        return [{"id": a.id, "at": a.at, "kind": a.kind, "actor": a.actor or "",
                 "summary": _readable_summary(a.kind, a.summary), "uid": a.uid,
                 "track": tracks[a.track_id].slug if a.track_id in tracks else None,
                 "track_title": tracks[a.track_id].title if a.track_id in tracks else None}
                for a in rows]

    def meeting_list(self, user: str, *, upcoming: bool, text: str = "",
                     track: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Meetings with their times: the bookings the user made, holds or is on, and
        the meetings of their tracks that were not booked here (soonest first for
        upcoming, latest first for past)."""
        from radicale_tracks.bookings.store import bookings_of, bookings_with_member

        addresses = self.storage.book.addresses_of(user)
        now = int(self.clock().timestamp())
        needle = text.lower()
        with self.storage.database.connect() as connection:
            tracks = {t.id: t for t in track_store.tracks_of_user(connection, user, addresses)}
            in_track: dict[str, track_store.Track] = {}
            found: list[dict[str, Any]] = []
            for track_id, track_row in tracks.items():
                for meeting in track_store.track_meetings(connection, track_id):
                    in_track.setdefault(meeting.uid, track_row)
                    found.append({
                        "uid": meeting.uid, "what": meeting.summary, "start": meeting.dtstart,
                        "end": None, "customer": None, "booked_by": None,
                        "organizer": meeting.organizer,
                        "state": "cancelled" if meeting.status == "cancelled"
                        else "confirmed", "booking": None, "changed_by": None})
            booked = bookings_of(connection, [user], upcoming=None, now=now, limit=1000)
            seen = {b.id for b in booked}
            booked.extend(b for b in bookings_with_member(connection, user, limit=1000)
                          if b.id not in seen)
        by_uid = {b.uid: b for b in booked}
        rows = [r for r in found if r["uid"] not in by_uid]
        for b in booked:
            rows.append({"uid": b.uid, "what": b.subject, "start": b.start, "end": b.end,
                         "customer": "%s <%s>" % (b.customer_name, b.customer_address),
                         "booked_by": b.agent, "organizer": self.address_of(b.holder),
                         "state": b.state, "booking": b.id, "changed_by": b.changed_by})
        for row in rows:
            holder_track = in_track.get(row["uid"])
            row["track"] = holder_track.slug if holder_track else None
            row["track_title"] = holder_track.title if holder_track else None
        rows = [r for r in rows if r["start"] is not None
                and ((r["end"] or r["start"]) >= now) == upcoming
                and (track is None or r["track"] == track)
                and (not needle or needle in " ".join(
                    str(r[k] or "") for k in ("what", "customer", "booked_by")).lower())]
        rows.sort(key=lambda r: r["start"], reverse=not upcoming)
        return rows[:limit]

    def my_tracks(self, user: str) -> list[dict[str, Any]]:
        addresses = self.storage.book.addresses_of(user)
        now = int(self.clock().timestamp())
        with self.storage.database.connect() as connection:
            found = track_store.tracks_of_user(connection, user, addresses)
            result = []
            for track in found:
                meetings = track_store.track_meetings(connection, track.id)
                upcoming = [m for m in meetings if m.status == "active"
                            and (m.dtstart or 0) >= now]
                result.append({
                    "id": track.slug, "title": track.title, "status": track.status,
                    "organizer": track.organizer,
                    "role": "organizer" if (track.organizer_user == user
                                            or track.organizer in addresses) else "member",
                    "meetings": len(meetings),
                    "next": min((m.dtstart for m in upcoming if m.dtstart), default=None),
                    "updated_at": track.updated_at})
        return result

    def track(self, user: str, slug: str) -> TrackView:
        addresses = self.storage.book.addresses_of(user)
        with self.storage.database.connect() as connection:
            track = track_store.track_by_slug(connection, slug)
            if track is None or not track_store.is_member_user(connection, slug, user,
                                                                addresses):
                raise NotAllowed("no such track")
            members = track_store.track_members(connection, track.id)
            meetings = track_store.track_meetings(connection, track.id)
        organizer = track.organizer_user == user or track.organizer in addresses
        return TrackView(track=track, members=members, meetings=meetings,
                         is_organizer=organizer)

    def track_page(self, user: str, slug: str) -> dict[str, Any]:
        view = self.track(user, slug)
        track = view.track
        now = int(self.clock().timestamp())
        settings = self.storage.settings
        rooms = self._room_answers(user, track.slug)
        with self.storage.database.connect() as connection:
            booked = {m.uid: booking_by_uid(connection, m.uid) for m in view.meetings}
        meetings: list[dict[str, Any]] = [{
            "uid": m.uid, "summary": m.summary, "start": m.dtstart, "status": m.status,
            "organizer": m.organizer, "rooms": rooms.get(m.uid, []),
            # the booking's page, for who may open it (the team of that booking)
            "booking": found.id if (found := booked[m.uid]) is not None and (
                user in (found.agent, found.holder)
                or user in found.details.get("members", [])) else None}
            for m in view.meetings]
        return {
            "id": track.slug, "title": track.title, "status": track.status,
            "organizer": track.organizer, "is_organizer": view.is_organizer,
            "upcoming": [m for m in meetings if (m["start"] or 0) >= now],
            "past": [m for m in meetings if (m["start"] or 0) < now][::-1],
            "members": [{"address": m.address, "name": m.name or "", "role": m.role,
                         "user": m.user, "answer": m.partstat or "NEEDS-ACTION"}
                        for m in view.members],
            "shared": self._shared(user, track.slug),
            "caldav_url": "%s/%s/%s/" % (settings.base_url, settings.assistant_principal,
                                         track.slug),
            "feed_url": "%s/.tracks/feed/%s.ics" % (settings.base_url, track.feed_token),
            "track_address": (self.storage.book.track_address(track.token)
                              if view.is_organizer else None)}

    def revoke_feed(self, user: str, slug: str) -> str:
        """A new feed token for the track (organizer only); the old feed URL stops."""
        view = self.track(user, slug)
        if not view.is_organizer:
            raise NotAllowed("only the track's organizer may revoke its feed")
        token = secrets.token_hex(16)
        with self.storage.database.begin() as connection:
            track_store.set_feed_token(connection, view.track.id, token,
                                       int(self.clock().timestamp()))
            track_store.record_activity(
                connection, at=int(self.clock().timestamp()), kind="feed-revoked",
                track_id=view.track.id, actor=self.address_of(user),
                summary="%s revoked the read-only feed link" % user)
        return token

    def _room_answers(self, user: str, slug: str) -> dict[str, list[dict[str, str]]]:
        """UID → the rooms and resources of that meeting with their answers, as the
        track's copy holds them (rooms are no members: they are listed here instead)."""
        from icalendar import Calendar

        from radicale_tracks.core.resources import resources_of

        storage = self.storage
        with storage.database.connect() as connection:
            directory = RoomDirectory.load(connection, configured_rooms(storage.settings))
            known = dict.fromkeys(storage.scheduling.room_addresses(connection), "")
        known.update((room.address, room.name) for room in directory.rooms)
        found: dict[str, list[dict[str, str]]] = {}
        for item in self._track_items(user, slug, "VEVENT"):
            calendar = Calendar.from_ical(item.serialize())
            master = master_of(calendar)
            if master is None:
                continue
            rooms = resources_of(calendar, known)
            found[str(master.get("UID", ""))] = sorted((
                {"address": address, "name": str(prop.params.get("CN") or "")
                 or known.get(address) or address, "answer": partstat_of(prop)}
                for address, prop in attendees_of(master).items() if address in rooms),
                key=lambda room: (room["name"].lower(), room["address"]))
        return found

    def _track_items(self, user: str, slug: str, component: str) -> list[Any]:
        """The track calendar's objects of one kind (VEVENT, VJOURNAL), read under the
        read lock; none when the calendar is gone."""
        storage = self.storage
        path = "/%s/%s/" % (storage.settings.assistant_principal, slug)
        with storage.acquire_lock("r", user):
            collection = next(iter(storage.discover(path)), None)
            if not isinstance(collection, radicale_storage.BaseCollection):
                return []
            return [item for item in collection.get_all()
                    if item.component_name == component]

    def _shared(self, user: str, slug: str) -> list[dict[str, Any]]:
        """The notes shared to the track (VJOURNAL items of its calendar)."""
        notes: list[dict[str, Any]] = []
        for item in self._track_items(user, slug, "VJOURNAL"):
            journal = item.vobject_item.vjournal
            notes.append({
                "summary": _value(journal, "summary"),
                "description": _value(journal, "description")[:2000],
                "date": _value(journal, "dtstart") or _value(journal, "dtstamp"),
                "from": _value(journal, "organizer").removeprefix("mailto:")})
        return sorted(notes, key=lambda n: n["date"], reverse=True)


@dataclass(frozen=True)
class TrackView:
    track: track_store.Track
    members: list[track_store.Member]
    meetings: list[track_store.Meeting]
    is_organizer: bool



def _readable_summary(kind: str, summary: str) -> str:
    """An activity line as members read it: a failure's program error stays with the
    admin's tools, never on the page."""
    return FAILED_SUMMARY if kind == "failed" else summary


def _value(component: Any, name: str) -> str:
    """A vobject property's value as text ("" when absent); dates in ISO form."""
    child = component.contents.get(name, [None])[0]
    if child is None:
        return ""
    value = child.value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
