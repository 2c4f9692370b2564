"""Reads and writes of ``tracks_booking``, always on a connection the caller provides:
the web writes a booking in the transaction of the event's write, and the scheduling
write that changes the event updates its booking in its own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from radicale_tracks.bookings.schema import bookings

#: the states Meetings shows
STATES = ("confirmed", "rescheduled", "cancelled", "awaiting-room")


@dataclass(frozen=True)
class BookingRow:
    id: int
    uid: str
    agent: str
    holder: str
    calendar_path: str
    href: str
    customer_name: str
    customer_address: str
    customer_zone: str
    agent_zone: str
    subject: str
    details: dict[str, Any]
    start: int
    end: int
    state: str
    changed_by: str | None
    customer_on_event: bool
    customer_mailed: bool
    customer_sees_attendees: bool
    link_version: int
    pending_actor: str | None
    pending_note: str | None
    reminders_until: int
    created_at: int
    updated_at: int

    @property
    def is_cancelled(self) -> bool:
        return self.state == "cancelled"


def _row(found: Any) -> BookingRow:
    values = dict(found._mapping)
    values["details"] = json.loads(values["details"] or "{}")
    return BookingRow(**values)


def add_booking(connection: Connection, *, uid: str, agent: str, holder: str,
                calendar_path: str, href: str, customer_name: str, customer_address: str,
                customer_zone: str, agent_zone: str, subject: str, details: dict[str, Any],
                start: int, end: int, customer_on_event: bool, customer_mailed: bool,
                customer_sees_attendees: bool, now: int) -> int:
    """A new booking, confirmed; its id."""
    result = connection.execute(insert(bookings).values(
        uid=uid, agent=agent, holder=holder, calendar_path=calendar_path, href=href,
        customer_name=customer_name, customer_address=customer_address,
        customer_zone=customer_zone, agent_zone=agent_zone, subject=subject,
        details=json.dumps(details, sort_keys=True), start=start, end=end,
        state="confirmed", changed_by=None, customer_on_event=customer_on_event,
        customer_mailed=customer_mailed, customer_sees_attendees=customer_sees_attendees,
        link_version=1, pending_actor=None, pending_note=None, reminders_until=0,
        created_at=now, updated_at=now))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def booking_by_uid(connection: Connection, uid: str) -> BookingRow | None:
    found = connection.execute(select(bookings).where(bookings.c.uid == uid)).first()
    return _row(found) if found is not None else None


def booking_by_id(connection: Connection, booking_id: int) -> BookingRow | None:
    found = connection.execute(select(bookings).where(bookings.c.id == booking_id)).first()
    return _row(found) if found is not None else None


def bookings_of(connection: Connection, users: Sequence[str], *, upcoming: bool | None,
                now: int, text: str = "", limit: int = 100) -> list[BookingRow]:
    """Bookings made by or held by ``users``: upcoming (soonest first) or past (latest
    first), or all of them (newest first) for ``upcoming=None``."""
    query = select(bookings).where(or_(bookings.c.agent.in_(users),
                                       bookings.c.holder.in_(users)))
    if text:
        like = "%%%s%%" % text.replace("%", "").replace("_", "").lower()
        query = query.where(or_(bookings.c.subject.ilike(like),
                                bookings.c.customer_name.ilike(like),
                                bookings.c.customer_address.ilike(like)))
    if upcoming is True:
        query = query.where(bookings.c.end >= now).order_by(bookings.c.start)
    elif upcoming is False:
        query = query.where(bookings.c.end < now).order_by(bookings.c.start.desc())
    else:
        query = query.order_by(bookings.c.id.desc())
    return [_row(r) for r in connection.execute(query.limit(limit))]


def bookings_with_member(connection: Connection, user: str, limit: int = 100
                         ) -> list[BookingRow]:
    """Bookings whose team lists ``user`` (their details' members)."""
    # the details are JSON text: a LIKE narrows ("_" only widens), the list decides
    like = '%%"%s"%%' % user.replace("%", "")
    found = [_row(r) for r in connection.execute(
        select(bookings).where(bookings.c.details.like(like)).limit(limit))]
    return [row for row in found if user in row.details.get("members", [])]


def update_booking(connection: Connection, booking_id: int, **values: Any) -> None:
    if "details" in values:
        values["details"] = json.dumps(values["details"], sort_keys=True)
    connection.execute(update(bookings).where(bookings.c.id == booking_id).values(**values))


def set_pending(connection: Connection, booking_id: int, actor: str, note: str | None
                ) -> None:
    """Who makes the next change and their message: read by the scheduling write in
    the same transaction (its mails name them), cleared when it followed the change."""
    update_booking(connection, booking_id, pending_actor=actor, pending_note=note)


def revoke_links(connection: Connection, booking_id: int, now: int) -> int:
    """Every customer link given out so far stops working; the new version."""
    row = booking_by_id(connection, booking_id)
    assert row is not None
    version = row.link_version + 1
    update_booking(connection, booking_id, link_version=version, updated_at=now)
    return version


def series_to_top_up(connection: Connection, until: int, limit: int = 100
                     ) -> list[BookingRow]:
    """Series (``reminders_until`` set: a single meeting has 0) whose reminders are
    planned only up to before ``until``, the most urgent first."""
    query = select(bookings).where(bookings.c.state != "cancelled",
                                   bookings.c.reminders_until > 0,
                                   bookings.c.reminders_until < until
                                   ).order_by(bookings.c.reminders_until).limit(limit)
    return [_row(r) for r in connection.execute(query)]
