"""The assistant's side of the storage plugin: who writes, and what the assistant does.

Radicale's storage sees every write under its lock but not who makes it; remembering the
user of ``acquire_lock`` lets an organizer's own write of an event that invites the
assistant be handled as an iTIP REQUEST or CANCEL (``tracks/assistant.py``) in the write's
database transaction. The mixins here hold that path, the outbox sender thread of the
server, and nothing of the index (``plugin/storage.py`` composes both, as Radicale's own
storage is composed of mixins).

icalendar, Jinja2 and the assistant are imported when a write first involves the
assistant: a server that never sees an invitation does not pay their memory.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import secrets
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, cast

from radicale import item as radicale_item

from radicale_tracks.core.addresses import AddressBook
from radicale_tracks.outbox.sender import Sender, SenderThread
from radicale_tracks.outbox.store import OutboxStore
from radicale_tracks.outbox.transports import transport_from_settings
from radicale_tracks.plugin.track_calendars import StorageTrackCalendars, item_from_text

if TYPE_CHECKING:
    from icalendar import Calendar

    from radicale_tracks.plugin.storage import Collection, Storage
    from radicale_tracks.tracks.assistant import Assistant, OrganizerChange

logger = logging.getLogger("radicale.tracks.storage")

Upload = tuple[radicale_item.Item, "radicale_item.Item | None"]


class AssistantCollectionMixin:
    """Upload and delete of an organizer's object, handed to the assistant."""

    if TYPE_CHECKING:
        _storage: Storage
        _filesystem_path: str
        _encoding: str
        path: str

        def _upload_indexed(self, href: str, item: radicale_item.Item) -> Upload: ...

        def _delete_indexed(self, href: str | None) -> None: ...

    def _old_calendar(self, href: str) -> "Calendar | None":
        """The stored object, parsed, when it names the assistant (else None)."""
        path = os.path.join(self._filesystem_path, href)
        try:
            with open(path, encoding=self._encoding, newline="") as f:
                text = f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        if not self._storage.mentions_assistant(text):
            return None
        from icalendar import Calendar

        try:
            return Calendar.from_ical(text)
        except Exception:
            return None

    def _upload_with_assistant(self, user: str, href: str, item: radicale_item.Item,
                               old: "Calendar | None"
                               ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        from icalendar import Calendar

        from radicale_tracks.tracks.assistant import OrganizerChange

        stored: list[tuple[radicale_item.Item, radicale_item.Item | None]] = []

        def store_organizer(calendar: Calendar | None) -> None:
            chosen = item if calendar is None else item_from_text(
                self.path, calendar.to_ical().decode("utf-8"))
            stored.append(self._upload_indexed(href, chosen))
            if calendar is not None:
                # stored content differs from the request's: RFC 4791 §5.3.4, no ETag
                self._storage.note_rewritten()

        new = Calendar.from_ical(item.serialize())
        change = OrganizerChange(user=user, source_path="/%s/%s" % (self.path, href),
                                 old=old, new=new)
        self._storage.run_assistant(change, store_organizer, item.uid)
        if not stored:
            stored.append(self._upload_indexed(href, item))
        return stored[0]

    def _delete_with_assistant(self, user: str, href: str, old: "Calendar") -> None:
        from radicale_tracks.tracks.assistant import OrganizerChange

        deleted: list[bool] = []

        def store_organizer(_calendar: "Calendar | None") -> None:
            self._delete_indexed(href)
            deleted.append(True)

        change = OrganizerChange(user=user, source_path="/%s/%s" % (self.path, href),
                                 old=old, new=None)
        self._storage.run_assistant(change, store_organizer, None)
        if not deleted:
            self._delete_indexed(href)


class AssistantStorageMixin:
    """The writer of each request, the assistant, and the server's outbox sender."""

    #: the server sends queued mail from a thread; admin commands set this to False
    start_sender: ClassVar[bool] = True

    if TYPE_CHECKING:
        from radicale_tracks.db.session import Database
        from radicale_tracks.settings import Settings

        settings: Settings
        database: Database
        engine: Any

    def init_assistant(self) -> None:
        settings = self.settings
        self._request = threading.local()
        self.book = AddressBook.build(settings.domain, settings.assistant_address,
                                      settings.addresses)
        self._assistant_local = self.book.assistant.rpartition("@")[0]
        self._assistant: Assistant | None = None
        self.sender_thread: SenderThread | None = None
        if self.start_sender and settings.outbox_sender:
            sender = Sender(OutboxStore(self.engine), transport_from_settings(settings),
                            settings.outbox_retry_base, settings.outbox_give_up_after)
            self.sender_thread = SenderThread(sender, settings.outbox_poll_interval)
            self.sender_thread.start()

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        """Radicale's lock; remembers the user for the writes made under it."""
        self._request.user = user
        try:
            # the next class in the MRO is Radicale's multifilesystem Storage
            with super().acquire_lock(  # type: ignore[misc]
                    mode, user, *args, **kwargs):
                yield
        finally:
            self._request.user = None

    @property
    def assistant(self) -> "Assistant":
        if self._assistant is None:
            from radicale_tracks.mail.compose import MailTemplates
            from radicale_tracks.tracks.assistant import Assistant, AssistantConfig

            settings = self.settings
            self._assistant = Assistant(
                AssistantConfig(base_url=settings.base_url,
                                assistant_principal=settings.assistant_principal,
                                join_url_template=settings.join_url_template,
                                from_email=settings.from_email),
                self.book, MailTemplates(settings.mail_templates),
                StorageTrackCalendars(cast("Storage", self)),
                clock=lambda: datetime.datetime.now(datetime.timezone.utc),
                tokens=lambda: secrets.token_hex(16))
        return self._assistant

    def note_rewritten(self) -> None:
        self._request.rewritten = True

    def take_rewritten(self) -> bool:
        """Whether this thread's last write stored other content than it was sent."""
        rewritten = bool(getattr(self._request, "rewritten", False))
        self._request.rewritten = False
        return rewritten

    def organizer_user(self, collection: "Collection") -> str | None:
        """The user whose own calendar ``collection`` is, when that user is writing."""
        user = getattr(self._request, "user", None)
        if not user or collection.tag != "VCALENDAR":
            return None
        owner = collection.path.split("/", 1)[0]
        if owner != user or owner == self.settings.assistant_principal:
            return None
        return user

    def mentions_assistant(self, text: str) -> bool:
        """Cheap test before parsing: the assistant's local part appears in the text."""
        return self._assistant_local in text.lower()

    def run_assistant(self, change: "OrganizerChange",
                      store_organizer: Callable[["Calendar | None"], None],
                      uid: str | None) -> None:
        """Let the assistant handle ``change`` in one transaction; never raise.

        ``store_organizer`` is called by the assistant before any other effect; if the
        assistant fails, the transaction rolls back, the failure is recorded for
        ``radicale-tracks tracks list|show``, and the caller stores the original.
        """
        from radicale_tracks.tracks.assistant import involves_assistant, record_failure

        new_or_old = change.new if change.new is not None else change.old
        if not involves_assistant(self.book, change.old, change.new):
            store_organizer(None)
            return
        try:
            with self.database.begin() as connection:
                self.assistant.handle_organizer_change(connection, change, store_organizer)
        except Exception as e:
            logger.exception("Assistant failed on %r by %r; the organizer's write is kept",
                             change.source_path, change.user)
            try:
                uid = uid or (str(new_or_old.walk("VEVENT")[0].get("UID", ""))
                              if new_or_old is not None and new_or_old.walk("VEVENT")
                              else None)
                with self.database.begin() as connection:
                    record_failure(connection,
                                   at=int(datetime.datetime.now().timestamp()), uid=uid,
                                   actor=change.user, error=e,
                                   detail=traceback.format_exc(limit=20))
            except Exception:
                logger.exception("Could not record the assistant failure")
            return
        if self.sender_thread is not None:
            self.sender_thread.wake()
