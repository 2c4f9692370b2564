"""The SQL index of a collection kept in step with its folder of ``.ics`` files.

The files are the truth and the index is derived from them: a write Radicale makes
through the storage is indexed at once (``uploaded``, ``moved``); files changed behind
Radicale's back are noticed by the folder mtime on the write path
(``sync_if_folder_changed``) and, on the query path, by a full scan at most once per
``index_rescan_interval`` (``refresh``) while callers stat the files they are about to
use (``stat_files``). The storage holds one :class:`FolderIndex` and hands it a
collection per call, so this module never imports the storage back.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import time
from collections.abc import Iterable
from stat import S_ISREG
from typing import ClassVar

from radicale import item as radicale_item
from radicale.storage import multifilesystem

from radicale_tracks.index.extract import Expansion, IndexEntry, extract_entry
from radicale_tracks.index.store import CollectionState, FileState, IndexStore, folder_digest
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.settings import Settings

logger = logging.getLogger("radicale.tracks.storage")


def file_state(path: str) -> FileState:
    """(mtime, size) of one file, as the index records it."""
    stat = os.stat(path)
    return FileState(stat.st_mtime_ns, stat.st_size)


def folder_mtime_ns(path: str) -> int | None:
    """The folder's mtime (files added or removed change it); None when it is gone."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def is_item_file_name(name: str) -> bool:
    """Radicale's ``is_safe_filesystem_path_component`` for names read from a folder.

    A directory entry cannot contain a separator, which leaves the cheap tests; this runs
    for every file of a collection on every query.
    """
    return (bool(name) and name[0] != "." and name[-1] != "~"
            and (sys.platform != "win32" or ":" not in name))


def scan_files(folder: str) -> dict[str, FileState]:
    """Name → (mtime, size) of every item file: one ``stat`` each, nothing read."""
    found: dict[str, FileState] = {}
    with os.scandir(folder) as entries:
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


def stat_files(folder: str, hrefs: Iterable[str]) -> dict[str, FileState]:
    """(mtime, size) of the named files that exist: the ones a query is about to use."""
    found: dict[str, FileState] = {}
    for href in hrefs:
        try:
            stat = os.stat(os.path.join(folder, href))
        except (FileNotFoundError, NotADirectoryError):
            continue
        found[href] = FileState(stat.st_mtime_ns, stat.st_size)
    return found


