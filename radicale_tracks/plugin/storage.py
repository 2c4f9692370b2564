"""Radicale storage plugin: the multifilesystem storage plus a SQL index kept in step.

Items stay plain ``.ics`` files (existing data keeps working; the index is derived and
rebuildable). Every write Radicale makes through the storage API — upload, delete, move,
collection replace — updates the index inside the same storage write lock, in one
database transaction, and journals its file changes with it. This module is what the
file backend is: the two classes Radicale loads, composed of one part per concern —

- ``folder_index.py``: the index kept in step with the folders (drift noticed on access);
- ``index_queries.py``: Radicale's UID check and time-range queries from the index;
- ``busy_time.py``: busy time of one calendar or many, with its cache;
- ``write_hold.py``: the write lock as the request sees it;
- ``journaled_writes.py``: file changes journaled, interrupted writes finished.

The storage holds a scheduling writer (``plugin/scheduling_writes.py``): ``upload`` and
``delete`` hand each write to it (``self.scheduling.write``), and an owner's write of a
scheduling object (one with an ORGANIZER) goes to the scheduling engine from there. The
writer and the engines' ports (``scheduling/ports.py``, implemented by
``scheduling_calendars.py`` and ``track_calendars.py``) see this storage through the
protocols of ``calendar_store.py``. What the application and the storage tell each other
about a request is its :class:`~radicale_tracks.plugin.write_request.WriteRequest`.
Radicale's private members are reached through ``radicale_internals.py`` only.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale.app.report import FreeBusyPeriod
from radicale.storage import multifilesystem
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.core.freebusy import BusyPeriod, Estimate
from radicale_tracks.db.engine import ensure_schema, shared_engine
from radicale_tracks.db.journal import JournalFolder
from radicale_tracks.db.session import Database, Recovery
from radicale_tracks.db.shared_values import ITEM_STORE, shared_value
from radicale_tracks.errors import ConfigurationError
from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.store import CollectionState, FileState, IndexStore
from radicale_tracks.outbox.sender import SenderThread
from radicale_tracks.plugin import journaled_writes, write_hold
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.busy_time import BusyTime, BusyTimeCache
from radicale_tracks.plugin.calendar_store import Upload
from radicale_tracks.plugin.client_puts import client_item, client_items
from radicale_tracks.plugin.folder_index import FolderIndex, folder_mtime_ns, scan_files, stat_files
from radicale_tracks.plugin.index_queries import filtered_items, has_uid
from radicale_tracks.plugin.scheduling_writes import SchedulingWriter, refused_when_too_large
from radicale_tracks.plugin.size_limits import check_object_size, put_size_limit
from radicale_tracks.rooms.directory import configured_rooms
from radicale_tracks.settings import Settings

if TYPE_CHECKING:
    from radicale_tracks.core.addresses import AddressBook
    from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars
    from radicale_tracks.scheduling.engine import Scheduler
    from radicale_tracks.tracks.assistant import Assistant

#: ``folder_mtime_ns`` is imported from here by ``maintenance.py``; ``BusyTimeCache``
#: is named in docs/architecture.md as the storage's
__all__ = ["BusyTimeCache", "Collection", "Storage", "folder_mtime_ns"]

logger = logging.getLogger("radicale.tracks.storage")

_T = TypeVar("_T")


class Collection(multifilesystem.Collection):
    """A Radicale collection whose writes and time-range queries go through the index,
    and whose client writes go through the storage's scheduling writer."""

    #: files: the index is derived from the folder and checked against it
    rows_are_truth: ClassVar[bool] = False

    #: last history clean-up per collection folder, see ``_clean_history``
    _history_cleaned_at: ClassVar[dict[str, float]] = {}

    @property
    def store(self) -> Storage:
        """The storage this collection belongs to (Radicale's, as ours)."""
        return cast("Storage", internals.collection_storage(self))

    @property
    def folder(self) -> str:
        """The folder of the item files."""
        return internals.collection_folder(self)

    # -- writes ---------------------------------------------------------------

    def upload(self, href: str, item: radicale_item.Item) -> Upload:
        """A write through Radicale's storage API: the client's object made storable,
        the application's checks made under the write lock, then handed to the
        scheduling writer; what it does not take is stored and indexed here."""
        item = client_item(self.path, item)
        scheduling = self.store.scheduling
        checks = scheduling.check_client_write(self, href)  # under the write lock
        try:
            self.sync_index_if_folder_changed()
        except SQLAlchemyError:
            logger.exception("Index unavailable before storing %r in %r", href, self.path)
        with refused_when_too_large(checks):
            scheduled = scheduling.write(self, href, item, checks)
            if scheduled is not None:
                return scheduled
            return self.upload_indexed(href, item)

    def upload_indexed(self, href: str, item: radicale_item.Item) -> Upload:
        """Stored and indexed, never scheduled: the server's writes (copies, inbox
        messages) and client writes the scheduling writer did not take."""
        # nothing is stored that a PUT could not store (mail, copies, inbox messages);
        # a client's own object passed the same measure in Radicale's PUT
        check_object_size(item, self.store.put_size_limit)
        with self.store.changing(internals.item_file(self, href)):
            uploaded, replaced = super().upload(href, item)
        self.store.folder_index.uploaded(self, href, item)
        return uploaded, replaced

    def delete(self, href: str | None = None) -> None:
        scheduling = self.store.scheduling
        checks = scheduling.check_client_write(self, href)
        with refused_when_too_large(checks):
            if href is not None and scheduling.delete(self, href):
                return
        self.delete_indexed(href)

    def delete_indexed(self, href: str | None) -> None:
        """Deleted and taken out of the index, never scheduled (``None``: the whole
        collection)."""
        if href is None:
            super().delete(href)   # a whole collection: never part of a scheduling write
        else:
            with self.store.changing(internals.item_file(self, href)):
                super().delete(href)
        try:
            if href is None:
                self.store.index.delete_collection(self.path)
                self.store.scheduling.forget_schedule_tags(self.path)
            else:
                self.store.index.delete_entry(
                    self.path, href, folder_mtime_ns(self.folder))
        except Exception:
            logger.exception("Index not updated after deleting %r in %r; it will be "
                             "repaired on next access", href, self.path)

    def _clean_history(self) -> None:  # overrides Radicale's (radicale_internals)
        """Radicale scans the whole history folder on every write (O(items) per PUT).

        Expired history entries only matter for sync tokens older than
        ``max_sync_token_age``; cleaning them once per ``history_clean_interval`` keeps
        the same guarantees without the per-write scan.
        """
        interval = self.store.settings.history_clean_interval
        now = time.monotonic()
        last = self._history_cleaned_at.get(self.folder)
        if interval and last is not None and now - last < interval:
            return
        self._history_cleaned_at[self.folder] = now
        internals.clean_history(self)

    def item(self, href: str, verify_href: bool = False) -> radicale_item.Item | None:
        """One item as Radicale reads it (its cache), None when it is missing.
        ``verify_href``: the href comes from a client's path, so a name Radicale refuses
        there (a hidden file, an editor's ``~`` backup) is None, as Radicale reads it."""
        return internals.read_item(self, href, verify_href=verify_href)

    def stored_text(self, href: str) -> str | None:
        """The file's text as stored (read under the write lock by the writer)."""
        path = os.path.join(self.folder, href)
        try:
            with open(path, encoding=internals.collection_encoding(self), newline="") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def meta(self, key: str) -> str | None:
        """One property of the collection."""
        return self.get_meta(key)

    def set_property(self, key: str, value: str | None) -> None:
        """One property set (None: removed), the others kept (``set_meta`` replaces
        them all)."""
        props = dict(self.get_meta())
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
        self.set_meta(props)

    def by_age(self) -> list[str]:
        """The hrefs of its objects, oldest write first (an inbox trimmed to its limit)."""
        folder = self.folder
        states = scan_files(folder)
        return sorted(states, key=lambda href: states[href].mtime_ns)

    def forget_history(self, href: str) -> None:
        """Drop an item's sync-token history (``schedule_boxes.remove_message``)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(internals.history_folder(self), href))

    # -- reads (index_queries.py, busy_time.py) ---------------------------------

    def has_uid(self, uid: str) -> bool:
        return has_uid(self, self.store.folder_index, uid, super().has_uid)

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterator[tuple[radicale_item.Item, bool]]:
        return filtered_items(self, self.store.folder_index, filters, super().get_filtered)

    def free_busy(self, start: datetime.datetime, end: datetime.datetime,
                  max_occurrence: int, exclude: frozenset[str] = frozenset(),
                  estimates: list[Estimate] | None = None) -> list[FreeBusyPeriod]:
        """Radicale's free-busy periods, from the index (``BusyTime.of_calendar``)."""
        return self.store.busy_time.of_calendar(self, start, end, max_occurrence,
                                                exclude, estimates)

    # -- the index kept in step with the folder (folder_index.py) ----------------

    def sync_index_if_folder_changed(self) -> None:
        self.store.folder_index.sync_if_folder_changed(self)

    def sync_index(self) -> dict[str, FileState]:
        return self.store.folder_index.sync(self)

    def index_refreshed(self) -> dict[str, FileState] | None:
        """The index checked against the folder (``FolderIndex.refresh``): the files
        scanned when it scanned, else None (then ask :meth:`file_states`)."""
        return self.store.folder_index.refresh(self)

    def index_refreshed_from(self, state: CollectionState | None
                             ) -> dict[str, FileState] | None:
        return self.store.folder_index.refresh_from(self, state)

    def file_states(self, hrefs: Iterable[str]) -> dict[str, FileState]:
        """(mtime, size) of the named objects that exist: the ones a query will use."""
        return stat_files(self.folder, hrefs)

    def reindex_files(self, hrefs: list[str]) -> None:
        self.store.folder_index.reindex_files(self, hrefs)

    def scan_files(self) -> dict[str, FileState]:
        return scan_files(self.folder)

    def entry_from_file(self, href: str) -> IndexEntry | None:
        return self.store.folder_index.entry_from_file(self, href)


