"""Mail for people outside the server: an iTIP message as an RFC 6047 (iMIP) mail.

The last stage of scheduling for anyone without a calendar here: the organizer's
REQUEST or CANCEL, an attendee's REPLY, a room's answer to an organizer elsewhere — each
rendered with the words of what it is about (``core/summaries``) and queued in the
write's transaction (``outbox/store.enqueue``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.addresses import AddressBook, normalize_address
from radicale_tracks.core.itip import ItipMessage, Method, as_list, main_components
from radicale_tracks.core.scheduling import partstats_of

if TYPE_CHECKING:
    from radicale_tracks.mail.compose import MailTemplates
    from radicale_tracks.outbox.mail import OutgoingMail


class SchedulingMails:
    """Renders and queues the engine's mails; stateless between writes."""

    def __init__(self, book: AddressBook, from_email: str,
                 templates: Callable[[], MailTemplates],
                 clock: Callable[[], datetime.datetime], tokens: Callable[[], str]) -> None:
        self.book = book
        self.from_email = from_email
        self.templates = templates
        self.clock = clock
        self.tokens = tokens

    def mail(self, message: ItipMessage, calendar: Calendar, old: Calendar | None,
             shared: dict[object, object] | None = None) -> OutgoingMail:
        """An RFC 6047 message for someone outside this server.

        ``shared`` keeps what mails about the same change have in common (the message
        parsed, the meeting's facts, what changed, the names): one organizer's write
        mails each attendee the same object, and working it out again per recipient
        made a write for N attendees cost N² readings of them.
        """
        from radicale_tracks.mail.compose import compose_mail, message_id_for

        shared = {} if shared is None else shared
        names = cast("dict[str, str] | None", shared.get(id(calendar)))
        if names is None:
            names = shared[id(calendar)] = _names(calendar)
        sender_name = names.get(normalize_address(message.sender))
        key = (message.method, message.ics, message.sender, message.changes,
               message.instances)
        if key not in shared:
            shared[key] = self._context(message, calendar, old, sender_name)
        kind, context = cast("tuple[str, dict[str, object]]", shared[key])
        recipient_name = names.get(normalize_address(message.recipient))
        context = dict(context, recipient_name=recipient_name or message.recipient)
        return compose_mail(
            self.templates(), kind, context, sender=message.sender,
            sender_name=sender_name or "", recipient=message.recipient,
            recipient_name=recipient_name, message_id=message_id_for(
                self.tokens(), self.book.domain),
            now=self.clock(), itip=message.ics, method=message.method.value,
            envelope_from=self.from_email, uid=message.uid)

    def _context(self, message: ItipMessage, calendar: Calendar, old: Calendar | None,
                 sender_name: str | None) -> tuple[str, dict[str, object]]:
        """The template and its context for ``message``, but for whom it goes to."""
        from radicale_tracks.core.broker import focused_changes
        from radicale_tracks.core.summaries import describe_instance, describe_update, meeting_facts

        sent = message.calendar()
        facts = dict(meeting_facts(sent if message.method is not Method.REPLY else calendar),
                     join_url="")
        context: dict[str, object] = {
            "meeting": facts, "organizer_name": sender_name or message.sender,
            "domain": self.book.domain,
            "signature": "the calendar server of %s" % self.book.domain,
            "instance": ", ".join(describe_instance(key, sent) for key in message.instances
                                  if key),
            "changes": [], "attendee_name": sender_name or message.sender, "answer": ""}
        if message.method is Method.REQUEST:
            kind = "invitation"
            if message.changes:
                # what changed in words, for the occurrence(s) the message is about:
                # per instance, a changed occurrence against the occurrence it replaced
                changes, instances = focused_changes(old, calendar, message.changes,
                                                     message.instances)
                instance, sentences = describe_update(old, sent, changes, instances)
                context["instance"] = instance
                context["changes"] = sentences or ["Some details changed."]
                if len(instances) == 1 and instances[0] is not None:
                    # one occurrence changed: the mail shows it, not the series
                    context["meeting"] = dict(meeting_facts(sent, None, instances[0]),
                                              join_url="")
        elif message.method is Method.CANCEL:
            kind = "cancellation"
        else:
            kind = "reply"
            answers = set(partstats_of(sent, normalize_address(message.sender)).values())
            context["answer"] = _answer(answers)
        return kind, context


def enqueue(connection: Connection, mails: list[OutgoingMail], now: datetime.datetime
            ) -> None:
    """Queue ``mails`` in the write's transaction (none: nothing is touched)."""
    if mails:
        from radicale_tracks.outbox.store import enqueue as enqueue_mails

        enqueue_mails(connection, mails, int(now.timestamp()))


def _names(calendar: Calendar) -> dict[str, str]:
    """Address → CN, as the object writes it (ORGANIZER or ATTENDEE; the first wins)."""
    names: dict[str, str] = {}
    for component in main_components(calendar).values():
        for prop in [*as_list(component.get("ORGANIZER")), *as_list(component.get("ATTENDEE"))]:
            cn = getattr(prop, "params", {}).get("CN")
            if cn:
                names.setdefault(normalize_address(str(prop)), str(cn))
    return names


def _answer(partstats: set[str]) -> str:
    words = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted",
             "DELEGATED": "delegated", "NEEDS-ACTION": "has not yet answered"}
    if len(partstats) == 1:
        return words.get(next(iter(partstats)), "answered")
    return "answered"