class FolderIndex:
    """The index rows of the storage's collections, brought in line with their folders."""

    #: last full drift scan per collection folder (per process), see :meth:`refresh`
    _scanned_at: ClassVar[dict[str, float]] = {}

    def __init__(self, index: IndexStore, settings: Settings) -> None:
        self.index = index
        self.settings = settings

    def expansion(self) -> Expansion:
        """The window the index expands recurrences over, around now."""
        return Expansion.around(datetime.datetime.now(datetime.UTC),
                                self.settings.index_past_days,
                                self.settings.index_horizon_days,
                                self.settings.index_max_occurrences)

    def extract(self, item: radicale_item.Item) -> IndexEntry:
        return extract_entry(item, self.expansion())

    # -- Radicale's writes ----------------------------------------------------

    def uploaded(self, collection: multifilesystem.Collection, href: str,
                 item: radicale_item.Item) -> None:
        """A stored item indexed; a failure is logged, never raised."""
        folder = internals.collection_folder(collection)
        try:
            entry = self.extract(item)
            state = file_state(os.path.join(folder, href))
            self.index.write_entries(
                collection.path, collection.tag, [(href, entry, state)],
                folder_mtime_ns(folder))
        except Exception:
            # the file is stored: never turn a good write into an error; the folder
            # mtime in the index is now stale, so the next access re-indexes
            logger.exception("Index not updated for %r in %r; it will be repaired on "
                             "next access", href, collection.path)

    def moved(self, source: multifilesystem.Collection, href: str,
              target: multifilesystem.Collection, to_href: str) -> None:
        """An item Radicale moved: its row moved along, or the target re-synced."""
        moved = self.index.move_entry(
            source.path, href, folder_mtime_ns(internals.collection_folder(source)),
            target.path, target.tag or "", to_href,
            folder_mtime_ns(internals.collection_folder(target)))
        if not moved:
            self.sync(target)

    # -- drift ----------------------------------------------------------------

    def sync_if_folder_changed(self, collection: multifilesystem.Collection) -> None:
        """Cheap check (one stat, one query) for files added or removed behind our back."""
        current = folder_mtime_ns(internals.collection_folder(collection))
        if current is None:
            return
        known = self.index.collection_state(collection.path)
        if known is None or known.dir_mtime_ns != current:
            self.sync(collection)

    def refresh(self, collection: multifilesystem.Collection
                ) -> dict[str, FileState] | None:
        """Re-sync when files were added or removed, or a full scan is due.

        Returns the scanned file states, or None when only the folder mtime was checked;
        callers then check the files they are about to use (``stat_files``), which
        catches in-place edits of those at once and of all others within
        ``index_rescan_interval`` seconds.
        """
        return self.refresh_from(collection, self.index.collection_state(collection.path))

    def refresh_from(self, collection: multifilesystem.Collection,
                     known: CollectionState | None) -> dict[str, FileState] | None:
        """:meth:`refresh` given the index's state of this collection (read for many
        collections at once by the busy time of many calendars)."""
        folder = internals.collection_folder(collection)
        interval = self.settings.index_rescan_interval
        now = time.monotonic()
        last = self._scanned_at.get(folder)
        if (interval == 0 or last is None or now - last >= interval or known is None
                or known.dir_mtime_ns != folder_mtime_ns(folder)):
            files = self.sync(collection)
            self._scanned_at[folder] = now
            return files
        return None

    def sync(self, collection: multifilesystem.Collection) -> dict[str, FileState]:
        """Bring the index in line with the folder; returns the state of every file.

        The common case costs one ``stat`` per file and one row: the fingerprint of the
        folder equals the one the index maintains. Only a difference reads the index.
        """
        folder = internals.collection_folder(collection)
        path = collection.path
        mtime = folder_mtime_ns(folder)
        files = scan_files(folder)
        known = self.index.collection_state(path)
        if known is not None and known.files_digest == folder_digest(files):
            if known.dir_mtime_ns != mtime:
                self.index.set_dir_mtime_ns(path, mtime)
            return files
        indexed = self.index.files(path)
        changed = [href for href, state in files.items()
                   if href not in indexed or indexed[href].state != state]
        removed = [href for href in indexed if href not in files]
        entries: list[tuple[str, IndexEntry, FileState]] = []
        for href in changed:
            entry = self.entry_from_file(collection, href)
            if entry is None:
                removed.append(href)
            else:
                entries.append((href, entry, files[href]))
        if changed or removed:
            logger.info("Index of %r repaired: %d re-indexed, %d removed",
                        path, len(entries), len(removed))
        self.index.write_entries(path, collection.tag or "", entries, mtime,
                                 removed=removed)
        return files

    def reindex_files(self, collection: multifilesystem.Collection,
                      hrefs: list[str]) -> None:
        """Re-index files found changed; a file that cannot be read is dropped."""
        states = stat_files(internals.collection_folder(collection), hrefs)
        entries: list[tuple[str, IndexEntry, FileState]] = []
        removed = [href for href in hrefs if href not in states]
        for href, state in states.items():
            entry = self.entry_from_file(collection, href)
            if entry is None:
                removed.append(href)
            else:
                entries.append((href, entry, state))
        known = self.index.collection_state(collection.path)
        self.index.write_entries(
            collection.path, collection.tag or "", entries,
            known.dir_mtime_ns if known else None, removed=removed)

    @staticmethod
    def item_from_file(collection: multifilesystem.Collection, href: str
                       ) -> radicale_item.Item:
        """The object as Radicale serves it (parsed and sanitized as its ``_get`` does
        on a cache miss: the same text, so the same ETag), without writing Radicale's
        item cache. Raises what reading or checking it raises."""
        with open(os.path.join(internals.collection_folder(collection), href), "rb") as f:
            raw = f.read()
        found = radicale_item.read_components(
            raw.decode(internals.collection_encoding(collection)))
        radicale_item.check_and_sanitize_items(
            found, tag=collection.tag,
            max_vevent_rrule_occurrence=internals.max_rrule_occurrences(
                internals.collection_storage(collection)))
        vobject_item, = found
        return radicale_item.Item(collection=collection, href=href,
                                  vobject_item=vobject_item)

    def entry_from_file(self, collection: multifilesystem.Collection,
                        href: str) -> IndexEntry | None:
        """The index entry of one file, parsed once and checked as Radicale checks it.

        Not through Radicale's ``_get``: on a cache miss that parses the file for its
        item cache, writes the cache (one synced file per object) and hands back text
        that the index must parse again — three quarters of a fresh ``reindex``.
        """
        try:
            return self.extract(self.item_from_file(collection, href))
        except (FileNotFoundError, IsADirectoryError):
            return None
        except Exception as e:
            logger.warning("Cannot index %r in %r: %s", href, collection.path, e)
            return None
