"""Radicale storage plugin: the multifilesystem storage plus a SQL index kept in step.

Items stay plain ``.ics`` files (existing data keeps working; the index is derived and
rebuildable). Every write Radicale makes through the storage API — upload, delete, move,
collection replace — updates the index inside the same storage write lock, in one
database transaction. Files changed behind Radicale's back are noticed (folder mtime on
the write path, per-file mtime and size on the query path) and re-indexed on access.

The index replaces Radicale's two full scans:
- ``has_uid`` (the UID-clash check of every PUT) is one indexed lookup;
- ``get_filtered`` (calendar-query and free-busy-query) reads only the objects that
  have an occurrence in the requested window, and tells Radicale when the index is sure
  so that it does not parse them again.
Anything the index cannot answer exactly falls back to Radicale's own code, so answers
stay those of vanilla Radicale.

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
import itertools
import logging
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, ClassVar, cast

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale.app.report import FreeBusyPeriod
from radicale.item import filter as radicale_filter
from radicale.storage import multifilesystem
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.core.freebusy import BusyPeriod, Estimate, merge_busy
from radicale_tracks.db.engine import ensure_schema, shared_engine
from radicale_tracks.db.journal import JournalFolder
from radicale_tracks.db.session import Database, Recovery, on_rollback
from radicale_tracks.errors import TracksError
from radicale_tracks.index.extract import Expansion, IndexEntry, extract_entry
from radicale_tracks.index.store import (
    Candidate,
    CollectionState,
    FileState,
    IndexStore,
    folder_digest,
)
from radicale_tracks.outbox.sender import SenderThread
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.busy_expansion import LIMIT_HIT, Unexpandable, object_busy
from radicale_tracks.plugin.calendar_store import Upload
from radicale_tracks.plugin.client_puts import client_item, client_items
from radicale_tracks.plugin.scheduling_writes import SchedulingWriter, refused_when_too_large
from radicale_tracks.plugin.size_limits import check_object_size, put_size_limit
from radicale_tracks.plugin.write_request import active_request, joined_or_new_request
from radicale_tracks.rooms.directory import configured_rooms
from radicale_tracks.settings import Settings

if TYPE_CHECKING:
    from radicale_tracks.core.addresses import AddressBook
    from radicale_tracks.plugin.scheduling_calendars import StorageSchedulingCalendars
    from radicale_tracks.scheduling.engine import Scheduler
    from radicale_tracks.tracks.assistant import Assistant

logger = logging.getLogger("radicale.tracks.storage")


#: a calendar's merged busy time, and what of it is estimated
CachedBusy = tuple[list[BusyPeriod], list[Estimate]]


def file_state(path: str) -> FileState:
    stat = os.stat(path)
    return FileState(stat.st_mtime_ns, stat.st_size)


class BusyTimeCache:
    """Recent busy-time answers per (calendar, index fingerprint, window): an agent's
    searches ask about the same team and weeks again and again, and a calendar that has
    not changed since gives the same answer. The fingerprint changes with every write
    the index sees, so an entry is never stale; the oldest go beyond ``size`` entries."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: dict[tuple[Any, ...], CachedBusy] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> CachedBusy | None:
        with self._lock:
            found = self._entries.pop(key, None)
            if found is not None:
                self._entries[key] = found    # most recently used last
            return found

    def put(self, key: tuple[Any, ...], periods: CachedBusy) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = periods
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _note(estimate: Estimate) -> None:
    """The admin learns which object it was (the answer only says that one was)."""
    logger.warning("Busy time of %s/%s%s estimated (%s .. %s): %s", estimate.calendar,
                   estimate.href, " (UID %s)" % estimate.uid if estimate.uid else "",
                   _utc(estimate.start).isoformat(), _utc(estimate.end).isoformat(),
                   estimate.reason)


def is_item_file_name(name: str) -> bool:
    """Radicale's ``is_safe_filesystem_path_component`` for names read from a folder.

    A directory entry cannot contain a separator, which leaves the cheap tests; this runs
    for every file of a collection on every query.
    """
    return (bool(name) and name[0] != "." and name[-1] != "~"
            and (sys.platform != "win32" or ":" not in name))


