"""Client writes of calendar objects handed to scheduling (and the assistant).

Radicale's storage sees every write under its lock but not who makes it; remembering the
user of ``acquire_lock`` lets the owner's write of a scheduling object (one with an
ORGANIZER) be handled by the scheduling engine (``scheduling/engine.py``) — which calls the
assistant for the assistant's and track addresses — in the write's database transaction.
Writes the server makes for scheduling (an attendee's copy, an inbox message) go through
``_upload_indexed`` and never schedule again.

The mixins also carry the per-request facts the application needs around Radicale's own
PUT: whether the stored object differs from the request (no ETag, RFC 4791 §5.3.4),
the checks it asks of the client's write (:class:`ClientChecks`: If-Schedule-Tag-Match,
an attendee naming another ORGANIZER) — made here, under the write lock, so that the
decision and the write are one step — and the Schedule-Tag after the write. icalendar, Jinja2 and the engines are imported when a write first involves
scheduling: a server that never sees an invitation does not pay their memory.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from radicale import item as radicale_item

from radicale_tracks.core.addresses import AddressBook
from radicale_tracks.core.attendee_limit import most_attendees_per_instance, too_many_attendees
from radicale_tracks.db.session import on_rollback
from radicale_tracks.errors import (
    AttendeeChangeRefused,
    ResourceTooLarge,
    ResourceTooLargeRefused,
    ScheduleTagMismatch,
)
from radicale_tracks.outbox.sender import Sender, SenderThread
from radicale_tracks.outbox.store import OutboxStore
from radicale_tracks.outbox.transports import transport_from_settings
from radicale_tracks.plugin.schedule_boxes import is_schedule_box
from radicale_tracks.plugin.track_calendars import StorageTrackCalendars, item_from_text

if TYPE_CHECKING:
    from icalendar import Calendar

    from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars
    from radicale_tracks.plugin.storage import Collection, Storage
    from radicale_tracks.scheduling.engine import ObjectWrite, Scheduler
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.storage")

Upload = tuple[radicale_item.Item, "radicale_item.Item | None"]

#: the cheap test before parsing anything: scheduling objects have an ORGANIZER
_MARKER = "ORGANIZER"


@dataclass(frozen=True)
class ClientChecks:
    """What the application asks of a client's PUT or DELETE, checked by the storage
    under the write lock — a check made before it could pass for two writers at once.
    Present only for requests through the application, which answers the refusals
    (:class:`~radicale_tracks.errors.WriteRefused`); plain Radicale is not told."""

    #: If-Schedule-Tag-Match (None: not sent): 412 unless it is the current tag; a
    #: match merges the server's inconsequential changes into the write
    schedule_tag: str | None = None


@contextlib.contextmanager
def refused_when_too_large(checks: ClientChecks | None) -> Iterator[None]:
    """A client's write that the server would store larger than ``max_resource_size``
    is the client's to fix, not a program error: through the application (``checks``
    given) it becomes :class:`~radicale_tracks.errors.ResourceTooLargeRefused` (403
    ``max-resource-size``); under plain ``radicale`` it stays
    :class:`~radicale_tracks.errors.ResourceTooLarge`, a ValueError: Radicale's 400."""
    try:
        yield
    except ResourceTooLarge as e:
        if checks is None:
            raise
        raise ResourceTooLargeRefused(str(e)) from e


