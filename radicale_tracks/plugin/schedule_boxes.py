"""Each principal's scheduling inbox and outbox (RFC 6638 §2.1, §2.2) as collections.

The inbox is a calendar collection of Radicale's storage, so GET, PROPFIND, REPORT
(calendar-multiget, sync-collection) and DELETE work on it unchanged; the application
gives it the ``schedule-inbox`` resource type instead of ``calendar`` (clients must not
list it as a calendar). The outbox is an empty collection: the target of free-busy POSTs.
Both are created when first needed: a principal's discovery, or a delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from radicale_tracks.plugin.calendar_store import CalendarStore, StoredCalendar

INBOX = "schedule-inbox"
OUTBOX = "schedule-outbox"


def is_schedule_box(name: str) -> bool:
    return name in (INBOX, OUTBOX)


def box_of(path: str) -> tuple[str, str] | None:
    """``("alice", "schedule-inbox")`` for ``/alice/schedule-inbox/…``; else None."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] and is_schedule_box(parts[1]):
        return parts[0], parts[1]
    return None


def inbox_path(user: str) -> str:
    return "/%s/%s/" % (user, INBOX)


def outbox_path(user: str) -> str:
    return "/%s/%s/" % (user, OUTBOX)


def ensure_boxes(storage: CalendarStore, user: str) -> None:
    """Create the principal, inbox and outbox of ``user`` if missing (write lock held)."""
    if user in storage.boxes_ready:
        return
    if not storage.exists("/%s/" % user):
        storage.create_collection("/%s/" % user)
    if not storage.exists(inbox_path(user)):
        storage.create_collection(inbox_path(user), props={
            "tag": "VCALENDAR", "D:displayname": "Scheduling inbox",
            "C:supported-calendar-component-set": "VEVENT,VTODO,VFREEBUSY"})
    if not storage.exists(outbox_path(user)):
        storage.create_collection(outbox_path(user))
    storage.boxes_ready.add(user)


def remove_message(inbox: StoredCalendar, href: str) -> None:
    """Delete an inbox message and its sync history.

    Radicale lists deleted items still in the history in an *initial* sync-collection
    report (as 404 members), and some clients (the python ``caldav`` library's
    ``get_items``) then fail fetching them. Inbox messages are transient, read by their
    owner only: forgetting them entirely is what clients expect.
    """
    inbox.delete_indexed(href)
    inbox.forget_history(href)