def folder_mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


class Collection(multifilesystem.Collection):
    """A Radicale collection whose writes and time-range queries go through the index,
    and whose client writes go through the storage's scheduling writer."""

    #: last history clean-up per collection folder, see ``_clean_history``
    _history_cleaned_at: ClassVar[dict[str, float]] = {}
    #: last full drift scan per collection folder, see ``refresh_index``
    _scanned_at: ClassVar[dict[str, float]] = {}

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
        self._index_uploaded(href, item)
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

    def _index_uploaded(self, href: str, item: radicale_item.Item) -> None:
        try:
            entry = self.store.extract(item)
            state = file_state(os.path.join(self.folder, href))
            self.store.index.write_entries(
                self.path, self.tag, [(href, entry, state)],
                folder_mtime_ns(self.folder))
        except Exception:
            # the file is stored: never turn a good write into an error; the folder
            # mtime in the index is now stale, so the next access re-indexes
            logger.exception("Index not updated for %r in %r; it will be repaired on "
                             "next access", href, self.path)

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

    def forget_history(self, href: str) -> None:
        """Drop an item's sync-token history (``schedule_boxes.remove_message``)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(internals.history_folder(self), href))

    # -- reads ----------------------------------------------------------------

    def has_uid(self, uid: str) -> bool:
        try:
            self.sync_index_if_folder_changed()
            return self.store.index.has_uid(self.path, uid)
        except SQLAlchemyError:
            logger.exception("Index unavailable; UID check of %r scans the files", self.path)
            return super().has_uid(uid)

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterator[tuple[radicale_item.Item, bool]]:
        filters = list(filters)
        if self.tag != "VCALENDAR":
            yield from super().get_filtered(filters)
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
            # no time restriction: every object is a candidate, Radicale's scan is right
            yield from super().get_filtered(filters)
            return
        try:
            scanned = self.refresh_index()
            found = self.store.index.candidates(self.path, tag, start, end)
            first = next(found, None)
        except SQLAlchemyError:
            # the index is an accelerator: without it, answer as Radicale does
            logger.exception("Index unavailable; query of %r reads every file", self.path)
            yield from super().get_filtered(filters)
            return
        limit = internals.max_resource_size(self.store)
        edited: list[str] = []
        for candidate in itertools.chain([first] if first else [], found):
            if scanned is not None:
                state = scanned.get(candidate.href)
            else:
                state = self.stat_files([candidate.href]).get(candidate.href)
            if state is None or state.size > limit:
                continue
            exact = candidate.exact
            if state == candidate.state:
                item: radicale_item.Item | None = self._item_from_index(candidate)
            else:
                # edited in place behind Radicale's back since the last full scan: read
                # the file and let Radicale test it; re-index it afterwards
                item = self.item(candidate.href)
                exact = False
                edited.append(candidate.href)
            if item is not None:
                yield item, bool(simple and tag is not None and exact)
        if edited:
            self.reindex_files(edited)

    def reindex_files(self, hrefs: list[str]) -> None:
        """Re-index files found changed; a file that cannot be read is dropped."""
        states = self.stat_files(hrefs)
        entries: list[tuple[str, IndexEntry, FileState]] = []
        removed = [href for href in hrefs if href not in states]
        for href, state in states.items():
            entry = self.entry_from_file(href)
            if entry is None:
                removed.append(href)
            else:
                entries.append((href, entry, state))
        known = self.store.index.collection_state(self.path)
        self.store.index.write_entries(
            self.path, self.tag or "", entries,
            known.dir_mtime_ns if known else None, removed=removed)

    def _item_from_index(self, candidate: Candidate) -> radicale_item.Item:
        """The ``Item`` Radicale's ``_get`` would build, from the row instead of files."""
        last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                      time.gmtime(candidate.state.mtime_ns // 10**9))
        return radicale_item.Item(
            collection=self, href=candidate.href, last_modified=last_modified,
            etag=candidate.etag, text=candidate.text, uid=candidate.uid, name="VCALENDAR",
            component_name=candidate.component,
            time_range=(candidate.range_start, candidate.range_end))

    def free_busy(self, start: datetime.datetime, end: datetime.datetime,
                  max_occurrence: int, exclude: frozenset[str] = frozenset(),
                  estimates: list[Estimate] | None = None) -> list[FreeBusyPeriod]:
        """The periods Radicale's free-busy-query would find, mostly without parsing.

        Same rules as ``radicale.app.report.freebusy_periods``: only VEVENT objects,
        occurrences clipped to the window, and a ValueError when one object has
        ``max_occurrence`` occurrences in it (Radicale answers 400 then) or more than
        ``freebusy_max_expansion`` to walk — unless ``estimates`` is given: then such
        an object counts as busy over the part of the window it spans, and is listed
        there. ``exclude``: hrefs left out (a meeting checked against a room's other
        bookings).
        """
        scanned = self.refresh_index()
        start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
        busy = self.store.index.busy_time(self.path, start_ts, end_ts)
        files = scanned if scanned is not None else self.stat_files(
            list(busy.states) + busy.fallback_hrefs)
        if any(files.get(href) != state for href, state in busy.states.items()):
            files = self.sync_index()
            busy = self.store.index.busy_time(self.path, start_ts, end_ts)
        limit = internals.max_resource_size(self.store)
        per_object: dict[str, list[BusyPeriod]] = {}
        for href, occurrence_start, occurrence_end, fbtype in busy.periods:
            if href in exclude:
                continue
            state = files.get(href)
            if state is None or state.size > limit:
                continue
            per_object.setdefault(href, []).append((
                max(occurrence_start, start_ts), min(occurrence_end, end_ts), fbtype))
        periods: list[FreeBusyPeriod] = []
        for href, found in per_object.items():
            for begin, finish, fbtype in self._counted(
                    href, found, max_occurrence, estimates):
                if finish > begin:
                    periods.append((_utc(begin), _utc(finish), fbtype))
        periods.extend(self.expanded_busy(
            [href for href in busy.fallback_hrefs if href not in exclude], files,
            start, end, max_occurrence, estimates))
        return periods

    def _counted(self, href: str, periods: list[BusyPeriod], max_occurrence: int,
                 estimates: list[Estimate] | None) -> list[BusyPeriod]:
        """One object's occurrences from the index; ``max_occurrence`` or more: Radicale's
        ValueError, or with ``estimates`` busy from its first to its last one."""
        if max_occurrence <= 0 or len(periods) < max_occurrence:
            return periods
        if estimates is None:
            raise ValueError(LIMIT_HIT % max_occurrence)
        fbtypes = {fbtype for _, _, fbtype in periods if fbtype != "FREE"}
        if not fbtypes:
            return []
        estimate = Estimate(
            calendar=self.path, href=href, uid="", start=min(p[0] for p in periods),
            end=max(p[1] for p in periods),
            fbtype="BUSY" if "BUSY" in fbtypes else min(fbtypes),
            reason="it has %d or more occurrences in the window ([reporting] "
                   "max_freebusy_occurrence)" % max_occurrence)
        _note(estimate)
        estimates.append(estimate)
        return [estimate.period]

    def expanded_busy(self, hrefs: list[str], files: Mapping[str, FileState],
                      start: datetime.datetime, end: datetime.datetime,
                      max_occurrence: int, estimates: list[Estimate] | None = None
                      ) -> list[FreeBusyPeriod]:
        """Radicale's own free-busy periods of objects the index did not expand over the
        window; files gone or above ``max_resource_size`` are skipped, as Radicale does.
        An object that cannot be expanded within the limits (``busy_expansion.py``)
        raises ValueError, or with ``estimates`` counts as busy where it spans."""
        limit = internals.max_resource_size(self.store)
        max_walk = self.store.settings.freebusy_max_expansion
        periods: list[FreeBusyPeriod] = []
        for href in hrefs:
            state = files.get(href)
            if state is None or state.size > limit:
                continue
            item = self.item(href)
            if item is None:
                continue
            try:
                periods.extend(object_busy(item, start, end, max_occurrence, max_walk,
                                           self.path))
            except Unexpandable as e:
                if estimates is None:
                    raise
                if e.estimate is not None:
                    _note(e.estimate)
                    estimates.append(e.estimate)
                    if e.estimate.end > e.estimate.start:
                        periods.append((_utc(e.estimate.start), _utc(e.estimate.end),
                                        e.estimate.fbtype))
        return periods

    # -- drift ----------------------------------------------------------------

    def sync_index_if_folder_changed(self) -> None:
        """Cheap check (one stat, one query) for files added or removed behind our back."""
        current = folder_mtime_ns(self.folder)
        if current is None:
            return
        known = self.store.index.collection_state(self.path)
        if known is None or known.dir_mtime_ns != current:
            self.sync_index()

    def refresh_index(self) -> dict[str, FileState] | None:
        """Re-sync when files were added or removed, or a full scan is due.

        Returns the scanned file states, or None when only the folder mtime was checked;
        callers then check the files they are about to use (``stat_files``), which
        catches in-place edits of those at once and of all others within
        ``index_rescan_interval`` seconds.
        """
        return self.refresh_index_from(self.store.index.collection_state(self.path))

    def refresh_index_from(self, known: CollectionState | None
                           ) -> dict[str, FileState] | None:
        """:meth:`refresh_index` given the index's state of this collection (read for
        many collections at once by :meth:`Storage.calendars_busy`)."""
        interval = self.store.settings.index_rescan_interval
        now = time.monotonic()
        last = self._scanned_at.get(self.folder)
        if (interval == 0 or last is None or now - last >= interval or known is None
                or known.dir_mtime_ns != folder_mtime_ns(self.folder)):
            files = self.sync_index()
            self._scanned_at[self.folder] = now
            return files
        return None

    def stat_files(self, hrefs: Iterable[str]) -> dict[str, FileState]:
        found: dict[str, FileState] = {}
        for href in hrefs:
            try:
                stat = os.stat(os.path.join(self.folder, href))
            except (FileNotFoundError, NotADirectoryError):
                continue
            found[href] = FileState(stat.st_mtime_ns, stat.st_size)
        return found

    def sync_index(self) -> dict[str, FileState]:
        """Bring the index in line with the folder; returns the state of every file.

        The common case costs one ``stat`` per file and one row: the fingerprint of the
        folder equals the one the index maintains. Only a difference reads the index.
        """
        mtime = folder_mtime_ns(self.folder)
        files = self.scan_files()
        known = self.store.index.collection_state(self.path)
        if known is not None and known.files_digest == folder_digest(files):
            if known.dir_mtime_ns != mtime:
                self.store.index.set_dir_mtime_ns(self.path, mtime)
            return files
        indexed = self.store.index.files(self.path)
        changed = [href for href, state in files.items()
                   if href not in indexed or indexed[href].state != state]
        removed = [href for href in indexed if href not in files]
        entries: list[tuple[str, IndexEntry, FileState]] = []
        for href in changed:
            entry = self.entry_from_file(href)
            if entry is None:
                removed.append(href)
            else:
                entries.append((href, entry, files[href]))
        if changed or removed:
            logger.info("Index of %r repaired: %d re-indexed, %d removed",
                        self.path, len(entries), len(removed))
        self.store.index.write_entries(self.path, self.tag or "", entries, mtime,
                                          removed=removed)
        return files

    def scan_files(self) -> dict[str, FileState]:
        """Name → (mtime, size) of every item file: one ``stat`` each, nothing read."""
        found: dict[str, FileState] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if not is_item_file_name(name):
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                if S_ISREG(stat.st_mode):
                    found[name] = FileState(stat.st_mtime_ns, stat.st_size)
        return found

    def entry_from_file(self, href: str) -> IndexEntry | None:
        """The index entry of one file, parsed once and checked as Radicale checks it.

        Not through Radicale's ``_get``: on a cache miss that parses the file for its
        item cache, writes the cache (one synced file per object) and hands back text
        that the index must parse again — three quarters of a fresh ``reindex``.
        """
        try:
            with open(os.path.join(self.folder, href), "rb") as f:
                raw = f.read()
            found = radicale_item.read_components(raw.decode(internals.collection_encoding(self)))
            radicale_item.check_and_sanitize_items(
                found, tag=self.tag,
                max_vevent_rrule_occurrence=internals.max_rrule_occurrences(self.store))
            vobject_item, = found
            return self.store.extract(radicale_item.Item(
                collection=self, href=href, vobject_item=vobject_item))
        except (FileNotFoundError, IsADirectoryError):
            return None
        except Exception as e:
            logger.warning("Cannot index %r in %r: %s", href, self.path, e)
            return None


class Storage(multifilesystem.Storage):
    """``[storage] type = radicale_tracks.storage``: multifilesystem plus the index,
    holding the scheduling writer its collections hand their writes to."""

    #: Radicale's hook for its collection class (radicale_internals.OVERRIDDEN_HOOKS)
    _collection_class: ClassVar[type[multifilesystem.Collection]] = Collection

    def __init__(self, configuration: radicale_config.Configuration,
                 start_sender: bool = True) -> None:
        """Radicale makes the server's storage with the configuration alone: that one
        sends queued mail from a thread. Commands (``open_storage``) say whether they do;
        an argument, not a class setting, so one storage's choice never becomes the next
        one's in the same process."""
        self.settings = Settings.from_configuration(configuration)
        configured_rooms(self.settings)  # a bad rooms line stops the start, naming it
        super().__init__(configuration)
        self.put_size_limit = put_size_limit(configuration)
        self.engine = shared_engine(self.settings.database_url)
        ensure_schema(self.engine)
        self.database = Database(self.engine, JournalFolder(
            internals.storage_folder(self), internals.fsync_enabled(configuration)))
        self.index = IndexStore(self.database)
        self.busy_cache = BusyTimeCache()
        logger.info("Tracks index at %s",
                    self.engine.url.render_as_string(hide_password=True))
        #: principals whose inbox and outbox exist (``schedule_boxes.ensure_boxes``)
        self.boxes_ready: set[str] = set()
        #: what start-up found to finish (``verify`` reports it)
        self.last_recovery = self.recover_writes()
        self.database.write_hold = self.current_write_hold
        self.scheduling = SchedulingWriter(self, start_sender)

    # -- the lock and the request --------------------------------------------

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        """Radicale's lock; the request (``write_request.py``) remembers the user for the
        writes made under it, and whether it is a client's PUT (``client_puts``: its
        first write is the client's)."""
        with joined_or_new_request() as request:
            request.user = user
            request.client_put = kwargs.get("request") == "PUT"
            try:
                with super().acquire_lock(mode, user, *args, **kwargs):
                    # a new object per hold: a transaction journals files only within
                    # the hold it began in (Database.changing)
                    request.write_hold = object() if mode == "w" else None
                    try:
                        yield
                    except BaseException:
                        self._end_hold(refuse=False)
                        raise
                    self._end_hold(refuse=True)
            finally:
                request.user = None
                request.client_put = False
                request.write_hold = None

    def current_write_hold(self) -> object | None:
        """This thread's hold of the write lock (None outside it)."""
        request = active_request()
        return request.write_hold if request is not None else None

    def _end_hold(self, refuse: bool) -> None:
        """Still inside the lock. A transaction that changed files and is still open
        would outlive it (entered and left out of order): whoever takes the lock next
        would finish its journal as a dead process's, and its rollback would put files
        back outside the lock. It is rolled back here, files included, and — unless the
        body already failed (``refuse`` False: its error goes on) — refused."""
        request = active_request()
        if request is not None:
            request.write_hold = None
        if self.database.journal_open:
            self.database.abandon()
            if refuse:
                raise RuntimeError("a transaction that changed files outlived the "
                                   "storage's write lock; it was rolled back")

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

    def user_calendars(self, user: str) -> list[Collection]:
        """The user's calendars as the scheduling port finds them, as this backend's
        collections (busy time reads them through :meth:`calendars_busy`)."""
        return [c for c in self.scheduling_calendars.calendars_of(user)
                if isinstance(c, Collection)]

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

    # -- crash safety ---------------------------------------------------------

    def changing(self, path: str, new_folder: bool = False
                 ) -> contextlib.AbstractContextManager[None]:
        """Around one file or folder change: journaled with the database transaction
        open on this thread (``db/journal.py``). Only under the write lock: a journal is
        finished by whoever takes that lock next, so it must never outlive it."""
        if not internals.holds_write_lock(self):
            return contextlib.nullcontext()
        return self.database.changing(path, new_folder)

    def recover_writes(self) -> Recovery:
        """Finish the writes a killed process left half done (start-up, ``verify``):
        committed ones keep their files, the others get their files back; and the
        rows of committed writes whose journal is gone are deleted. A process deletes
        its last write's row only with its next journaled write, so every process that
        ends (each ``deliver``, each server stop) leaves one: this bounds them to one
        per process running. Costs one ``listdir`` and one query when there is nothing
        to do; the lock only when there is."""
        journals = self.database.journals
        if not journals or not (journals.leftovers() or self.database.has_journal_rows()):
            return Recovery()
        with internals.exclusive_lock(self):
            recovery = self.database.recover()
            root = internals.collection_root(self)
            for folder in sorted(recovery.folders):
                relative = os.path.relpath(folder, root)
                if relative.startswith(os.pardir) or not os.path.isdir(folder):
                    continue
                collection = Collection(self, pathutils.unstrip_path(
                    "" if relative == os.curdir else relative.replace(os.sep, "/"), True))
                if collection.tag:
                    collection.sync_index()
        for txid in recovery.committed:
            logger.warning("Write %s was committed before the process stopped: kept", txid)
        for txid in recovery.rolled_back:
            logger.warning("Write %s was not committed before the process stopped: its "
                           "files are back as they were", txid)
        return recovery

    def expansion(self) -> Expansion:
        return Expansion.around(datetime.datetime.now(datetime.UTC),
                                self.settings.index_past_days,
                                self.settings.index_horizon_days,
                                self.settings.index_max_occurrences)

    def extract(self, item: radicale_item.Item) -> IndexEntry:
        return extract_entry(item, self.expansion())

    def calendars_busy(self, calendars: list[Collection], start: int, end: int,
                       max_occurrence: int,
                       estimates: dict[str, list[Estimate]] | None = None
                       ) -> dict[str, list[BusyPeriod]]:
        """Per calendar path, the busy time :meth:`Collection.free_busy` finds in
        [start, end), in POSIX seconds, merged per FBTYPE — for many calendars at once.
        An object that cannot be expanded within the limits never fails the answer: it
        counts as busy over the part of the window it spans, listed per calendar path
        in ``estimates`` (one bad event in one calendar must not fail everyone's search).

        People's busy time (the outbox, the slot finder) spans all their calendars, and
        one query per calendar made SQL round trips most of a team search: this reads
        them all in three queries. An unchanged calendar (same index fingerprint) asked
        about the same window again is answered from memory (:class:`BusyTimeCache`).
        Files added or removed behind Radicale's back are caught by the folder check as
        always; a file edited in place without either is seen after
        ``index_rescan_interval``, because the files are not stat'ed one by one as the
        single-calendar REPORT does (a team's two weeks are thousands of files).
        """
        states = self.index.collection_states(c.path for c in calendars)
        rescanned = [c.path for c in calendars
                     if c.refresh_index_from(states.get(c.path)) is not None]
        if rescanned:   # a scan may have repaired the index: its fingerprint moved
            states.update(self.index.collection_states(rescanned))
        answer: dict[str, list[BusyPeriod]] = {}
        noted: dict[str, list[Estimate]] = {}
        keys: dict[str, tuple[Any, ...]] = {}
        for collection in calendars:
            state = states.get(collection.path)
            key = (collection.path, state.files_digest if state else None, start, end,
                   max_occurrence, self.settings.freebusy_max_expansion)
            cached = self.busy_cache.get(key) if state else None
            if cached is not None:
                answer[collection.path], noted[collection.path] = cached
            else:
                keys[collection.path] = key
        if estimates is not None:
            estimates.update({path: found for path, found in noted.items() if found})
        if not keys:
            return answer
        found = self.index.busy_time_of(list(keys), start, end,
                                      internals.max_resource_size(self))
        window = (_utc(start), _utc(end))
        for collection in calendars:
            if collection.path not in keys:
                continue
            busy = found.get(collection.path)
            per_object: dict[int, list[BusyPeriod]] = {}
            for item_id, occurrence_start, occurrence_end, fbtype in (
                    busy.periods if busy else ()):
                per_object.setdefault(item_id, []).append((
                    max(occurrence_start, start), min(occurrence_end, end), fbtype))
            found_here: list[Estimate] = []
            periods = [period for item_id, occurring in per_object.items()
                       for period in collection._counted(
                           "#%d" % item_id, occurring, max_occurrence, found_here)]
            fallback = busy.fallback_hrefs if busy else []
            periods.extend((int(b.timestamp()), int(f.timestamp()), fbtype)
                           for b, f, fbtype in collection.expanded_busy(
                               fallback, collection.stat_files(fallback), *window,
                               max_occurrence, found_here))
            merged = merge_busy(periods)
            answer[collection.path] = merged
            if found_here and estimates is not None:
                estimates[collection.path] = found_here
            if not fallback:   # a fallback object's file may change without the index
                self.busy_cache.put(keys[collection.path], (merged, found_here))
        return answer

    def create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None) -> Any:
        items = client_items(href, items)
        with self._creating(href):
            result = super().create_collection(href, items=items, props=props)
        collection = result[0]
        if props and isinstance(collection, Collection):
            try:
                collection.sync_index()
            except Exception:
                logger.exception("Index not updated for new collection %r", href)
        return result

    def _creating(self, href: str) -> contextlib.AbstractContextManager[None]:
        """A new collection folder (and any missing parent) journaled as new: a
        scheduling write that rolls back removes it (a track, an inbox)."""
        path = internals.collection_folder_of(self, href)
        if os.path.lexists(path):
            return contextlib.nullcontext()
        while not os.path.lexists(os.path.dirname(path)):
            path = os.path.dirname(path)
        if self.database.in_transaction and internals.holds_write_lock(self):
            with self.database.connect() as connection:
                # the folders go with the rollback: ensure_boxes must not trust its cache
                on_rollback(connection, self.boxes_ready.clear)
        return self.changing(path, new_folder=True)

    def move(self, item: radicale_item.Item, to_collection: Any, to_href: str) -> None:
        source = item.collection
        assert isinstance(source, Collection) and isinstance(to_collection, Collection)
        assert item.href
        super().move(item, to_collection, to_href)
        try:
            moved = self.index.move_entry(
                source.path, item.href, folder_mtime_ns(source.folder),
                to_collection.path, to_collection.tag or "", to_href,
                folder_mtime_ns(to_collection.folder))
            if not moved:
                to_collection.sync_index()
            self.scheduling.move_schedule_tag(source.path, item.href, to_collection.path, to_href)
        except Exception:
            logger.exception("Index not updated after moving %r to %r", item.href,
                             to_collection.path)

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


def open_storage(config_path: str | None, start_sender: bool = False
                 ) -> tuple[Storage, Settings]:
    """The storage a config file names, for admin commands and mail delivery outside the
    server (``start_sender``: a long-running command sends queued mail from a thread)."""
    from radicale_tracks.settings import load_settings

    configuration, settings = load_settings(config_path)
    configured_rooms(settings)
    storage_type = configuration.get("storage", "type")
    if storage_type not in ("radicale_tracks.storage", "radicale_tracks.plugin.storage"):
        raise TracksError("[storage] type is %r in the config; radicale-tracks needs "
                          "'radicale_tracks.storage'" % storage_type)
    return Storage(configuration, start_sender=start_sender), settings
