"""The scheduling writer: client writes of calendar objects handed to scheduling.

The storage (``storage.py``) holds one :class:`SchedulingWriter` and hands it every
client write: ``Collection.upload`` and ``delete`` call :meth:`SchedulingWriter.write`
and :meth:`SchedulingWriter.delete`, which take the owner's write of a scheduling object
(one with an ORGANIZER) to the scheduling engine (``scheduling/engine.py``) — which calls
the assistant for the assistant's and track addresses — in the write's database
transaction; anything else they leave to the storage. Writes the server makes for
scheduling (an attendee's copy, an inbox message) go through ``upload_indexed`` and never
schedule again.

The writer knows the storage only through the protocols of ``calendar_store.py`` and
builds the engines on the ports of ``scheduling/ports.py`` (implemented by
``scheduling_calendars.py`` and ``track_calendars.py``). What the application and the
storage tell each other about the request — the checks of the client's write
(If-Schedule-Tag-Match, checked here under the write lock so that the decision and the
write are one step), whether the stored object differs from the request, the
Schedule-Tag after the write, a caller's joined work — is the request's
:class:`~radicale_tracks.plugin.write_request.WriteRequest`. icalendar, Jinja2 and the
engines are imported when a write first involves scheduling: a server that never sees an
invitation does not pay their memory.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

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
from radicale_tracks.plugin.calendar_store import CalendarStore, StoredCalendar, Upload
from radicale_tracks.plugin.schedule_boxes import is_schedule_box
from radicale_tracks.plugin.track_calendars import StorageTrackCalendars, item_from_text
from radicale_tracks.plugin.write_request import (
    ClientChecks,
    JoinedWork,
    WriteRequest,
    active_request,
    current_request,
)
from radicale_tracks.settings import Settings

if TYPE_CHECKING:
    from icalendar import Calendar

    from radicale_tracks.bookings.follower import BookingFollower
    from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars
    from radicale_tracks.scheduling.engine import ObjectWrite, Scheduler
    from radicale_tracks.scheduling.ports import StoredObject
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.storage")

#: the cheap test before parsing anything: scheduling objects have an ORGANIZER
_MARKER = "ORGANIZER"


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


def _request() -> WriteRequest:
    """The request of this write; a write outside any (a test's direct call) tells
    nobody, as before."""
    return active_request() or WriteRequest()


#: the one sender thread per database of this process (``_process_sender``)
_senders: dict[str, SenderThread] = {}
_senders_lock = threading.Lock()


def _process_sender(store: CalendarStore, settings: Settings) -> SenderThread:
    """The running sender of this database in this process, started if there is none.

    Radicale's application makes a second storage for its sharing feature from the same
    configuration; one sender per process and database is enough (and stopping it is
    then one ``close``)."""
    key = settings.database_url
    with _senders_lock:
        running = _senders.get(key)
        if running is not None and running.is_alive() and not running.stopping:
            return running
        sender = Sender(OutboxStore(store.engine), transport_from_settings(settings),
                        settings.outbox_retry_base, settings.outbox_give_up_after)
        thread = SenderThread(sender, settings.outbox_poll_interval)
        thread.start()
        _senders[key] = thread
        return thread


def stop_process_sender(database_url: str, timeout: float = 10.0) -> bool:
    """Stop this process's sender of ``database_url`` if one runs (before the database
    is dropped, or for a storage that was never closed); whether it ended in time."""
    with _senders_lock:
        thread = _senders.pop(database_url, None)
    return thread is None or thread.stop(timeout)


class SchedulingWriter:
    """The storage's writer of scheduling objects, the engines, and the outbox sender."""

    def __init__(self, store: CalendarStore, start_sender: bool) -> None:
        settings = store.settings
        self.store = store
        self.book = AddressBook.build(settings.domain, settings.assistant_address,
                                      settings.addresses)
        self._assistant: Assistant | None = None
        self._scheduler: Scheduler | None = None
        self._calendars: StorageSchedulingCalendars | None = None
        self._bookings: BookingFollower | None = None
        self.sender_thread: SenderThread | None = None
        if start_sender and settings.outbox_sender:
            self.sender_thread = _process_sender(store, settings)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the outbox sender (for ``Storage.close``): it ends after the mail it is
        sending and gives back the rows it claimed but did not try. Returns whether it
        ended within ``timeout`` seconds (or there was none); safe to call twice."""
        thread = self.sender_thread
        return thread is None or thread.stop(timeout)

    # -- the engines, built on first use ----------------------------------------------

    @property
    def assistant(self) -> Assistant:
        if self._assistant is None:
            from radicale_tracks.mail.compose import MailTemplates
            from radicale_tracks.tracks.assistant import Assistant, AssistantConfig

            settings = self.store.settings
            self._assistant = Assistant(
                AssistantConfig(base_url=settings.base_url,
                                assistant_principal=settings.assistant_principal,
                                join_url_template=settings.join_url_template,
                                from_email=settings.from_email),
                self.book, MailTemplates(settings.mail_templates),
                StorageTrackCalendars(self.store, self.scheduling_calendars),
                clock=_now, tokens=lambda: secrets.token_hex(16), rooms=self.room_addresses)
        return self._assistant

    def room_addresses(self, connection: Any) -> frozenset[str]:
        """The addresses of the rooms now (``rooms add`` needs no restart), and of the
        principals ``user_types`` calls ROOM or RESOURCE."""
        from radicale_tracks.rooms.directory import ROOM_KINDS, RoomDirectory, configured_rooms

        settings = self.store.settings
        found = {room.address for room in RoomDirectory.load(
            connection, configured_rooms(settings)).rooms}
        for user, kind in settings.user_types:
            if kind in ROOM_KINDS:
                found.add("%s@%s" % (user.lower(), settings.domain.lower()))
                found.update(self.book.addresses_of(user))
        return frozenset(found)

    @property
    def scheduling_calendars(self) -> StorageSchedulingCalendars:
        if self._calendars is None:
            from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars

            self._calendars = StorageSchedulingCalendars(self.store)
        return self._calendars

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            from radicale_tracks.rooms.directory import configured_rooms
            from radicale_tracks.scheduling.engine import Scheduler, SchedulingConfig
            from radicale_tracks.scheduling.rooms import RoomBooking

            settings = self.store.settings
            self._scheduler = Scheduler(
                SchedulingConfig(from_email=settings.from_email,
                                 max_attendees=settings.scheduling_max_attendees,
                                 assistant_principal=settings.assistant_principal),
                self.book, self.scheduling_calendars,
                lambda: self.assistant.templates, clock=_now,
                tokens=lambda: secrets.token_hex(16),
                rooms=RoomBooking(configured_rooms(settings), self.scheduling_calendars,
                                  _now),
                bookings=self.bookings)
        return self._scheduler

    @property
    def bookings(self) -> BookingFollower:
        """Meetings booked for customers, followed through every write of their event."""
        if self._bookings is None:
            from radicale_tracks.bookings.follower import BookingConfig, BookingFollower

            settings = self.store.settings
            calendars = self.scheduling_calendars

            def user_here(address: str) -> str | None:
                user = self.book.user_of(address)
                return user if user is not None and calendars.user_exists(user) else None

            self._bookings = BookingFollower(
                BookingConfig(base_url=settings.base_url, domain=settings.domain,
                              from_email=settings.from_email,
                              reminder_leads=settings.booking_reminders,
                              reminder_recipients=settings.booking_reminder_recipients,
                              display_names=settings.display_names),
                lambda: self.assistant.templates, clock=_now,
                tokens=lambda: secrets.token_hex(16),
                is_assistant_side=self.book.is_assistant_side, user_of=user_here,
                occurrences=calendars.occurrences)
        return self._bookings

    # -- a client's write ---------------------------------------------------------------

    def owner_of(self, collection: StoredCalendar) -> str | None:
        """The owner whose calendar ``collection`` is, when a user writes a calendar
        object into it (RFC 6638 §3.1: the owner's addresses decide the role)."""
        user = _request().user
        if not user or collection.tag != "VCALENDAR":
            return None
        owner, _, name = collection.path.partition("/")
        if not name or "/" in name or owner == self.store.settings.assistant_principal:
            return None
        if is_schedule_box(name):
            return None
        return owner

    def check_client_write(self, collection: StoredCalendar, href: str | None
                           ) -> ClientChecks | None:
        """The application's checks of this request's write (the first under its lock:
        the client's), made here under the write lock; raises
        :class:`~radicale_tracks.errors.ScheduleTagMismatch`."""
        checks = _request().take_checks()
        if checks is not None and checks.schedule_tag is not None:
            current = self.current_schedule_tag(collection, href)
            if current != checks.schedule_tag:
                raise ScheduleTagMismatch("If-Schedule-Tag-Match %s, the tag of %s/%s is %s"
                                          % (checks.schedule_tag, collection.path, href,
                                             current))
        return checks

    def current_schedule_tag(self, collection: StoredCalendar, href: str | None
                             ) -> str | None:
        """The Schedule-Tag of one object, None when it is no scheduling object."""
        from radicale_tracks.scheduling.tags import object_path, schedule_tag

        item = collection.item(href) if href is not None else None
        if item is None or href is None or _MARKER not in item.serialize():
            return None
        with self.store.database.connect() as connection:
            return schedule_tag(connection, object_path(collection.path, href), item.etag)

    def write(self, collection: StoredCalendar, href: str, item: radicale_item.Item,
              checks: ClientChecks | None = None) -> Upload | None:
        """The upload, when scheduling took it; None when it is not the owner's write of
        a scheduling object (the storage stores it). ``checks``: the application's,
        already passed for the tag. An object the write would store larger than
        ``max_resource_size`` raises :class:`~radicale_tracks.errors.ResourceTooLarge`
        with nothing stored or sent."""
        owner = self.owner_of(collection)
        if owner is None:
            return None
        new_text = item.serialize()
        old_text = collection.stored_text(href)
        if _MARKER not in new_text and (old_text is None or _MARKER not in old_text):
            return None
        refuse_too_many_attendees(new_text,
                                  self.store.settings.max_attendees_per_instance)
        versions = parse_versions(old_text, new_text)
        replaced = old_text if old_text is not None and _MARKER in old_text else None
        if old_text is None and versions is not None:
            elsewhere = self._copy_elsewhere(owner, collection.path, href, versions[1])
            if elsewhere is not None:
                # the meeting written again into another of the owner's calendars (a
                # move by copy and delete): a change of that copy, nothing sent when
                # nothing changed, the booking following it here — and held to what
                # the owner may change in it, as a write over that copy would be
                versions = parse_versions(elsewhere.text, new_text) or versions
                replaced = elsewhere.text
        if checks is not None and versions is not None and _MARKER in new_text and (
                replaced is not None):
            self._refuse_attendee_change(owner, *versions)
        # what each store() of an attempt stored, and whether it rewrote the object: a
        # rolled-back attempt's entry goes with it, so only the committed one counts
        stored: list[tuple[Upload, bool]] = []

        def store(calendar: Calendar | None) -> None:
            chosen = item if calendar is None else item_from_text(
                collection.path, calendar.to_ical().decode("utf-8"))
            entry = (collection.upload_indexed(href, chosen), calendar is not None)
            stored.append(entry)
            with self.store.database.begin() as connection:  # the attempt's own
                on_rollback(connection, lambda: stored.remove(entry))

        old_etag = radicale_item.get_etag(old_text) if old_text is not None else None
        if not self.run_write(
                owner, collection.path, href, versions, old_etag, store,
                merge=checks is not None and checks.schedule_tag is not None):
            stored.clear()  # a write that rolled back got its files back: store it now
        if not stored:
            stored.append((collection.upload_indexed(href, item), False))
        upload, rewritten = stored[-1]
        request = _request()
        if rewritten:
            request.rewritten = True
        request.schedule_tag = self._schedule_tag_after(collection.path, href,
                                                        upload[0].etag)
        return upload

    def delete(self, collection: StoredCalendar, href: str) -> bool:
        """True when scheduling handled the delete: the owner's, of a scheduling object."""
        owner = self.owner_of(collection)
        if owner is None:
            return False
        old_text = collection.stored_text(href)
        if old_text is None or _MARKER not in old_text:
            return False
        versions = parse_versions(old_text, None)
        elsewhere = self._copy_elsewhere(owner, collection.path, href, versions[0]
                                         ) if versions is not None else None
        if elsewhere is not None and versions is not None:
            self._moved_away(collection, href, owner, elsewhere, versions[0])
            return True
        deleted: list[bool] = []

        def store(_calendar: Calendar | None) -> None:
            collection.delete_indexed(href)
            deleted.append(True)

        if not self.run_write(owner, collection.path, href, versions,
                              radicale_item.get_etag(old_text), store):
            deleted.clear()
        if not deleted:
            collection.delete_indexed(href)
        return True

    def _copy_elsewhere(self, owner: str, collection_path: str, href: str,
                        calendar: Calendar | None) -> StoredObject | None:
        """The owner's other copy of this object's meeting: same UID and the same
        ORGANIZER, in another place (another organizer's meeting with that UID is no
        copy: writing over it is refused or answered 3.8 as before)."""
        from radicale_tracks.core.addresses import normalize_address
        from radicale_tracks.core.itip import ItipError, master_of, parse_calendar

        master = master_of(calendar) if calendar is not None else None
        uid = str(master.get("UID", "")) if master is not None else ""
        if master is None or not uid:
            return None
        found = self.scheduling_calendars.copy_elsewhere(owner, uid, collection_path, href)
        if found is None:
            return None
        try:
            other = master_of(parse_calendar(found.text))
        except ItipError:
            return None
        if other is None or normalize_address(str(other.get("ORGANIZER", ""))) != (
                normalize_address(str(master.get("ORGANIZER", "")))):
            return None
        return found

    def _moved_away(self, collection: StoredCalendar, href: str, owner: str,
                    kept: StoredObject, deleted: Calendar | None) -> None:
        """The owner deletes one of two copies of a meeting: the meeting goes on in the
        other (a calendar program's move), so nobody is sent a CANCEL or a decline for
        it. The copies may disagree (one was changed after the other was written): the
        meeting becomes the kept one, scheduled as a change of the deleted one — nothing
        sent when they are the same (the move), else what differs, a CANCEL to whoever
        only the deleted copy invited — with the kept copy's SEQUENCE raised to the
        deleted one's when lower (nobody is sent a version older than theirs). The
        deleted copy's Schedule-Tag goes, and a booking follows the kept copy."""
        from radicale_tracks.core.itip import parse_calendar

        kept_collection = self.scheduling_calendars.collection(kept.collection_path)
        calendar = parse_calendar(kept.text)
        raised = _raise_sequence(calendar, deleted)
        done: list[bool] = []

        def store(stored: Calendar | None) -> None:
            chosen = stored if stored is not None else (calendar if raised else None)
            if chosen is not None:
                kept_collection.upload_indexed(kept.href, item_from_text(
                    kept_collection.path, chosen.to_ical().decode("utf-8")))
            self._forget_copy(collection, href)
            done.append(True)

        if not self.run_write(owner, kept.collection_path, kept.href, (deleted, calendar),
                              kept.etag, store):
            done.clear()
        if not done:   # not scheduled: the copy goes, the booking follows the kept one —
            # in one transaction, so a crash between them leaves both or neither
            with self.store.database.begin():
                self._forget_copy(collection, href)
                self._follow_kept(collection, href, owner, kept)
        logger.info("%s/%s deleted; its meeting goes on in %s/%s (not cancelled)",
                    collection.path, href, kept.collection_path, kept.href)

    def _forget_copy(self, collection: StoredCalendar, href: str) -> None:
        from radicale_tracks.scheduling import tags

        collection.delete_indexed(href)
        with self.store.database.begin() as connection:
            tags.forget(connection, tags.object_path(collection.path, href))

    def _follow_kept(self, collection: StoredCalendar, href: str, owner: str,
                     kept: StoredObject) -> None:
        """A booking that named the deleted copy follows the kept one."""
        from radicale_tracks.bookings.store import BookingRow
        from radicale_tracks.core.itip import master_of, parse_calendar

        calendar = parse_calendar(kept.text)
        master = master_of(calendar)
        with self.store.database.begin() as connection:
            booking = self.bookings.booking_for(connection, str(master.get("UID", "")),
                                                owner) if master is not None else None
            if isinstance(booking, BookingRow) and (
                    booking.calendar_path, booking.href) == (collection.path, href):
                self.bookings.follow(connection, booking, calendar,
                                     where=(kept.collection_path, kept.href))

    def _refuse_attendee_change(self, owner: str, stored: Calendar | None,
                                written: Calendar | None) -> None:
        """Raise :class:`~radicale_tracks.errors.AttendeeChangeRefused` for the owner's
        write over a stored scheduling object that names another ORGANIZER
        (``core/attendee_changes.refused_attendee_change``): decided on the version read
        under the write lock, the one the write replaces, parsed once for this check and
        the scheduling that follows (:func:`parse_versions`)."""
        if stored is None or written is None or not self.store.settings.scheduling:
            return
        from radicale_tracks.core.attendee_changes import refused_attendee_change

        reason = refused_attendee_change(stored, written, self.book.addresses_of(owner))
        if reason is not None:
            raise AttendeeChangeRefused(reason)

    def _schedule_tag_after(self, collection_path: str, href: str, etag: str
                            ) -> str | None:
        from radicale_tracks.scheduling.tags import object_path, schedule_tag

        try:
            with self.store.database.connect() as connection:
                return schedule_tag(connection, object_path(collection_path, href), etag)
        except Exception:
            logger.exception("Schedule-Tag of %s/%s unknown", collection_path, href)
            return None

    # -- work joined to the next write ----------------------------------------------------

    def join_next_write(self, work: JoinedWork) -> None:
        """``work(connection)`` runs in the transaction of this request's next scheduling
        write, so what a caller records about that write (a booking's confirmation mail
        and activity line) commits with it or not at all — never half after a crash.
        :meth:`take_joined` hands back work no transaction took (no scheduling object,
        or scheduling failed): the caller then runs it in a transaction of its own."""
        current_request().joined = work

    def join_next_write_first(self, work: JoinedWork) -> None:
        """Like :meth:`join_next_write`, but ``work`` runs before the write is scheduled:
        rows the scheduling reads (a new booking, who changes it) are there for it."""
        current_request().joined_first = work

    def take_joined(self) -> JoinedWork | None:
        return current_request().take_joined()

    def _run_joined(self, connection: Any) -> None:
        work = _request().joined
        if work is not None:
            work(connection)

    def _run_joined_first(self, connection: Any) -> None:
        work = _request().joined_first
        if work is not None:
            work(connection)

    # -- Schedule-Tags, for the application --------------------------------------------

    def schedule_tags(self, collection_path: str) -> dict[str, str]:
        """href → Schedule-Tag of the scheduling objects (ORGANIZER set) of a collection."""
        from radicale_tracks.scheduling.tags import stored_tags

        collection = self.store.calendar("/%s/" % collection_path.strip("/"))
        if collection is None or collection.tag != "VCALENDAR":
            return {}
        collection.sync_index_if_folder_changed()
        with self.store.database.connect() as connection:
            etags = self.store.index.organizer_etags(collection.path)
            kept = stored_tags(connection, collection.path)
        return {href: kept.get(href, etag) for href, etag in etags.items()}

    def schedule_tag_of(self, collection_path: str, href: str) -> str | None:
        """The Schedule-Tag of one object, None when it is no scheduling object."""
        collection = self.store.calendar("/%s/" % collection_path.strip("/"))
        if collection is None or collection.tag != "VCALENDAR":
            return None
        return self.current_schedule_tag(collection, href)

    def default_calendar_path(self, user: str) -> str | None:
        return self.scheduling_calendars.existing_default(user)

    def forget_schedule_tags(self, collection_path: str) -> None:
        from radicale_tracks.scheduling.tags import forget_collection

        with self.store.database.begin() as connection:
            forget_collection(connection, collection_path)

    def move_schedule_tag(self, from_collection: str, from_href: str, to_collection: str,
                          to_href: str) -> None:
        from radicale_tracks.scheduling.tags import moved, object_path

        with self.store.database.begin() as connection:
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
        if not self.store.settings.scheduling:
            return involves and self._assistant_only(write, store)
        attempts = (True, False) if involves else (False,)
        for with_assistant in attempts:
            try:
                with self.store.database.begin() as connection:
                    self._run_joined_first(connection)
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
            _request().forget_joined()   # committed with the write
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
            with self.store.database.begin() as connection:
                self._run_joined_first(connection)
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
        _request().forget_joined()
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
            with self.store.database.begin() as connection:
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


def _raise_sequence(calendar: Calendar, than: Calendar | None) -> bool:
    """Raise the SEQUENCE of ``calendar``'s components that are below ``than``'s
    (its master's, or first instance's) to it; whether anything changed."""
    from radicale_tracks.core.itip import main_components, sequence_of

    found = main_components(than) if than is not None else {}
    if not found:
        return False
    target = sequence_of(found.get(None) or next(iter(found.values())))
    raised = False
    for component in main_components(calendar).values():
        if sequence_of(component) < target:
            component.pop("SEQUENCE", None)
            component.add("SEQUENCE", target)
            raised = True
    return raised


def refuse_too_many_attendees(text: str, limit: int) -> None:
    """Before scheduling anything: a ValueError (Radicale answers 400) when an instance
    has more attendees than ``limit``. The application refused such a PUT already (403,
    ``put_limits.py``); this holds for plain ``radicale`` and every other writer."""
    found = most_attendees_per_instance(text)
    if found > limit:
        raise ValueError(too_many_attendees(found, limit))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
