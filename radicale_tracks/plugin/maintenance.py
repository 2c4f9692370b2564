"""Rebuild and verify the index against the files (``radicale-tracks reindex|verify``).

Both run under Radicale's storage lock, so they can run beside a live server: ``reindex``
takes the write lock, ``verify`` the read lock, ``verify --repair`` (:func:`repair`) the
write lock. Opening the storage has already finished the writes a killed process left
half done (``Storage.recover_writes``); :func:`repair` does it again under its lock.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.store import FileState
from radicale_tracks.plugin.database_storage import DatabaseStorage
from radicale_tracks.plugin.storage import Collection, Storage, folder_mtime_ns

#: progress(done, total, what)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Difference:
    """One way in which the index disagrees with the files."""

    path: str
    href: str
    problem: str

    def __str__(self) -> str:
        return "%s/%s: %s" % (self.path, self.href, self.problem) if self.href else (
            "%s: %s" % (self.path, self.problem))


@dataclass(frozen=True)
class ReindexReport:
    collections: int
    items: int
    failed: int


def reindex(storage: Storage, progress: Progress | None = None, jobs: int = 1
            ) -> ReindexReport:
    """Rebuild every collection's rows from its files; forget vanished collections.

    Parsing an object (vobject, then Radicale's expansion) is nearly all of the cost, so
    with ``jobs`` > 1 files are parsed in that many processes; the rows are written in
    bulk by this one.
    """
    if isinstance(storage, DatabaseStorage):
        return _reindex_rows(storage, progress)
    with storage.acquire_lock("w", "", request="REINDEX"):
        collections = list(storage.collections())
        scans = [(c, folder_mtime_ns(c.folder), c.scan_files()) for c in collections]
        total = sum(len(files) for _, _, files in scans)
        done = failed = 0
        present = {c.path for c in collections}
        for path in storage.index.collection_paths():
            if path not in present:
                storage.index.delete_collection(path)
        with _parsers({c.path: c for c in collections}, jobs) as parse:
            for collection, mtime, files in scans:
                entries: list[tuple[str, IndexEntry, FileState]] = []
                hrefs = sorted(files)
                for href, entry in zip(hrefs, parse(collection.path, hrefs), strict=True):
                    if entry is None:
                        failed += 1
                    else:
                        entries.append((href, entry, files[href]))
                    done += 1
                    if progress:
                        progress(done, total, collection.path)
                storage.index.replace_collection(collection.path, collection.tag or "",
                                                 entries, mtime)
        return ReindexReport(len(collections), done - failed, failed)


#: parse(collection path, hrefs) → an entry (or None: unreadable) per href, in order
Parser = Callable[[str, list[str]], Iterator["IndexEntry | None"]]

#: the collections a forked parser process reads (inherited, never pickled)
_parser_collections: dict[str, Collection] = {}


def _entry(job: tuple[str, str]) -> IndexEntry | None:
    path, href = job
    return _parser_collections[path].entry_from_file(href)


@contextlib.contextmanager
def _parsers(collections: dict[str, Collection], jobs: int) -> Iterator[Parser]:
    """Entries parsed here, or by ``jobs`` forked processes where fork exists.

    The children inherit the open storage and only read files; they never touch the
    database, whose connections stay the parent's.
    """
    global _parser_collections
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield lambda path, hrefs: (collections[path].entry_from_file(h) for h in hrefs)
        return
    _parser_collections = collections
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            yield lambda path, hrefs: pool.imap(_entry, [(path, h) for h in hrefs],
                                                chunksize=64)
    finally:
        _parser_collections = {}


def verify(storage: Storage) -> list[Difference]:
    """Every disagreement between index and files; an empty list means they agree."""
    if isinstance(storage, DatabaseStorage):
        return _verify_rows(storage)
    differences: list[Difference] = []
    with storage.acquire_lock("r", "", request="VERIFY"):
        collections = list(storage.collections())
        present = {c.path for c in collections}
        for path in storage.index.collection_paths():
            if path not in present:
                differences.append(Difference(path, "", "indexed but no such collection"))
        for collection in collections:
            differences.extend(_verify_collection(storage, collection))
    return differences


@dataclass(frozen=True)
class RepairReport:
    committed: int
    rolled_back: int
    repaired: list[Difference]


def repair(storage: Storage) -> RepairReport:
    """Finish interrupted writes, then bring the index in line with the files wherever
    :func:`verify` finds a difference (the files are the truth)."""
    recovery = storage.recover_writes()
    differences = verify(storage)
    with storage.acquire_lock("w", "", request="REPAIR"):
        collections = {c.path: c for c in storage.collections()}
        per_path: dict[str, list[str]] = {}
        for difference in differences:
            per_path.setdefault(difference.path, []).append(difference.href)
        for path, hrefs in per_path.items():
            collection = collections.get(path)
            if collection is None:
                storage.index.delete_collection(path)
            elif "" in hrefs:
                collection.sync_index()
            else:
                collection.reindex_files(hrefs)
    return RepairReport(len(recovery.committed), len(recovery.rolled_back), differences)


def _verify_collection(storage: Storage, collection: Collection) -> list[Difference]:
    found: list[Difference] = []
    path = collection.path
    if not storage.index.is_indexed(path):
        return [Difference(path, "", "collection not indexed")]
    files = collection.scan_files()
    indexed = storage.index.files(path)
    for href in sorted(set(indexed) - set(files)):
        found.append(Difference(path, href, "indexed but the file is gone"))
    for href in sorted(files):
        if href not in indexed:
            found.append(Difference(path, href, "file not indexed"))
            continue
        item = collection.item(href)
        if item is None:
            continue
        if item.etag != indexed[href].etag:
            found.append(Difference(path, href, "etag %s in the index, %s in the file" % (
                indexed[href].etag, item.etag)))
    return found



# -- item_store = database: the rows are the truth; the index part of them is derived --


def _reindex_rows(storage: DatabaseStorage, progress: Progress | None) -> ReindexReport:
    """Occurrence and attendee rows worked out again from every object's stored text
    (the expansion window moved, or the extraction changed). One collection at a time,
    each under its own write lock: a live server goes on writing the others."""
    paths = [c.path for c in storage.collections()]
    total = sum(len(storage.items.hrefs(path)) for path in paths)
    done = failed = 0
    for path in paths:
        with storage.acquire_lock("w", "", request="REINDEX", path="/%s/" % path):
            collection = next(iter(storage.discover(path)), None)
            if not isinstance(collection, Collection):
                continue
            hrefs = storage.items.hrefs(path)
            good = []
            for href in hrefs:
                if collection.entry_from_file(href) is None:
                    failed += 1
                else:
                    good.append(href)
                done += 1
                if progress:
                    progress(done, total, path)
            collection.reindex_files(good)
    return ReindexReport(len(paths), done - failed, failed)


def _verify_rows(storage: DatabaseStorage) -> list[Difference]:
    """Every object that does not parse as Radicale would store it, or whose ETag is not
    that of its text."""
    from radicale import item as radicale_item

    found: list[Difference] = []
    for collection in storage.collections():
        for item in collection.get_all():
            href = item.href or ""
            try:
                etag = radicale_item.get_etag(item.serialize())
                item.vobject_item  # noqa: B018  # parsing is the check
            except Exception as e:
                found.append(Difference(collection.path, href, "does not parse: %s" % e))
                continue
            if etag != item.etag:
                found.append(Difference(collection.path, href,
                                        "etag %s stored, %s of its text" % (item.etag, etag)))
    return found