class Storage(multifilesystem.Storage):
    """``[storage] type = radicale_tracks.storage``: multifilesystem plus the index,
    holding the scheduling writer its collections hand their writes to."""

    #: Radicale's hook for its collection class (radicale_internals.OVERRIDDEN_HOOKS)
    _collection_class: ClassVar[type[multifilesystem.Collection]] = Collection

    #: the ``item_store`` this class is (``database_storage.py`` says "database")
    ITEM_STORE: ClassVar[str] = "files"

    def __init__(self, configuration: radicale_config.Configuration,
                 start_sender: bool = True, claim_item_store: bool = True) -> None:
        """Radicale makes the server's storage with the configuration alone: that one
        sends queued mail from a thread. Commands (``open_storage``) say whether they do;
        an argument, not a class setting, so one storage's choice never becomes the next
        one's in the same process."""
        self.settings = Settings.from_configuration(configuration)
        configured_rooms(self.settings)  # a bad rooms line stops the start, naming it
        super().__init__(configuration)
        self.put_size_limit = put_size_limit(configuration)
        self.engine = shared_engine(self.settings.database_url,
                                   self.settings.database_pool_size)
        ensure_schema(self.engine)
        if claim_item_store:
            self._claim_item_store()
        self.database = Database(self.engine, JournalFolder(
            internals.storage_folder(self), internals.fsync_enabled(configuration)))
        self.index = IndexStore(self.database)
        self.folder_index = FolderIndex(self.index, self.settings)
        self.busy_time = BusyTime(self, self.index, self.settings)
        logger.info("Tracks index at %s",
                    self.engine.url.render_as_string(hide_password=True))
        #: principals whose inbox and outbox exist (``schedule_boxes.ensure_boxes``)
        self.boxes_ready: set[str] = set()
        #: what start-up found to finish (``verify`` reports it)
        self.last_recovery = self.recover_writes()
        self.database.write_hold = self.current_write_hold
        self.scheduling = SchedulingWriter(self, start_sender)
        sender = self.scheduling.sender_thread
        if sender is not None and sender.periodic is None:
            from radicale_tracks.plugin.booking_reminders import top_up_reminders

            sender.periodic = lambda: top_up_reminders(self)

    def _claim_item_store(self) -> None:
        """The database remembers which item store it serves; a node of the other one
        refuses to start on it, naming the way out (its files index would overwrite a
        database's items, or its items would hide the files). ``migrate`` moves it."""
        serving = shared_value(self.engine, ITEM_STORE, lambda: self.ITEM_STORE)
        if serving != self.ITEM_STORE:
            raise ConfigurationError(
                "Invalid value for option 'item_store' in section 'storage': %r (the "
                "database %s holds the calendar data of item_store = %s; set that, or "
                "move the data with 'radicale-tracks migrate --to %s')" % (
                    self.ITEM_STORE, self.engine.url.render_as_string(hide_password=True),
                    serving, self.ITEM_STORE))

    def close(self, timeout: float = 10.0) -> bool:
        """Stop what the storage runs beside requests: this process's outbox sender
        (Radicale has no hook for it; ``serve`` ends with the process, tests and an
        embedding application call this). Whether it ended within ``timeout``."""
        return self.scheduling.close(timeout)

    # -- the lock and the request (write_hold.py) ----------------------------

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        """Radicale's lock; the request (``write_request.py``) remembers the user for the
        writes made under it, and whether it is a client's PUT (``client_puts``: its
        first write is the client's)."""
        with write_hold.holding(self.database,
                                super().acquire_lock(mode, user, *args, **kwargs),
                                mode, user, kwargs.get("request") == "PUT"):
            yield

    #: this thread's hold of the write lock (None outside it)
    current_write_hold = staticmethod(write_hold.current_write_hold)

    def restartable(self, work: Callable[[], _T]) -> _T:
        """``work``, which takes the write lock, run once: one lock never asks for a
        restart (``database_storage.py`` runs it again when its locks per calendar do).
        Every writer outside the HTTP application (commands, mail delivery) goes
        through here."""
        return work()

    # -- collections, for the scheduling adapters (calendar_store.CalendarStore) ----

    def calendar(self, path: str) -> Collection | None:
        """The collection at ``path``, None when there is none (or an item is there)."""
        found = next(iter(self.discover(path)), None)
        return found if isinstance(found, Collection) else None

    def collections_in(self, path: str) -> list[Collection]:
        """The collections directly below ``path``."""
        return [found for found in self.discover(path, depth="1")
                if isinstance(found, Collection) and found.path != path.strip("/")]

    def exists(self, path: str) -> bool:
        return next(iter(self.discover(path)), None) is not None

    def collection_root(self) -> str:
        return internals.collection_root(self)

    def collection_paths(self) -> list[str]:
        """Every collection below the root (a folder each), parents before children;
        nothing read but the folders."""
        root = internals.collection_root(self)
        found: list[str] = []
        for folder, dirs, _files in os.walk(root):
            dirs[:] = sorted(d for d in dirs
                             if pathutils.is_safe_filesystem_path_component(d))
            if folder != root:
                found.append(os.path.relpath(folder, root).replace(os.sep, "/"))
        return found

    def principals(self) -> list[str]:
        """Names of the collections at the top (users who logged in, rooms, the
        assistant): one folder each."""
        root = internals.collection_root(self)
        try:
            return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))
                          and pathutils.is_safe_filesystem_path_component(n))
        except FileNotFoundError:
            return []

    def user_calendars(self, user: str) -> list[Collection]:
        """The user's calendars as the scheduling port finds them, as this backend's
        collections (busy time reads them through :meth:`calendars_busy`)."""
        return [c for c in self.scheduling_calendars.calendars_of(user)
                if isinstance(c, Collection)]

    def collections(self) -> Iterator[Collection]:
        """Every calendar and address book below the collection root."""
        root = internals.collection_root(self)
        for folder, dirs, _files in os.walk(root):
            dirs[:] = sorted(d for d in dirs
                             if pathutils.is_safe_filesystem_path_component(d))
            if folder == root:
                continue
            path = os.path.relpath(folder, root).replace(os.sep, "/")
            collection = Collection(self, pathutils.unstrip_path(path, True))
            if collection.tag:
                yield collection

    def calendars_busy(self, calendars: list[Collection], start: int, end: int,
                       max_occurrence: int,
                       estimates: dict[str, list[Estimate]] | None = None
                       ) -> dict[str, list[BusyPeriod]]:
        """Per calendar path, the busy time of many calendars at once, merged per
        FBTYPE, estimated rather than failed (``BusyTime.of_calendars``)."""
        return self.busy_time.of_calendars(calendars, start, end, max_occurrence,
                                           estimates)

    # -- the scheduling writer's parts the HTTP layer and the commands use -----

    @property
    def book(self) -> AddressBook:
        return self.scheduling.book

    @property
    def assistant(self) -> Assistant:
        return self.scheduling.assistant

    @property
    def scheduler(self) -> Scheduler:
        return self.scheduling.scheduler

    @property
    def scheduling_calendars(self) -> StorageSchedulingCalendars:
        return self.scheduling.scheduling_calendars

    @property
    def sender_thread(self) -> SenderThread | None:
        return self.scheduling.sender_thread

    def schedule_tags(self, collection_path: str) -> dict[str, str]:
        return self.scheduling.schedule_tags(collection_path)

    def schedule_tag_of(self, collection_path: str, href: str) -> str | None:
        return self.scheduling.schedule_tag_of(collection_path, href)

    def default_calendar_path(self, user: str) -> str | None:
        return self.scheduling.default_calendar_path(user)

    # -- crash safety (journaled_writes.py) --------------------------------------

    def changing(self, path: str, new_folder: bool = False
                 ) -> contextlib.AbstractContextManager[None]:
        """Around one file or folder change under the write lock: journaled with the
        database transaction open on this thread."""
        return journaled_writes.changing(self, self.database, path, new_folder)

    def recover_writes(self) -> Recovery:
        """Finish the writes a killed process left half done (start-up, ``verify``)."""
        return journaled_writes.recover_writes(self, self.database, self._resync)

    def _resync(self, path: str) -> None:
        """The index of the collection at ``path`` brought in line with its files."""
        collection = Collection(self, path)
        if collection.tag:
            collection.sync_index()

    def create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None) -> Any:
        items = client_items(href, items)
        with journaled_writes.creating(self, self.database, self.boxes_ready, href):
            result = super().create_collection(href, items=items, props=props)
        collection = result[0]
        if props and isinstance(collection, Collection):
            try:
                collection.sync_index()
            except Exception:
                logger.exception("Index not updated for new collection %r", href)
        return result

    def move(self, item: radicale_item.Item, to_collection: Any, to_href: str) -> None:
        source = item.collection
        assert isinstance(source, Collection) and isinstance(to_collection, Collection)
        assert item.href
        super().move(item, to_collection, to_href)
        try:
            self.folder_index.moved(source, item.href, to_collection, to_href)
            self.scheduling.move_schedule_tag(source.path, item.href, to_collection.path, to_href)
        except Exception:
            logger.exception("Index not updated after moving %r to %r", item.href,
                             to_collection.path)
