"""A booked meeting followed through every write of its event.

The scheduling engine asks :meth:`BookingFollower.booking_for` on each organizer write;
for a meeting booked for a customer it then

* renders the customer's mail for the iTIP message they get (confirmation, change,
  cancellation) in the booking's words (``words.py``) with their signed link, instead of
  the generic invitation — the same ``.ics`` goes along;
* after the write, updates the booking (time, state, who changed it) and plans its
  reminders again (``reminders.py``).

Whatever changed the event — the agent on the web, the customer on their link, the
holder in a calendar program — goes this one way, in the write's own transaction: the
booking, its mails and its reminders commit with the event or not at all. Who made the
change and their message are set on the row by the web in that same transaction
(``pending_actor``/``pending_note``) and cleared here once told.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.bookings import reminders as reminder_rows
from radicale_tracks.bookings import store
from radicale_tracks.bookings.changes import cancelled_event
from radicale_tracks.bookings.links import link_secret, link_url, make_token
from radicale_tracks.bookings.store import BookingRow
from radicale_tracks.bookings.words import (
    customer_context,
    first_span,
    span_words,
    when_words,
)
from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.customer_booking import customer_confirmation
from radicale_tracks.core.itip import ItipMessage, Method, attendees_of, master_of, partstat_of
from radicale_tracks.outbox.store import enqueue

if TYPE_CHECKING:
    from radicale_tracks.mail.compose import MailTemplates
    from radicale_tracks.outbox.mail import OutgoingMail

logger = logging.getLogger("radicale.tracks.bookings")

#: where a preview shows the customer's link (made only once the booking exists)
PREVIEW_LINK = "(their own link to change or cancel, made when you schedule)"


@dataclass(frozen=True)
class BookingConfig:
    base_url: str
    domain: str
    from_email: str
    #: seconds before each occurrence (``booking_reminders``)
    reminder_leads: tuple[int, ...] = (86400, 3600)
    #: "customer" and/or "team" (``booking_reminder_recipients``)
    reminder_recipients: tuple[str, ...] = ("customer", "team")
    #: (user, name) of ``display_names``: the agent as the customer reads them
    display_names: tuple[tuple[str, str], ...] = ()


class BookingFollower:
    """The engine's ``BookedMeetings`` port; stateless between writes."""

    def __init__(self, config: BookingConfig, templates: Callable[[], MailTemplates],
                 clock: Callable[[], datetime.datetime], tokens: Callable[[], str],
                 is_assistant_side: Callable[[str], bool],
                 user_of: Callable[[str], str | None],
                 occurrences: reminder_rows.Occurrences) -> None:
        self.config = config
        self.templates = templates
        self.clock = clock
        self.tokens = tokens
        self.is_assistant_side = is_assistant_side
        self.user_of = user_of
        self.occurrences = occurrences

    # -- the port ---------------------------------------------------------------------

    def booking_for(self, connection: Connection, uid: str, owner: str
                    ) -> BookingRow | None:
        """Only the holder's event is the booking's: a UID is no secret (every copy
        and every .ics carries it), so anyone else's object with it is their own."""
        found = store.booking_by_uid(connection, uid)
        return found if found is not None and found.holder == owner else None

    def customer_mail(self, connection: Connection, booking: Any, message: ItipMessage,
                      calendar: Calendar, old: Calendar | None) -> OutgoingMail:
        assert isinstance(booking, BookingRow)
        sent = message.calendar()
        shown = calendar if message.method is not Method.CANCEL else (old or sent)
        context = self.context(connection, booking, shown)
        if message.method is Method.CANCEL:
            kind = "booking_cancelled"
            context["join_url"] = ""    # nothing to join any more
        elif message.changes and old is not None:
            kind = "booking_changed"
            context["changes"] = self._changes(booking, old, shown, message)
        else:
            kind = "booking_invitation"
        return self._compose(kind, context, booking, shown, message.ics,
                             message.method.value)

    def follow(self, connection: Connection, booking: Any, stored: Calendar | None,
               old: Calendar | None = None, where: tuple[str, str] | None = None
               ) -> None:
        assert isinstance(booking, BookingRow)
        now = int(self.clock().timestamp())
        if stored is not None and where is not None and where != (
                booking.calendar_path, booking.href):
            # the holder's calendar program keeps it elsewhere now (another calendar of
            # theirs): the booking's pages and changes follow it there
            store.update_booking(connection, booking.id, calendar_path=where[0],
                                 href=where[1])
        master = master_of(stored) if stored is not None else None
        cancelled = master is None or str(master.get("STATUS", "")).upper() == "CANCELLED"
        if master is not None and booking.customer_on_event and (
                booking.customer_address not in attendees_of(master)):
            # the holder took the customer off: they got a CANCEL, so the booking —
            # the customer's meeting — is over (no reminders, no changes by link)
            cancelled = True
        values: dict[str, Any] = {"pending_actor": None, "pending_note": None,
                                  "updated_at": now}
        actor = booking.pending_actor or "organizer"
        reminder_rows.forget_reminders(connection, booking.uid)
        if cancelled or stored is None or master is None:
            if not booking.is_cancelled:
                values.update(state="cancelled", changed_by=actor)
                if stored is not None:
                    self._publish_again(connection, booking, stored, "booking_cancelled")
                elif old is not None:   # deleted: the meeting as it was, cancelled
                    self._publish_again(connection, booking, cancelled_event(
                        Calendar.from_ical(old.to_ical()), self.clock()),
                        "booking_cancelled")
            store.update_booking(connection, booking.id, **values)
            return
        span = first_span(stored) or (booking.start, booking.end)
        moved = span != (booking.start, booking.end)
        if moved:
            self._publish_again(connection, booking, stored, "booking_changed",
                                old_span=(booking.start, booking.end))
        state = booking.state if booking.state != "awaiting-room" else "confirmed"
        if moved:
            state = "rescheduled"
            values["changed_by"] = actor
        if _rooms_unanswered(stored, self.is_assistant_side):
            state = "awaiting-room"
        values.update(state=state, start=span[0], end=span[1],
                      subject=str(master.get("SUMMARY", booking.subject))[:200])
        values["reminders_until"] = self._plan(connection, booking, stored, now)
        store.update_booking(connection, booking.id, **values)

    def confirmation_mail(self, connection: Connection, booking: BookingRow,
                          calendar: Calendar) -> OutgoingMail:
        """The confirmation of a customer who is not on the event: the meeting as a
        PUBLISH without description or attendees (``customer_confirmation``)."""
        published = customer_confirmation(calendar)
        return self._compose("booking_confirmation", self.context(connection, booking,
                                                                  calendar),
                             booking, calendar, published.to_ical().decode("utf-8"),
                             "PUBLISH")

    def _publish_again(self, connection: Connection, booking: BookingRow,
                       calendar: Calendar, kind: str,
                       old_span: tuple[int, int] | None = None) -> None:
        """A customer not on the event, who got a confirmation, hears of its move or
        cancellation the same way: an updated PUBLISH (scheduling sends them nothing)."""
        if booking.customer_on_event or not booking.customer_mailed:
            return
        context = self.context(connection, booking, calendar)
        if kind == "booking_cancelled":
            context["join_url"] = ""
        if old_span is not None:
            context["changes"] = ["It was %s." % span_words(
                old_span[0], old_span[1], booking.customer_zone)]
        published = customer_confirmation(calendar)
        mail = self._compose(kind, context, booking, calendar,
                             published.to_ical().decode("utf-8"), "PUBLISH")
        enqueue(connection, [mail], int(self.clock().timestamp()))

    # -- reminders ----------------------------------------------------------------------

    def _plan(self, connection: Connection, booking: BookingRow, calendar: Calendar,
              now: int) -> int:
        """Queue the reminders ahead; answers up to when they were planned (0: a single
        meeting, all planned). At most :data:`reminders.MAX_REMINDERS` per pass: the
        later occurrences of a long series with a big team wait for the top-up."""
        leads = self.config.reminder_leads
        recipients = self._reminded(booking, calendar)
        if not leads or not recipients:
            return 0
        until = now + reminder_rows.HORIZON
        spans, complete = self.occurrences(calendar.to_ical().decode("utf-8"), now, until,
                                           reminder_rows.MAX_OCCURRENCES)
        called_off = _cancelled_starts(calendar)
        spans = sorted(span for span in spans if span[0] not in called_off)
        fitting = max(1, reminder_rows.MAX_REMINDERS // (len(leads) * len(recipients)))
        if len(spans) > fitting:
            until, spans, complete = spans[fitting][0], spans[:fitting], False
        planned = reminder_rows.reminders_for(spans, recipients, leads, now)
        if planned:
            # one context for all of them: the words and the link are the meeting's
            base = self.context(connection, booking, calendar)
            reminder_rows.queue_reminders(connection, [
                (self._reminder_mail(base, booking, calendar, r), r.due) for r in planned],
                now)
        master = master_of(calendar)
        is_series = master is not None and ("RRULE" in master or "RDATE" in master)
        return until if is_series or not complete else 0

    def top_up(self, connection: Connection, booking: BookingRow, calendar: Calendar,
               moment: datetime.datetime | None = None) -> None:
        """A series' reminders planned again, further ahead (the senders' periodic pass,
        ``plugin/booking_reminders.py``)."""
        now = int((moment or self.clock()).timestamp())
        reminder_rows.forget_reminders(connection, booking.uid)
        store.update_booking(connection, booking.id, reminders_until=self._plan(
            connection, booking, calendar, now))

    def _reminded(self, booking: BookingRow, calendar: Calendar) -> list[str]:
        """Who gets reminders: the customer (when mailed at all) and the booking's team
        — its holder and members, at the addresses the event names them by — but
        whoever declined."""
        audience = self.config.reminder_recipients
        master = master_of(calendar)
        if master is None:
            return []
        answers = {address: partstat_of(prop)
                   for address, prop in attendees_of(master).items()}
        found: list[str] = []
        if ("customer" in audience and booking.customer_mailed
                and answers.get(booking.customer_address) != "DECLINED"):
            found.append(booking.customer_address)
        if "team" in audience:
            team = {booking.holder, *booking.details.get("members", [])}
            organizer = master.get("ORGANIZER")
            candidates = [normalize_address(str(organizer))] if organizer is not None else []
            candidates.extend(address for address, answer in answers.items()
                              if answer != "DECLINED")
            for address in dict.fromkeys(candidates):
                if (address != booking.customer_address
                        and not self.is_assistant_side(address)
                        and self.user_of(address) in team):
                    found.append(address)
        return found

    def _reminder_mail(self, base: dict[str, Any], booking: BookingRow,
                       calendar: Calendar, reminder: reminder_rows.Reminder) -> OutgoingMail:
        """One reminder, from the meeting's ``base`` context."""
        context = dict(base, lead=reminder_rows.lead_words(reminder.lead))
        if reminder.start != booking.start:   # a later occurrence of a series
            context["when"] = when_words(reminder.start, reminder.end,
                                         booking.customer_zone, booking.agent_zone)
        if reminder.recipient == booking.customer_address:
            return self._compose("booking_reminder", context, booking, calendar, None, None)
        user = self.user_of(reminder.recipient) or reminder.recipient
        context.update(recipient_name=user, customer_address=booking.customer_address,
                       team_when=span_words(reminder.start, reminder.end,
                                            booking.agent_zone) + " (%s)" % booking.agent_zone)
        return self._compose("booking_reminder_team", context, booking, calendar, None,
                             None, recipient=reminder.recipient, recipient_name=user)

    # -- words and mails ------------------------------------------------------------------

    def link(self, connection: Connection, booking: BookingRow, end: int | None = None
             ) -> str:
        """The customer's current link (signed for the booking's link version)."""
        token = make_token(link_secret(connection), booking.id, booking.link_version,
                           end if end is not None else booking.end)
        return link_url(self.config.base_url, token)

    def preview(self, booking: BookingRow, calendar: Calendar) -> tuple[str, str]:
        """(subject, plain text) of the mail the customer would get for a booking not
        made yet (the Confirm step shows it): the same templates and words."""
        kind = ("booking_invitation" if booking.customer_on_event
                else "booking_confirmation")
        context = self._context(booking, calendar, PREVIEW_LINK)
        subject, text, _html = self.templates().render(kind, context)
        return subject, text

    def context(self, connection: Connection, booking: BookingRow, calendar: Calendar
                ) -> dict[str, Any]:
        span = first_span(calendar)
        return self._context(booking, calendar, self.link(
            connection, booking, span[1] if span else None))

    def _context(self, booking: BookingRow, calendar: Calendar, link: str
                 ) -> dict[str, Any]:
        context = customer_context(calendar, booking, link=link,
                                   is_assistant_side=self.is_assistant_side)
        context.update(recipient_name=booking.customer_name, actor=booking.pending_actor
                       or "organizer", note=booking.pending_note or "",
                       agent_name=dict(self.config.display_names).get(
                           booking.agent, booking.agent), changes=[],
                       signature="the calendar server of %s" % self.config.domain)
        return context

    def _changes(self, booking: BookingRow, old: Calendar, new: Calendar,
                 message: ItipMessage) -> list[str]:
        """What changed, in the customer's zone: a new time first."""
        found: list[str] = []
        before, after = first_span(old), first_span(new)
        if before is not None and after is not None and before != after:
            found.append("It was %s." % span_words(before[0], before[1],
                                                   booking.customer_zone))
        master = master_of(new)
        if "SUMMARY" in message.changes and master is not None:
            found.append("It is now called “%s”." % str(master.get("SUMMARY", "")))
        if "LOCATION" in message.changes:
            found.append("The place changed.")
        return found

    def _compose(self, kind: str, context: dict[str, Any], booking: BookingRow,
                 calendar: Calendar, itip: str | None, method: str | None, *,
                 recipient: str | None = None, recipient_name: str | None = None
                 ) -> OutgoingMail:
        from radicale_tracks.mail.compose import compose_mail, message_id_for

        master = master_of(calendar)
        organizer = master.get("ORGANIZER") if master is not None else None
        sender = normalize_address(str(organizer)) if organizer is not None else (
            "%s@%s" % (booking.holder, self.config.domain))
        sender_name = str(organizer.params.get("CN") or booking.holder) if (
            organizer is not None) else booking.holder
        return compose_mail(
            self.templates(), kind, context, sender=sender, sender_name=sender_name,
            recipient=recipient or booking.customer_address,
            recipient_name=recipient_name or booking.customer_name,
            message_id=message_id_for(self.tokens(), self.config.domain),
            now=self.clock(), itip=itip, method=method,
            envelope_from=self.config.from_email,
            uid=booking.uid)


def _cancelled_starts(calendar: Calendar) -> set[int]:
    """When the occurrences the holder cancelled one by one start: a calendar program
    may keep one as an override marked CANCELLED instead of an EXDATE, and the
    expansion yields it like any other."""
    found: set[int] = set()
    for component in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" not in component or str(
                component.get("STATUS", "")).upper() != "CANCELLED":
            continue
        start = component.get("DTSTART")
        if start is not None:
            found.add(_instant(start.dt))
    return found


def _instant(value: datetime.date) -> int:
    """POSIX seconds of a DTSTART as the index reads one: a date at midnight UTC, a
    floating time as UTC."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def _rooms_unanswered(calendar: Calendar, is_assistant_side: Callable[[str], bool]
                      ) -> bool:
    """A room on the meeting has not accepted yet (it waits for an approver)."""
    master = master_of(calendar)
    if master is None:
        return False
    return any(str(prop.params.get("CUTYPE", "")).upper() == "ROOM"
               and partstat_of(prop) in ("NEEDS-ACTION", "TENTATIVE")
               and not is_assistant_side(address)
               for address, prop in attendees_of(master).items())