class SchedulingCollectionMixin:
    """Upload and delete of an owner's calendar object, handed to scheduling."""

    if TYPE_CHECKING:
        _storage: Storage
        _filesystem_path: str
        _encoding: str
        path: str

        def _upload_indexed(self, href: str, item: radicale_item.Item) -> Upload: ...

        def _delete_indexed(self, href: str | None) -> None: ...

        def _get(self, href: str, verify_href: bool = True
                 ) -> radicale_item.Item | None: ...

    def _stored_text(self, href: str) -> str | None:
        path = os.path.join(self._filesystem_path, href)
        try:
            with open(path, encoding=self._encoding, newline="") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def current_schedule_tag(self, href: str | None) -> str | None:
        """The Schedule-Tag of one object, None when it is no scheduling object."""
        from radicale_tracks.scheduling.tags import object_path, schedule_tag

        item = self._get(href, verify_href=False) if href is not None else None
        if item is None or href is None or _MARKER not in item.serialize():
            return None
        with self._storage.database.connect() as connection:
            return schedule_tag(connection, object_path(self.path, href), item.etag)

    def check_client_write(self, href: str | None) -> ClientChecks | None:
        """The application's checks of this request's write (the first under its lock:
        the client's), made here under the write lock; raises
        :class:`~radicale_tracks.errors.ScheduleTagMismatch`."""
        checks = self._storage.take_client_checks()
        if checks is not None and checks.schedule_tag is not None:
            current = self.current_schedule_tag(href)
            if current != checks.schedule_tag:
                raise ScheduleTagMismatch("If-Schedule-Tag-Match %s, the tag of %s/%s is %s"
                                          % (checks.schedule_tag, self.path, href, current))
        return checks

    def _refuse_attendee_change(self, owner: str, stored: Calendar | None,
                                written: Calendar | None) -> None:
        """Raise :class:`~radicale_tracks.errors.AttendeeChangeRefused` for the owner's
        write over a stored scheduling object that names another ORGANIZER
        (``core/attendee_changes.refused_attendee_change``): decided on the version read
        under the write lock, the one the write replaces, parsed once for this check and
        the scheduling that follows (:func:`parse_versions`)."""
        if stored is None or written is None or not self._storage.settings.scheduling:
            return
        from radicale_tracks.core.attendee_changes import refused_attendee_change

        reason = refused_attendee_change(stored, written,
                                         self._storage.book.addresses_of(owner))
        if reason is not None:
            raise AttendeeChangeRefused(reason)

    def _scheduled_upload(self, owner: str, href: str, item: radicale_item.Item,
                          checks: ClientChecks | None = None) -> Upload | None:
        """The upload, when scheduling took it; None when it is no scheduling object.
        ``checks``: the application's, already passed for the tag. An object the write
        would store larger than ``max_resource_size`` raises
        :class:`~radicale_tracks.errors.ResourceTooLarge` with nothing stored or sent."""
        new_text = item.serialize()
        old_text = self._stored_text(href)
        if _MARKER not in new_text and (old_text is None or _MARKER not in old_text):
            return None
        refuse_too_many_attendees(new_text, self._storage.settings.max_attendees_per_instance)
        versions = parse_versions(old_text, new_text)
        if checks is not None and versions is not None and _MARKER in new_text and (
                old_text is not None and _MARKER in old_text):
            self._refuse_attendee_change(owner, *versions)
        # what each store() of an attempt stored, and whether it rewrote the object: a
        # rolled-back attempt's entry goes with it, so only the committed one counts
        stored: list[tuple[Upload, bool]] = []

        def store(calendar: Calendar | None) -> None:
            chosen = item if calendar is None else item_from_text(
                self.path, calendar.to_ical().decode("utf-8"))
            entry = (self._upload_indexed(href, chosen), calendar is not None)
            stored.append(entry)
            with self._storage.database.begin() as connection:  # the attempt's own
                on_rollback(connection, lambda: stored.remove(entry))

        old_etag = radicale_item.get_etag(old_text) if old_text is not None else None
        if not self._storage.run_write(
                owner, self.path, href, versions, old_etag, store,
                merge=checks is not None and checks.schedule_tag is not None):
            stored.clear()  # a write that rolled back got its files back: store it now
        if not stored:
            stored.append((self._upload_indexed(href, item), False))
        upload, rewritten = stored[-1]
        if rewritten:
            self._storage.note_rewritten()
        self._storage.note_schedule_tag(self.path, href, upload[0].etag)
        return upload

    def _scheduled_delete(self, owner: str, href: str) -> bool:
        """True when scheduling handled the delete of a scheduling object."""
        old_text = self._stored_text(href)
        if old_text is None or _MARKER not in old_text:
            return False
        deleted: list[bool] = []

        def store(_calendar: Calendar | None) -> None:
            self._delete_indexed(href)
            deleted.append(True)

        if not self._storage.run_write(owner, self.path, href,
                                       parse_versions(old_text, None),
                                       radicale_item.get_etag(old_text), store):
            deleted.clear()
        if not deleted:
            self._delete_indexed(href)
        return True


