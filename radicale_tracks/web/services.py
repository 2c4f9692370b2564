"""What the web pages and the JSON API do, on the server's storage: one function per
question or action, returning plain values both render.

Booking for a customer goes through the storage's own write path
(``Collection.upload``, as a CalDAV PUT does), so team members and rooms get their
invitations from implicit scheduling, the assistant opens the track, and the customer's
mail is the scheduling path's too. The slot is checked again under the storage's write
lock, the same lock that write takes: two agents racing for one slot are served one after
the other, and the second one's check sees the first one's meeting.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from radicale import pathutils

from radicale_tracks.bookings.store import add_booking, booking_by_uid
from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.customer_booking import (
    Booking,
    BookingError,
    EventParties,
    MeetingDetails,
    Person,
    booking_calendar,
    details_record,
)
from radicale_tracks.core.freebusy import Estimate
from radicale_tracks.core.itip import attendees_of, master_of, partstat_of
from radicale_tracks.core.slot_request import SlotRequest, SlotRequestError, slot_request
from radicale_tracks.core.slots import SlotQueryError, SlotResult
from radicale_tracks.core.timezones import iana_zone
from radicale_tracks.core.weekly_hours import WeeklyHours
from radicale_tracks.db.user_settings import (
    WEB_ZONE,
    forget_user_value,
    set_user_value,
    user_value,
)
from radicale_tracks.outbox.store import enqueue
from radicale_tracks.plugin.availability import (
    OwnHours,
    own_hours,
    own_hours_calendar,
    store_availability,
    user_zone,
)
from radicale_tracks.plugin.slot_search import OwnTime, search_slots
from radicale_tracks.plugin.track_calendars import item_from_text
from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms
from radicale_tracks.tracks import store as track_store
from radicale_tracks.web.track_views import NotAllowed, TrackViews

if TYPE_CHECKING:
    from radicale import rights as radicale_rights

    from radicale_tracks.plugin.storage import Storage
    from radicale_tracks.plugin.write_request import JoinedWork

logger = logging.getLogger("radicale.tracks.web")

#: how many days of slots one page shows
SLOT_DAYS = 7



class SlotTaken(Exception):
    """The chosen time is no longer possible; ``fresh`` holds the slots that are."""

    def __init__(self, message: str, fresh: SlotList) -> None:
        super().__init__(message)
        self.fresh = fresh


@dataclass(frozen=True)
class Directory:
    users: tuple[str, ...]
    rooms: tuple[tuple[str, str], ...]          # (address, name)
    pools: tuple[tuple[str, tuple[str, ...]], ...]   # (name, room names)


@dataclass(frozen=True)
class SlotList:
    result: SlotResult
    zone: str
    names: dict[str, str]
    start: datetime.datetime
    end: datetime.datetime
    #: address → busy time counted without being worked out (``SlotSearch.estimates``)
    estimates: dict[str, list[Estimate]] = field(default_factory=dict)


@dataclass(frozen=True)
class RoomChoice:
    """A room of a slot: asked for by name (``pool`` None) or the one a pool gave
    (``address`` None when none of the pool is free)."""

    pool: str | None
    address: str | None
    name: str
    status: str


@dataclass(frozen=True)
class Booked:
    uid: str
    holder: str
    calendar_path: str
    href: str
    start: int
    end: int
    answers: dict[str, str]          # attendee address → PARTSTAT now stored
    rooms: dict[str, str]            # room address → name
    track: str | None                # slug of the track the meeting went to
    confirmation_sent: bool
    customer_on_event: bool
    #: the booking's id (its page ``/.web/bookings/<id>``, its API)
    booking_id: int | None = None
    #: True when scheduling failed: the event is stored, but nobody was invited by
    #: iTIP (the failure is on Meetings under Problems for the admin)
    scheduling_failed: bool = False


@dataclass
class Services(TrackViews):
    """What the pages and the API do, bound to one server's storage and rights."""

    storage: Storage
    rights: radicale_rights.BaseRights | None = None
    clock: Any = field(default=lambda: datetime.datetime.now(datetime.UTC))

    # -- who and what ---------------------------------------------------------------

    def zone_of(self, user: str) -> str:
        """The zone the user's pages show times in: the one they chose (or their browser
        told on the first visit), else their calendars' ``calendar-timezone``, else
        ``default_time_zone``."""
        remembered = self.remembered_zone(user)
        if remembered is not None:
            return remembered
        with self.storage.acquire_lock("r", user):
            return user_zone(self.storage, user)

    def remembered_zone(self, user: str) -> str | None:
        """The zone the user chose on the pages; None when they never did (or it is no
        zone any more, after a tzdata update renamed it)."""
        with self.storage.database.connect() as connection:
            value = user_value(connection, user, WEB_ZONE)
        return iana_zone(value) if value else None

    def remember_zone(self, user: str, zone: str | None) -> None:
        """Keep ``zone`` (an IANA name, checked by the caller) as the user's; None
        forgets it, so the calendars' zone applies again."""
        with self.storage.database.begin() as connection:
            if zone is None:
                forget_user_value(connection, user, WEB_ZONE)
            else:
                set_user_value(connection, user, WEB_ZONE, zone,
                               int(self.clock().timestamp()))

    def directory(self) -> Directory:
        """People to book (users who logged in at least once, or are listed), rooms, pools."""
        storage = self.storage
        with storage.database.connect() as connection:
            rooms = RoomDirectory.load(connection, configured_rooms(storage.settings))
        room_principals = {r.principal for r in rooms.rooms}
        names: set[str] = set(storage.principals())
        names.update(u for u, _ in storage.settings.addresses)
        users = sorted(n for n in names if pathutils.is_safe_filesystem_path_component(n)
                       and not n.startswith(".") and n not in room_principals
                       and n != storage.settings.assistant_principal)
        return Directory(
            users=tuple(users),
            rooms=tuple(sorted((r.address, r.name or r.address) for r in rooms.rooms)),
            pools=tuple(sorted((name, tuple(r.name or r.address for r in members))
                               for name, members in rooms.pools().items())))

    def check_details(self, details: MeetingDetails) -> None:
        """Every member, room and pool exists (each error names the field)."""
        found = self.directory()
        for member in details.members:
            if member not in found.users:
                raise BookingError("members", "%r is not a user of this server" % member)
        addresses = {a for a, _ in found.rooms}
        for room in details.rooms:
            if room not in addresses:
                raise BookingError("rooms", "%r is not a room (see 'radicale-tracks rooms "
                                   "list')" % room)
        pools = {name for name, _ in found.pools}
        for pool in details.pools:
            if pool not in pools:
                raise BookingError("pools", "%r is not a room pool" % pool)

    # -- slots ----------------------------------------------------------------------

    def slots(self, agent: str, details: MeetingDetails, zone: str, *,
              day: datetime.date | None = None, show_conflicts: bool = False,
              max_results: int = 200) -> SlotList:
        """Slots for the meeting over ``SLOT_DAYS`` days from ``day`` (today by default),
        in ``zone``; with conflicts, unfit slots too, with who is busy when."""
        now = self.clock()
        first = day or now.astimezone(_zone(zone)).date()
        with self.storage.acquire_lock("r", agent):
            return self._search(agent, details, zone, {
                "start": first.isoformat(),
                "end": (first + datetime.timedelta(days=SLOT_DAYS)).isoformat(),
                "show_conflicts": show_conflicts, "max_results": max_results}, now)

    def slot_rooms(self, agent: str, details: MeetingDetails, zone: str, start: int
                   ) -> tuple[RoomChoice, ...] | None:
        """The rooms the slot finder gives the meeting at ``start`` now — the room each
        pool would get — for the Confirm step to name; None when the time is no longer
        offered. Nothing is held: the booking asks again under the write lock."""
        now = self.clock()
        begin = datetime.datetime.fromtimestamp(start, datetime.UTC)
        end = begin + datetime.timedelta(seconds=details.duration)
        with self.storage.acquire_lock("r", agent):
            found = self._search(agent, details, zone, {
                "start": begin.isoformat(), "end": end.isoformat(), "grid": 5,
                "show_conflicts": True, "max_results": 1}, now)
        slot = next((s for s in found.result.slots if s.start == start), None)
        if slot is None:
            return None
        return tuple(RoomChoice(pool=room.pool, address=room.address, status=room.status,
                                name=found.names.get(room.address or "") or room.address
                                or "") for room in slot.rooms)

    def find(self, agent: str, question: Mapping[str, Any]) -> SlotList:
        """The agent's question as ``core/slot_request.py`` reads it (attendees by address,
        here or elsewhere, optional ones, rooms, pools, window, grid, buffers, notice):
        the same question as ``radicale-tracks slots``, zone by default the agent's."""
        now = self.clock()
        with self.storage.acquire_lock("r", agent):
            request = slot_request(question, now, user_zone(self.storage, agent))
            return self._found(agent, request, request.zone, now)

    def _search(self, agent: str, details: MeetingDetails, zone: str,
                extra: dict[str, Any], now: datetime.datetime,
                ignore: OwnTime | None = None) -> SlotList:
        """The slot finder for the meeting; call under the storage's lock. ``ignore``:
        the meeting itself, when it is being moved."""
        return self._found(agent, self._slot_request(agent, details, zone, extra, now), zone,
                           now, ignore)

    def _found(self, agent: str, request: SlotRequest, zone: str, now: datetime.datetime,
               ignore: OwnTime | None = None) -> SlotList:
        """Run ``request`` for ``agent``, shown in ``zone``; call under the storage's lock."""
        max_occurrence = int(self.storage.configuration.get("reporting",
                                                            "max_freebusy_occurrence"))
        found = search_slots(self.storage, agent, request, now, max_occurrence, ignore)
        logger.info("Slots for %s: %d candidates, %d returned", agent,
                    found.result.candidates, len(found.result.slots))
        return SlotList(found.result, zone, found.names, request.start, request.end,
                        found.estimates)

    def _slot_request(self, agent: str, details: MeetingDetails, zone: str,
                      extra: dict[str, Any], now: datetime.datetime) -> SlotRequest:
        attendees = [self.address_of(m) for m in details.members if m != agent]
        data = dict(attendees=attendees, rooms=list(details.rooms), pools=list(details.pools),
                    duration=details.duration // 60, zone=zone,
                    include_organizer=agent in details.members, **extra)
        try:
            return slot_request(data, now, zone)
        except SlotRequestError as e:
            raise BookingError("slots", str(e)) from None

    # -- booking ----------------------------------------------------------------------

    def book(self, agent: str, groups: set[str], booking: Booking) -> Booked:
        """Book ``booking`` for ``agent``: check the slot again and write the event, both
        under the storage's write lock."""
        storage = self.storage
        details = booking.details
        self.check_details(details)
        holder = booking.holder_for(agent)
        if not self.may_hold(agent, groups, holder):
            raise BookingError("notifications.holder", (
                "you may not add events to %s's calendar: choose yourself, or ask the "
                "admin to list you in web_booking_agents" % holder))
        now = self.clock()
        with storage.acquire_lock("w", agent):
            track = self._chosen_track(agent, booking.track)
            rooms = self._recheck(agent, booking, now)
            calendar_path = storage.scheduling_calendars.default_calendar(holder)
            if not self.may_write(agent, groups, holder, calendar_path):
                # the holder chose another default calendar since the check above
                raise BookingError("notifications.holder", (
                    "you may not add events to %s's calendar %s" % (holder, calendar_path)))
            collection = storage.scheduling_calendars.collection(calendar_path)
            uid = "%s@%s" % (secrets.token_hex(12), storage.settings.domain)
            parties = self._parties(agent, holder, details, rooms, assistant=(
                storage.book.track_address(track.token) if track is not None
                else storage.book.assistant))
            calendar = booking_calendar(booking, parties, uid=uid, now=now)
            href = storage.scheduling_calendars.new_href(uid)
            text = calendar.to_ical().decode("utf-8")
            confirmation = (booking.notifications.send_confirmation
                            and not booking.notifications.add_to_event)
            tracked: list[str | None] = []
            booking_id: list[int] = []

            def add_booking_row(connection: Any) -> None:
                """The booking's row, before the event is scheduled: the write's mails
                to the customer and its reminders are the booking's."""
                booking_id[:] = [add_booking(
                    connection, uid=uid, agent=agent, holder=holder,
                    calendar_path=calendar_path, href=href,
                    customer_name=booking.customer.name,
                    customer_address=booking.customer.address,
                    customer_zone=booking.notifications.customer_zone,
                    agent_zone=booking.zone, subject=details.subject,
                    details=details_record(details), start=booking.start, end=booking.end,
                    customer_on_event=booking.notifications.add_to_event,
                    customer_mailed=booking.notifications.send_confirmation,
                    customer_sees_attendees=booking.notifications.customer_sees_attendees,
                    now=int(now.timestamp()))]

            def record_booking(connection: Any) -> None:
                """The confirmation and the activity line, in the event's transaction
                (a crash between two transactions would keep the event, lose the mail)."""
                meeting = track_store.meeting_by_uid(connection, uid)
                slug = None
                if meeting is not None:
                    found = track_store.track_by_id(connection, meeting.track_id)
                    slug = found.slug if found else None
                tracked[:] = [slug]
                row = booking_by_uid(connection, uid)
                if confirmation and row is not None:
                    enqueue(connection, [storage.scheduling.bookings.confirmation_mail(
                        connection, row, calendar)], int(now.timestamp()))
                track_store.record_activity(
                    connection, at=int(now.timestamp()), kind="booked",
                    track_id=meeting.track_id if meeting else None, uid=uid,
                    actor=self.address_of(agent), summary="%s booked %s for %s (%s)" % (
                        agent, details.subject, booking.customer.name,
                        booking.customer.address),
                    detail="held by %s; rooms: %s; customer %s, %s" % (
                        holder, ", ".join(rooms.values()) or "none",
                        "on the event" if booking.notifications.add_to_event
                        else "not on the event",
                        "mailed" if booking.notifications.send_confirmation
                        else "not mailed"))

            scheduled = scheduled_upload(storage, collection, href, calendar, uid,
                                         first=add_booking_row, after=record_booking)
            stored = collection.item(href)
            answers = _answers(stored.serialize() if stored is not None else text)
            slug = tracked[0] if tracked else None
        logger.info("%s booked %s in %s for %s", agent, uid, calendar_path,
                    booking.customer.address)
        return Booked(uid=uid, holder=holder, calendar_path=calendar_path, href=href,
                      start=booking.start, end=booking.end, answers=answers, rooms=rooms,
                      track=slug, confirmation_sent=booking.notifications.send_confirmation,
                      customer_on_event=booking.notifications.add_to_event,
                      booking_id=booking_id[0] if booking_id else None,
                      scheduling_failed=not scheduled)

    def _parties(self, agent: str, holder: str, details: MeetingDetails,
                 rooms: Mapping[str, str], assistant: str) -> EventParties:
        """Who is on the holder's event: the holder organizes (``SENT-BY`` the agent
        when someone else booked), the other members and the rooms attend."""
        name = self.storage.settings.display_name
        return EventParties(
            organizer=Person(self.address_of(holder), name(holder)),
            sent_by=self.address_of(agent) if agent != holder else None,
            members=tuple(Person(self.address_of(m), name(m)) for m in details.members
                          if m != holder),
            rooms=tuple(Person(a, n) for a, n in rooms.items()), assistant=assistant)

    def customer_preview(self, agent: str, booking: Booking,
                         rooms: Mapping[str, str]) -> tuple[str, str] | None:
        """(subject, text) of the mail the customer would get if ``booking`` were made
        now with ``rooms`` (address → name); None when no mail would go to them."""
        from radicale_tracks.bookings.store import BookingRow

        notes = booking.notifications
        if not notes.send_confirmation:
            return None
        storage = self.storage
        holder = booking.holder_for(agent)
        details = booking.details
        parties = self._parties(agent, holder, details, rooms,
                                assistant=storage.book.assistant)
        now = self.clock()
        calendar = booking_calendar(booking, parties, uid="preview", now=now)
        row = BookingRow(
            id=0, uid="preview", agent=agent, holder=holder, calendar_path="", href="",
            customer_name=booking.customer.name, customer_address=booking.customer.address,
            customer_zone=notes.customer_zone, agent_zone=booking.zone,
            subject=details.subject, details=details_record(details), start=booking.start,
            end=booking.end, state="confirmed", changed_by=None,
            customer_on_event=notes.add_to_event, customer_mailed=True,
            customer_sees_attendees=notes.customer_sees_attendees, link_version=1,
            pending_actor=None, pending_note=None, reminders_until=0,
            created_at=int(now.timestamp()), updated_at=int(now.timestamp()))
        return storage.scheduling.bookings.preview(row, calendar)

    def may_hold(self, agent: str, groups: set[str], holder: str) -> bool:
        """Whether ``agent`` may put the event into ``holder``'s default calendar (when
        the holder has none yet, the booking makes it: the holder or an agent only)."""
        path = self.storage.scheduling_calendars.existing_default(holder)
        if path is None:
            return agent == holder or self._is_booking_agent(agent)
        return self.may_write(agent, groups, holder, path)

    def _is_booking_agent(self, agent: str) -> bool:
        agents = self.storage.settings.web_booking_agents
        return "*" in agents or agent in agents

    def may_write(self, agent: str, groups: set[str], holder: str, path: str) -> bool:
        """Whether ``agent`` may change the event of ``holder`` in the calendar ``path``
        (``alice/work``): the holder, ``web_booking_agents``, or write rights on that
        calendar — the one the change writes, not the default a new booking goes to."""
        if agent == holder or self._is_booking_agent(agent):
            return True
        if self.rights is None:
            return False
        return "w" in self.rights.authorization(agent, groups, "/%s/" % path.strip("/"))

    def _recheck(self, agent: str, booking: Booking, now: datetime.datetime,
                 ignore: OwnTime | None = None) -> dict[str, str]:
        """The slot, checked again (under the write lock): the rooms it gets (address →
        name), or ``SlotTaken`` with fresh slots when someone's time was taken meanwhile."""
        details = booking.details
        start = datetime.datetime.fromtimestamp(booking.start, datetime.UTC)
        end = start + datetime.timedelta(seconds=details.duration)
        found = self._search(agent, details, booking.zone, {
            "start": start.isoformat(), "end": end.isoformat(), "grid": 5,
            "show_conflicts": True, "max_results": 1}, now, ignore)
        slot = next((s for s in found.result.slots if s.start == booking.start), None)
        problems: list[str] = []
        if slot is None:
            problems.append("the time is no longer offered (it is past, or too soon)")
        else:
            for person in slot.participants:
                if person.status not in ("free", "unknown") and person.required and (
                        person.address not in booking.accepted_conflicts):
                    problems.append("%s is %s" % (person.address, _status_words(
                        person.status)))
            for room in slot.rooms:
                if room.address is None:
                    problems.append("no room of pool %s is free" % room.pool)
                elif room.status != "free" and room.address not in booking.accepted_conflicts:
                    problems.append("%s is booked" % found.names.get(room.address,
                                                                      room.address))
        if problems:
            day = start.astimezone(_zone(booking.zone)).date()
            fresh = self._search(agent, details, booking.zone, {
                "start": day.isoformat(),
                "end": (day + datetime.timedelta(days=SLOT_DAYS)).isoformat()}, now, ignore)
            raise SlotTaken("This time is no longer free: %s. Pick another time." % (
                "; ".join(problems)), fresh)
        assert slot is not None
        return {r.address: found.names.get(r.address) or r.address
                for r in slot.rooms if r.address}

    def _chosen_track(self, agent: str, slug: str | None) -> track_store.Track | None:
        if slug is None:
            return None
        track = self.track(agent, slug)
        if not track.track.is_open:
            raise BookingError("track", "the track %r is closed" % track.track.title)
        return track.track

    # -- working hours ----------------------------------------------------------------

    def working_hours(self, user: str) -> OwnHours:
        """The user's own working hours, or the server's default they get."""
        with self.storage.acquire_lock("r", user):
            return own_hours(self.storage, user, self.clock())

    def set_working_hours(self, user: str, week: WeeklyHours) -> None:
        """Store ``week`` as the command line does (``availability set``)."""
        store_availability(self.storage, user, own_hours_calendar(user, week, self.clock()))

    def clear_working_hours(self, user: str) -> None:
        """Back to the server's default hours, as ``availability clear``."""
        store_availability(self.storage, user, None)


