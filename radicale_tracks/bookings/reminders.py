"""Reminders of booked meetings: outbox rows due before each occurrence.

A reminder is an ordinary outbox row whose ``next_attempt_at`` is its time, so it is as
durable as any mail and goes exactly once whichever sender, on whichever node, claims
it (``outbox/store.py``). Its kind is one of :data:`KINDS` and its ``uid`` the meeting's: every
write of the meeting removes the pending ones and plans them again from the meeting as
stored, so a cancelled occurrence or meeting gets none and a moved one gets them at its
new time. One already being sent when the meeting changes goes out: it was due.

Series: reminders are planned for occurrences up to :data:`HORIZON` ahead (at most
:data:`MAX_OCCURRENCES`), and topped up by the senders' periodic pass
(:func:`top_up`) as time moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, delete

from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.schema import outbox
from radicale_tracks.outbox.store import Status, enqueue

#: the outbox kinds of reminders (the customer's and the team's)
KINDS: Final = ("booking_reminder", "booking_reminder_team")
#: how far ahead reminders of a series are planned
HORIZON: Final = 35 * 86400
#: most occurrences of one meeting with reminders planned at a time
MAX_OCCURRENCES: Final = 40
#: most reminders one write of a meeting plans (occurrences × lead times × people)
MAX_REMINDERS: Final = 200

#: (start, end) of the meeting's occurrences in [from, to), at most ``limit``, and
#: whether that was all of them
Occurrences = Callable[[str, int, int, int], tuple[list[tuple[int, int]], bool]]


@dataclass(frozen=True)
class Reminder:
    """One reminder to plan: who, when it goes, for which occurrence."""

    recipient: str
    due: int
    start: int
    end: int
    lead: int


def forget_reminders(connection: Connection, uid: str) -> int:
    """Remove the meeting's reminders not sent yet (and not being sent)."""
    result = connection.execute(delete(outbox).where(
        outbox.c.kind.in_(KINDS), outbox.c.uid == uid,
        outbox.c.status == Status.PENDING.value, outbox.c.attempts == 0,
        outbox.c.lease_until.is_(None)))
    return int(result.rowcount or 0)


def reminders_for(spans: Sequence[tuple[int, int]], recipients: Sequence[str],
                  leads: Sequence[int], now: int) -> list[Reminder]:
    """Each recipient, each lead time, each occurrence: the reminders still ahead (one
    whose time has passed is not sent late — a 24-hour reminder for a meeting booked
    two hours ahead would only confuse)."""
    found: list[Reminder] = []
    for start, end in spans:
        for lead in leads:
            due = start - lead
            if due <= now:
                continue
            found.extend(Reminder(r, due, start, end, lead) for r in recipients)
    return found


def queue_reminders(connection: Connection, mails: Sequence[tuple[OutgoingMail, int]],
                    now: int) -> None:
    """Each rendered reminder as an outbox row due at its time."""
    for mail, due in mails:
        enqueue(connection, [mail], now, due=due)


def lead_words(seconds: int) -> str:
    """``in 24 hours``, ``in 1 hour``, ``in 30 minutes``, ``in 2 days``."""
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return "in %d days" % (seconds // 86400)
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "in 1 hour" if hours == 1 else "in %d hours" % hours
    minutes = seconds // 60
    return "in %d minutes" % minutes