class SchedulingStorageMixin:
    """The writer of each request, the engines, and the server's outbox sender."""

    #: the server sends queued mail from a thread; admin commands set this to False
    start_sender: ClassVar[bool] = True

    if TYPE_CHECKING:
        from radicale_tracks.db.session import Database
        from radicale_tracks.settings import Settings

        settings: Settings
        database: Database
        engine: Any

    def init_scheduling(self) -> None:
        settings = self.settings
        self._request = threading.local()
        self.database.write_hold = self.current_write_hold
        self.book = AddressBook.build(settings.domain, settings.assistant_address,
                                      settings.addresses)
        self._assistant: Assistant | None = None
        self._scheduler: Scheduler | None = None
        self._calendars: StorageSchedulingCalendars | None = None
        self._boxes_ready: set[str] = set()
        self.sender_thread: SenderThread | None = None
        if self.start_sender and settings.outbox_sender:
            sender = Sender(OutboxStore(self.engine), transport_from_settings(settings),
                            settings.outbox_retry_base, settings.outbox_give_up_after)
            self.sender_thread = SenderThread(sender, settings.outbox_poll_interval)
            self.sender_thread.start()

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        """Radicale's lock; remembers the user for the writes made under it, and whether
        it is a client's PUT (``client_puts``: its first write is the client's)."""
        self._request.user = user
        self._request.client_put = kwargs.get("request") == "PUT"
        try:
            # the next class in the MRO is Radicale's multifilesystem Storage
            with super().acquire_lock(  # type: ignore[misc]
                    mode, user, *args, **kwargs):
                # a new object per hold: a transaction journals files only within the
                # hold it began in (Database.changing)
                self._request.write_hold = object() if mode == "w" else None
                try:
                    yield
                except BaseException:
                    self._end_hold(refuse=False)
                    raise
                self._end_hold(refuse=True)
        finally:
            self._request.user = None
            self._request.client_put = False
            self._request.write_hold = None

    def current_write_hold(self) -> object | None:
        """This thread's hold of the write lock (None outside it)."""
        return getattr(self._request, "write_hold", None)

    def _end_hold(self, refuse: bool) -> None:
        """Still inside the lock. A transaction that changed files and is still open
        would outlive it (entered and left out of order): whoever takes the lock next
        would finish its journal as a dead process's, and its rollback would put files
        back outside the lock. It is rolled back here, files included, and — unless the
        body already failed (``refuse`` False: its error goes on) — refused."""
        self._request.write_hold = None
        if self.database.journal_open:
            self.database.abandon()
            if refuse:
                raise RuntimeError("a transaction that changed files outlived the "
                                   "storage's write lock; it was rolled back")

    # -- the engines, built on first use ----------------------------------------------

    @property
    def assistant(self) -> Assistant:
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
                clock=_now, tokens=lambda: secrets.token_hex(16), rooms=self.room_addresses)
        return self._assistant

    def room_addresses(self, connection: Any) -> frozenset[str]:
        """The addresses of the rooms now (``rooms add`` needs no restart), and of the
        principals ``user_types`` calls ROOM or RESOURCE."""
        from radicale_tracks.rooms.directory import ROOM_KINDS, RoomDirectory, configured_rooms

        found = {room.address for room in RoomDirectory.load(
            connection, configured_rooms(self.settings)).rooms}
        for user, kind in self.settings.user_types:
            if kind in ROOM_KINDS:
                found.add("%s@%s" % (user.lower(), self.settings.domain.lower()))
                found.update(self.book.addresses_of(user))
        return frozenset(found)

    @property
    def scheduling_calendars(self) -> StorageSchedulingCalendars:
        if self._calendars is None:
            from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars

            self._calendars = StorageSchedulingCalendars(cast("Storage", self))
        return self._calendars

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            from radicale_tracks.rooms.directory import configured_rooms
            from radicale_tracks.scheduling.engine import Scheduler, SchedulingConfig
            from radicale_tracks.scheduling.rooms import RoomBooking

            self._scheduler = Scheduler(
                SchedulingConfig(from_email=self.settings.from_email,
                                 max_attendees=self.settings.scheduling_max_attendees,
                                 assistant_principal=self.settings.assistant_principal),
                self.book, self.scheduling_calendars,
                lambda: self.assistant.templates, clock=_now,
                tokens=lambda: secrets.token_hex(16),
                rooms=RoomBooking(configured_rooms(self.settings), self.scheduling_calendars,
                                  _now))
        return self._scheduler

    # -- per-request facts --------------------------------------------------------------

    def note_rewritten(self) -> None:
        self._request.rewritten = True

    def take_rewritten(self) -> bool:
        """Whether this thread's last write stored other content than it was sent."""
        rewritten = bool(getattr(self._request, "rewritten", False))
        self._request.rewritten = False
        return rewritten

    def expect_client_checks(self, checks: ClientChecks | None) -> None:
        """The application's checks for this request's client write (None: forget them,
        every answer does: a pooled thread serves another user next)."""
        self._request.checks = checks

    def take_client_checks(self) -> ClientChecks | None:
        checks: ClientChecks | None = getattr(self._request, "checks", None)
        self._request.checks = None
        return checks

    def note_schedule_tag(self, collection_path: str, href: str, etag: str) -> None:
        from radicale_tracks.scheduling.tags import object_path, schedule_tag

        try:
            with self.database.connect() as connection:
                tag = schedule_tag(connection, object_path(collection_path, href), etag)
        except Exception:
            logger.exception("Schedule-Tag of %s/%s unknown", collection_path, href)
            tag = None
        self._request.schedule_tag = tag

    def join_next_write(self, work: Callable[[Any], None]) -> None:
        """``work(connection)`` runs in the transaction of this thread's next scheduling
        write, so what a caller records about that write (a booking's confirmation mail
        and activity line) commits with it or not at all — never half after a crash.
        :meth:`take_joined` hands back work no transaction took (no scheduling object,
        or scheduling failed): the caller then runs it in a transaction of its own."""
        self._request.joined = work

    def take_joined(self) -> Callable[[Any], None] | None:
        work: Callable[[Any], None] | None = getattr(self._request, "joined", None)
        self._request.joined = None
        return work

    def _run_joined(self, connection: Any) -> None:
        work = getattr(self._request, "joined", None)
        if work is not None:
            work(connection)

    def take_schedule_tag(self) -> str | None:
        tag: str | None = getattr(self._request, "schedule_tag", None)
        self._request.schedule_tag = None
        return tag

    def scheduling_owner(self, collection: Collection) -> str | None:
        """The owner whose calendar ``collection`` is, when a user writes a calendar
        object into it (RFC 6638 §3.1: the owner's addresses decide the role)."""
        user = getattr(self._request, "user", None)
        if not user or collection.tag != "VCALENDAR":
            return None
        owner, _, name = collection.path.partition("/")
        if not name or "/" in name or owner == self.settings.assistant_principal:
            return None
        if is_schedule_box(name):
            return None
        return owner

    # -- reads for the application ------------------------------------------------------

    def schedule_tags(self, collection_path: str) -> dict[str, str]:
        """href → Schedule-Tag of the scheduling objects (ORGANIZER set) of a collection."""
        from radicale_tracks.plugin.storage import Collection
        from radicale_tracks.scheduling.tags import stored_tags

        collection = next(iter(cast("Storage", self).discover(
            "/%s/" % collection_path.strip("/"))), None)
        if not isinstance(collection, Collection) or collection.tag != "VCALENDAR":
            return {}
        collection.sync_index_if_folder_changed()
        with self.database.connect() as connection:
            etags = cast("Storage", self).index.organizer_etags(collection.path)
            kept = stored_tags(connection, collection.path)
        return {href: kept.get(href, etag) for href, etag in etags.items()}

    def schedule_tag_of(self, collection_path: str, href: str) -> str | None:
        """The Schedule-Tag of one object, None when it is no scheduling object."""
        from radicale_tracks.plugin.storage import Collection

        collection = next(iter(cast("Storage", self).discover(
            "/%s/" % collection_path.strip("/"))), None)
        if not isinstance(collection, Collection) or collection.tag != "VCALENDAR":
            return None
        return collection.current_schedule_tag(href)

    def default_calendar_path(self, user: str) -> str | None:
        return self.scheduling_calendars.existing_default(user)

    def forget_schedule_tags(self, collection_path: str) -> None:
        from radicale_tracks.scheduling.tags import forget_collection

        with self.database.begin() as connection:
            forget_collection(connection, collection_path)

    def move_schedule_tag(self, from_collection: str, from_href: str, to_collection: str,
                          to_href: str) -> None:
        from radicale_tracks.scheduling.tags import moved, object_path

        with self.database.begin() as connection:
            moved(connection, object_path(from_collection, from_href),
                  object_path(to_collection, to_href))

    # -- the write ----------------------------------------------------------------------

    def run_write(self, owner: str, collection_path: str, href: str,
                  versions: tuple[Calendar | None, Calendar | None] | None,
                  old_etag: str | None, store: Callable[[Calendar | None], None],
                  merge: bool = False) -> bool:
        """Schedule one client write in one transaction. True when a transaction
        committed (what ``store`` stored in it stays).

        ``versions``: (stored, written) as :func:`parse_versions` read them, None when
        either does not parse (nothing is scheduled). ``store`` stores the owner's object
        (a replacement, or as sent for None). If scheduling fails with the assistant
        involved, the assistant's failure is recorded and scheduling runs again without
        it; if it fails anyway, the caller stores the object as sent and the failure is
        logged. A failed attempt's files are put back with its rows (``db/journal.py``):
        nothing half-delivered stays. An object the write would store larger than
        ``max_resource_size`` is no program error but the client's: after the rollback
        :class:`~radicale_tracks.errors.ResourceTooLarge` is raised (the write is
        refused), never stored as sent with nobody told. ``merge``: the client's
        If-Schedule-Tag-Match matched (checked under this lock).
        """
        from radicale_tracks.scheduling.engine import ObjectWrite

        if versions is None:
            logger.warning("Not scheduled: %s/%s does not parse", collection_path, href)
            return False
        old, new = versions
        write = ObjectWrite(owner=owner, collection_path=collection_path, href=href,
                            old=old, new=new, old_etag=old_etag, merge=merge)
        involves = self._assistant_involved(old, new)
        if not self.settings.scheduling:
            return involves and self._assistant_only(write, store)
        attempts = (True, False) if involves else (False,)
        for with_assistant in attempts:
            try:
                with self.database.begin() as connection:
                    outcome = self.scheduler.handle_write(
                        connection, write, store, self.assistant if with_assistant else None)
                    self._run_joined(connection)
            except ResourceTooLarge as e:
                logger.info("Write of %s/%s by %r refused: %s", collection_path, href,
                            owner, e)
                raise
            except Exception as e:
                logger.exception("Scheduling failed on %s/%s by %r%s", collection_path, href,
                                 owner, " (with the assistant)" if with_assistant else "")
                self._record_failure(write, e, "assistant" if with_assistant
                                     else "scheduling")
                continue
            if outcome.deliveries or outcome.statuses:
                logger.info("Scheduled %s/%s (%s): %s", collection_path, href,
                            outcome.role, ", ".join(
                                ["%s %s" % (a, s) for a, s in outcome.statuses.items()] +
                                outcome.deliveries))
            self._request.joined = None   # committed with the write
            if self.sender_thread is not None:
                self.sender_thread.wake()
            return True
        return False

    def _assistant_involved(self, *calendars: Calendar | None) -> bool:
        from radicale_tracks.tracks.assistant import involves_assistant

        return involves_assistant(self.book, *calendars)

    def _assistant_only(self, write: ObjectWrite,
                        store: Callable[[Calendar | None], None]) -> bool:
        """``scheduling = False``: the assistant still follows its meetings."""
        from radicale_tracks.tracks.assistant import OrganizerChange

        try:
            with self.database.begin() as connection:
                self.assistant.handle_organizer_change(
                    connection, OrganizerChange(user=write.owner,
                                                source_path="/" + write.path,
                                                old=write.old, new=write.new), store)
                self._run_joined(connection)
        except ResourceTooLarge:
            raise
        except Exception as e:
            logger.exception("Assistant failed on %s", write.path)
            self._record_failure(write, e)
            return False
        self._request.joined = None
        if self.sender_thread is not None:
            self.sender_thread.wake()
        return True

    def _record_failure(self, write: ObjectWrite, error: Exception,
                        what: str = "assistant") -> None:
        from radicale_tracks.tracks.assistant import record_failure
        from radicale_tracks.tracks.store import meeting_by_uid

        latest = write.new if write.new is not None else write.old
        events = latest.walk("VEVENT") if latest is not None else []
        uid = str(events[0].get("UID", "")) if events else None
        try:
            with self.database.begin() as connection:
                meeting = meeting_by_uid(connection, uid) if uid else None
                record_failure(connection, at=int(_now().timestamp()), uid=uid,
                               actor=write.owner, error=error,
                               detail=traceback.format_exc(limit=20), what=what,
                               track_id=meeting.track_id if meeting is not None else None)
        except Exception:
            logger.exception("Could not record the assistant failure")


def parse_versions(old_text: str | None, new_text: str | None
                   ) -> tuple[Calendar | None, Calendar | None] | None:
    """The stored and the written version of a scheduling object, each parsed once under
    the write lock for every check and the scheduling of the write; None when either
    does not parse (scheduling leaves it alone)."""
    from icalendar import Calendar

    try:
        return (Calendar.from_ical(old_text) if old_text is not None else None,
                Calendar.from_ical(new_text) if new_text is not None else None)
    except Exception:
        return None


def refuse_too_many_attendees(text: str, limit: int) -> None:
    """Before scheduling anything: a ValueError (Radicale answers 400) when an instance
    has more attendees than ``limit``. The application refused such a PUT already (403,
    ``put_limits.py``); this holds for plain ``radicale`` and every other writer."""
    found = most_attendees_per_instance(text)
    if found > limit:
        raise ValueError(too_many_attendees(found, limit))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