def scheduled_upload(storage: Storage, collection: Any, href: str, calendar: Any,
                     uid: str, *, first: JoinedWork, after: JoinedWork) -> bool:
    """Store the holder's event as its organizer's write (``Collection.upload``, the
    path of a CalDAV PUT), ``first`` run in that write's transaction before it is
    scheduled and ``after`` once it is. When no scheduling transaction took them
    (scheduling failed: the event is stored as sent), they run in one of their own and
    the booking follows the stored event there — its reminders planned, who and why
    cleared — as the scheduling write would have done. Call under the write lock.
    Returns whether it was scheduled (everyone on it invited, told or cancelled); True
    too when ``[storage] scheduling = False`` (nothing was to be scheduled)."""
    from icalendar import Calendar

    storage.scheduling.join_next_write_first(first)
    storage.scheduling.join_next_write(after)
    text = calendar.to_ical().decode("utf-8")
    try:
        collection.upload(href, item_from_text(collection.path, text))
    finally:
        left = storage.scheduling.take_joined()
    if left is not None:
        with storage.database.begin() as connection:
            left(connection)
            row = booking_by_uid(connection, uid)
            if row is not None:
                storage.scheduling.bookings.follow(connection, row,
                                                   Calendar.from_ical(text))
    if storage.sender_thread is not None:
        storage.sender_thread.wake()
    return left is None or not storage.settings.scheduling


def _zone(name: str) -> datetime.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _answers(text: str) -> dict[str, str]:
    from icalendar import Calendar

    master = master_of(Calendar.from_ical(text))
    if master is None:
        return {}
    return {normalize_address(a): partstat_of(p) for a, p in attendees_of(master).items()}


def _status_words(status: str) -> str:
    return {"busy": "busy", "tentative": "tentatively busy",
            "unavailable": "outside working hours"}.get(status, status)


__all__ = ["Services", "Booked", "Directory", "RoomChoice", "SlotList", "SlotTaken",
           "NotAllowed", "BookingError", "SlotQueryError"]
