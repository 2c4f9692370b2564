"""Bookings seen and changed from the web: by the agent (or anyone of the team) on
Meetings, and by the customer on the page their signed link opens.

A move or a cancellation is a write of the holder's event (``bookings/changes.py``),
stored through ``Collection.upload`` as a CalDAV PUT is, so everyone gets the update or
CANCEL by iTIP, rooms answer again, the track follows, and the booking's row, customer
mail and reminders follow in that write's transaction (``bookings/follower.py``). The
new time is checked again under the storage's write lock, as a booking is: two people
moving into one slot are served one after the other. Who changed it and their message
are set on the row in the same transaction, before the write is scheduled.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from icalendar import Calendar

from radicale_tracks.bookings import store as booking_store
from radicale_tracks.bookings.changes import ChangeRefused, cancelled_event, moved_event
from radicale_tracks.bookings.links import (
    VALID_AFTER_END,
    LinkRefused,
    expired,
    link_secret,
    read_token,
)
from radicale_tracks.bookings.store import BookingRow
from radicale_tracks.bookings.words import customer_context, when_words
from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.customer_booking import (
    Booking,
    BookingError,
    Customer,
    Notifications,
    read_details,
)
from radicale_tracks.core.itip import attendees_of, master_of, partstat_of
from radicale_tracks.plugin.slot_search import OwnTime
from radicale_tracks.rooms.directory import RoomDirectory, configured_rooms
from radicale_tracks.tracks import store as track_store
from radicale_tracks.web.services import (
    SLOT_DAYS,
    NotAllowed,
    Services,
    SlotList,
    scheduled_upload,
)

if TYPE_CHECKING:
    from radicale_tracks.plugin.storage import Storage

logger = logging.getLogger("radicale.tracks.web")

#: how long a note to the customer may be
MAX_NOTE = 2000
#: how far ahead a series' next occurrence is looked for (is it over?)
SERIES_LOOKAHEAD = 5 * 366 * 86400
#: most occurrences walked for it (the walk counts those before the window too)
SERIES_WALK = 1000


@dataclass(frozen=True)
class BookingView:
    """A booking as a page shows it: the row, and what the event says now."""

    row: BookingRow
    facts: dict[str, Any]        # what, when, where, join_url, with_whom, host
    team: list[str]
    rooms: list[str]
    is_past: bool
    #: whether the one looking may move or cancel it (a team member on the meeting sees it
    #: but changes the holder's calendar only with the holder's say: see ``for_user``)
    may_change: bool = True
    #: after a move or cancel: True when scheduling failed — the holder's event changed,
    #: nobody on it was told by iTIP (the failure is on Meetings under Problems)
    scheduling_failed: bool = False

    @property
    def can_change(self) -> bool:
        return not self.row.is_cancelled and not self.is_past


class BookingChanges:
    """What the web does with bookings; bound to the pages' :class:`Services`."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def storage(self) -> Storage:
        return self.services.storage

    def now(self) -> datetime.datetime:
        moment: datetime.datetime = self.services.clock()
        return moment

    # -- who may see what ---------------------------------------------------------------

    def for_user(self, user: str, groups: set[str], booking_id: int) -> BookingView:
        """The booking, for the agent who made it, its holder or a team member. Changing
        it writes the holder's calendar, so a team member may only look unless they may
        write the calendar it is in (``Services.may_write``: the holder,
        ``web_booking_agents`` or write rights on that calendar); the agent who booked it
        keeps the say."""
        with self.storage.database.connect() as connection:
            row = booking_store.booking_by_id(connection, booking_id)
        if row is None or not self._is_team(user, row):
            raise NotAllowed("no such booking")
        may_change = user == row.agent or self.services.may_write(
            user, groups, row.holder, row.calendar_path)
        return replace(self._view(row), may_change=may_change)

    def for_link(self, token: str) -> BookingView:
        """The booking a customer's link opens (``LinkRefused`` with words for them)."""
        now = int(self.now().timestamp())
        with self.storage.database.begin() as connection:
            claim = read_token(link_secret(connection), token)
            row = booking_store.booking_by_id(connection, claim.booking_id)
        if row is None:
            raise LinkRefused("This booking does not exist any more.")
        if claim.version != row.link_version:
            raise LinkRefused("This link was replaced by a newer one. Open the link "
                              "from your most recent e-mail about the meeting.")
        calendar = self._event(row)
        if expired(claim, self._last_end(row, calendar, now - VALID_AFTER_END), now):
            raise LinkRefused("This link has expired: the meeting is over.")
        return self._view(row, calendar)

    def _is_team(self, user: str, row: BookingRow) -> bool:
        return user in (row.agent, row.holder) or user in row.details.get("members", [])

    def _last_end(self, row: BookingRow, calendar: Calendar | None, since: int) -> int:
        """When the meeting ends, for whether it is over: a single meeting's end; for a
        series (the holder made it repeat) the end of an occurrence ending after
        ``since``, when there is one (one looked for, bounded like every expansion)."""
        master = master_of(calendar) if calendar is not None else None
        if calendar is None or master is None or (
                "RRULE" not in master and "RDATE" not in master):
            return row.end
        spans, complete = self.storage.scheduling_calendars.occurrences(
            calendar.to_ical().decode("utf-8"), since, since + SERIES_LOOKAHEAD,
            SERIES_WALK)
        # the expansion yields a moved occurrence (an override) first, wherever it is
        # now, even long past: only those still ending after ``since`` answer
        later = [end for _start, end in spans if end > since]
        if not later and not complete:
            # the walk stopped at its cap before reaching ``since`` (a long series):
            # not known to be over, so it is not
            return since + SERIES_LOOKAHEAD
        return max(row.end, min(later, default=row.end))

    def _view(self, row: BookingRow, calendar: Calendar | None = None) -> BookingView:
        calendar = calendar if calendar is not None else self._event(row)
        now = int(self.now().timestamp())
        if calendar is None:
            facts = {"what": row.subject, "when": when_words(
                row.start, row.end, row.customer_zone, row.agent_zone), "where": "",
                "join_url": "", "with_whom": [], "host": row.holder}
            team: list[str] = []
            rooms: list[str] = []
        else:
            from radicale_tracks.bookings.words import people_of

            facts = customer_context(calendar, row, link="",
                                     is_assistant_side=self.storage.book.is_assistant_side)
            team, rooms = people_of(calendar, row, self.storage.book.is_assistant_side)
        return BookingView(row=row, facts=facts, team=team, rooms=rooms,
                           is_past=self._last_end(row, calendar, now) <= now)

    def _event(self, row: BookingRow) -> Calendar | None:
        with self.storage.acquire_lock("r", row.holder):
            return self._stored_event(row)

    def _stored_event(self, row: BookingRow) -> Calendar | None:
        """The holder's event as stored; call under the storage's lock."""
        collection = self.storage.calendar("/%s/" % row.calendar_path.strip("/"))
        item = collection.item(row.href) if collection is not None else None
        return Calendar.from_ical(item.serialize()) if item is not None else None

    # -- slots ----------------------------------------------------------------------------

    def slots(self, view: BookingView, zone: str, day: datetime.date | None = None,
              show_conflicts: bool = False) -> SlotList:
        """Times the team offers for the booking, the booking itself not in the way."""
        row = view.row
        details = read_details(row.details)
        now = self.now()
        first = day or now.astimezone(_zone(zone)).date()
        with self.storage.acquire_lock("r", row.holder):
            found = self.services._search(row.holder, details, zone, {
                "start": first.isoformat(),
                "end": (first + datetime.timedelta(days=SLOT_DAYS)).isoformat(),
                "show_conflicts": show_conflicts, "max_results": 200}, now,
                ignore=_own_time(row, self._stored_event(row)))
        # the meeting's own time is no other time to move to
        others = tuple(s for s in found.result.slots if s.start != row.start)
        return replace(found, result=replace(found.result, slots=others))

    # -- changes --------------------------------------------------------------------------

    def reschedule(self, view: BookingView, start: int, *, actor: str, by: str,
                   note: str = "", accepted_conflicts: frozenset[str] = frozenset()
                   ) -> BookingView:
        """Move the booking to ``start`` (checked again under the write lock; raises
        ``SlotTaken`` with fresh slots when the time is taken). ``actor``: agent or
        customer; ``by``: who, for the activity line."""
        note = _note(note)
        may_change(view)
        if not view.can_change:
            raise BookingError("start", "this meeting is cancelled or over: it cannot be "
                                        "moved")
        storage = self.storage
        row = view.row
        details = read_details(row.details)
        now = self.now()
        booking = Booking(
            customer=Customer(row.customer_name, row.customer_address), details=details,
            start=start, zone=row.agent_zone,
            notifications=Notifications(customer_zone=row.customer_zone, holder=row.holder),
            accepted_conflicts=accepted_conflicts)
        with storage.acquire_lock("w", row.holder):
            with storage.database.connect() as connection:
                current = booking_store.booking_by_id(connection, row.id)
            if current is None or current.is_cancelled:
                raise BookingError("start", "this meeting was cancelled meanwhile")
            if start == current.start:
                raise BookingError("start", "the meeting is at that time already: "
                                            "choose another time")
            calendar = self._stored_event(current)
            rooms = self.services._recheck(row.holder, booking, now,
                                           ignore=_own_time(current, calendar))
            if calendar is None:
                raise BookingError("start", "the meeting is no longer in %s's calendar"
                                   % row.holder)
            try:
                moved = moved_event(calendar, start, start + details.duration, rooms,
                                    self._replaceable_rooms(details), now)
            except ChangeRefused as e:
                raise BookingError("start", str(e)) from None
            summary = "%s moved %s with %s to %s" % (
                by, current.subject, current.customer_name, when_words(
                    start, start + details.duration, current.agent_zone,
                    current.agent_zone))
            sent = self._write(current, moved, actor, note, "rescheduled", summary, by)
        return replace(self._fresh(row.id), scheduling_failed=not sent)

    def cancel(self, view: BookingView, *, actor: str, by: str, note: str = ""
               ) -> BookingView:
        """Cancel the booking: CANCEL to everyone, the event kept marked cancelled."""
        note = _note(note)
        may_change(view)
        if view.row.is_cancelled:
            return view
        if view.is_past:
            raise BookingError("note", "this meeting is over: it cannot be cancelled")
        storage = self.storage
        with storage.acquire_lock("w", view.row.holder):
            with storage.database.connect() as connection:
                current = booking_store.booking_by_id(connection, view.row.id)
            if current is None or current.is_cancelled:
                return view
            calendar = self._stored_event(current)
            if calendar is None:
                raise BookingError("note", "the meeting is no longer in %s's calendar"
                                   % current.holder)
            summary = "%s cancelled %s with %s" % (by, current.subject,
                                                   current.customer_name)
            sent = self._write(current, cancelled_event(calendar, self.now()), actor, note,
                               "cancelled", summary, by)
        return replace(self._fresh(view.row.id), scheduling_failed=not sent)

    def revoke_link(self, view: BookingView) -> None:
        """Every link the customer was given stops; their next mail has a new one."""
        may_change(view)
        with self.storage.database.begin() as connection:
            booking_store.revoke_links(connection, view.row.id,
                                       int(self.now().timestamp()))

    def _fresh(self, booking_id: int) -> BookingView:
        with self.storage.database.connect() as connection:
            row = booking_store.booking_by_id(connection, booking_id)
        assert row is not None
        return self._view(row)

    def _replaceable_rooms(self, details: Any) -> set[str]:
        """The rooms a new time may change: those asked for and those of the pools."""
        with self.storage.database.connect() as connection:
            directory = RoomDirectory.load(connection, configured_rooms(
                self.storage.settings))
        found = set(details.rooms)
        for name in details.pools:
            found.update(room.address for room in directory.pool(name))
        return found

    def _write(self, row: BookingRow, calendar: Calendar, actor: str, note: str,
               kind: str, summary: str, by: str) -> bool:
        """Store the holder's event as its organizer's write, with who and why on the
        booking for that write to read; the activity line in the same transaction.
        Returns whether it was scheduled (see ``scheduled_upload``)."""
        storage = self.storage
        now = int(self.now().timestamp())

        def before(connection: Any) -> None:
            booking_store.set_pending(connection, row.id, actor, note or None)

        def after(connection: Any) -> None:
            meeting = track_store.meeting_by_uid(connection, row.uid)
            track_store.record_activity(
                connection, at=now, kind=kind, uid=row.uid,
                track_id=meeting.track_id if meeting is not None else None, actor=by,
                summary=summary + (" (by the customer)" if actor == "customer" else ""),
                detail=("message: %s" % note) if note else None)

        collection = storage.scheduling_calendars.collection(row.calendar_path)
        sent = scheduled_upload(storage, collection, row.href, calendar, row.uid,
                                first=before, after=after)
        logger.info("%s: %s%s", kind, summary, "" if sent else " (not scheduled)")
        return sent


def may_change(view: BookingView) -> None:
    """Refuse (``NotAllowed``, answered 403) one who may only look at the booking."""
    if not view.may_change:
        raise NotAllowed("only %s, who booked it, or someone who may write to %s's "
                         "calendar can change this meeting" % (view.row.agent, view.row.holder))


def _own_time(row: BookingRow, calendar: Calendar | None) -> OwnTime:
    """The booking as the slot finder leaves it out of its own way: its span, for
    those on it — its organizer, the attendees who did not decline, its rooms."""
    master = master_of(calendar) if calendar is not None else None
    on_it: set[str] = set()
    if master is not None:
        organizer = master.get("ORGANIZER")
        if organizer is not None:
            on_it.add(normalize_address(str(organizer)))
        on_it.update(address for address, prop in attendees_of(master).items()
                     if partstat_of(prop) != "DECLINED")
    return OwnTime(((row.start, row.end),), frozenset(on_it))


def _note(text: str) -> str:
    text = (text or "").strip().replace("\r\n", "\n")
    if len(text) > MAX_NOTE:
        raise BookingError("note", "the message has at most %d characters" % MAX_NOTE)
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise BookingError("note", "the message contains control characters")
    return text


def _zone(name: str) -> datetime.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
